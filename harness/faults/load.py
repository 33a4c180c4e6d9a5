"""A connection dropped under load: the run must count the failed requests as errors and still finish."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

from harness.db import Database
from harness.errors import WardbenchError
from harness.faults.outcome import FaultOutcome
from harness.load.runner import WARMUP_S, LocustRun, run_locust
from harness.load.workload import APPLICATION_NAME

NAME = "connection dropped under load"
RUN = LocustRun(label="fault-dropped-connection", users=2, duration_s=4, classes=("ReaderUser",))


def has_dataset(db: Database) -> bool:
    """Whether `db` holds generated data the read scenarios can sample from."""
    with db.connect(autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('public.posts') IS NOT NULL "
                           "AND EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('public.wards') "
                           "AND reltuples > 0)").fetchone()
    return bool(row and row[0])


def _terminate_once_measuring(db: Database, app: str, killed: list[int], stop: threading.Event) -> None:
    """Once the run's sessions are past the warm-up, terminate every one of them (once)."""
    first_seen: float | None = None
    with db.connect(autocommit=True) as conn:
        while not stop.is_set():
            pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                                               (app,)).fetchall()]
            if pids and first_seen is None:
                first_seen = time.monotonic()
            if first_seen is not None and time.monotonic() - first_seen > WARMUP_S + 1.0:
                killed += [p for p in pids if conn.execute("SELECT pg_terminate_backend(%s)", (p,)).fetchone()]
                return
            time.sleep(0.05)


def dropped_connection_under_load(db: Database, out_dir: Path, seed: int) -> FaultOutcome:
    """Read load on `db` (which must hold a dataset); every load session is terminated mid-run."""
    if not has_dataset(db):
        return FaultOutcome(NAME, False, False, "needs a generated dataset (runs after the generate stage)")
    start = time.perf_counter()
    run = replace(RUN, seed=seed)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_terminate_once_measuring, daemon=True,
                              args=(db, f"{APPLICATION_NAME}/{run.label}", killed, stop))
    killer.start()
    try:
        outcome = run_locust(db, run, out_dir, {})
    except WardbenchError as exc:
        return FaultOutcome(NAME, bool(killed), False, f"the run did not finish: {exc.message}",
                            round(time.perf_counter() - start, 3))
    finally:
        stop.set()
        killer.join(10)
    count, errors = outcome.merged.count, outcome.merged.errors
    survived = bool(killed) and errors >= 1 and count > errors
    message = (f"{len(killed)} load session(s) terminated with pg_terminate_backend mid-run; the run finished "
               f"with {count} requests measured, {errors} counted as errors, the rest answered after reconnecting")
    return FaultOutcome(NAME, bool(killed), survived, message, round(time.perf_counter() - start, 3))
