"""Shared fixtures: one real embedded PostgreSQL + pgvector server per test session, a fresh database per test."""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator

import pytest

from harness.db import Database, ServerHandle
from harness.db.embedded import scratch_server

TEST_SETTINGS = {"shared_buffers": "256MB", "maintenance_work_mem": "512MB", "max_connections": "200",
                 "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM/SIGHUP (a cancelled CI job, `kill`) interrupt like Ctrl-C, so fixtures unwind and every scratch
    server is stopped; killed outright, a benchmark's server (and its index build) ran on with nobody to stop it."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


@pytest.fixture(scope="session")
def test_settings() -> dict[str, str]:
    """The settings every test server starts with (tests that start a server of their own add to them)."""
    return dict(TEST_SETTINGS)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ServerHandle]:
    """A throwaway embedded server (PostgreSQL from WARDBENCH_TEST_PG_VERSION, default 18)."""
    version = int(os.environ.get("WARDBENCH_TEST_PG_VERSION", "18"))
    with scratch_server(version, TEST_SETTINGS, prefix="tests-") as server:
        yield server.handle()


@pytest.fixture
def fresh_db(pg_server: ServerHandle) -> Iterator[Database]:
    """An empty database of its own, dropped after the test."""
    name = f"t_{secrets.token_hex(4)}"
    pg_server.create_database(name)
    try:
        yield Database(pg_server.database_dsn(name), name, pg_server, disposable=True)
    finally:
        pg_server.drop_database(name)
