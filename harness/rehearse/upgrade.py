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

    @property
    def duration_s(self) -> float:
        return round(self.end - self.start, 4)


def run(dsn: str, engine: Engine, cfg: Config, action: Callable[..., None], target: str,
        monitor: LockMonitor | None = None) -> Run:
    """`action(cfg, target)` (alembic.command.upgrade or downgrade) timed; locks read at commit by `monitor`."""
    foreign: list[str] = []
    start = time.perf_counter()
    error, failure = "", {}
    try:
        with envpy.scratch_environment(cfg, dsn), envpy.foreign_engines(engine, dsn) as foreign, \
                engine.connect() as sa_conn:
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
    return Run(start, time.perf_counter(), error, failure)
