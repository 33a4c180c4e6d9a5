"""`wardbench capacity`: sweep data size and concurrency, fit p95 growth, say where each target breaks."""

from __future__ import annotations

import shutil
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.cli import app
from harness.cli.options import (
    Backend,
    Dsn,
    JsonOut,
    Keep,
    PgVersion,
    Profile,
    ReportsDir,
    Seed,
    TargetList,
    check_users,
    embedded_home,
    make_config,
)
from harness.config import RunConfig, parse_count, parse_duration, parse_list
from harness.datasets.record import DatasetRecord, check_name
from harness.db import open_database
from harness.environment import collect_environment
from harness.errors import UsageError
from harness.report import write_reports
from harness.results import Results


def _users(text: str) -> list[int]:
    values = parse_list(text, parse_count)
    return sorted(set(values))


@app.command()
def capacity(
        scales: Annotated[str | None, typer.Option(
            help="data sizes as posts counts, e.g. 10k,100k,1m (default 10k,30k,100k)")] = None,
        users: Annotated[str, typer.Option(help="concurrencies, e.g. 1,10,50 (1 alone: pytest-benchmark)")] = "1",
        duration: Annotated[str, typer.Option(help="load time per concurrency (Locust runs)")] = "20s",
        suite: Annotated[str, typer.Option(help="ward | vector | all")] = "all",
        scenario: Annotated[list[str] | None, typer.Option(help="only this scenario, repeatable")] = None,
        rounds: Annotated[int | None, typer.Option(help="timed rounds per scenario and size (one user)")] = None,
        profile: Profile = "capacity", backend: Backend = None, dsn: Dsn = None, pg_version: PgVersion = None,
        seed: Seed = None, json: JsonOut = None, reports_dir: ReportsDir = None, keep_database: Keep = False,
        dataset: Annotated[list[str] | None, typer.Option(
            "--dataset", help="a prepared dataset as one size of the sweep, repeatable, instead of --scales "
                              "(each built with `wardbench generate --profile capacity --scale-factor F "
                              "--keep-dataset NAME`)")] = None,
        target: TargetList = None,
) -> None:
    """Fresh database per size, every scenario at every concurrency; fit and predicted breaking points.

    With --dataset (repeatable) each size is a copy of a prepared dataset instead of generated data.
    """
    from harness.bench.scenarios import load_scenarios, suite_kinds
    from harness.capacity.sweep import run_capacity
    from harness.results.bench import BenchOptions

    if dataset and scales is not None:
        raise UsageError("--dataset and --scales both choose the sweep's sizes: give one of them")
    sizes = sorted(set(parse_list(scales or "10k,30k,100k", parse_count)))
    levels = _users(users)
    if (len(set(dataset)) if dataset else len(sizes)) < 3 and len(levels) < 3:
        raise UsageError("a capacity fit needs three or more --scales (or --dataset, or --users) values")
    cfg = make_config(profile=profile, backend=backend, dsn=dsn, pg_version=pg_version, seed=seed,
                      reports_dir=reports_dir, keep_database=keep_database, outputs=[("--json", json)],
                      targets=target, dataset=dataset[0] if dataset else None)  # where datasets live is checked here
    cfg = cfg.with_(dataset=None)  # the sweep's own database stays empty: each size is copied into its own
    for name in dataset or []:
        check_name(name, "--dataset")
    check_users(cfg, levels, "--users")
    from harness.footprint import check_fits  # one fresh database per size, each dropped before the next

    home = embedded_home()[0] if cfg.backend == "embedded" else None
    if not dataset:
        check_fits(cfg.profile_data, max(sizes) / int(cfg.profile_data["posts"]), home, f"--scales {max(sizes)}")
    chosen = [s for s in load_scenarios(kinds=suite_kinds(suite)) if not scenario or s.name in scenario]
    if scenario and (unknown := sorted(set(scenario) - {s.name for s in chosen})):
        raise UsageError(f"unknown scenario(s) {', '.join(unknown)} in suite {suite!r}")
    options = BenchOptions.from_config(cfg, rounds=rounds, recall_queries=1)
    console = Console(stderr=True)
    results = Results(run_id=cfg.run_id, command="capacity", profile={
        "name": cfg.profile, **cfg.profile_data, "seed": cfg.seed, "targets": dict(cfg.targets)},
        selection={"stages": ["capacity"], "scenarios": [s.name for s in chosen]})
    with open_database(cfg) as db:
        prepared = _prepared(cfg, db.server.admin_dsn, dataset or [])
        sizes = sorted(prepared) or sizes
        results.environment = collect_environment(db)
        results.capacity, gates = run_capacity(cfg, db, chosen, sizes, levels, parse_duration(duration), options,
                                               console, prepared)
    results.gates += gates
    path = results.write(cfg.run_dir / "results.json")
    written = write_reports(results, cfg.run_dir)
    if json is not None:
        json.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, json)
    Console().print(_table(results))
    console.print("wrote: " + ", ".join(str(p) for p in [path, *written.values()]))
    raise typer.Exit(results.exit_code)


def _prepared(cfg: RunConfig, admin_dsn: str, names: list[str]) -> dict[int, DatasetRecord]:
    """The named datasets by their posts count; each must be of the run's profile and seed (any scale), at
    today's head and generator, and of a size of its own (exit 2 otherwise)."""
    from harness.datasets import store
    from harness.datasets.record import Expected, check_fresh

    out: dict[int, DatasetRecord] = {}
    for name in dict.fromkeys(names):
        record = store.find(admin_dsn, name)
        expected = Expected.for_run(cfg.with_(scale_factor=record.scale_factor))
        check_fresh(record, expected)
        posts = int(record.rows.get("posts", 0))
        if posts in out:
            raise UsageError(f"--dataset {name} and --dataset {out[posts].name} both hold {posts:,} posts: "
                             "a sweep needs different sizes")
        out[posts] = record
    return out


def _table(results: Results) -> Table:
    from harness.report.html import capacity_rows

    table = Table(title="where each p95 target is predicted to break (95 % interval)")
    for col in ("scenario", "axis", "held at", "growth", "target ms", "breaks at"):
        table.add_column(col)
    for row in capacity_rows(results.capacity):
        table.add_row(row["scenario"], row["axis"], row["at"], row["slope"], row["target"], row["breaks"])
    return table
