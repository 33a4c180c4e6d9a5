"""Lock holds on the rehearsal timeline: the wait sampler records each hold of a lock (taken, released, taken
again is two holds) with when it was first and last seen, inside the moments the lock was really held."""

from __future__ import annotations

import time

import psycopg

from harness.db import Database
from harness.rehearse.waits import WaitSampler


def test_each_hold_is_recorded_between_its_lock_and_its_release(fresh_db: Database) -> None:
    with psycopg.connect(fresh_db.dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE t (id int PRIMARY KEY)")
    sampler = WaitSampler(fresh_db.dsn, set())
    sampler.start()
    spans = []
    try:
        with psycopg.connect(fresh_db.dsn) as migration:
            for mode in ("ACCESS EXCLUSIVE", "SHARE", "ACCESS EXCLUSIVE"):
                migration.execute(f"LOCK TABLE t IN {mode} MODE")
                taken = time.perf_counter()
                time.sleep(0.3)
                released = time.perf_counter()
                migration.commit()
                spans.append((taken, released, time.perf_counter()))
                time.sleep(0.2)  # released long enough for polls to see it gone
    finally:
        sampler.stop()
    assert not sampler.error
    holds = {mode: [h for h in sampler.holds if h.table == "t" and h.mode == mode]
             for mode in ("AccessExclusiveLock", "ShareLock")}
    assert len(holds["AccessExclusiveLock"]) == 2 and len(holds["ShareLock"]) == 1, sampler.holds
    for hold, (taken, releasing, released) in zip(
            [holds["AccessExclusiveLock"][0], holds["ShareLock"][0], holds["AccessExclusiveLock"][1]], spans,
            strict=True):
        assert hold.first <= releasing and hold.last >= taken  # seen while it was certainly held
        assert hold.last < released  # a poll that saw it started before the commit released it
    first, again = holds["AccessExclusiveLock"]
    assert sampler.held[("t", "AccessExclusiveLock")] == (first.first, again.last)
