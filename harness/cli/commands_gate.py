"""`wardbench gate`: every stage against one database; results.json, report.html, summary.md, junit.xml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.cli.options import JsonOut, TargetList, with_config
from harness.cli.run import finish, new_results, print_gates, require_schema
from harness.config import RunConfig
from harness.db import open_database
from harness.environment import collect_environment
from harness.errors import UsageError
from harness.pipeline import STAGES, run_stages, select_stages
from harness.results import Results, StageRecord
from harness.targets import parse_items

StageList = Annotated[list[str] | None, typer.Option(help="stage name, repeatable")]


@with_config("profile", "backend", "dsn", "in_place", "pg_version", "seed", "scale_factor", "json", "reports_dir",
             "keep_database", ..., "dataset")
def gate(cfg: RunConfig, json: JsonOut = None, skip: StageList = None, only: StageList = None,
         target: TargetList = None) -> None:
    """Run the whole pipeline and write reports/<run-id>/; exit 0 only when every gate passed."""
    if both := sorted(set(only or []) & set(skip or [])):
        raise UsageError(f"stage {both[0]!r} is named by both --only and --skip: name it in one of them")
    names = select_stages(only, skip)
    not_run = [s for s in STAGES if s not in names]
    console = Console(stderr=True)
    results = new_results(cfg, "gate", {"stages": names, "not_run": not_run, "skip": skip or [], "only": only or []})
    with open_database(cfg) as db:
        console.print(f"database: {db.display_dsn}")
        results.environment = collect_environment(db)
        require_schema(db, names)
        run_stages(cfg, db, results, names, console)
    results.stages += [StageRecord(s, "skipped", 0.0, "not selected (--skip/--only)") for s in not_run]

    def show(results: Results, paths: list[Path]) -> None:
        from harness.report.view import banner

        print_gates(console, results)
        b = banner(results)
        console.print(f"verdict: [bold]{b.title}[/] ({b.detail})")
        console.print("wrote: " + ", ".join(str(p) for p in paths))
        for key, value in parse_items(target or []).items():
            if not any(g.key == key for g in results.gates):
                console.print(f"[yellow]warning[/]: --target {key}={value:g} was not the target of any gate "
                              "(its stage did not run, or its scenarios set their own)")

    finish(cfg, results, json, console, reports=True, show=show)
