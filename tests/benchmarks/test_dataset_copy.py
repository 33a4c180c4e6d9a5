"""A prepared dataset's copy against regenerating it, and the copy strategies against each other, same run.

The dataset is the ci profile (times WARDBENCH_BENCH_SCALE). Copies alternate between the strategies so each
sees the same cache and load; each figure is a median. Assertions are on ratios, never on wall-clock time:
a copy must beat regenerating by far (the point of datasets), and the default (FILE_COPY, clone) must not
be slower than the server's default WAL_LOG strategy.
"""

from __future__ import annotations

import io
import statistics
import time

import psycopg
from rich.console import Console

from harness import alembic_project
from harness.config import load_profile
from harness.datagen.loader import load_dataset
from harness.datasets import store
from harness.datasets.record import DatasetRecord, generator_digest
from harness.db import Database

ROUNDS = 5
MIN_REGENERATE_VS_COPY = 5.0
MAX_DEFAULT_VS_WAL_LOG = 1.0


def test_copy_beats_regenerating_and_file_copy_beats_wal_log(fresh_db: Database, bench_scale: float) -> None:
    profile = load_profile("ci")
    alembic_project.upgrade(fresh_db, "head")
    started = time.perf_counter()
    summary = load_dataset(fresh_db, profile, bench_scale, 42, console=Console(file=io.StringIO()))
    regenerate_s = time.perf_counter() - started
    record = DatasetRecord(name="bench-copy", profile="ci", seed=42, scale_factor=bench_scale,
                           head_revision=alembic_project.head_revision(), generator_digest=generator_digest(profile),
                           dataset_digest=summary.dataset_digest)
    server = fresh_db.server
    store.keep(fresh_db, record)
    timings: dict[str, list[float]] = {m: [] for m in store.METHODS}
    used: dict[str, str] = {}
    try:
        with psycopg.connect(server.admin_dsn) as conn:
            size = conn.execute("SELECT pg_database_size(%s)", (record.database,)).fetchone()
        for _ in range(ROUNDS):
            for method in store.METHODS:
                t0 = time.perf_counter()
                used[method] = store.copy_database(server.admin_dsn, record.database, "bench_copy", method)
                timings[method].append(time.perf_counter() - t0)
                server.drop_database("bench_copy")
    finally:
        store.drop(server.admin_dsn, record.database)
    median = {m: statistics.median(v) for m, v in timings.items()}
    print(f"\ndataset ci x {bench_scale:g}: {size[0] / 2**20 if size else 0:.0f} MiB, regenerated in "
          f"{regenerate_s:.1f} s; copy medians of {ROUNDS}: " +
          ", ".join(f"{m} ({used[m]}) {s:.2f} s" for m, s in median.items()) +
          f"; regenerate/clone {regenerate_s / median['clone']:.1f}x, wal_log/clone "
          f"{median['wal_log'] / median['clone']:.2f}x, copy/clone {median['copy'] / median['clone']:.2f}x")
    assert regenerate_s / median["clone"] >= MIN_REGENERATE_VS_COPY
    assert median["clone"] <= median["wal_log"] * MAX_DEFAULT_VS_WAL_LOG
