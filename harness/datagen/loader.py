"""Load a whole synthetic dataset in one transaction: drop secondary indexes, COPY, rebuild, commit.

Constraints and foreign keys stay on for every row. Indexes that back no constraint (B-trees for access
paths, HNSW) are dropped inside the transaction and rebuilt after the load, so a failure anywhere rolls
back the data and the index changes together: nothing half-loaded is left behind.

Audit triggers are not disabled either: candidates, ward_results, ward_turnout and ai_reports write
audit_log rows during the load exactly as the application would. Those rows carry now(), txid_current()
and the session user, so audit_log is excluded from the dataset checksum; its row count and a checksum
of its deterministic columns are reported instead.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness import alembic_project
from harness.datagen import ai, content, elections, geography
from harness.datagen.copy import Column, ColumnData, copy_batches, copy_records, table_columns, vector_dimension
from harness.datagen.embeddings import Embedder, PooledTextEmbedder, SentenceModel, SyntheticEmbedder, make_space
from harness.datagen.plan import Plan, make_plan
from harness.datagen.pools import TOPICS, build_pools
from harness.db import Database
from harness.errors import UsageError
from harness.results.backup import TableImage
from harness.results.generate import AuditLog, GenerateSection, LoadedTable, LoadMethod
from harness.verify.checksums import database_checksums

# Load order follows the foreign keys.
TABLES = ("constituencies", "wards", "parties", "candidates", "elections", "ward_turnout", "ward_results",
          "content_sources", "posts", "sentiment_scores", "post_embeddings", "ai_models", "experiments",
          "ai_reports")
AUDIT_TABLE = "audit_log"
BYTES_PER_GB = 1024**3


@dataclass
class TableLoad:
    """How one table is filled: records (small tables, write_row) or NumPy batches (raw binary COPY)."""

    name: str
    planned_rows: int
    records: Callable[[], Iterable[tuple[Any, ...]]] | None = None
    columns: tuple[str, ...] = ()
    batches: Callable[[], Iterator[Mapping[str, ColumnData]]] | None = None


def _jobs(plan: Plan, dim: int) -> list[TableLoad]:
    pools = build_pools(plan.seed, plan.locale)
    post_embedder: Embedder
    report_embedder: Embedder
    if plan.embeddings == "model":
        model = SentenceModel(dim)
        post_embedder = PooledTextEmbedder.from_texts(model, pools.titles.texts, pools.bodies.texts)
        report_embedder = PooledTextEmbedder.from_texts(model, pools.report_titles.texts,
                                                        pools.report_bodies.texts)
    else:
        post_embedder = report_embedder = SyntheticEmbedder(make_space(dim, len(TOPICS), plan.seed))
    geo = geography.build(plan, pools)
    el = elections.build(plan, pools, geo)
    act = content.build(plan, pools, geo)
    setup = ai.build(plan)

    def turnout() -> Iterator[Mapping[str, ColumnData]]:
        return (b.turnout for b in elections.election_batches(plan, geo, el, with_results=False))

    def results() -> Iterator[Mapping[str, ColumnData]]:
        return (b.results for b in elections.election_batches(plan, geo, el))

    def posts() -> Iterator[Mapping[str, ColumnData]]:
        return (content.post_rows(b, pools) for b in content.post_batches(plan, act, pools))

    def sentiment() -> Iterator[Mapping[str, ColumnData]]:
        return (content.sentiment_rows(plan, b) for b in content.post_batches(plan, act, pools))

    def embeddings() -> Iterator[Mapping[str, ColumnData]]:
        return (content.embedding_rows(plan, b, post_embedder, i)
                for i, b in enumerate(content.post_batches(plan, act, pools)))

    return [
        TableLoad("constituencies", plan.constituencies, lambda: geography.constituency_records(geo),
                  geography.CONSTITUENCY_COLUMNS),
        TableLoad("wards", plan.wards, lambda: geography.ward_records(geo), geography.WARD_COLUMNS),
        TableLoad("parties", plan.parties, lambda: elections.party_records(el), elections.PARTY_COLUMNS),
        TableLoad("candidates", el.candidates, lambda: elections.candidate_records(el, pools),
                  elections.CANDIDATE_COLUMNS),
        TableLoad("elections", plan.elections, lambda: elections.election_records(el),
                  elections.ELECTION_COLUMNS),
        TableLoad("ward_turnout", 0, batches=turnout),
        TableLoad("ward_results", 0, batches=results),
        TableLoad("content_sources", plan.content_sources, lambda: content.source_records(act),
                  content.SOURCE_COLUMNS),
        TableLoad("posts", plan.posts, batches=posts),
        TableLoad("sentiment_scores", plan.posts, batches=sentiment),
        TableLoad("post_embeddings", plan.posts, batches=embeddings),
        TableLoad("ai_models", plan.ai_models, lambda: ai.model_records(setup), ai.MODEL_COLUMNS),
        TableLoad("experiments", plan.experiments, lambda: ai.experiment_records(setup, pools),
                  ai.EXPERIMENT_COLUMNS),
        TableLoad("ai_reports", int(setup.month_counts.sum()),
                  batches=lambda: ai.report_batches(plan, setup, act, pools, report_embedder)),
    ]


def check_ready(db: Database) -> None:
    """The database must be at the chain's head and its dataset tables empty (UsageError otherwise)."""
    head = alembic_project.head_revision()
    current = alembic_project.current_revision(db)
    if current != head:
        raise UsageError(f"database {db.name} is at revision {current or 'base (empty)'}, not head {head}: "
                         "migrate it first (alembic upgrade head / wardbench gate --only schema)")
    with db.connect() as conn:
        for table in TABLES:
            row = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table)))
            if row.fetchone() == (True,):
                raise UsageError(f"database {db.name} already holds data (table {table} is not empty): "
                                 "generate needs empty tables at head")


