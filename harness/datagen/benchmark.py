"""Load-rate peers measured on the same server in the same run: pgbench -i, naive Faker INSERTs, text COPY.

Speed is stated as ratios to these peers, never as absolute limits. Scratch objects live in a schema of
their own (or a rolled-back transaction) and are dropped afterwards, so the dataset is untouched.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from faker import Faker
from pgvector.psycopg import register_vector
from psycopg import sql

from harness.datagen.copy import ColumnData, FieldPool, Pooled, copy_batches, table_columns, vector_dimension
from harness.datagen.embeddings import make_space, sample
from harness.datagen.loader import secondary_indexes
from harness.db import Database
from harness.errors import EnvironmentFailure
from harness.gates import evaluate, not_evaluated
from harness.results import Gate

SCRATCH = "wardbench_loadbench"
NARROW_TABLE = "sentiment_scores"  # the dataset's largest narrow table (4 columns, one foreign key)
VECTOR_TABLE = "post_embeddings"
FAKER_TABLE = "posts"
TARGETS = {"narrow_vs_server_insert": 0.9, "vectors_per_s": 30_000.0, "vs_naive": 20.0}
# Why the pgbench -i ratio is reported but not gated (shown beside it).
PGBENCH_UNGATED = ("pgbench -i loads tables with no foreign key, CHECK or index; this table keeps its primary "
                   "key, CHECK and foreign key (checked per row by a trigger), so the server's own INSERT ... "
                   "SELECT with the same constraints, measured in this run, is the ceiling the loader is gated on")
_GENERATE = re.compile(r"client-side generate ([0-9.]+) s")


def pgbench_init_rate(db: Database, scale: int = 5, runs: int = 3) -> dict[str, Any]:
    """`pgbench -i` (drop, create, client-side generate) in a scratch schema; rows/s of its generate step."""
    exe = db.bin_dir / "pgbench"
    if not exe.exists():
        raise EnvironmentFailure(f"bundled pgbench not found at {exe}")
    env = {**os.environ, **db.libpq_env(), "PGOPTIONS": f"-c search_path={SCRATCH}"}
    rows = 100_000 * scale + 10 * scale + scale
    seconds: list[float] = []
    with db.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCRATCH)))
        try:
            for _ in range(runs):
                proc = subprocess.run([str(exe), "-i", "-s", str(scale), "-I", "dtg", "-q"], env=env,
                                      capture_output=True, text=True, timeout=600, check=False)
                match = _GENERATE.search(proc.stderr + proc.stdout)
                if proc.returncode != 0 or match is None:
                    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                    raise EnvironmentFailure(f"pgbench -i failed: {tail}")
                seconds.append(float(match.group(1)))
        finally:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCRATCH)))
    best = statistics.median(seconds)
    return {"scale": scale, "rows": rows, "runs_s": seconds, "median_s": best,
            "rows_per_s": round(rows / best) if best > 0 else None, "steps": "dtg (client-side COPY)"}


@contextmanager
def _scratch_transaction(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose open transaction has created the scratch schema; always rolled back."""
    with db.connect() as conn:
        try:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCRATCH)))
            yield conn
        finally:
            conn.rollback()


def naive_insert_rate(db: Database, rows: int = 1500, locale: str = "en_GB") -> dict[str, Any]:
    """Faker called per row, one INSERT per row, into `posts` with its constraints (rolled back).

    The secondary indexes are dropped in the same transaction, as the generator's load does, so the
    only difference from the generator is how rows are made and sent.
    """
    fake = Faker(locale)
    fake.seed_instance(0)
    with db.connect() as conn:
        wards, sources, start = conn.execute(
            "SELECT (SELECT max(id) FROM wards), (SELECT max(id) FROM content_sources), "
            "(SELECT coalesce(max(id), 0) FROM posts)").fetchone()  # type: ignore[misc]
        for name, table, _ in secondary_indexes(conn):
            if table == FAKER_TABLE:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        query = sql.SQL("INSERT INTO {} (id, source_id, ward_id, title, body, topic, published_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s)").format(sql.Identifier(FAKER_TABLE))
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for i in range(1, rows + 1):
                cur.execute(query, (start + i, fake.random_int(1, sources), fake.random_int(1, wards),
                                    fake.sentence(), fake.paragraph(nb_sentences=7), fake.word(),
                                    fake.date_time_between("-1y", "now", tzinfo=None).isoformat() + "+00"))
        seconds = time.perf_counter() - t0
        conn.rollback()
    return {"table": FAKER_TABLE, "rows": rows, "seconds": round(seconds, 4), "rows_per_s": round(rows / seconds)}


