"""A connection dropped under load: the run must count the failed requests as errors and still finish.

Deterministic, not a race: readers run the read scenarios plus a probe (`SELECT pg_advisory_xact_lock_shared(K)`)
while the fault holds that advisory lock exclusively, so a probe that starts waits in the server. Once the
load's sessions are waiting on it, exactly those backends are terminated (and confirmed gone) while their
request is in flight; then the lock is released. Only sessions waiting on the probe lock are ever targeted,
never a session drawing parameters. Judged: the run finished, every terminated request was counted as an
error (no more, no fewer), and requests completed after the kill (nothing hung).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.db import Database
from harness.errors import WardbenchError
from harness.faults.outcome import FaultOutcome
from harness.load.runner import WARMUP_S, LocustRun, run_locust
from harness.load.workload import APPLICATION_NAME
from harness.results.faults import DroppedConnectionDetails

NAME = "connection dropped under load"
PROBE = "fault_probe"
RUN = LocustRun(label="fault-dropped-connection", users=2, duration_s=6, classes=("ReaderUser",))
BLOCK_WAIT_S = 3.0  # how long the fault waits for every user to be waiting on the probe
TERMINATE_WAIT_MS = 5000  # pg_terminate_backend(pid, timeout): true only once the backend has exited


@dataclass
class Kill:
    """What the fault thread did: backends found waiting on the probe, those confirmed terminated, when."""

    waiting: list[int] = field(default_factory=list)
    terminated: list[int] = field(default_factory=list)
    at_s: float | None = None  # wall clock (time.time()) right after the last backend exited
    error: str | None = None


def has_dataset(db: Database) -> bool:
    """Whether `db` holds generated data the read scenarios can sample from."""
    with db.connect(autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('public.posts') IS NOT NULL "
                           "AND EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('public.wards') "
                           "AND reltuples > 0)").fetchone()
    return bool(row and row[0])


def write_probe(folder: Path, key: int) -> Path:
    """A scenario directory holding the probe: a read that waits while the fault holds advisory lock `key`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{PROBE}.toml").write_text(
        f'name = "{PROBE}"\nkind = "ward"\n'
        f'description = "waits while the connection-drop fault holds advisory lock {key}"\n'
        f'sql = "SELECT pg_advisory_xact_lock_shared({key}::bigint) IS NULL AS waited"\n')
    return folder


def _waiting_on(conn: Any, app: str, key: int) -> list[int]:
    """Backends of the load run (by application_name) whose request waits for advisory lock `key`."""
    rows = conn.execute(
        "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.classid = %s AND l.objid = %s "
        "AND l.objsubid = 1 AND a.application_name = %s ORDER BY l.pid",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF, app)).fetchall()
    return [int(r[0]) for r in rows]


def terminate_probes(db: Database, app: str, key: int, users: int, kill: Kill, stop: threading.Event) -> None:
    """Past the warm-up (timed from when every user has a session), hold the probe's lock, wait for the users
    to be waiting on it, terminate exactly those backends (each confirmed gone before the lock is released),
    then let the run go on."""
    try:
        with db.connect(autocommit=True) as conn:
            first_seen: float | None = None
            while not stop.is_set():
                seen = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                    (app,)).fetchone()
                if seen and seen[0] >= users and first_seen is None:  # the users' own sessions, not the setup's
                    first_seen = time.monotonic()
                if first_seen is not None and time.monotonic() - first_seen > WARMUP_S + 0.5:
                    break
                time.sleep(0.05)
            if stop.is_set():
                return
            conn.execute("SELECT pg_advisory_lock(%s::bigint)", (key,))
            try:
                deadline = time.monotonic() + BLOCK_WAIT_S
                while not stop.is_set():
                    kill.waiting = _waiting_on(conn, app, key)
                    if len(kill.waiting) >= users or (kill.waiting and time.monotonic() > deadline):
                        break
                    time.sleep(0.02)
                for pid in kill.waiting:
                    row = conn.execute("SELECT pg_terminate_backend(%s, %s)", (pid, TERMINATE_WAIT_MS)).fetchone()
                    if row and row[0]:
                        kill.terminated.append(pid)
                kill.at_s = time.time()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s::bigint)", (key,))
    except Exception as exc:  # noqa: BLE001 - reported in the outcome; the run itself must still be judged
        kill.error = f"{type(exc).__name__}: {exc}"


def judge(kill: Kill, errors: int, requests: int, last_done_s: float | None) -> tuple[bool, str]:
    """Survived: at least one request terminated in flight, each terminated request counted as exactly one
    error (a request lost or an extra failure both fail), and requests completed after the kill."""
    unconfirmed = sorted(set(kill.waiting) - set(kill.terminated))
    resumed = kill.at_s is not None and last_done_s is not None and last_done_s > kill.at_s
    n = len(kill.terminated)
    survived = n >= 1 and not unconfirmed and errors == n and resumed
    parts = [f"{n} load session(s) terminated while their probe request was in flight; the run finished with "
             f"{requests} requests, {errors} counted as errors (expected exactly {n})"]
    if unconfirmed:
        parts.append(f"backend(s) {unconfirmed} did not exit within {TERMINATE_WAIT_MS} ms")
    if errors < n:
        parts.append(f"{n - errors} terminated request(s) were not counted as errors")
    elif errors > n:
        parts.append(f"{errors - n} request(s) failed that were not terminated")
    parts.append("requests completed after the kill" if resumed else "no request completed after the kill (hung?)")
    return survived, "; ".join(parts)


def dropped_connection_under_load(db: Database, out_dir: Path, seed: int) -> FaultOutcome:
    """Read load on `db` (which must hold a dataset); the sessions running the probe are terminated mid-run."""
    if not has_dataset(db):
        return FaultOutcome(NAME, False, False, "needs a generated dataset (runs after the generate stage)")
    start = time.perf_counter()
    key = secrets.randbelow(2**31 - 1) + 1  # this run's own lock: another run on the server never collides
    run = replace(RUN, seed=seed, scenario_dirs=(write_probe(out_dir / "fault-probe", key),))
    kill, stop = Kill(), threading.Event()
    killer = threading.Thread(target=terminate_probes, daemon=True,
                              args=(db, f"{APPLICATION_NAME}/{run.label}", key, run.users, kill, stop))
    killer.start()
    try:
        outcome = run_locust(db, run, out_dir, {})
    except WardbenchError as exc:
        return FaultOutcome(NAME, bool(kill.terminated), False, f"the run did not finish: {exc.message}",
                            round(time.perf_counter() - start, 3))
    finally:
        stop.set()
        killer.join(30)
    merged = outcome.merged
    errors = merged.errors + merged.warmup_errors  # a request terminated during the warm-up is still an error
    requests = merged.count + merged.warmup_requests
    details = DroppedConnectionDetails(waiting=len(kill.waiting), terminated=len(kill.terminated),
                                       errors_counted=errors, warmup_errors=merged.warmup_errors, requests=requests,
                                       error_kinds=merged.error_kinds())
    if not kill.terminated:
        why = kill.error or "no probe request was in flight while the run lasted"
        return FaultOutcome(NAME, False, False, f"not injected: {why}", round(time.perf_counter() - start, 3),
                            details)
    survived, message = judge(kill, errors, requests, merged.last_s or None)
    return FaultOutcome(NAME, True, survived, message, round(time.perf_counter() - start, 3), details)