def secondary_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str]]:
    """(index, table, definition) of dataset-table indexes that back no constraint (safe to rebuild)."""
    rows = conn.execute(
        "SELECT i.relname, t.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = 'public' AND t.relname = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY 2, 1",
        ([*TABLES, *_derived(conn)],)).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _derived(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """The DERIVED tables the schema has, with the statement that fills each."""
    return {t: fill for t, fill in DERIVED.items()
            if conn.execute("SELECT to_regclass(%s)", (f"public.{t}",)).fetchone() != (None,)}


def hnsw_memory_bytes(rows: int, dim: int) -> int:
    """pgvector's sizing rule for an in-memory HNSW build: N x (8 + 4 dims) x 1.3 bytes."""
    return int(rows * (8 + 4 * dim) * 1.3)


def _build_settings(biggest_vector_rows: int, dim: int, parallel_workers: int) -> dict[str, str]:
    need = hnsw_memory_bytes(biggest_vector_rows, dim) * 1.5  # headroom: FIELD-NOTES 2 GB vs 3 GB at 1M
    mb = int(min(max(need, 256 * 1024**2), 4 * BYTES_PER_GB) // 1024**2)
    return {"maintenance_work_mem": f"{mb}MB", "max_parallel_maintenance_workers": str(parallel_workers)}


def _reset_sequences(conn: psycopg.Connection[Any], catalog: Mapping[str, Mapping[str, Column]]) -> None:
    """Serial columns were written explicitly: move each sequence past the loaded ids."""
    for table in TABLES:
        if "id" not in catalog[table]:
            continue
        row = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (f"public.{table}",)).fetchone()
        if row is None or row[0] is None:
            continue
        conn.execute(sql.SQL("SELECT setval(%s, coalesce((SELECT max(id) FROM {}), 0) + 1, false)").format(
            sql.Identifier(table)), (row[0],))


def _audit_summary(conn: psycopg.Connection[Any]) -> AuditLog:
    rows, checksum = conn.execute(
        "SELECT count(*), coalesce(sum(hashtextextended((id, table_name, op, old_row, new_row)::text, 0)"
        "::numeric), 0)::text FROM audit_log").fetchone()  # type: ignore[misc]
    return AuditLog(rows=int(rows), deterministic_checksum=str(checksum),
                    note="changed_at, changed_by and txid are set by the trigger (now(), user, txid): excluded")


def dataset_digest(checksums: Mapping[str, TableImage]) -> str:
    """One digest of every table's (rows, checksum): equal digests mean identical datasets."""
    canonical = json.dumps({t: [c.rows, c.checksum] for t, c in sorted(checksums.items())})
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=console, transient=False)


