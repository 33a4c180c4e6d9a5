"""The `schema` stage: migrate the run's database to head and check it holds what the models describe."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import create_engine, inspect, pool

from harness import alembic_project
from harness.config import RunConfig
from harness.db import Database
from harness.gates import evaluate
from harness.results import Results


def missing_tables(db: Database) -> list[str]:
    """Tables the head models declare that the database lacks."""
    from harness.models import Base

    engine = create_engine(alembic_project.sqlalchemy_url(db.dsn), poolclass=pool.NullPool)
    try:
        present = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    return sorted(set(Base.metadata.tables) - present)


def migrate_and_check(cfg: RunConfig, db: Database, results: Results) -> None:
    """Upgrade to head; gate on the recorded revision being head and every model table existing."""
    alembic_project.upgrade(db, "head")
    head = alembic_project.head_revision()
    at_head = alembic_project.current_revision(db) == head
    missing = missing_tables(db)
    results.gates.append(evaluate("schema at head", "schema", 1.0 if at_head else 0.0, 1.0, "bool", "=="))
    gate = evaluate("model tables present", "schema", float(len(missing)), 0.0, "missing tables", "==")
    gate.reason = ", ".join(missing)
    results.gates.append(gate)
    results.dataset = replace(results.dataset, head_revision=head)
