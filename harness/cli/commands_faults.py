"""`wardbench faults`: inject the quick faults and record how many were injected and survived."""

from __future__ import annotations

from rich.console import Console

from harness.cli import app
from harness.cli.commands_backup import finish, new_results
from harness.cli.options import Backend, Dsn, JsonOut, PgVersion, ReportsDir, make_config
from harness.db import open_database
from harness.environment import collect_environment
from harness.pipeline import run_stages


@app.command()
def faults(backend: Backend = None, dsn: Dsn = None, pg_version: PgVersion = None, json: JsonOut = None,
           reports_dir: ReportsDir = None) -> None:
    """Kill a migration mid-step, crash and interrupt runs; exit 1 unless every fault was survived.

    Every fault works in databases of its own (dropped after); a --dsn server's named database is untouched.
    """
    cfg = make_config(backend=backend, dsn=dsn, pg_version=pg_version, reports_dir=reports_dir)
    console = Console(stderr=True)
    results = new_results(cfg, "faults")
    with open_database(cfg) as db:
        console.print(f"database: {db.display_dsn}")
        results.environment = collect_environment(db)
        results.selection = {"stages": ["faults"]}
        run_stages(cfg, db, results, ["faults"], console)
    for fault in (results.faults or {}).get("faults", []):
        console.print(f"{'survived' if fault['survived'] else 'FAILED':>9} {fault['name']}: {fault['message']}",
                      highlight=False)
    finish(cfg, results, json, console)
