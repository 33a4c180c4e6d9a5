"""`wardbench capacity`: sweep data size and concurrency, fit p95 growth, say where each target breaks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.cli.options import JsonOut, check_datasets, check_users, embedded_home, with_config
from harness.cli.run import finish, new_results
from harness.config import RunConfig, parse_count, parse_duration, parse_list
from harness.datasets.record import DatasetRecord
from harness.db import open_database
from harness.environment import collect_environment
from harness.errors import UsageError
from harness.results import Results


def _users(text: str) -> list[int]:
    values = parse_list(text, parse_count)
    return sorted(set(values))


@with_config("scales", "users", "duration", "suite", "scenario", "rounds", "profile", "backend", "dsn",
             "pg_version", "seed", "json", "reports_dir", "keep_database", "dataset", "target",
             defaults={"profile": "capacity"})
def capacity(
        cfg: RunConfig,
        scales: Annotated[str | None, typer.Option(
            help="data sizes as posts counts, e.g. 10k,100k,1m (default 10k,30k,100k)")] = None,
        users: Annotated[str, typer.Option(help="concurrencies, e.g. 1,10,50 (1 alone: pytest-benchmark)")] = "1",
        duration: Annotated[str, typer.Option(help="load time per concurrency (Locust runs)")] = "20s",
        suite: Annotated[str, typer.Option(help="ward | vector | all")] = "all",
        scenario: Annotated[list[str] | None, typer.Option(help="only this scenario, repeatable")] = None,
        rounds: Annotated[int | None, typer.Option(
            help="timed rounds per scenario and size (one user; default 1000)")] = None,
        json: JsonOut = None,
        predict_at: Annotated[str | None, typer.Option(
            help="a size (posts, e.g. 1m) each size fit predicts p95 at, refusing when its backtest misses, "
                 "the plan changes, no measured size lies within 10x, a rival model fits as well and disagrees, "
                 "or the pages a query touches grow too much faster than its latency")] = None,
        dataset: Annotated[list[str] | None, typer.Option(
            "--dataset", help="a prepared dataset as one size of the sweep, repeatable, instead of --scales "
                              "(each built with `wardbench generate --profile capacity --scale-factor F "
                              "--keep-dataset NAME`)")] = None,
) -> None:
    """Fresh database per size, every scenario at every concurrency; fit and predicted breaking points.

    With --dataset (repeatable) each size is a copy of a prepared dataset instead of generated data.
    """
    from harness.bench.scenarios import load_scenarios, suite_kinds
    from harness.capacity.sweep import ROUNDS, run_capacity
    from harness.results.bench import BenchOptions

    if dataset and scales is not None:
        raise UsageError("--dataset and --scales both choose the sweep's sizes: give one of them")
    sizes = sorted(set(parse_list(scales or "10k,30k,100k", parse_count)))
    predict = float(parse_count(predict_at)) if predict_at is not None else None
    levels = _users(users)
    if (len(set(dataset)) if dataset else len(sizes)) < 3 and len(levels) < 3:
        raise UsageError("a capacity fit needs three or more --scales (or --dataset, or --users) values")
    if dataset:  # where datasets live; the sweep's own database stays empty: each size is copied into its own
        check_datasets(cfg, "--dataset", dataset)
    check_users(cfg, levels, "--users")
    from harness.footprint import check_fits  # one fresh database per size, each dropped before the next

    home = embedded_home()[0] if cfg.backend == "embedded" else None
    if not dataset:
        check_fits(cfg.profile_data, max(sizes) / int(cfg.profile_data["posts"]), home, f"--scales {max(sizes)}")
    chosen = [s for s in load_scenarios(kinds=suite_kinds(suite)) if not scenario or s.name in scenario]
    if scenario and (unknown := sorted(set(scenario) - {s.name for s in chosen})):
        raise UsageError(f"unknown scenario(s) {', '.join(unknown)} in suite {suite!r}")
    options = BenchOptions.from_config(cfg, rounds=ROUNDS if rounds is None else rounds, recall_queries=1)
    console = Console(stderr=True)
    results = new_results(cfg, "capacity", {"stages": ["capacity"], "scenarios": [s.name for s in chosen]})
    del results.profile["scale_factor"]  # the sweep's sizes are --scales (or --dataset), not a scale factor
    with open_database(cfg) as db:
        prepared = _prepared(cfg, db.server.admin_dsn, dataset or [])
        sizes = sorted(prepared) or sizes
        results.environment = collect_environment(db)
        results.capacity, gates = run_capacity(cfg, db, chosen, sizes, levels, parse_duration(duration), options,
                                               console, prepared, predict)
    results.gates += gates

    def show(results: Results, paths: list[Path]) -> None:
        Console().print(_table(results))
        for fit in results.capacity.fits if results.capacity else ():
            if fit.prediction is not None:
                p = fit.prediction
                Console().print(f"{fit.scenario}: p95 at {p.at:,.0f} posts " + (
                    f"predicted {p.p95_ms:.2f} ms" if p.p95_ms is not None else f"not predicted: {p.refused}"))
        console.print("wrote: " + ", ".join(str(p) for p in paths))

    finish(cfg, results, json, console, reports=True, show=show)


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
