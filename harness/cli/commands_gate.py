"""`wardbench gate`: every stage against one database, results in reports/<run-id>/."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.cli import app
from harness.cli.options import (Backend, Dsn, InPlace, JsonOut, Keep, PgVersion, Profile, ReportsDir,
                                 ScaleFactor, Seed, make_config)
from harness.db import open_database
from harness.environment import collect_environment
from harness.pipeline import run_stages, select_stages
from harness.results import Results

StageList = Annotated[list[str] | None, typer.Option(help="stage name, repeatable")]


@app.command()
def gate(profile: Profile = None, backend: Backend = None, dsn: Dsn = None, in_place: InPlace = False,
         pg_version: PgVersion = None, seed: Seed = None, scale_factor: ScaleFactor = None,
         json: JsonOut = None, reports_dir: ReportsDir = None, keep_database: Keep = False,
         skip: StageList = None, only: StageList = None) -> None:
    """Run the whole pipeline; exit 0 only when every gate passed."""
    cfg = make_config(profile=profile, backend=backend, dsn=dsn, in_place=in_place, pg_version=pg_version,
                      seed=seed, scale_factor=scale_factor, reports_dir=reports_dir,
                      keep_database=keep_database)
    names = select_stages(only, skip)
    console = Console(stderr=True)
    results = Results(run_id=cfg.run_id, command="gate", profile={"name": cfg.profile, **cfg.profile_data,
                      "scale_factor": cfg.scale_factor, "seed": cfg.seed},
                      selection={"stages": names, "skipped": skip or [], "only": only or []})
    with open_database(cfg) as db:
        console.print(f"database: {db.display_dsn}")
        results.environment = collect_environment(db)
        run_stages(cfg, db, results, names, console)
    path = results.write(cfg.run_dir / "results.json")
    if json is not None:
        json.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, json)
    _print_verdict(console, results, path)
    raise typer.Exit(results.exit_code)


def _print_verdict(console: Console, results: Results, path: Path) -> None:
    for g in results.gates:
        colour = {"pass": "green", "fail": "red"}.get(g.verdict, "yellow")
        console.print(f"[{colour}]{g.verdict:>13}[/] {g.name}: observed {g.observed} {g.unit} "
                      f"(target {g.comparator} {g.target}) {g.reason}")
    console.print(f"verdict: [bold]{results.verdict}[/]  results: {path}")
