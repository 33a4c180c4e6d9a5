"""`wardbench load`: Locust headless in a subprocess; readers beside AI writers, gated on our histograms."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.bench.scenarios import Scenario
from harness.cli.options import JsonOut, check_scenario_dirs, check_users, with_config
from harness.cli.run import finish, new_results, run_stage
from harness.config import RunConfig, parse_duration
from harness.db import Database
from harness.errors import UsageError
from harness.load.stage import LoadOptions, main_run, run_load
from harness.load.workload import role_of, select_scenarios
from harness.results import Results

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
Master = Annotated[bool, typer.Option(
    "--master", help="the mixed run waits for --expect-workers Locust workers started elsewhere with --worker")]
ExpectWorkers = Annotated[int, typer.Option("--expect-workers", help="with --master: how many workers to wait for")]
MasterPort = Annotated[int, typer.Option("--master-port", help="with --master or --worker: the master's TCP port")]
Worker = Annotated[bool, typer.Option(
    "--worker", help="be a load worker for `wardbench load --master` on --master-host (no database of its own)")]
MasterHost = Annotated[str | None, typer.Option("--master-host", help="with --worker: the master's host")]


@with_config(..., "profile", "backend", "dsn", "in_place", "pg_version", "seed", "scale_factor", "json",
             "reports_dir", "keep_database", "dataset", "target")
def load(cfg: RunConfig, users: Users = None, duration: Duration = None, rate: Rate = None,
         processes: Processes = None, scenarios: Scenarios = None, think_time: ThinkTime = None,
         writers: Writers = None, proof_duration: ProofDuration = None, fidelity_duration: FidelityDuration = None,
         master: Master = False, expect_workers: ExpectWorkers = 1, master_port: MasterPort = 5557,
         worker: Worker = False, master_host: MasterHost = None, json: JsonOut = None) -> None:
    """Concurrency proof, a mixed reader/writer run (closed or --rate open model), fidelity vs pgbench.

    A disposable database is migrated and filled first; with --in-place or --dsn data the named
    database is loaded as it stands (the writers insert rows into it). With --master, the mixed run is
    shared with workers on other hosts (`wardbench load --worker --master-host H`), whose histograms
    reach the master over Locust's message channel and are merged into one corrected result.
    """
    if worker:
        raise typer.Exit(_run_worker(master, master_host, master_port, cfg.dsn))
    if master and expect_workers < 1:
        raise UsageError(f"bad --expect-workers {expect_workers}: a master needs at least one worker")
    durations = {f"{name}_s": parse_duration(text) for name, text in (
        ("duration", duration), ("proof_duration", proof_duration), ("fidelity_duration", fidelity_duration))
        if text is not None}
    options = LoadOptions.from_config(  # the profile's [load] table, then these; bad values fail here
        cfg, users=users, rate_per_s=rate, processes=processes, think_time_s=think_time, writers=writers,
        scenario_dirs=tuple(scenarios) if scenarios else None, **durations,
        expect_workers=expect_workers if master else None, master_port=master_port if master else None)
    check_users(cfg, [options.users, options.proof_users], "--users")
    check_scenario_dirs(options.scenario_dirs)
    chosen = select_scenarios(list(options.scenario_dirs), [])  # and so do bad scenario files
    console = Console(stderr=True)
    results = new_results(cfg, "load")

    def call(cfg: RunConfig, db: Database, results: Results) -> None:
        run_load(cfg, db, results, options, console)

    def before_load(db: Database) -> None:
        from harness.bench.readonly import check_scenarios

        check_scenarios(db.dsn, chosen, cfg.seed)  # a read scenario that writes: exit 2, nothing run
        if not db.disposable:
            _announce_writes(console, db, options, chosen)

    run_stage(cfg, results, "load", console, before=before_load, call=call)
    finish(cfg, results, json, console)


def _announce_writes(console: Console, db: Database, options: LoadOptions, scenarios: list[Scenario]) -> None:
    """In place, say what the writers will add to the user's database, and that it stays there."""
    writes = sorted(s.name for s in scenarios if role_of(s.kind) == "writer")
    writers = main_run(options, {role_of(s.kind) for s in scenarios}, 0).writers
    if not writes or not writers:
        console.print(f"load --in-place: readers only; every statement runs READ ONLY, database {db.name} "
                      "is not written")
        return
    console.print(f"load --in-place: {writers} writer user(s) run {', '.join(writes)} in database {db.name} for "
                  f"the mixed run and the writers' concurrency proof; the rows they insert are left in place "
                  f"(wardbench does not delete them; --writers 0 runs readers only, which never write)",
                  highlight=False)


def _run_worker(master: bool, master_host: str | None, master_port: int, dsn: str | None) -> int:
    """Run one Locust worker in the foreground until its master quits; its exit code is ours."""
    import os
    import subprocess

    from harness.load.runner import worker_command

    if master or not master_host:
        raise UsageError("--worker needs --master-host HOST (and not --master)")
    if not 0 < master_port < 65536:
        raise UsageError(f"bad --master-port {master_port}: must be a TCP port")
    env = {**os.environ, **({"WARDBENCH_DSN": dsn} if dsn else {})}  # else the master's DSN is used
    Console(stderr=True).print(f"load worker: waiting for the master at {master_host}:{master_port}")
    return subprocess.call(worker_command(master_host, master_port), env=env)
