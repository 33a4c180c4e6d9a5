"""`wardbench load`: Locust headless in a subprocess; readers beside AI writers, gated on our histograms."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from harness.cli import app
from harness.cli.commands_backup import finish, new_results, run_stage
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
    check_scenario_dirs,
    check_users,
    make_config,
)
from harness.load.stage import LoadOptions
from harness.load.workload import select_scenarios

Users = Annotated[int | None, typer.Option("--users", help="concurrent users (readers and writers)")]
Duration = Annotated[str | None, typer.Option("--duration", help="length of the mixed run, e.g. 60s, 5m")]
Rate = Annotated[float | None, typer.Option(
    "--rate", help="open model: total arrivals per second on a fixed schedule (default: closed model)")]
Processes = Annotated[int | None, typer.Option("--processes", help="Locust worker processes (distributed mode)")]
Scenarios = Annotated[list[Path] | None, typer.Option(
    "--scenarios", help="extra scenario directory (not a file), repeatable")]
ThinkTime = Annotated[float | None, typer.Option("--think-time", help="closed model: mean seconds between requests")]
ProofDuration = Annotated[str | None, typer.Option(
    "--proof-duration", help="length of each 1-user and N-user concurrency proof run")]
FidelityDuration = Annotated[str | None, typer.Option(
    "--fidelity-duration", help="length of the Locust and the pgbench run on the same statement")]
Writers = Annotated[int | None, typer.Option("--writers", help="AI writer users among --users (default users/5)")]


@app.command()
def load(users: Users = None, duration: Duration = None, rate: Rate = None, processes: Processes = None,
         scenarios: Scenarios = None, think_time: ThinkTime = None, writers: Writers = None,
         proof_duration: ProofDuration = None, fidelity_duration: FidelityDuration = None,
         profile: Profile = None, backend: Backend = None, dsn: Dsn = None, in_place: InPlace = False,
         pg_version: PgVersion = None, seed: Seed = None, scale_factor: ScaleFactor = None,
         json: JsonOut = None, reports_dir: ReportsDir = None, keep_database: Keep = False) -> None:
    """Concurrency proof, a mixed reader/writer run (closed or --rate open model), fidelity vs pgbench.

    A disposable database is migrated and filled first; with --in-place or --dsn data the named
    database is loaded as it stands (the writers insert rows into it).
    """
    cfg = make_config(profile=profile, backend=backend, dsn=dsn, in_place=in_place, pg_version=pg_version,
                      seed=seed, scale_factor=scale_factor, reports_dir=reports_dir,
                      keep_database=keep_database, outputs=[("--json", json)])
    overrides: dict[str, Any] = {"users": users, "rate": rate, "processes": processes, "think_time": think_time,
                                 "writers": writers,
                                 "scenarios": [str(d) for d in scenarios] if scenarios else None,
                                 "duration": duration, "proof_duration": proof_duration,
                                 "fidelity_duration": fidelity_duration}
    table = {**cfg.profile_data.get("load", {}), **{k: v for k, v in overrides.items() if v is not None}}
    cfg = cfg.with_(profile_data={**cfg.profile_data, "load": table})
    options = LoadOptions.from_config(cfg)  # bad values fail here, before any server starts
    check_users(cfg, [options.users, options.proof_users], "--users")
    check_scenario_dirs(options.scenario_dirs)
    select_scenarios(list(options.scenario_dirs), [])  # and so do bad scenario files
    console = Console(stderr=True)
    results = new_results(cfg, "load")
    run_stage(cfg, results, "load", console)
    finish(cfg, results, json, console)
