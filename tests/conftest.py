"""Shared fixtures: one real embedded PostgreSQL + pgvector server per test session, a fresh database per test."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.db import Database, ServerHandle
from harness.db.embedded import EmbeddedServer, home_dir

TEST_SETTINGS = {"shared_buffers": "256MB", "maintenance_work_mem": "512MB", "max_connections": "200",
                 "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ServerHandle]:
    """A throwaway embedded server (PostgreSQL from WARDBENCH_TEST_PG_VERSION, default 18)."""
    version = int(os.environ.get("WARDBENCH_TEST_PG_VERSION", "18"))
    scratch = Path(tempfile.mkdtemp(prefix="tests-", dir=home_dir()))
    scratch.chmod(0o755)
    server = EmbeddedServer(scratch / "pgdata", version, settings=TEST_SETTINGS)
    server.start()
    try:
        yield server.handle()
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def fresh_db(pg_server: ServerHandle) -> Iterator[Database]:
    """An empty database of its own, dropped after the test."""
    name = f"t_{secrets.token_hex(4)}"
    pg_server.create_database(name)
    try:
        yield Database(pg_server.database_dsn(name), name, pg_server, disposable=True)
    finally:
        pg_server.drop_database(name)
