"""harness/models.py describes exactly what the reference chain builds at head (no drift either way)."""

from __future__ import annotations

import secrets
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from reference_rows import snapshot
from sqlalchemy import create_engine, pool

from harness import alembic_project
from harness.db import Database, ServerHandle
from harness.models import Base


def _compare(db: Database) -> list[Any]:
    engine = create_engine(alembic_project.sqlalchemy_url(db.dsn), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_autogenerate_finds_no_difference(fresh_db: Database) -> None:
    """Alembic's own comparison (tables, columns, types, nullability, defaults, keys, indexes).

    Nothing is filtered: compare_metadata does not look at triggers or functions, so the audit trigger
    and purge_expired() need no exclusion; the catalog test below covers what it does not compare.
    """
    alembic_project.upgrade(fresh_db, "head")
    assert _compare(fresh_db) == []


def test_autogenerate_would_notice_drift(fresh_db: Database) -> None:
    """The comparison is not blind: a changed index and nullability at head are reported."""
    alembic_project.upgrade(fresh_db, "head")
    with fresh_db.connect() as conn:
        conn.execute("DROP INDEX ix_posts_source_id")
        conn.execute("ALTER TABLE posts ALTER COLUMN topic DROP NOT NULL")
        conn.commit()
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in _compare(fresh_db)}
    assert kinds == {"add_index", "modify_nullable"}


def test_catalog_built_from_models_equals_chain(fresh_db: Database, pg_server: ServerHandle) -> None:
    """Build the schema from the models in a second database and compare PostgreSQL's own catalog text.

    This covers what compare_metadata skips: CHECK constraint expressions, foreign-key actions, index access
    methods, operator classes and storage parameters (HNSW m / ef_construction, vector_cosine_ops).
    Triggers, trigger functions and purge_expired() have no declarative form and are left out here; the
    chain tests cover them. Sequences and their defaults come from SERIAL in both and are compared.
    """
    alembic_project.upgrade(fresh_db, "head")
    chain = snapshot(fresh_db)
    name = f"m_{secrets.token_hex(4)}"
    pg_server.create_database(name)
    try:
        models_db = Database(pg_server.database_dsn(name), name, pg_server, disposable=True)
        with models_db.connect(autocommit=True) as conn:
            conn.execute("CREATE EXTENSION vector")
        engine = create_engine(alembic_project.sqlalchemy_url(models_db.dsn), poolclass=pool.NullPool)
        try:
            Base.metadata.create_all(engine)
        finally:
            engine.dispose()
        from_models = snapshot(models_db)
    finally:
        pg_server.drop_database(name)
    for kind in ("relations", "columns", "constraints", "indexes"):
        assert from_models[kind] == chain[kind], kind
