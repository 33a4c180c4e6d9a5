"""`wardbench gate`: every stage against one database; results.json, report.html, summary.md, junit.xml."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.cli import app
from harness.cli.commands_backup import require_schema
from harness.cli.options import (
    Backend,
    DatasetName,
    Dsn,
    InPlace,
    JsonOut,
    Keep,
    PgVersion,
    Profile,
    ReportsDir,
    ScaleFactor,
    Seed,
    TargetList,
    make_config,
)
from harness.db import open_database
from harness.environment import collect_environment
from harness.errors import UsageError
from harness.pipeline import STAGES, run_stages, select_stages
from harness.report import write_reports
from harness.results import Results, StageRecord
from harness.targets import parse_items

StageList = Annotated[list[str] | None, typer.Option(help="stage name, repeatable")]


@app.command()
def gate(profile: Profile = None, backend: Backend = None, dsn: Dsn = None, in_place: InPlace = False,
         pg_version: PgVersion = None, seed: Seed = None, scale_factor: ScaleFactor = None,
         json: JsonOut = None, reports_dir: ReportsDir = None, keep_database: Keep = False,
         skip: StageList = None, only: StageList = None, target: TargetList = None,
         dataset: DatasetName = None) -> None:
    """Run the whole pipeline and write reports/<run-id>/; exit 0 only when every gate passed."""
    if both := sorted(set(only or []) & set(skip or [])):
        raise UsageError(f"stage {both[0]!r} is named by both --only and --skip: name it in one of them")
    cfg = make_config(profile=profile, backend=backend, dsn=dsn, in_place=in_place, pg_version=pg_version,
                      seed=seed, scale_factor=scale_factor, reports_dir=reports_dir,
                      keep_database=keep_database, targets=target, dataset=dataset,
                      outputs=[("--json", json)])
    names = select_stages(only, skip)
    not_run = [s for s in STAGES if s not in names]
    console = Console(stderr=True)
    results = Results(run_id=cfg.run_id, command="gate", profile={
        "name": cfg.profile, **cfg.profile_data, "scale_factor": cfg.scale_factor, "seed": cfg.seed,
        "targets": dict(cfg.targets)},
        selection={"stages": names, "not_run": not_run, "skip": skip or [], "only": only or []})
    with open_database(cfg) as db:
        console.print(f"database: {db.display_dsn}")
        results.environment = collect_environment(db)
        require_schema(db, names)
        run_stages(cfg, db, results, names, console)
    results.stages += [StageRecord(s, "skipped", 0.0, "not selected (--skip/--only)") for s in not_run]
    path = results.write(cfg.run_dir / "results.json")
    written = write_reports(results, cfg.run_dir)
    if json is not None:
        json.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, json)
    _print_verdict(console, results, [path, *written.values()])
    for key, value in parse_items(target or []).items():
        if not any(g.key == key for g in results.gates):
            console.print(f"[yellow]warning[/]: --target {key}={value:g} was not the target of any gate "
                          "(its stage did not run, or its scenarios set their own)")
    raise typer.Exit(results.exit_code)


def _print_verdict(console: Console, results: Results, paths: list[Path]) -> None:
    from harness.report.view import banner

    for g in results.gates:
        colour = {"pass": "green", "fail": "red"}.get(g.verdict, "yellow")
        console.print(f"[{colour}]{g.verdict:>13}[/] {g.name}: observed {g.observed} {g.unit} "
                      f"(target {g.comparator} {g.target}) {g.reason}")
    b = banner(results)
    console.print(f"verdict: [bold]{b.title}[/] ({b.detail})")
    console.print("wrote: " + ", ".join(str(p) for p in paths))
