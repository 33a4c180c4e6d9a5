"""`wardbench faults`: inject the quick faults and record how many were injected and survived."""

from __future__ import annotations

from rich.console import Console

from harness.cli import app
from harness.cli.commands_backup import finish, new_results, run_stage
from harness.cli.options import Backend, Dsn, InPlace, JsonOut, PgVersion, ReportsDir, ScaleFactor, Seed, make_config

# The load fault needs only a small dataset to read: ci profile x 0.01 unless told otherwise.
DEFAULT_SCALE_FACTOR = 0.01


@app.command()
def faults(backend: Backend = None, dsn: Dsn = None, in_place: InPlace = False, pg_version: PgVersion = None,
           seed: Seed = None, scale_factor: ScaleFactor = None, json: JsonOut = None,
           reports_dir: ReportsDir = None) -> None:
    """Kill a migration mid-step, crash and interrupt runs, drop load sessions; exit 1 unless every fault
    was survived.

    A disposable database gets the schema and a small dataset (--scale-factor, default 0.01) for the load
    fault; every other fault works in databases of its own. With --in-place the named database is only read.
    """
    cfg = make_config(backend=backend, dsn=dsn, in_place=in_place, pg_version=pg_version, seed=seed,
                      scale_factor=scale_factor or DEFAULT_SCALE_FACTOR, reports_dir=reports_dir,
                      outputs=[("--json", json)])
    console = Console(stderr=True)
    results = new_results(cfg, "faults")
    run_stage(cfg, results, "faults", console)
    for fault in results.faults.faults if results.faults else []:
        status = "survived" if fault.survived else "FAILED" if fault.injected else "not run"
        console.print(f"{status:>9} {fault.name}: {fault.message}", highlight=False)
    finish(cfg, results, json, console)
