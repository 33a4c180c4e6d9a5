"""The `dsn` backend: any reachable PostgreSQL with pgvector, named by `--dsn` or `WARDBENCH_DSN`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg.conninfo import conninfo_to_dict

from harness.db.base import ServerHandle, check_pgvector, dsn_password, redact_dsn
from harness.db.embedded import bin_dir, running_persistent
from harness.errors import EnvironmentFailure, UsageError

if TYPE_CHECKING:
    from harness.config import RunConfig


# libpq checks these only when connecting, so a typo would surface as "cannot reach the server" (exit 3).
_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": ("any", "read-write", "read-only", "primary", "standby", "prefer-standby"),
    "load_balance_hosts": ("disable", "random"),
    "sslnegotiation": ("postgres", "direct"),
}


def _scrubbed(message: str, password: str | None) -> str:
    """libpq's parse error quotes fragments of the DSN; with a password in it, those fragments may hold part
    of it (an unencoded "@" splits it), so every quoted fragment is hidden."""
    return re.sub(r'"[^"]*"', '"***"', message) if password else message


def validate_dsn(dsn: str) -> str:
    """Return `dsn` if libpq can parse it and its enumerated options are valid, else raise UsageError."""
    hint = "expected e.g. postgresql://user@host:5432/dbname"
    shown = redact_dsn(dsn)
    scheme = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*)://", dsn)
    if scheme and scheme.group(1) not in ("postgresql", "postgres"):
        raise UsageError(f"malformed DSN {shown!r}: scheme {scheme.group(1)!r} is not PostgreSQL's; {hint}")
    if scheme and "@" in (dsn_password(dsn) or ""):
        raise UsageError(f"malformed DSN {shown!r}: the password holds an unencoded '@': "
                         "percent-encode it as %40")
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        reason = _scrubbed(" ".join(str(exc).split()), dsn_password(dsn))
        raise UsageError(f"malformed DSN {shown!r}: {reason}; {hint}") from None
    # libpq only checks the port when connecting; a typo here should be a usage error, not "unreachable".
    port = str(params.get("port") or "5432")
    if not all(p.isdigit() and 0 < int(p) < 65536 for p in port.split(",")):
        raise UsageError(f"malformed DSN {shown!r}: port {port!r} is not a number; {hint}")
    for key, choices in _CHOICES.items():
        value = params.get(key)
        if value is not None and str(value) not in choices:
            raise UsageError(f"malformed DSN {shown!r}: {key}={value!r} is not one of {', '.join(choices)}")
    return dsn


@contextmanager
def open_server(cfg: RunConfig) -> Iterator[ServerHandle]:
    """Check the server answers and has pgvector; the harness never starts or stops it."""
    if not cfg.dsn:
        raise UsageError("the dsn backend needs --dsn or WARDBENCH_DSN")
    dsn = validate_dsn(cfg.dsn)
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EnvironmentFailure(f"cannot reach {redact_dsn(dsn)}: {redact_dsn(first)}") from exc
    check_pgvector(dsn)
    # Client tools come from the embedded package: pg_dump/pgbench 18 work against servers 16 and up.
    yield ServerHandle(dsn, "dsn", bin_dir(18), own_server_log(dsn))


def own_server_log(dsn: str) -> Path | None:
    """The log file of the `wardbench db start` server when `dsn` names it, else None (not ours to read)."""
    server = running_persistent()
    if server is None:
        return None
    params = conninfo_to_dict(dsn)
    host, port = str(params.get("host") or ""), str(params.get("port") or "5432")
    local = host in ("127.0.0.1", "localhost", str(server.pgdata))
    return server.log_file if local and port == str(server.port) else None
