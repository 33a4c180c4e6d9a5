"""One Alembic command on the scratch database only, through the env.py contract (harness.verify.envpy).

The same guarantees as the verifier's steps: env.py gets wardbench's connection and an environment that
names only the scratch database; afterwards the version table must be at the target, else env.py migrated
another database (exit 2). A failure of the chain's own code is returned, not raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event

from harness.errors import WardbenchError
from harness.verify import envpy, failures
from harness.verify.locks import LockMonitor


@dataclass
class Run:
    start: float
    end: float
    error: str = ""
    failure: dict[str, Any] = field(default_factory=dict)
    statements: list[dict[str, Any]] = field(default_factory=list)  # the migration's own, in order

    def running_at(self, moment: float) -> str | None:
        """The statement the migration had started last at `moment` (what took a lock first seen then)."""
        started = [s for s in self.statements if s["_start"] <= moment]
        return started[-1]["statement"] if started else None

    def statement_table(self) -> list[dict[str, Any]]:
        """Statements with start offset, duration and rows, wardbench's own lock probe left out."""
        return [{k: v for k, v in s.items() if not k.startswith("_")} for s in self.statements]

    @property
    def duration_s(self) -> float:
        return round(self.end - self.start, 4)


def run(dsn: str, engine: Engine, cfg: Config, action: Callable[..., None], target: str,
        monitor: LockMonitor | None = None) -> Run:
    """`action(cfg, target)` (alembic.command.upgrade or downgrade) timed; locks read at commit by `monitor`."""
    foreign: list[str] = []
    start = time.perf_counter()
    error, failure = "", {}
    statements: list[dict[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append({"statement": " ".join(statement.split())[:500], "_start": time.perf_counter(),
                           "start_s": round(time.perf_counter() - start, 4)})

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements[-1]["duration_s"] = round(time.perf_counter() - statements[-1]["_start"], 4)
        statements[-1]["rows"] = cursor.rowcount if cursor.rowcount >= 0 else None

    try:
        with envpy.scratch_environment(cfg, dsn), envpy.foreign_engines(engine, dsn) as foreign, \
                engine.connect() as sa_conn:
            event.listen(sa_conn, "before_cursor_execute", before)
            event.listen(sa_conn, "after_cursor_execute", after)
            if monitor is not None:
                event.listen(sa_conn, "commit", lambda c: monitor.record_commit(c.connection.dbapi_connection))
            envpy.hand_over(cfg, sa_conn)
            try:
                action(cfg, target)
                sa_conn.commit()
            finally:
                cfg.attributes.pop("connection", None)
            envpy.check_moved(sa_conn, cfg, target, foreign)
    except WardbenchError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the chain's own code failed: that is the finding
        envpy.refuse_foreign(foreign)
        mistake = envpy.config_error(exc, cfg)
        if mistake is not None:
            raise mistake from exc
        error = envpy.describe(exc)
        paths = {Path(s.path).resolve(): str(s.revision) for s in ScriptDirectory.from_config(cfg).walk_revisions()}
        failure = failures.failure_info(exc, paths)
    return Run(start, time.perf_counter(), error, failure, statements)
