"""`wardbench bench`: every ward and vector scenario through pytest-benchmark, gated on p95, rows and recall."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from harness.bench.runner import run_bench
from harness.bench.scenarios import load_scenarios, suite_kinds
from harness.cli.options import JsonOut, check_scenario_dirs, with_config
from harness.cli.run import finish, new_results, print_gates, require_schema
from harness.config import RunConfig
from harness.db import Database, open_database
from harness.environment import collect_environment
from harness.errors import UsageError
from harness.results import Results
from harness.results.bench import BenchOptions, ScenarioResult

Suite = Annotated[str, typer.Option("--suite", help="ward | vector | all")]
ScenarioDirs = Annotated[list[Path] | None, typer.Option(
    "--scenarios", help="a directory (not a file) of your own scenario TOML files, added to the reference ones "
                          "(repeatable)")]
Rounds = Annotated[int | None, typer.Option("--rounds", min=5, help="timed rounds per scenario (default 200)")]


def _ensure_data(cfg: RunConfig, db: Database, results: Results, console: Console) -> None:
    """A database the harness created is migrated and generated here; any other must already hold data."""
    if db.disposable:
        # Imported here: alembic and SQLAlchemy cost a CLI start that only parses or refuses input.
        from harness import alembic_project
        from harness.datagen.stage import generate

        alembic_project.upgrade(db, "head")
        generate(cfg, db, results, console=console)
        return
    require_schema(db, ["bench"])
    with db.connect() as conn:
        row = conn.execute("SELECT to_regclass('public.post_embeddings') IS NOT NULL "
                           "AND EXISTS (SELECT 1 FROM post_embeddings)").fetchone()
    if not row or not row[0]:
        raise UsageError(f"database {db.name} holds no generated data: run wardbench generate first")


def _fmt(value: Any, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _print_table(console: Console, records: list[ScenarioResult]) -> None:
    table = Table(title="scenarios (latencies in ms; margin = headroom below the p95 target)")
    for col in ("scenario", "n", "p50", "p95", "p99", "max", "qps", "target", "margin", "recall@10",
                "tie-tol.", "rows min", "overhead p50", "plan"):
        table.add_column(col, justify="left" if col in ("scenario", "plan") else "right",
                         no_wrap=col == "scenario")
    for r in records:
        plan = r.plan
        note = "" if plan is None else ("SEQ SCAN " + ",".join(plan.large_seq_scans)) if plan.large_seq_scans \
            else ",".join(plan.indexes[:2]) or ",".join(plan.nodes[:2])
        table.add_row(r.name, str(r.count), _fmt(r.p50_ms), _fmt(r.p95_ms),
                      _fmt(r.p99_ms), _fmt(r.max_ms), _fmt(r.qps, ".0f"), _fmt(r.target_ms, ".0f"),
                      _fmt(r.margin, ".0%"), _fmt(r.recall_at_10, ".3f"),
                      _fmt(r.recall_at_10_tie_tolerant, ".3f"), _fmt(r.rows_returned_min, "d"),
                      _fmt(r.overhead_p50_ms, ".3f"), note)
    console.print(table)


@with_config("suite", "scenarios", "rounds", "profile", "backend", "dsn", "in_place", "pg_version", "seed",
             "scale_factor", "json", "reports_dir", "keep_database", "dataset", "target")
def bench(cfg: RunConfig, suite: Suite = "all", scenarios: ScenarioDirs = None, rounds: Rounds = None,
          json: JsonOut = None) -> None:
    """Measure every scenario (p50/p95/p99/max from raw timings, recall@10 against exact search); exit 1 on a miss.

    A database the harness creates is migrated and filled with the profile's data first; with --dsn and
    --in-place the named database is measured as it is.
    """
    check_scenario_dirs(scenarios)
    chosen = load_scenarios(scenarios, suite_kinds(suite))  # bad files fail before any server starts
    options = BenchOptions.from_config(cfg, rounds=rounds)
    console = Console(stderr=True)
    if not console.is_terminal:  # logs and CI: wide enough that the scenario table is not truncated
        console = Console(stderr=True, width=180)
    results = new_results(cfg, "bench", {"suite": suite, "scenarios": [s.name for s in chosen],
                                         "scenario_dirs": [str(d) for d in scenarios or []]})
    with open_database(cfg) as db:
        console.print(f"database: {db.display_dsn}")
        results.environment = collect_environment(db)
        _ensure_data(cfg, db, results, console)
        records = run_bench(cfg, db, results, chosen, options, console)

    def show(results: Results, paths: list[Path]) -> None:
        _print_table(console, records)
        print_gates(console, results, failing_only=True)
        fid = results.bench.fidelity if results.bench else None
        if fid and fid.samples:
            console.print(f"harness overhead p50 {fid.overhead_p50_ms or 0:.3f} ms against server p50 "
                          f"{fid.server_p50_ms or 0:.3f} ms (server time from {', '.join(fid.server_time_from)}; "
                          f"criterion <= {fid.overhead_target_ms or 0:.3f} ms: "
                          f"{'met' if fid.within_target else 'NOT met'}; recorded, not gated)")
        passed = sum(g.verdict == "pass" for g in results.gates)
        console.print(f"{passed}/{len(results.gates)} gates passed; verdict: [bold]{results.verdict}[/]  "
                      f"results: {paths[0]}  pytest-benchmark: {cfg.run_dir / 'bench' / 'pytest-benchmark.json'}")

    finish(cfg, results, json, console, show=show)