def load_dataset(db: Database, profile: Mapping[str, Any], scale: float, seed: int,
                 console: Console | None = None, parallel_workers: int = 1) -> GenerateSection:
    """Fill `db` (at head, empty) with the profile's dataset; returns per-table rows, rates and checksums."""
    plan = make_plan(dict(profile), scale, seed)
    check_ready(db)
    console = console or Console(stderr=True)
    started = time.perf_counter()
    tables: dict[str, LoadedTable] = {}
    index_builds: dict[str, float] = {}
    with db.connect() as conn:
        catalog = {t: table_columns(conn, t) for t in TABLES}
        dim = vector_dimension(conn, "post_embeddings", "embedding")
        jobs = _jobs(plan, dim)
        settings = _build_settings(max(plan.posts, 1), dim, parallel_workers)
        try:
            indexes = secondary_indexes(conn)
            for name, _, _ in indexes:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
            freeze = _truncated(conn)
            with _copy_triggers_paused(conn), _progress(console) as progress, conn.cursor() as cur:
                for job in jobs:
                    tables[job.name] = _load_table(cur, job, catalog[job.name], progress, freeze)
                for derived, fill in _derived(conn).items():
                    t0 = time.perf_counter()
                    conn.execute(fill)
                    console.print(f"derived {derived}: {time.perf_counter() - t0:.1f} s")
            _reset_sequences(conn, catalog)
            for key, value in settings.items():
                conn.execute("SELECT set_config(%s, %s, true)", (key, value))
            with console.status("building indexes") as status:
                for name, table, definition in indexes:
                    status.update(f"building index {name} on {table}")
                    t0 = time.perf_counter()
                    conn.execute(definition)  # pg_get_indexdef output: the catalog's own DDL
                    index_builds[name] = round(time.perf_counter() - t0, 3)
                    console.print(f"index {name}: {index_builds[name]:.1f} s")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        conn.autocommit = True
        t0 = time.perf_counter()
        # VACUUM as well as ANALYZE: sets hint bits and the visibility map now, so neither the first timed
        # queries (setting hint bits as they read) nor autovacuum's insert-triggered runs land in the benchmarks.
        for table in (*TABLES, *_derived(conn), AUDIT_TABLE):
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        vacuum_s = time.perf_counter() - t0
        checksums = database_checksums(conn, tables=list(TABLES))
        audit = _audit_summary(conn)
    sums = {t: TableImage(rows=c.rows, checksum=c.checksum) for t, c in checksums.items()}
    return GenerateSection(
        profile={k: v for k, v in profile.items() if not isinstance(v, dict)},
        plan={k: str(v) if not isinstance(v, int | float | str) else v for k, v in vars(plan).items()},
        seed=seed, scale_factor=scale, embedding_dim=dim,
        tables=tables, index_builds_s=index_builds, index_build_total_s=round(sum(index_builds.values()), 3),
        build_settings=settings, vacuum_analyze_s=round(vacuum_s, 3),
        total_s=round(time.perf_counter() - started, 3),
        load_s=round(sum(t.seconds for t in tables.values()), 3),
        checksums=sums, dataset_digest=dataset_digest(sums), audit_log=audit,
        planned_rows={job.name: job.planned_rows for job in jobs if job.planned_rows},
    )


# Row triggers that keep derived copies: revision 014's, of a post's ward, time and sentiment score on its
# embedding row, and revision 016's, of each embedding's bits in post_embedding_bits. The loader writes those
# copies itself (content.embedding_rows; DERIVED after the COPY, set-based), so for the load's transaction it
# switches them off: 1M trigger calls on each table cost more than the raw COPY of the rows.
COPY_TRIGGERS = (("post_embeddings", "tr_post_embeddings_from_post"),
                 ("sentiment_scores", "tr_sentiment_scores_to_post_embeddings"),
                 ("post_embeddings", "tr_post_embedding_bits"))
# Tables derived from the dataset's (revision 016), filled by one statement each after the COPY: what their
# trigger writes row by row.
DERIVED = {"post_embedding_bits": "INSERT INTO post_embedding_bits (post_id, ward_id, published_at, bits) "
                                  "SELECT post_id, ward_id, published_at, binary_quantize(embedding)::bit(384) "
                                  "FROM post_embeddings"}


@contextmanager
def _copy_triggers_paused(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """The COPY_TRIGGERS the schema has, disabled inside the block and enabled after it (same transaction: a
    failed load rolls both back)."""
    paused = [(sql.Identifier(t), sql.Identifier(g)) for t, g in COPY_TRIGGERS if conn.execute(
        "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = %s", (t, g)).fetchone()]
    for table, trigger in paused:
        conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(table, trigger))
    yield
    for table, trigger in paused:
        conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(table, trigger))


def _truncated(conn: psycopg.Connection[Any]) -> bool:
    """TRUNCATE the (empty) tables in the load's transaction, so their COPY may FREEZE; False, and nothing
    truncated, when another table of the database references them (a user's database at head may have one)."""
    try:
        with conn.transaction():
            conn.execute(sql.SQL("TRUNCATE {}").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in (*TABLES, *_derived(conn)))))
    except psycopg.errors.FeatureNotSupported:
        return False
    return True


def _load_table(cur: psycopg.Cursor[Any], job: TableLoad, columns: dict[str, Column],
                progress: Progress, freeze: bool = False) -> LoadedTable:
    task = progress.add_task(job.name, total=job.planned_rows or None, rate="")
    t0 = time.perf_counter()

    def advance(n: int) -> None:
        elapsed = max(time.perf_counter() - t0, 1e-9)
        done = progress.tasks[task].completed + n
        progress.update(task, advance=n, rate=f"{done / elapsed:,.0f} rows/s")

    if job.records is not None:
        rows = copy_records(cur, job.name, columns, job.columns, job.records(), freeze)
        advance(rows)
    else:
        assert job.batches is not None
        rows = copy_batches(cur, job.name, columns, job.batches(), advance, freeze=freeze)
    seconds = time.perf_counter() - t0  # until the server acknowledged the COPY: the rate that counts
    progress.update(task, total=rows, completed=rows, rate=f"{rows / max(seconds, 1e-9):,.0f} rows/s")
    return LoadedTable(rows=rows, seconds=round(seconds, 4), rows_per_s=round(rows / seconds) if seconds else None,
                       columns=len(columns),
                       method=LoadMethod.WRITE_ROW if job.records is not None else LoadMethod.BINARY_COPY)
