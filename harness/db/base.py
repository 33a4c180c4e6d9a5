"""The `Database` handed to every stage, the server it lives on, and the backend registry."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from harness.errors import EnvironmentFailure, UsageError

if TYPE_CHECKING:
    from harness.config import RunConfig
    from harness.datasets.record import DatasetCopy

# One parser for every DSN form a message can carry. A URI of any scheme (postgresql, mysql, ...): the userinfo
# password runs to the authority's last "@" (after which no "@" comes before the path), so an unencoded "@" or
# ":" in it is hidden whole. A keyword form (and a URI's ?password= parameter): quoted or up to the next space.
_URI_PASSWORD = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^:@/\s]*:)\S*?@(?=[^@\s/?#]*(?:[/?#\s\"']|$))")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)


def redact_dsn(text: str) -> str:
    """Return `text` with every DSN password replaced by `***` (URI of any scheme, and key=value forms)."""
    text = _URI_PASSWORD.sub(lambda m: m.group(1) + "***@", text)
    return _KV_PASSWORD.sub(lambda m: m.group(1) + "***", text)


def dsn_password(dsn: str) -> str | None:
    """The password a DSN carries as written (URI userinfo or password=), or None; for scrubbing messages."""
    uri = _URI_PASSWORD.search(dsn)
    if uri:
        return dsn[uri.end(1):uri.end() - 1] or None
    kv = _KV_PASSWORD.search(dsn)
    return kv.group(2).strip("'") if kv else None


def dsn_with_database(dsn: str, dbname: str) -> str:
    """Return `dsn` pointing at another database on the same server."""
    return make_conninfo(dsn, dbname=dbname)


@dataclass(frozen=True)
class ServerHandle:
    """A running server: a maintenance DSN, the directory of client tools that match it, and its log file
    when the harness started the server (so server-side timings can be read from it)."""

    admin_dsn: str
    backend: str
    bin_dir: Path
    log_file: Path | None = None

    def database_dsn(self, dbname: str) -> str:
        return dsn_with_database(self.admin_dsn, dbname)

    def create_database(self, dbname: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))

    def drop_database(self, dbname: str) -> None:
        """Drop `dbname`, ending its sessions first (a killed load run may have left some)."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


@dataclass(frozen=True)
class Database:
    """The database a run works in, the server it lives on, and whether the harness owns it."""

    dsn: str
    name: str
    server: ServerHandle
    disposable: bool
    dataset: DatasetCopy | None = None  # set when the database is a copy of a prepared dataset

    @property
    def display_dsn(self) -> str:
        return redact_dsn(self.dsn)

    @property
    def bin_dir(self) -> Path:
        return self.server.bin_dir

    @property
    def server_log(self) -> Path | None:
        return self.server.log_file

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, **kwargs)

    def libpq_env(self) -> dict[str, str]:
        """PG* environment variables for client tools (pgbench, pg_dump) so no password sits in argv."""
        params = conninfo_to_dict(self.dsn)
        keys = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
                "dbname": "PGDATABASE", "sslmode": "PGSSLMODE"}
        return {env: str(params[k]) for k, env in keys.items() if params.get(k) is not None}


ServerOpener = Callable[["RunConfig"], AbstractContextManager[ServerHandle]]


def _backends() -> dict[str, ServerOpener]:
    # Imported lazily: the container backend pulls in docker, which only some users have.
    from harness.db import container, dsn, embedded

    return {"embedded": embedded.open_server, "dsn": dsn.open_server, "container": container.open_server}


def check_pgvector(admin_dsn: str) -> None:
    """Raise EnvironmentFailure when the server cannot provide the `vector` extension."""
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    if row is None:
        raise EnvironmentFailure(
            f"the server at {redact_dsn(admin_dsn)} has no pgvector extension: install pgvector "
            "or use the embedded backend"
        )


@contextmanager
def scratch_database(server: ServerHandle, name: str) -> Iterator[Database]:
    """A new empty database `name` on `server`, dropped on exit whatever happens."""
    server.create_database(name)
    try:
        yield Database(server.database_dsn(name), name, server, disposable=True)
    finally:
        server.drop_database(name)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def _signals_unwind() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP (a CI job cancelled, `kill`, a closed terminal) into SystemExit while a database
    is open, so the `finally` blocks that drop databases and stop servers run (Python's default dies at once).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _exit_on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def open_database(cfg: RunConfig) -> Iterator[Database]:
    """Yield the database this run works in; a disposable one is created here and dropped on exit."""
    opener = _backends().get(cfg.backend)
    if opener is None:
        raise UsageError(f"unknown backend {cfg.backend!r}: choose embedded, dsn or container")
    with _signals_unwind(), opener(cfg) as server:
        if cfg.in_place:
            name = str(conninfo_to_dict(server.admin_dsn).get("dbname") or "postgres")
            yield Database(server.admin_dsn, name, server, disposable=False)
            return
        name = f"wardbench_{cfg.run_id}"
        if cfg.dataset is not None:
            from harness.datasets.store import run_copy

            with run_copy(server, cfg, cfg.dataset, name) as db:
                yield db
            return
        if cfg.keep_database:
            server.create_database(name)
            yield Database(server.database_dsn(name), name, server, disposable=True)
            return
        with scratch_database(server, name) as db:
            yield db