def vector_copy_rates(db: Database, rows: int = 5000, seed: int = 0) -> dict[str, Any]:
    """The same vector rows by binary COPY (NumPy-encoded) and by text COPY, into a scratch table."""
    with _scratch_transaction(db) as conn:
        dim = vector_dimension(conn, VECTOR_TABLE, "embedding")
        register_vector(conn)
        vectors = sample(make_space(dim, 24, seed), np.arange(rows) % 24, np.random.default_rng(seed))
        ids = np.arange(1, rows + 1, dtype=np.int64)
        out: dict[str, Any] = {"rows": rows, "dim": dim}
        for fmt in ("binary", "text"):
            table = sql.Identifier(SCRATCH, f"vectors_{fmt}")
            conn.execute(sql.SQL("CREATE TABLE {} (post_id bigint, embedding vector({}))").format(
                table, sql.Literal(dim)))
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                if fmt == "binary":
                    cols = table_columns(conn, f"vectors_{fmt}", SCRATCH)
                    copy_batches(cur, f"vectors_{fmt}", cols, [{"post_id": ids, "embedding": vectors}],
                                 schema=SCRATCH)
                else:
                    with cur.copy(sql.SQL("COPY {} (post_id, embedding) FROM STDIN").format(table)) as copy:
                        for i, v in zip(ids.tolist(), vectors, strict=True):
                            copy.write_row((i, v))
            seconds = time.perf_counter() - t0
            out[fmt] = {"seconds": round(seconds, 4), "rows_per_s": round(rows / seconds)}
    out["binary_over_text"] = round(out["binary"]["rows_per_s"] / out["text"]["rows_per_s"], 2)
    return out


def narrow_unconstrained_rate(db: Database, rows: int = 500_000) -> dict[str, Any]:
    """The generator's encoder and COPY into a constraint-free copy of the narrow table (pgbench's terms).

    Not a gate: it separates the cost of the loader from the cost of the schema's per-row checks.
    """
    rng = np.random.default_rng(0)
    models = FieldPool.text(["sentiment-roberta-v1", "sentiment-roberta-v2"])
    batch = 50_000
    start_us = np.datetime64("2026-01-01T00:00:00", "us")
    batches: Iterator[dict[str, ColumnData]] = ({"post_id": np.arange(i, min(i + batch, rows), dtype=np.int64),
                "score": rng.uniform(-1, 1, min(batch, rows - i)).astype(np.float32),
                "scored_at": start_us + rng.integers(0, 10**12, min(batch, rows - i)),
                "model": Pooled(models, rng.integers(0, 2, min(batch, rows - i)))}
               for i in range(0, rows, batch))
    with _scratch_transaction(db) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {})").format(sql.Identifier(SCRATCH, "narrow"),
                                                                 sql.Identifier("public", NARROW_TABLE)))
        cols = table_columns(conn, "narrow", SCRATCH)
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            copy_batches(cur, "narrow", cols, batches, schema=SCRATCH)
        seconds = time.perf_counter() - t0
    return {"shape_of": NARROW_TABLE, "rows": rows, "seconds": round(seconds, 4),
            "rows_per_s": round(rows / seconds), "constraints": "none (LIKE without INCLUDING)"}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def narrow_server_side_rates(db: Database, runs: int = 3) -> dict[str, Any]:
    """The narrow table's own rows inserted again by the server itself (INSERT ... SELECT: no client, no COPY
    parsing) into scratch copies with its constraints and with none: the ceiling for any loader.

    The constrained copy has the table's CHECK constraints (LIKE) and its key and foreign-key constraints
    (added from their definitions), but not its secondary indexes: the generator builds those after the
    load. All in one transaction, rolled back.
    """
    src = sql.Identifier("public", NARROW_TABLE)
    out: dict[str, Any] = {"table": NARROW_TABLE, "runs": runs}
    with _scratch_transaction(db) as conn:
        rows = int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(src)).fetchone()[0])  # type: ignore[index]
        keys = conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
                            "%s::regclass AND contype IN ('p', 'u', 'f', 'x') ORDER BY contype DESC",
                            (f"public.{NARROW_TABLE}",)).fetchall()
        for variant, like in (("constrained", "INCLUDING DEFAULTS INCLUDING CONSTRAINTS"), ("unconstrained", "")):
            seconds = []
            for i in range(runs):
                table = sql.Identifier(SCRATCH, f"{variant}_{i}")
                conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} " + like + ")").format(table, src))
                if variant == "constrained":
                    for name, definition in keys:
                        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} " + definition).format(
                            table, sql.Identifier(f"{name}_{i}")))
                t0 = time.perf_counter()
                conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(table, src))
                seconds.append(time.perf_counter() - t0)
            best = statistics.median(seconds)
            out[variant] = {"rows_per_s": round(rows / best) if best > 0 else None, "runs_s": seconds}
        out["rows"] = rows
        out["constraints"] = [d for _, d in keys]
    return out


