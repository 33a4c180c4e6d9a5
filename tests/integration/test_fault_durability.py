"""The server-killed fault: acknowledged commits survive a SIGKILL of the postmaster under durable settings,
and the check reports the ones lost when commits are acknowledged before their WAL is written."""

from __future__ import annotations

import os

import psycopg

from harness.config import RunConfig
from harness.db import Database, ServerHandle
from harness.faults.durability import NAME, kill_under_writers, server_killed_under_writers

VERSION = int(os.environ.get("WARDBENCH_TEST_PG_VERSION", "18"))
SMALL = {"shared_buffers": "128MB", "max_connections": "20"}
# Commits acknowledged from WAL buffers: the WAL writer wakes only every 10 s (and not for bytes pending),
# the background writer writes no data pages (which would force WAL out first), and the WAL buffers hold
# every commit of the run. So the last commits before the kill are in no file when the postmaster dies.
ASYNC = {**SMALL, "synchronous_commit": "off", "wal_writer_delay": "10s", "wal_writer_flush_after": "1GB",
         "wal_buffers": "64MB", "bgwriter_lru_maxpages": "0"}


def test_every_acknowledged_commit_survives_the_kill_with_durable_settings() -> None:
    check = kill_under_writers(VERSION, SMALL, commits=100)
    assert check.settings == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
    assert check.acknowledged >= 100
    assert check.processes_killed > 1  # the postmaster and the children it left behind
    assert (check.found, check.lost) == (check.acknowledged, 0)


def test_commits_acknowledged_before_their_wal_was_written_are_reported_lost() -> None:
    """Not flaky by construction: the writers commit right up to the kill and nothing writes WAL for 10 s, so
    only a WAL-writer wake-up landing between the last acknowledgement and the SIGKILL (a window of well under
    a millisecond in 10 s) could save every commit."""
    check = kill_under_writers(VERSION, ASYNC, commits=100)
    assert check.settings["synchronous_commit"] == "off"
    assert check.lost > 0, check
    assert check.found + check.lost == check.acknowledged


def test_the_battery_never_kills_a_server_it_did_not_start(pg_server: ServerHandle) -> None:
    user_server = ServerHandle(pg_server.admin_dsn, "dsn", pg_server.bin_dir)
    outcome = server_killed_under_writers(RunConfig(), Database(pg_server.admin_dsn, "postgres", user_server, False))
    assert (outcome.name, outcome.injected, outcome.survived) == (NAME, False, False)
    assert outcome.message.startswith("not evaluated: wardbench never kills a server it did not start")
    with psycopg.connect(pg_server.admin_dsn) as conn:  # still up
        assert conn.execute("SELECT 1").fetchone() == (1,)
