"""Backup verification: pg_dump -> pg_restore into a fresh database -> data and schema compared."""