def narrow_ratios(narrow: float | None, section: dict[str, Any]) -> tuple[dict[str, Any], Gate]:
    """The narrow table's loader rate against the server's own INSERT ... SELECT of the same rows with the
    same constraints (gated: a loader can at best approach it), and against pgbench -i (reported, ungated)."""
    ceiling = section["narrow_server_side"].get("constrained", {}).get("rows_per_s")
    pgb = section["pgbench_init"].get("rows_per_s")
    out: dict[str, Any] = {
        "table": NARROW_TABLE, "rows_per_s": narrow, "server_insert_select_rows_per_s": ceiling,
        "ratio": _ratio(narrow, ceiling),
        "pgbench_rows_per_s": pgb, "pgbench_ratio": _ratio(narrow, pgb),
        "pgbench_ratio_gated": False, "pgbench_ratio_why_not_gated": PGBENCH_UNGATED,
        "pgbench_error": section["pgbench_init"].get("error"),
        "server_insert_select_vs_pgbench": _ratio(ceiling, pgb),
        "unconstrained_copy_vs_pgbench": _ratio(section["narrow_unconstrained"]["rows_per_s"], pgb)}
    name = f"{NARROW_TABLE} load rate / the server's own INSERT ... SELECT (same constraints)"
    if out["ratio"] is None:
        return out, not_evaluated(name, "generate", "the server-side INSERT ... SELECT ceiling was not measured "
                                  "(no rows in the table?)", TARGETS["narrow_vs_server_insert"], "ratio", ">=")
    return out, evaluate(name, "generate", out["ratio"], TARGETS["narrow_vs_server_insert"], "ratio", ">=")


def run(db: Database, summary: dict[str, Any], locale: str = "en_GB") -> tuple[dict[str, Any], list[Gate]]:
    """Measure the peers and turn the load's rates into ratios: the narrow table against the server's own
    INSERT ... SELECT ceiling, vectors/s, and against a naive Faker loop (gated); pgbench -i beside, ungated."""
    tables = summary["tables"]
    section: dict[str, Any] = {"per_table_rows_per_s": {t: v["rows_per_s"] for t, v in tables.items()}}
    gates: list[Gate] = []
    try:
        section["pgbench_init"] = pgbench_init_rate(db)
    except (EnvironmentFailure, OSError, subprocess.TimeoutExpired, psycopg.Error) as exc:
        section["pgbench_init"] = {"error": str(exc)}
    section["naive_faker_insert"] = naive_insert_rate(db, locale=locale)
    section["vector_copy"] = vector_copy_rates(db)
    section["narrow_unconstrained"] = narrow_unconstrained_rate(db)
    section["narrow_server_side"] = narrow_server_side_rates(db)
    section["narrow_vs_ceiling"], narrow_gate = narrow_ratios(tables[NARROW_TABLE]["rows_per_s"], section)
    gates.append(narrow_gate)
    vec = tables[VECTOR_TABLE]["rows_per_s"]
    gates.append(evaluate(f"{VECTOR_TABLE} vectors/s before index build (dim {summary['embedding_dim']})",
                          "generate", vec, TARGETS["vectors_per_s"], "vectors/s", ">="))
    naive = section["naive_faker_insert"]["rows_per_s"]
    ratio_naive = round(tables[FAKER_TABLE]["rows_per_s"] / naive, 2)
    section["vs_naive"] = {"table": FAKER_TABLE, "ratio": ratio_naive}
    gates.append(evaluate(f"{FAKER_TABLE} load rate / naive Faker-per-row INSERT", "generate", ratio_naive,
                          TARGETS["vs_naive"], "ratio", ">="))
    return section, gates
