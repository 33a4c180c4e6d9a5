"""`wardbench faults`: inject the quick faults and record how many were injected and survived."""

from __future__ import annotations

from rich.console import Console

from harness.cli.options import JsonOut, with_config
from harness.cli.run import finish, new_results, run_stage
from harness.config import RunConfig

# The load fault needs only a small dataset to read: ci profile x 0.01 unless told otherwise.
DEFAULT_SCALE_FACTOR = 0.01


@with_config("backend", "dsn", "in_place", "pg_version", "seed", "scale_factor", "json", "reports_dir",
             fallbacks={"scale_factor": DEFAULT_SCALE_FACTOR})
def faults(cfg: RunConfig, json: JsonOut = None) -> None:
    """Kill a migration mid-step, crash and interrupt runs, drop load sessions; exit 1 unless every fault
    was survived.

    A disposable database gets the schema and a small dataset (--scale-factor, default 0.01) for the load
    fault; every other fault works in databases of its own. With --in-place the named database is only read.
    """
    console = Console(stderr=True)
    results = new_results(cfg, "faults")
    run_stage(cfg, results, "faults", console)
    for fault in results.faults.faults if results.faults else []:
        status = "survived" if fault.survived else "FAILED" if fault.injected else "not run"
        console.print(f"{status:>9} {fault.name}: {fault.message}", highlight=False)
    finish(cfg, results, json, console)
