"""The rehearsal's live workload times the database, not the harness: a stall of the harness's process (here one
long call holding the interpreter lock, as a full garbage collection of a large heap does) is not counted as
live latency. The same workload run as threads of the harness's process is the peer that does count it."""

from __future__ import annotations

import statistics
import time

import pytest

from harness.db import Database
from harness.errors import EnvironmentFailure
from harness.load.workload import Job
from harness.rehearse.live import FixedPlanner, LiveWorkload, Plan
from harness.rehearse.live_process import LiveProcess, Schedule
from harness.verify.underload import Sample

PLAN = Plan([], [], [Job("select_one", "ward", "SELECT 1")])
RATE, WORKERS = 100.0, 4


def _hold_interpreter(seconds: float) -> float:
    """Hold the interpreter lock for about `seconds` (sum over a range runs in C without releasing it)."""
    started = time.perf_counter()
    sum(range(2_000_000))
    per_item = (time.perf_counter() - started) / 2_000_000
    started = time.perf_counter()
    sum(range(int(seconds / per_item)))
    return time.perf_counter() - started


def _stalled(workload: LiveWorkload | LiveProcess) -> tuple[float, list[Sample]]:
    """Run `workload`, stall this process for about a second in the middle: (the stall's length, the requests
    that were due during it)."""
    workload.start()
    try:
        time.sleep(0.5)
        start = time.perf_counter()
        held = _hold_interpreter(1.0)
        end = time.perf_counter()
        time.sleep(0.5)
    finally:
        workload.stop()
    assert not workload.errors, workload.errors
    return held, [s for s in workload.samples if start <= s.intended <= end and s.ok]


def test_a_stall_of_the_harness_is_not_timed_as_live_latency(fresh_db: Database) -> None:
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")  # scenario sessions register its types
    held, due = _stalled(LiveWorkload(fresh_db.dsn, PLAN, RATE, WORKERS))
    assert held > 0.5 and len(due) > 10
    # as threads beside the harness, every request due during the stall waited for it (about half of it, typically)
    assert statistics.median(s.latency_ms for s in due) > held * 1000 / 4, (held, sorted(s.latency_ms for s in due))
    process = LiveProcess(fresh_db.dsn, FixedPlanner(PLAN), Schedule(RATE, WORKERS, 0.0, 1, {}))
    held, due = _stalled(process)
    assert held > 0.5 and len(due) > 10  # the child's clock lines up with ours: its requests fall in the window
    assert process.pids and process.names == ["select_one"] and process.kinds == {"select_one": "ward"}
    latencies = sorted(s.latency_ms for s in due)
    assert latencies[int(0.95 * (len(latencies) - 1))] < held * 1000 / 4, (held, latencies)


def test_a_live_workload_that_cannot_connect_says_so_and_leaves_no_process(fresh_db: Database) -> None:
    dsn = fresh_db.dsn.replace(f"dbname={fresh_db.name}", "dbname=wb_no_such_database")
    assert dsn != fresh_db.dsn
    process = LiveProcess(dsn, FixedPlanner(PLAN), Schedule(RATE, WORKERS, 0.0, 1, {}))
    with pytest.raises(EnvironmentFailure, match='the live workload could not start: .*"wb_no_such_database"'):
        process.start()
    assert process._process is None and not process.active  # joined, nothing left running
    process.stop()  # stopping a workload that never ran is harmless
