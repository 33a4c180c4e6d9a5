"""One Alembic command on the scratch database only, through the env.py contract (harness.verify.envpy).

The verifier's steps and the rehearsal both run their commands here: env.py gets wardbench's connection and an
environment that names only the scratch database; afterwards the version table must be at the target, else
env.py migrated another database (exit 2). A failure of the chain's own code is returned, not raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event

from harness.errors import WardbenchError
from harness.results.migrations import FailureInfo
from harness.verify import envpy, failures
from harness.verify.locks import LockMonitor

_SCRIPT = "wardbench.script"  # cfg.attributes key: the chain's ScriptDirectory, its revisions loaded once


def script_of(cfg: Config) -> ScriptDirectory:
    """The chain's revisions, loaded once per Config.

    Alembic's own commands build a ScriptDirectory per call, which imports every revision file again: a walk
    of N revisions (three commands a step) imported ~3N² files, most of a 100-revision verify's time.
    """
    script = cfg.attributes.get(_SCRIPT)
    if not isinstance(script, ScriptDirectory):
        script = cfg.attributes[_SCRIPT] = ScriptDirectory.from_config(cfg)
    return script


def upgrade(cfg: Config, revision: str) -> None:
    """alembic.command.upgrade (online) on the revisions `script_of` loaded."""
    script = script_of(cfg)
    with EnvironmentContext(cfg, script, fn=lambda rev, _: script._upgrade_revs(revision, rev),
                            destination_rev=revision):
        script.run_env()


def downgrade(cfg: Config, revision: str) -> None:
    """alembic.command.downgrade (online) on the revisions `script_of` loaded."""
    script = script_of(cfg)
    with EnvironmentContext(cfg, script, fn=lambda rev, _: script._downgrade_revs(revision, rev),
                            destination_rev=revision):
        script.run_env()


@dataclass
class Statement:
    """One statement the migration ran on wardbench's connection: when it started and how long it took."""

    statement: str
    started: float  # perf_counter
    start_s: float  # from the command's start
    duration_s: float | None = None  # None: it raised
    rows: int | None = None


@dataclass
class Run:
    """A command's timing, its error (empty when it passed) and the statements it ran."""

    start: float
    end: float
    error: str = ""
    failure: FailureInfo = field(default_factory=FailureInfo)
    statements: list[Statement] = field(default_factory=list)  # the migration's own, in order

    def running_at(self, moment: float) -> str | None:
        """The statement the migration had started last at `moment` (what took a lock first seen then)."""
        started = [s for s in self.statements if s.started <= moment]
        return started[-1].statement if started else None

    @property
    def duration_s(self) -> float:
        return round(self.end - self.start, 4)


def run(dsn: str, engine: Engine, cfg: Config, action: Callable[..., None], target: str,
        monitor: LockMonitor | None = None) -> Run:
    """`action(cfg, target)` (`upgrade` or `downgrade` here) timed; locks read at every commit on this
    database by `monitor` (the caller starts and stops it), also on an engine env.py builds of its own."""
    foreign: list[str] = []
    start = time.perf_counter()
    error, failure = "", FailureInfo()
    statements: list[Statement] = []

    def before(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        now = time.perf_counter()
        statements.append(Statement(" ".join(statement.split())[:500], now, round(now - start, 4)))

    def after(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        statements[-1].duration_s = round(time.perf_counter() - statements[-1].started, 4)
        statements[-1].rows = cursor.rowcount if cursor.rowcount >= 0 else None

    def record(sa_conn: Connection) -> None:
        if monitor is not None and not foreign:
            monitor.record_commit(sa_conn.connection.dbapi_connection)

    try:
        with envpy.scratch_environment(cfg, dsn), envpy.foreign_engines(engine, dsn) as foreign, \
                engine.connect() as sa_conn:
            event.listen(sa_conn, "before_cursor_execute", before)
            event.listen(sa_conn, "after_cursor_execute", after)
            envpy.hand_over(cfg, sa_conn)
            event.listen(Engine, "commit", record)  # env.py may build an engine of its own (on this database)
            try:
                action(cfg, target)
                sa_conn.commit()
            finally:
                event.remove(Engine, "commit", record)
                cfg.attributes.pop("connection", None)
            envpy.check_moved(sa_conn, cfg, target, foreign)
    except WardbenchError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the chain's own code failed: that is the finding
        if _interrupted(exc):
            raise KeyboardInterrupt from exc
        envpy.refuse_foreign(foreign)  # it failed somewhere else: say so, not "upgrade_failed"
        mistake = envpy.config_error(exc, cfg)
        if mistake is not None:
            raise mistake from exc
        error = envpy.describe(exc)
        paths = {Path(s.path).resolve(): str(s.revision) for s in script_of(cfg).walk_revisions()}
        failure = failures.failure_info(exc, paths)
    return Run(start, time.perf_counter(), error, failure, statements)


def _interrupted(exc: BaseException) -> bool:
    """Whether `exc` was raised while handling a Ctrl-C.

    Ctrl-C inside a statement makes SQLAlchemy invalidate the connection; leaving the transaction then raises
    PendingRollbackError, which replaces the KeyboardInterrupt. That is the user stopping the run, not the
    chain's code failing: it must end the run as interrupted, not be recorded as the step's failure.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
