"""The generate stage on a copy of a prepared dataset: its recorded generation replayed, its rows counted."""

from __future__ import annotations

from dataclasses import replace

from psycopg import sql

from harness.db import Database
from harness.errors import UsageError
from harness.gates import evaluate
from harness.results import Results
from harness.results.generate import CopyMethod, GenerateSection, PreparedOrigin


def adopt(db: Database, results: Results) -> GenerateSection:
    """Record the dataset's generation in `results` as generate would have, marked as copied; gate on the
    copy's row counts (counted now) against the plan and the rows the dataset recorded."""
    if db.dataset is None:
        raise ValueError(f"database {db.name} is not a copy of a prepared dataset")
    record = db.dataset.record
    if record.generate is None:
        raise UsageError(f"dataset {record.name} records no generation: rebuild it with "
                         f"`wardbench generate --keep-dataset {record.name}`")
    origin = PreparedOrigin(name=record.name, database=record.database, created_at=record.created_at,
                            head_revision=record.head_revision, generator_digest=record.generator_digest,
                            copy_method=CopyMethod(db.dataset.method), copy_s=db.dataset.copy_s)
    planned = record.generate.planned_rows
    with db.connect() as conn:
        counted = {t: int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t)))
                          .fetchone()[0])  # type: ignore[index]
                   for t in {**record.rows, **planned}}
    summary = replace(record.generate, from_dataset=origin, copy_rows=counted)
    results.generate = summary
    results.dataset = replace(results.dataset, profile=record.profile, seed=record.seed,
                              scale_factor=record.scale_factor, rows=dict(record.rows), checksums=summary.checksums,
                              dataset_digest=record.dataset_digest, embedding_dim=summary.embedding_dim,
                              prepared=origin)
    # Against the plan, as generate gates it, and against the rows the dataset recorded when it was kept.
    short = sorted({t for t, n in planned.items() if counted[t] != n} |
                   {t for t, n in record.rows.items() if counted[t] != n})
    gate = evaluate("generated rows equal the plan", "generate", float(len(short)), 0.0, "tables", "==")
    gate.reason = ", ".join(short) if short else f"counted in the copy of dataset {record.name}"
    results.gates.append(gate)
    return summary
