"""Load an Alembic project (ours or a user's) and move a database along its chain."""

from __future__ import annotations

import configparser
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import URL, Connection, create_engine, pool

from harness import REPO_ROOT
from harness.db import Database
from harness.errors import UsageError
from harness.verify import envpy

REFERENCE_INI = REPO_ROOT / "migrations" / "alembic.ini"


def sqlalchemy_url(dsn: str) -> str:
    """A libpq URI or key=value DSN as a SQLAlchemy URL with the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix):]
    if "://" in dsn:
        return dsn
    # key=value (what ServerHandle.database_dsn builds): the psycopg dialect passes query items to libpq.
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    database = params.pop("dbname", None)
    return URL.create("postgresql+psycopg", database=database, query=params).render_as_string(hide_password=False)


def load_config(ini_path: Path | None = None) -> Config:
    """The Alembic Config for `ini_path` (default: the reference chain); not an Alembic project → UsageError."""
    path = Path(ini_path or REFERENCE_INI)
    if not path.is_file():
        raise UsageError(f"alembic.ini not found at {path}: pass --alembic-ini PATH to an Alembic project")
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except configparser.Error as exc:
        raise UsageError(f"{path} is not a valid alembic.ini: {exc.message}") from exc
    if not parser.has_option("alembic", "script_location"):
        raise UsageError(f"{path} is not an Alembic project: no [alembic] script_location")
    cfg = Config(str(path))
    try:
        ScriptDirectory.from_config(cfg)
    except CommandError as exc:
        raise UsageError(f"{path} is not a usable Alembic project: {exc}") from exc
    return cfg


def script_directory(cfg: Config) -> ScriptDirectory:
    return ScriptDirectory.from_config(cfg)


@contextmanager
def connected(cfg: Config, db: Database) -> Iterator[Connection]:
    """Bind `cfg` to a SQLAlchemy connection on `db` (env.py reads config.attributes['connection']); the
    environment names only `db` meanwhile, for env.py files that build their own engine."""
    engine = create_engine(sqlalchemy_url(db.dsn), poolclass=pool.NullPool)
    try:
        with envpy.scratch_environment(cfg, db.dsn), engine.connect() as conn:
            envpy.hand_over(cfg, conn)
            try:
                yield conn
            finally:
                cfg.attributes.pop("connection", None)
    finally:
        engine.dispose()


def upgrade(db: Database, revision: str = "head", ini_path: Path | None = None) -> None:
    cfg = load_config(ini_path)
    with connected(cfg, db) as conn:
        command.upgrade(cfg, revision)
        conn.commit()


def downgrade(db: Database, revision: str = "base", ini_path: Path | None = None) -> None:
    cfg = load_config(ini_path)
    with connected(cfg, db) as conn:
        command.downgrade(cfg, revision)
        conn.commit()


def current_revision(db: Database) -> str | None:
    """The revision recorded in alembic_version, or None at base / before any migration."""
    with db.connect() as conn:
        return revision_of(conn)


def revision_of(conn: psycopg.Connection[Any], table: str = "alembic_version",
                schema: str | None = None) -> str | None:
    """`current_revision` on an open connection (`table`, `schema`: env.py's version_table options)."""
    name = sql.Identifier(schema, table) if schema else sql.Identifier(table)
    exists = conn.execute("SELECT to_regclass(%s)", (name.as_string(conn),)).fetchone()
    if exists is None or exists[0] is None:
        return None
    row = conn.execute(sql.SQL("SELECT version_num FROM {}").format(name)).fetchone()
    return str(row[0]) if row else None


def head_revision(ini_path: Path | None = None) -> str:
    heads = script_directory(load_config(ini_path)).get_heads()
    if len(heads) != 1:
        raise UsageError(f"the chain has {len(heads)} heads ({', '.join(heads)}): merge them first")
    return str(heads[0])
