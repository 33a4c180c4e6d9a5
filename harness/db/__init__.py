"""Database backends behind one interface: a context manager yielding the `Database` a run works in."""

from harness.db.base import Database, ServerHandle, open_database, redact_dsn

__all__ = ["Database", "ServerHandle", "open_database", "redact_dsn"]
