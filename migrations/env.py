"""Alembic environment for the reference chain: online mode only, one transaction per revision."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config


def _url() -> str:
    url = os.environ.get("DATABASE_URL") or os.environ.get("WARDBENCH_DSN") or config.get_main_option(
        "sqlalchemy.url")
    if not url:
        raise SystemExit("set DATABASE_URL (e.g. the DSN `wardbench db start` prints)")
    # psycopg 3 is the driver; accept plain libpq URIs as printed by `wardbench db start`.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # the harness hands us its own connection
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
