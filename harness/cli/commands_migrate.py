"""`wardbench migrate verify`: walk any Alembic chain up and down with data and prove nothing is lost."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.cli import app
from harness.cli.options import Backend, Dsn, InPlace, JsonOut, Keep, PgVersion, Seed, make_config
from harness.db import open_database
from harness.environment import collect_environment
from harness.errors import UsageError
from harness.results import Results
from harness.verify import junit
from harness.verify.render import print_migrations

migrate_app = typer.Typer(no_args_is_help=True, help="Verify an Alembic migration chain.")
app.add_typer(migrate_app, name="migrate")

AlembicIni = Annotated[Path | None, typer.Option("--alembic-ini", help="alembic.ini of the chain "
                                                  "(default: the reference chain in migrations/)")]
UnderLoad = Annotated[bool, typer.Option("--under-load", help="run reads during each upgrade step")]
JunitOut = Annotated[Path | None, typer.Option("--junit", help="write JUnit XML (one test case per step)")]
Rows = Annotated[int, typer.Option("--rows", min=1, max=10000, help="rows seeded per table per revision")]
StrictLocks = Annotated[bool, typer.Option("--strict-locks", help="lock hazards fail the gate (default: warnings)")]


@migrate_app.command("verify")
def verify(alembic_ini: AlembicIni = None, under_load: UnderLoad = False, json: JsonOut = None,
           junit_path: JunitOut = None, rows: Rows = 12, backend: Backend = None, dsn: Dsn = None,
           in_place: InPlace = False, pg_version: PgVersion = None, seed: Seed = None,
           keep_database: Keep = False, strict_locks: StrictLocks = False) -> None:
    """Walk the chain on an empty database, then seed, checksum, upgrade, downgrade, compare at every revision.

    Exit 1 when a step has an unaccepted error finding; exit 2 for a configuration problem of the chain (its
    env.py reaches another database, reads a missing variable, exits, or cannot import the application).
    """
    # Imported here: alembic and SQLAlchemy cost every other command's start.
    from harness.verify.chain import load_chain
    from harness.verify.stage import run_verify
    from harness.verify.stairway import VerifyOptions

    chain = load_chain(alembic_ini)  # a bad path or two heads: exit 2 before any database is touched
    cfg = make_config(backend=backend, dsn=dsn, in_place=in_place, pg_version=pg_version, seed=seed,
                      keep_database=keep_database, outputs=[("--json", json), ("--junit", junit_path)])
    if cfg.in_place:
        raise UsageError("migrate verify walks the chain from base and drops every table: "
                         "it needs a disposable database, drop --in-place")
    console = Console(stderr=True)
    results = Results(run_id=cfg.run_id, command="migrate verify",
                      selection={"alembic_ini": str(chain.ini), "under_load": under_load})
    with open_database(cfg) as db:
        console.print(f"database: {db.display_dsn}  chain: {chain.ini} ({len(chain.revisions)} revisions)")
        results.environment = collect_environment(db)
        options = VerifyOptions(under_load=under_load, rows_per_table=rows, seed=cfg.seed,
                                strict_locks=strict_locks, acceptances=cfg.verify_accept)
        section = run_verify(db, results, chain, options, console)
    path = results.write(cfg.run_dir / "results.json")
    if json is not None:
        json.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, json)
    if junit_path is not None:
        junit.write(section, junit_path)
    print_migrations(section, console)
    console.print(f"verdict: [bold]{results.verdict}[/]  results: {path}")
    raise typer.Exit(results.exit_code)
