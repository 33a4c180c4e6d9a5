"""A database-level fault: the postmaster is SIGKILLed while AI writers run; after the restart (crash recovery)
every commit the writers got acknowledged must be found.

It runs on a disposable server of its own (same version and settings as the run's embedded server): a
server the user named with --dsn is never killed, and killing the run's own server would take the rest of
the run down with it. Whether acknowledged commits survive is decided by the durability settings reported
beside the counts: with `synchronous_commit = off` a commit is acknowledged before its WAL is written,
and the check reports those lost.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from harness import alembic_project
from harness.backup.writers import AiWriters, seed_writer_parents, writer_targets
from harness.config import RunConfig
from harness.db import Database
from harness.db.embedded import EmbeddedServer, scratch_server
from harness.errors import EnvironmentFailure, WardbenchError
from harness.faults.outcome import FaultOutcome
from harness.results.faults import DurabilityDetails

NAME = "server killed under AI writers"
DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")
DATABASE = "wardbench_durability"
WRITERS = 2
COMMITS_BEFORE_KILL = 200


@dataclass(frozen=True)
class DurabilityCheck:
    """What the writers were told was committed before the kill, and what the restarted server holds."""

    acknowledged: int
    found: int
    lost_ids: list[int]
    settings: dict[str, str]
    processes_killed: int

    @property
    def lost(self) -> int:
        return len(self.lost_ids)


def kill_under_writers(version: int, settings: dict[str, str], writers: int = WRITERS,
                       commits: int = COMMITS_BEFORE_KILL, seed: int = 42) -> DurabilityCheck:
    """On a new server started with `settings`: migrate, let `writers` AI writers commit at least `commits`
    rows, SIGKILL the postmaster mid-write, restart it, and look for every acknowledged id."""
    with scratch_server(version, settings) as server:
        handle = server.handle()
        handle.create_database(DATABASE)
        db = Database(handle.database_dsn(DATABASE), DATABASE, handle, disposable=True)
        alembic_project.upgrade(db, "head")
        with db.connect(autocommit=True) as conn:
            seed_writer_parents(conn)
            conn.execute("CHECKPOINT")  # the schema is made durable first: only the writers' commits are at stake
            pairs, dim = writer_targets(conn)
            in_force = {name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                        for name in DURABILITY_SETTINGS}
        ai = AiWriters(db.dsn, pairs, dim, writers, seed)
        ai.start()
        try:
            if not ai.wait_for(commits, 120):
                raise EnvironmentFailure(f"the AI writers did not reach {commits} commits: "
                                         f"{'; '.join(ai.errors) or 'too slow'}")
            killed = kill_postmaster(server)
        finally:
            ai.stop()
        acknowledged = ai.acknowledged
        server.start()  # crash recovery replays the WAL that reached the kernel
        with db.connect(autocommit=True) as conn:
            present = {r[0] for r in conn.execute("SELECT id FROM ai_reports WHERE id = ANY(%s)",
                                                  (acknowledged,)).fetchall()}
    lost = sorted(set(acknowledged) - present)
    return DurabilityCheck(len(acknowledged), len(acknowledged) - len(lost), lost, in_force, killed)


def kill_postmaster(server: EmbeddedServer, grace_s: float = 10.0) -> int:
    """SIGKILL the postmaster (nothing runs on its way down), then wait for its children to notice and exit;
    SIGKILL any still there after `grace_s`. Returns how many processes were killed or exited."""
    pid = server.postmaster_pid()
    if pid is None:
        raise EnvironmentFailure(f"no postmaster running in {server.pgdata}")
    children = _children(pid)
    os.kill(pid, signal.SIGKILL)
    if not _wait_gone(children, grace_s):
        for child in children:
            if _exists(child):
                os.kill(child, signal.SIGKILL)
    # The new postmaster refuses to start while the old PID exists, even as a zombie awaiting its reaper.
    if not _wait_gone([pid, *children], grace_s):
        raise EnvironmentFailure(f"the killed postmaster (PID {pid}) was never reaped: cannot restart the server")
    return 1 + len(children)


def _wait_gone(pids: list[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(_exists(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _exists(pid: int) -> bool:
    """Whether `pid` is still in the process table (running, or a zombie not yet reaped)."""
    return Path(f"/proc/{pid}").exists()


def server_killed_under_writers(cfg: RunConfig, db: Database) -> FaultOutcome:
    """The battery's entry: on a disposable sibling of the run's embedded server; not evaluated elsewhere."""
    if db.server.backend != "embedded":
        return FaultOutcome(NAME, False, False,
                            f"not evaluated: wardbench never kills a server it did not start (backend "
                            f"{db.server.backend}); run with the embedded backend to check durability")
    start = time.perf_counter()
    try:
        check = kill_under_writers(cfg.pg_version, cfg.server_settings, seed=cfg.seed)
    except WardbenchError as exc:
        return FaultOutcome(NAME, False, False, f"could not be injected: {exc.message}",
                            round(time.perf_counter() - start, 3))
    shown = ", ".join(f"{k}={v}" for k, v in check.settings.items())
    message = (f"postmaster SIGKILLed with {WRITERS} AI writers running ({check.processes_killed} processes gone); "
               f"after crash recovery {check.found} of {check.acknowledged} acknowledged commits found, "
               f"{check.lost} lost ({shown})")
    details = DurabilityDetails(acknowledged=check.acknowledged, found=check.found, lost=check.lost,
                                lost_ids=check.lost_ids[:20], settings=check.settings,
                                processes_killed=check.processes_killed)
    return FaultOutcome(NAME, True, check.acknowledged > 0 and check.lost == 0, message,
                        round(time.perf_counter() - start, 3), details)
