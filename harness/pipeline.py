"""The gate pipeline: an ordered registry of stages, each (config, database, results) -> None.

A stage writes its own section and gates into Results; it never calls another stage or renders.
A stage that raises is recorded as an error (with its error family, so an environment failure still exits 3)
and turns into a failing gate, so a crash is never a pass. Adding a stage: its module and one line in STAGES.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from rich.console import Console

from harness.config import RunConfig
from harness.db import Database, redact_dsn
from harness.errors import ErrorFamily, UsageError, family_of
from harness.results import Gate, Results, StageRecord, Verdict, completion_gate_name

Stage = Callable[[RunConfig, Database, Results], None]


@dataclass(frozen=True)
class Lazy:
    """A stage that imports its module only when it runs (Locust, scipy, alembic cost a CLI start).

    `reads_tables`: it reads the application's tables, so on someone else's database it needs the schema at
    head (harness.cli.run.require_schema refuses the run before it starts otherwise). `command`: the help line
    of a `wardbench NAME` command that runs it alone with the shared options (none when empty; a stage whose
    command takes options of its own writes it in harness/cli instead).
    """

    module: str
    function: str
    reads_tables: bool = False
    command: str = ""

    def __call__(self, cfg: RunConfig, db: Database, results: Results) -> None:
        fn: Stage = getattr(importlib.import_module(self.module), self.function)
        fn(cfg, db, results)


# Order is execution order; verify, backup and faults work in side databases of their own.
# Adding a stage: its module, and one line here.
STAGES: dict[str, Stage] = {
    "schema": Lazy("harness.smoke", "migrate_and_check"),
    "generate": Lazy("harness.datagen.stage", "generate", reads_tables=True),
    "bench": Lazy("harness.bench.runner", "bench_stage", reads_tables=True),
    "load": Lazy("harness.load.stage", "run_load", reads_tables=True),
    "rehearse": Lazy("harness.rehearse.reference", "rehearse_stage"),
    "verify": Lazy("harness.verify.stage", "verify_stage"),
    "backup": Lazy("harness.backup.stage", "backup_stage"),  # a logical backup verify reads any database
    "faults": Lazy("harness.faults.battery", "run_faults", reads_tables=True),
}


def reads_tables(name: str) -> bool:
    """Whether stage `name` reads the application's tables (see Lazy)."""
    return getattr(STAGES.get(name), "reads_tables", False) is True


def stage_commands() -> dict[str, str]:
    """Stages that declare a command of their own: name -> its help line (see Lazy)."""
    return {name: stage.command for name, stage in STAGES.items() if isinstance(stage, Lazy) and stage.command}


def select_stages(only: list[str] | None, skip: list[str] | None) -> list[str]:
    """Stage names to run, validated against the registry."""
    for name in (only or []) + (skip or []):
        if name not in STAGES:
            raise UsageError(f"unknown stage {name!r}: choose from {', '.join(STAGES)}")
    chosen = [s for s in STAGES if not only or s in only]
    return [s for s in chosen if s not in (skip or [])]


def run_stages(cfg: RunConfig, db: Database, results: Results, names: list[str],
               console: Console | None = None, calls: Mapping[str, Stage] | None = None) -> None:
    """Run `names` in the order given, timing each; errors become failing gates, the run goes on.

    `calls` replaces a registered stage's call, e.g. by one with the options its command parsed.
    """
    console = console or Console(stderr=True)
    for name in names:
        console.rule(f"[bold]{name}")
        start = time.perf_counter()
        status: Literal["ok", "error"] = "ok"
        detail, family = "", None
        try:
            (calls or {}).get(name, STAGES[name])(cfg, db, results)
        except Exception as exc:  # noqa: BLE001 - recorded, then surfaced as a failing gate and by its family
            status, detail, family = "error", redact_dsn(f"{type(exc).__name__}: {exc}"), family_of(exc)
            results.gates.append(Gate(completion_gate_name(name), name, None, None, "", "==", Verdict.FAIL, detail))
            what = "the environment failed" if family is ErrorFamily.ENVIRONMENT else "failed"
            console.print(f"[red]stage {name} {what}: {detail}")
        results.stages.append(StageRecord(name, status, round(time.perf_counter() - start, 3), detail, family))
