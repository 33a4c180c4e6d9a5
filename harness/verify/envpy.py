"""The env.py contract: while a chain's env.py runs it can reach only the scratch database.

wardbench hands its own connection to env.py as `config.attributes["connection"]` (pytest-alembic's
convention) and, for env.py files that build their own engine, points every variable that names a database
(DATABASE_URL, WARDBENCH_DSN, the libpq PG* variables, URL-like variables env.py reads, variables the
alembic.ini interpolates) at the scratch database for the duration of the run. A probe runs env.py once
before anything is migrated and refuses a chain whose env.py connects elsewhere; mistakes in the user's
configuration (a missing variable, SystemExit, an import that fails) become one line and exit 2.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError

from harness.db import redact_dsn
from harness.errors import UsageError

# libpq keyword -> environment variable; every one of them is set from the scratch DSN or cleared.
LIBPQ_VARIABLES = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
                   "user": "PGUSER", "password": "PGPASSWORD", "service": "PGSERVICE",
                   "servicefile": "PGSERVICEFILE", "sslmode": "PGSSLMODE", "options": "PGOPTIONS",
                   "target_session_attrs": "PGTARGETSESSIONATTRS"}
URL_VARIABLES = ("DATABASE_URL", "WARDBENCH_DSN")
# The postgres image's convention, which many apps' settings classes build their URL from (FastAPI's
# full-stack template, mealie): set from the scratch DSN so such chains run without extra setup.
COMPONENT_VARIABLES = {"POSTGRES_SERVER": "host", "POSTGRES_HOST": "host", "POSTGRES_PORT": "port",
                       "POSTGRES_USER": "user", "POSTGRES_PASSWORD": "password", "POSTGRES_DB": "dbname"}
VERSION_TABLE = "wardbench.version_table"  # cfg.attributes key: (schema, table) that env.py configured
_ENV_READ = re.compile(r"""(?:environ\s*\[\s*|environ\.get\(\s*|getenv\(\s*)['"]([A-Za-z_]\w*)['"]""")
_INI_REF = re.compile(r"%\((\w+)\)s|\$\{(\w+)\}|\$([A-Za-z_]\w*)")
_FIX = "make it use config.attributes['connection'] or DATABASE_URL"


class _Lent:
    """`with connection.connect() as conn:` (SQLAlchemy 1.x branching, which older env.py files such as
    JupyterHub's call on config.attributes['connection']) yields wardbench's connection and leaves it open."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def __enter__(self) -> Connection:
        return self.connection

    def __exit__(self, *exc: object) -> None:
        return None


def hand_over(cfg: Config, connection: Connection) -> None:
    """Give env.py wardbench's connection as config.attributes['connection'] (pytest-alembic's convention)."""
    connection.connect = lambda: _Lent(connection)  # type: ignore[attr-defined]
    cfg.attributes["connection"] = connection


def libpq_uri(dsn: str) -> str:
    """The scratch DSN as a plain libpq URI (postgresql://user:password@host:port/dbname), as DATABASE_URL is."""
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    user = quote(params.pop("user", ""), safe="")
    password = params.pop("password", None)
    auth = user + (":" + quote(password, safe="") if password is not None else "") + ("@" if user else "")
    host = params.pop("host", "")
    port = params.pop("port", "")
    query = []
    if host.startswith("/"):  # a socket directory goes in the query string
        query.append("host=" + quote(host, safe=""))
        host = ""
    netloc = auth + host + (":" + port if port else "")
    dbname = quote(params.pop("dbname", ""), safe="")
    query += [f"{k}={quote(v, safe='')}" for k, v in sorted(params.items())]
    return f"postgresql://{netloc}/{dbname}" + ("?" + "&".join(query) if query else "")


def _url_like(name: str) -> bool:
    upper = name.upper()
    return bool(re.search(r"URL|URI|DSN", upper)) and bool(re.search(r"DB|DATABASE|POSTGRES|PG|SQL", upper))


def _component_values(value: str, params: dict[str, str], uri: str) -> dict[str, str]:
    """Variables interpolated into a URL option, each given the scratch value of the part of the URL it fills."""
    names = [next(g for g in m.groups() if g) for m in _INI_REF.finditer(value)]
    if not names:
        return {}
    counter = iter(range(len(names)))
    marked = _INI_REF.sub(lambda m: f"wbvar{next(counter)}x", value)
    if marked.strip() == "wbvar0x":
        return {names[0]: uri}
    rest = marked.split("://", 1)[-1]
    netloc, _, path = rest.partition("/")
    userinfo, _, hostport = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    host, _, port = hostport.partition(":")
    parts = {"user": user, "password": password, "host": host, "port": port, "dbname": path.split("?")[0]}
    out = {}
    for i, name in enumerate(names):
        for key, text in parts.items():
            if text == f"wbvar{i}x" and key in params:
                out[name] = params[key]
    return out


def scratch_variables(cfg: Config, dsn: str) -> dict[str, str | None]:
    """Every environment variable env.py could use to find a database, set to the scratch one (None: unset)."""
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    uri = libpq_uri(dsn)
    out: dict[str, str | None] = {var: params.get(key) for key, var in LIBPQ_VARIABLES.items()}
    out.update(dict.fromkeys(URL_VARIABLES, uri))
    out.update({var: params.get(key, "" if key == "password" else None) for var, key in COMPONENT_VARIABLES.items()})
    env_py = Path(ScriptDirectory.from_config(cfg).dir) / "env.py"
    try:
        out.update({name: uri for name in _ENV_READ.findall(env_py.read_text()) if _url_like(name)})
    except OSError:
        pass
    parser = cfg.file_config
    for section in parser.sections():
        defined = set(parser.options(section))
        for option in parser.options(section):
            value = parser.get(section, option, raw=True)
            if option == "sqlalchemy.url":
                found = _component_values(value, params, uri)
            else:
                found = {n: uri for m in _INI_REF.finditer(value) for n in m.groups() if n and _url_like(n)}
            out.update({k: v for k, v in found.items() if k != "here" and k.lower() not in defined})
    return out


@contextmanager
def scratch_environment(cfg: Config, dsn: str) -> Iterator[None]:
    """os.environ names only the scratch database inside the block; the caller's environment comes back after.

    Alembic's per-revision INFO lines stay off the terminal too (an env.py's fileConfig turns them on).
    """
    wanted = scratch_variables(cfg, dsn)
    saved = {name: os.environ.get(name) for name in wanted}
    quiet = logging.root.manager.disable
    logging.disable(max(quiet, logging.INFO))
    try:
        for name, value in wanted.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        logging.disable(quiet)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def foreign_engines(own: Engine, dsn: str) -> Iterator[list[str]]:
    """The redacted URLs of engines that connect inside the block to a database other than `dsn`'s."""
    seen: list[str] = []
    params = conninfo_to_dict(dsn)

    def record(conn: Connection) -> None:
        url = conn.engine.url
        database = url.database or url.query.get("dbname") or os.environ.get("PGDATABASE")
        port = url.port or url.query.get("port") or os.environ.get("PGPORT")
        if conn.engine is not own and (database != params.get("dbname") or str(port) != str(params.get("port"))):
            seen.append(redact_dsn(url.render_as_string(hide_password=False)))

    event.listen(Engine, "engine_connect", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "engine_connect", record)


def refuse_foreign(foreign: list[str]) -> None:
    """Stop at once when env.py opened an engine on another database (whether or not the command failed)."""
    if foreign:
        raise UsageError(f"env.py migrated another database ({foreign[-1]}): {_FIX}")


def check_moved(sa_conn: Connection, cfg: Config, target: str, foreign: list[str]) -> None:
    """After a command: the scratch database's version table must be at `target`, or env.py went elsewhere."""
    refuse_foreign(foreign)
    schema, table = cfg.attributes.get(VERSION_TABLE, (None, "alembic_version"))
    context = MigrationContext.configure(sa_conn, opts={"version_table": table, "version_table_schema": schema})
    heads = context.get_current_heads()
    sa_conn.rollback()
    expected = () if target == "base" else (target,)
    if tuple(heads) != expected:
        where = foreign[-1] if foreign else "not the scratch database"
        raise UsageError(f"env.py migrated another database ({where}): {_FIX}")


def probe(cfg: Config, dsn: str, engine: Engine) -> None:
    """Run env.py once without migrating: it must connect to the scratch database; remember its version table.

    `engine` is wardbench's own engine on the scratch database (`dsn`).
    """
    script = ScriptDirectory.from_config(cfg)
    reached: list[bool] = []

    def inspect(rev: Any, context: MigrationContext) -> list[Any]:
        conn = context.connection
        if conn is not None and conn is not cfg.attributes.get("connection"):
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with psycopg.connect(dsn) as own:
                same = own.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND datname = current_database()",
                                   (pid,)).fetchone()
            if same is None:
                where = redact_dsn(conn.engine.url.render_as_string(hide_password=False))
                raise UsageError(f"env.py connects to another database ({where}), not wardbench's scratch: {_FIX}")
        cfg.attributes[VERSION_TABLE] = (context.version_table_schema, context.version_table)
        reached.append(True)
        return []

    try:
        with scratch_environment(cfg, dsn), engine.connect() as sa_conn:
            hand_over(cfg, sa_conn)
            try:
                with EnvironmentContext(cfg, script, fn=inspect, dont_mutate=True):
                    script.run_env()
            finally:
                cfg.attributes.pop("connection", None)
    except UsageError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - env.py is the user's code
        frame = _frames(exc)[-1] if _frames(exc) else None
        at = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
        fix = _FIX if isinstance(exc, OperationalError | psycopg.OperationalError) else "fix it and run again"
        raise config_error(exc, cfg) or UsageError(
            f"env.py failed before migrating anything{at}: {describe(exc)}: {fix}") from exc
    if not reached:
        raise UsageError("env.py never called context.run_migrations() (offline mode only?): "
                         "wardbench runs it online with config.attributes['connection']")


def describe(exc: BaseException) -> str:
    """`Type: first line` of an exception, passwords redacted."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {redact_dsn(text.splitlines()[0])}" if text else type(exc).__name__


def _frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return list(traceback.extract_tb(exc.__traceback__))


def _project_root(cfg: Config) -> Path:
    return Path(cfg.config_file_name or ".").resolve().parent


def _chain_frame(exc: BaseException, cfg: Config) -> tuple[str, traceback.FrameSummary | None]:
    """'env.py' or 'revision X' (the chain's file the exception came through, and its frame), else 'the chain'."""
    script_dir = Path(ScriptDirectory.from_config(cfg).dir).resolve()
    for frame in reversed(_frames(exc)):
        path = Path(frame.filename).resolve()
        if path.name == "env.py" and path.parent == script_dir:
            return "env.py", frame
        if script_dir in path.parents:
            return f"revision {revision_id(path) or path.name}", frame
    return "the chain", None


def _where(exc: BaseException, cfg: Config) -> str:
    return _chain_frame(exc, cfg)[0]


def _imported(exc: ImportError, cfg: Config) -> tuple[str, str]:
    """Where the failed import is and the module it names as written there (`app.models`, not just `app`)."""
    where, frame = _chain_frame(exc, cfg)
    name = exc.name or str(exc)
    match = re.match(r"\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", frame.line or "") if frame else None
    written = next((g for g in match.groups() if g), "") if match else ""
    return where, written if written.startswith(name) else name


def revision_id(path: Path) -> str | None:
    """The `revision = "..."` of a revision file, read without importing it."""
    match = re.search(r"""^revision\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]""", path.read_text(), re.M)
    return match.group(1) if match else None


def _own_module(name: str, cfg: Config) -> bool:
    """Whether `name`'s top package lives in the project (beside alembic.ini or in a parent directory)."""
    top = name.split(".")[0]
    root = _project_root(cfg)
    for folder in [root, *list(root.parents)[:3]]:
        if (folder / top).is_dir() or (folder / f"{top}.py").is_file() or (folder / "src" / top).is_dir():
            return True
    return False


def config_error(exc: BaseException, cfg: Config) -> UsageError | None:
    """A configuration mistake (not a broken migration) as its one-line UsageError, else None."""
    if isinstance(exc, SystemExit):
        return UsageError(f"{_where(exc, cfg)} exited (SystemExit: {redact_dsn(str(exc.code))}): it must run "
                          f"under wardbench without exiting; {_FIX}")
    if isinstance(exc, KeyError) and any(f.filename.endswith(("os.py", "<frozen os>")) and f.name == "__getitem__"
                                         for f in _frames(exc)[-2:]):  # os.environ[...], not any dict
        name = exc.args[0] if exc.args else "?"
        return UsageError(f"{_where(exc, cfg)} reads the environment variable {name}, which is not set: set it "
                          "(wardbench points DATABASE_URL, WARDBENCH_DSN and PG* at its scratch database itself)")
    if isinstance(exc, ImportError):
        where, name = _imported(exc, cfg)
        if _own_module(name, cfg):
            return UsageError(f"{where} imports `{name}`: install your application into this "
                              f"environment or set prepend_sys_path in {cfg.config_file_name}")
        return UsageError(f"{where} imports `{name}`, which is not installed here: "
                          "install it into this environment")
    return None
