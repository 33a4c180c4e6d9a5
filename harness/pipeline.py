"""The gate pipeline: an ordered registry of stages, each (config, database, results) -> None.

A stage writes its own section and gates into Results; it never calls another stage or renders.
A stage that raises is recorded as an error and turns into a failing gate, so a crash is never a pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from rich.console import Console

from harness.config import RunConfig
from harness.db import Database, redact_dsn
from harness.errors import UsageError
from harness.results import Gate, Results, StageRecord

Stage = Callable[[RunConfig, Database, Results], None]


def _schema_stage(cfg: RunConfig, db: Database, results: Results) -> None:
    from harness.smoke import migrate_and_check

    migrate_and_check(cfg, db, results)


def _generate_stage(cfg: RunConfig, db: Database, results: Results) -> None:
    from harness.datagen.stage import generate

    generate(cfg, db, results)


def _bench_stage(cfg: RunConfig, db: Database, results: Results) -> None:
    from harness.bench.runner import bench_stage

    bench_stage(cfg, db, results)


def _load_stage(cfg: RunConfig, db: Database, results: Results) -> None:
    from harness.load.stage import run_load

    run_load(cfg, db, results)


def _verify_stage(cfg: RunConfig, db: Database, results: Results) -> None:
    from harness.verify.stage import verify_stage

    verify_stage(cfg, db, results)


def _backup_stage(cfg: RunConfig, db: Database, results: Results) -> None:
    from harness.backup.verify import verify_backup

    verify_backup(cfg, db, results)


def _faults_stage(cfg: RunConfig, db: Database, results: Results) -> None:
    from harness.faults.battery import run_faults

    run_faults(cfg, db, results)


# Order is execution order; verify, backup and faults work in side databases of their own.
STAGES: dict[str, Stage] = {
    "schema": _schema_stage,
    "generate": _generate_stage,
    "bench": _bench_stage,
    "load": _load_stage,
    "verify": _verify_stage,
    "backup": _backup_stage,
    "faults": _faults_stage,
}


def select_stages(only: list[str] | None, skip: list[str] | None) -> list[str]:
    """Stage names to run, validated against the registry."""
    for name in (only or []) + (skip or []):
        if name not in STAGES:
            raise UsageError(f"unknown stage {name!r}: choose from {', '.join(STAGES)}")
    chosen = [s for s in STAGES if not only or s in only]
    return [s for s in chosen if s not in (skip or [])]


def run_stages(cfg: RunConfig, db: Database, results: Results, names: list[str],
               console: Console | None = None) -> None:
    """Run `names` in registry order, timing each; errors become failing gates, the run goes on."""
    console = console or Console(stderr=True)
    for name in names:
        console.rule(f"[bold]{name}")
        start = time.perf_counter()
        try:
            STAGES[name](cfg, db, results)
            status: Literal["ok", "error"] = "ok"
            detail = ""
        except Exception as exc:  # noqa: BLE001 - recorded, then surfaced as a failing gate
            status, detail = "error", redact_dsn(f"{type(exc).__name__}: {exc}")
            results.gates.append(Gate(f"stage {name} completed", name, None, None, "", "==", "fail", detail))
            console.print(f"[red]stage {name} failed: {detail}")
        results.stages.append(StageRecord(name, status, round(time.perf_counter() - start, 3), detail))
