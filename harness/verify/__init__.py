"""Migration verification: walk revisions with data in the tables and prove nothing was lost."""
