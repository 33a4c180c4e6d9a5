"""How every command runs: new Results, stages in the run's database, then one `finish` that writes and exits.

A command builds its RunConfig (harness.cli.options), calls `new_results`, runs its stage(s) through
`run_stage` (or its own work inside `open_database`) and ends with `finish`: results.json, the --json copy,
reports, JUnit, its summary on the terminal, and the exit code the run's results map to (Results.exit_code).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from harness.cli.options import JsonOut, with_config
from harness.config import RunConfig
from harness.db import Database, open_database
from harness.environment import collect_environment
from harness.errors import UsageError
from harness.pipeline import STAGES, Stage, reads_tables, run_stages
from harness.results import Results, write_text_atomic

# A disposable database starts empty: these stages (those registered) build and fill it first.
PREPARE_STAGES = ("schema", "generate")


def require_schema(db: Database, names: Sequence[str]) -> None:
    """Refuse, in words the user can act on, a database not at head before stages that read its tables run
    (they would fail deep inside instead, e.g. "the database has no vector extension")."""
    if db.disposable or "schema" in names or not any(reads_tables(name) for name in names):
        return
    from harness import alembic_project  # alembic costs every CLI start that only parses or refuses input

    current, head = alembic_project.current_revision(db), alembic_project.head_revision()
    if current != head:
        raise UsageError(f"database {db.name} has no schema at head (it is at {current or 'base, no tables'}, "
                         f"head is {head}): run `wardbench generate` or drop `--in-place`")


def new_results(cfg: RunConfig, command: str, selection: dict[str, Any] | None = None) -> Results:
    """Results of one run, recording the profile it ran with and the targets in force."""
    return Results(run_id=cfg.run_id, command=command, selection=selection or {}, profile={
        "name": cfg.profile, **cfg.profile_data, "scale_factor": cfg.scale_factor, "seed": cfg.seed,
        "targets": dict(cfg.targets)})


def run_stage(cfg: RunConfig, results: Results, stage: str, console: Console,
              before: Callable[[Database], None] | None = None, call: Stage | None = None) -> None:
    """Run `stage` in the run's database, after PREPARE_STAGES when the harness created it empty.

    `before` checks the prepared database just before the stage; what it raises ends the command (a
    UsageError is exit 2), where a stage's own failure is recorded and mapped by its family. `call` runs the
    stage with the options its command parsed, instead of those the profile gives it.
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
        run_stages(cfg, db, results, [stage], console, {stage: call} if call else None)


def print_gates(console: Console, results: Results, *, failing_only: bool = False) -> None:
    """One line per gate (or per gate that did not pass)."""
    for g in results.gates:
        if failing_only and g.verdict == "pass":
            continue
        colour = {"pass": "green", "fail": "red"}.get(g.verdict, "yellow")
        console.print(f"[{colour}]{g.verdict:>13}[/] {g.name}: observed {g.observed} {g.unit} "
                      f"(target {g.comparator} {g.target}) {g.reason}", highlight=False)


Show = Callable[[Results, list[Path]], None]


def finish(cfg: RunConfig, results: Results, json: Path | None, console: Console, *, reports: bool = False,
           also: Sequence[tuple[Path, Callable[[Results], str]]] = (), show: Show | None = None) -> NoReturn:
    """Write results.json (the --json copy, the reports, `also`: (file, renderer) pairs), show the run, exit
    with the run's code.

    `show` prints the command's own summary given the files written; by default every gate and the verdict.
    """
    path = results.write(cfg.run_dir / "results.json")
    written: list[Path] = [path]
    if reports:
        from harness.report import write_reports  # Jinja2 and matplotlib cost every command that writes none

        written += write_reports(results, cfg.run_dir).values()
    if json is not None:
        json.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, json)
    for file, render in also:
        write_text_atomic(file, render(results))
    if show is not None:
        show(results, written)
    else:
        print_gates(console, results)
        console.print(f"verdict: [bold]{results.verdict}[/]  results: {path}")
    raise typer.Exit(results.exit_code)


def stage_command(name: str, help_text: str) -> Callable[..., None]:
    """`wardbench NAME`: stage `name` alone with the shared options, written and exited like every command."""
    def command(cfg: RunConfig, json: JsonOut = None) -> None:
        console = Console(stderr=True)
        results = new_results(cfg, name)
        run_stage(cfg, results, name, console)
        finish(cfg, results, json, console, reports=True)

    command.__name__, command.__doc__ = name, help_text
    return with_config("profile", "backend", "dsn", "in_place", "pg_version", "seed", "scale_factor", "json",
                       "reports_dir", "keep_database", "dataset", "target")(command)
