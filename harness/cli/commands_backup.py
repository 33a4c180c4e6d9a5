"""`wardbench backup verify`: dump the loaded database, restore it into a fresh one, compare everything."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.backup.stage import with_kinds
from harness.cli import app
from harness.cli.options import (
    Backend,
    Dsn,
    InPlace,
    JsonOut,
    Keep,
    PgVersion,
    Profile,
    ReportsDir,
    ScaleFactor,
    Seed,
    make_config,
)
from harness.config import RunConfig
from harness.db import Database, open_database
from harness.environment import collect_environment
from harness.errors import UsageError
from harness.pipeline import STAGES, run_stages
from harness.results import Results

backup_app = typer.Typer(no_args_is_help=True, help="Prove a pg_dump backup restores exactly.")
app.add_typer(backup_app, name="backup")

# A disposable database starts empty: these stages (those registered) build and fill it first.
PREPARE_STAGES = ("schema", "generate")
# Stages that read the application's tables: on someone else's database they need its schema at head.
NEEDS_SCHEMA = ("generate", "bench", "load", "faults")  # a logical backup verify reads any database


def require_schema(db: Database, names: list[str]) -> None:
    """Refuse, in words the user can act on, a database not at head before stages that read its tables run
    (they would fail deep inside instead, e.g. "the database has no vector extension")."""
    if db.disposable or "schema" in names or not set(names) & set(NEEDS_SCHEMA):
        return
    from harness import alembic_project  # alembic costs every CLI start that only parses or refuses input

    current, head = alembic_project.current_revision(db), alembic_project.head_revision()
    if current != head:
        raise UsageError(f"database {db.name} has no schema at head (it is at {current or 'base, no tables'}, "
                         f"head is {head}): run `wardbench generate` or drop `--in-place`")


def new_results(cfg: RunConfig, command: str) -> Results:
    return Results(run_id=cfg.run_id, command=command, profile={
        "name": cfg.profile, **cfg.profile_data, "scale_factor": cfg.scale_factor, "seed": cfg.seed,
        "targets": dict(cfg.targets)})


def run_stage(cfg: RunConfig, results: Results, stage: str, console: Console,
              before: Callable[[Database], None] | None = None) -> None:
    """Run `stage` in the run's database, after PREPARE_STAGES when the harness created it empty.

    `before` checks the prepared database just before the stage; what it raises ends the command (a
    UsageError is exit 2), where a stage's own failure would only be recorded.
    """
    with open_database(cfg) as db:
        console.print(f"database: {db.display_dsn}")
        results.environment = collect_environment(db)
        names = [s for s in PREPARE_STAGES if s in STAGES and db.disposable] + [stage]
        require_schema(db, names)
        results.selection = {"stages": names}
        run_stages(cfg, db, results, names[:-1], console)
        if before is not None:
            before(db)
        run_stages(cfg, db, results, [stage], console)


def finish(cfg: RunConfig, results: Results, json: Path | None, console: Console) -> None:
    """Write results.json (and the --json copy), print each gate, exit with the run's code."""
    path = results.write(cfg.run_dir / "results.json")
    if json is not None:
        json.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, json)
    for g in results.gates:
        colour = {"pass": "green", "fail": "red"}.get(g.verdict, "yellow")
        console.print(f"[{colour}]{g.verdict:>13}[/] {g.name}: observed {g.observed} {g.unit} "
                      f"(target {g.comparator} {g.target}) {g.reason}", highlight=False)
    console.print(f"verdict: [bold]{results.verdict}[/]  results: {path}")
    raise typer.Exit(results.exit_code)


Physical = Annotated[bool, typer.Option(
    "--physical", help="verify a physical backup instead: pg_basebackup while AI writers run, restored into a "
                       "second embedded server and replayed to a recovery target mid-load")]


@backup_app.command("verify")
def verify(profile: Profile = None, backend: Backend = None, dsn: Dsn = None, in_place: InPlace = False,
           pg_version: PgVersion = None, seed: Seed = None, scale_factor: ScaleFactor = None,
           json: JsonOut = None, reports_dir: ReportsDir = None, keep_database: Keep = False,
           physical: Physical = False) -> None:
    """pg_dump -Fc, pg_restore into a fresh database, compare tables and schema; exit 1 on any difference.

    In a disposable database the schema and data are built first; with --in-place the named
    database is verified as it stands (it is only read). --physical takes a base backup under AI writers
    (embedded backend, disposable database), restores it to a point in time mid-load and compares it with a
    snapshot taken at that moment; amcheck checks every B-tree where the server has it.
    """
    cfg = make_config(profile=profile, backend=backend, dsn=dsn, in_place=in_place, pg_version=pg_version,
                      seed=seed, scale_factor=scale_factor, reports_dir=reports_dir,
                      keep_database=keep_database, outputs=[("--json", json)])
    if physical and cfg.backend != "embedded":
        raise UsageError(f"--physical restores into a second embedded server of the same build: use the embedded "
                         f"backend (not {cfg.backend})")
    if physical and cfg.in_place:
        raise UsageError("--physical writes (AI writers) while the backup runs: it needs a disposable database, "
                         "drop --in-place")
    cfg = with_kinds(cfg, ["physical" if physical else "logical"])
    console = Console(stderr=True)
    results = new_results(cfg, "backup verify --physical" if physical else "backup verify")
    run_stage(cfg, results, "backup", console)
    finish(cfg, results, json, console)
