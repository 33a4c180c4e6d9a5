"""`wardbench migrate verify`: walk any Alembic chain up and down with data and prove nothing is lost."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from harness.cli.options import (
    Backend,
    DatasetName,
    Dsn,
    JsonOut,
    Keep,
    PgVersion,
    Profile,
    ReportsDir,
    ScaleFactor,
    Seed,
    TargetList,
    make_config,
    with_config,
)
from harness.cli.run import finish
from harness.config import RunConfig
from harness.db import open_database
from harness.environment import collect_environment
from harness.errors import UsageError
from harness.results import Results
from harness.targets import parse_items

AlembicIni = Annotated[Path | None, typer.Option("--alembic-ini", help="alembic.ini of the chain "
                                                  "(default: the reference chain in migrations/)")]
UnderLoad = Annotated[bool, typer.Option("--under-load", help="run reads during each upgrade step")]
JunitOut = Annotated[Path | None, typer.Option("--junit", help="write JUnit XML (one test case per step)")]
Rows = Annotated[int, typer.Option("--rows", min=1, max=10000, help="rows seeded per table per revision")]
StrictLocks = Annotated[bool, typer.Option("--strict-locks", help="lock hazards fail the gate (default: warnings)")]


@with_config("alembic_ini", "under_load", "json", "junit_path", "rows", "backend", "dsn", "in_place", "pg_version",
             "seed", "keep_database", ..., outputs={"junit_path": "--junit"})
def verify(cfg: RunConfig, alembic_ini: AlembicIni = None, under_load: UnderLoad = False, json: JsonOut = None,
           junit_path: JunitOut = None, rows: Rows = 12, strict_locks: StrictLocks = False) -> None:
    """Walk the chain on an empty database, then seed, checksum, upgrade, downgrade, compare at every revision.

    Exit 1 when a step has an unaccepted error finding; exit 2 for a configuration problem of the chain (its
    env.py reaches another database, reads a missing variable, exits, or cannot import the application).
    """
    # Imported here: alembic and SQLAlchemy cost every other command's start.
    from harness.verify.chain import load_chain
    from harness.verify.junit import render_migrations_junit
    from harness.verify.render import print_migrations
    from harness.verify.stage import run_verify
    from harness.verify.stairway import VerifyOptions

    chain = load_chain(alembic_ini)  # a bad path or two heads: exit 2 before any database is touched
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

    def show(results: Results, paths: list[Path]) -> None:
        print_migrations(section, console)
        console.print(f"verdict: [bold]{results.verdict}[/]  results: {paths[0]}")

    finish(cfg, results, json, console, also=[(junit_path, render_migrations_junit)] if junit_path else (),
           show=show)


RehearseRows = Annotated[str | None, typer.Option(
    "--rows", help="rows seeded per table, e.g. 200k or 1m (bulk COPY; default 100k); only with --alembic-ini "
                   "(the reference chain rehearses on the profile's generated dataset)")]
Since = Annotated[str | None, typer.Option("--since", help="rehearse every revision after REV (default: the newest)")]
AllRevisions = Annotated[bool, typer.Option("--all", help="rehearse every revision of the chain")]
Baseline = Annotated[str | None, typer.Option(
    "--baseline", help="live workload before each step, compared with during (default 30s, or the profile's)")]
LiveRate = Annotated[float | None, typer.Option("--live-rate", min=1, max=100_000,
                                                help="live requests per second (default 200, or the profile's)")]
def rehearse(alembic_ini: AlembicIni = None, rows: RehearseRows = None, since: Since = None,
             every: AllRevisions = False, baseline: Baseline = None, live_rate: LiveRate = None,
             target: TargetList = None, json: JsonOut = None, profile: Profile = None, scale_factor: ScaleFactor = None,
             backend: Backend = None, dsn: Dsn = None, pg_version: PgVersion = None, seed: Seed = None,
             keep_database: Keep = False, prepared: DatasetName = None, reports_dir: ReportsDir = None) -> None:
    """Rehearse the newest revision(s) at volume, downgrades too, while a live workload runs beside them.

    Any chain (--alembic-ini): every table seeded with --rows rows, the window upgraded, then downgraded. The
    reference chain: the profile's generated dataset at head, the window downgraded, then upgraded, with the
    load stage's ward readers, vector readers and AI writers live. Per step: wall time, locks on existing
    tables, the longest live wait and the statement behind it, live p50/p95/p99 per kind and errors against
    the baseline, size changes, WAL bytes, checksums proving no loss; per revision the round trip.
    Exit 1 when a step loses data, blocks a live request longer than max_blocked_ms, fails live requests, or
    (reference chain) lets live ward or vector p95 exceed its target. --dataset NAME: the reference chain
    starts from a copy of that prepared dataset instead of generating.
    """
    from harness.config import parse_count, parse_duration
    from harness.rehearse.render import print_rehearsal
    from harness.rehearse.stage import run_rehearsal, window
    from harness.rehearse.step import RehearseOptions
    from harness.verify.chain import load_chain

    if since is not None and every:
        raise UsageError("--since and --all both choose the window: give one of them")
    reference = alembic_ini is None
    if prepared is not None and not reference:
        raise UsageError("--dataset holds the reference chain's generated data: --alembic-ini chains are seeded "
                         "with --rows instead; drop one of them")
    if reference and rows is not None:
        raise UsageError("--rows seeds any chain's tables: the reference chain rehearses on the profile's "
                         "generated dataset (choose its size with --profile and --scale-factor)")
    if not reference and (profile is not None or scale_factor is not None):
        raise UsageError("--profile and --scale-factor choose the reference chain's dataset: with --alembic-ini "
                         "give --rows")
    count = parse_count(rows or "100k")
    pause = parse_duration(baseline) if baseline is not None else None
    p95 = [k for k in parse_items(target or []) if k.endswith("_p95_ms")]
    if p95 and not reference:
        raise UsageError(f"--target {p95[0]}: live p95 targets apply to the reference chain's scenarios "
                         "(drop --alembic-ini)")
    chain = load_chain(alembic_ini)
    revisions = window(chain, since, every)
    dataset: dict[str, Any] = {"profile": profile, "scale_factor": scale_factor} if reference else {}
    cfg = make_config(backend=backend, dsn=dsn, pg_version=pg_version, seed=seed, keep_database=keep_database,
                      outputs=[("--json", json)], targets=target, dataset=prepared, reports_dir=reports_dir,
                      **dataset)
    console = Console(stderr=True)
    results = Results(run_id=cfg.run_id, command="migrate rehearse", profile={"targets": dict(cfg.targets)},
                      selection={"alembic_ini": str(chain.ini), "window": revisions,
                                 **({"profile": cfg.profile, "scale_factor": cfg.scale_factor} if reference
                                    else {"rows": count})})
    with open_database(cfg) as db:
        console.print(f"database: {db.display_dsn}  chain: {chain.ini}  window: {', '.join(revisions)}")
        results.environment = collect_environment(db)
        if reference:
            from harness.datagen.stage import generate
            from harness.rehearse.reference import options_for, rehearse_reference
            from harness.smoke import migrate_and_check

            options = options_for(cfg, pause, live_rate)
            if db.dataset is None:  # else a copy of a prepared dataset: generate only records it
                console.print(f"generating the {cfg.profile} profile's dataset (scale {cfg.scale_factor:g}) at head")
            migrate_and_check(cfg, db, results)
            generate(cfg, db, results, console=console)
            section = rehearse_reference(cfg, db, results, since, every, options, console)
        else:
            options = RehearseOptions(rows=count, seed=cfg.seed, baseline_s=30.0 if pause is None else pause,
                                      rate=live_rate or 200.0,
                                      max_blocked_ms=cfg.targets["max_blocked_ms"],
                                      max_error_rate=cfg.targets["rehearse_error_rate"])
            section = run_rehearsal(db, results, chain, revisions, options, console)

    def show(results: Results, paths: list[Path]) -> None:
        print_rehearsal(section, results, console)
        console.print(f"verdict: [bold]{results.verdict}[/]  results: {paths[0]}")

    finish(cfg, results, json, console, reports=True, show=show)
