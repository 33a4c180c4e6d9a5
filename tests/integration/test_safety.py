"""Safety with real servers: a named database is never altered without --in-place, and a DSN's password
never reaches the terminal, results.json or any report file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from harness.backup.catalog import snapshot_schema
from harness.db import ServerHandle
from harness.db.embedded import EmbeddedServer, scratch_server
from harness.verify.checksums import database_checksums

REPO = Path(__file__).resolve().parents[2]
WARDBENCH = str(REPO / ".venv/bin/wardbench")
PASSWORD = "s3cr3t-Pa55@w:rd/x"  # '@', ':' and '/' must be percent-encoded in a URI: both forms are searched
USER = "wb_user"


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([WARDBENCH, *args], capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def _image(dsn: str) -> tuple[object, object]:
    with psycopg.connect(dsn) as conn:
        return ({t: (c.rows, c.checksum) for t, c in database_checksums(conn).items()},
                snapshot_schema(conn).objects)


@pytest.fixture
def named_db(pg_server: ServerHandle) -> Iterator[str]:
    """A user's database with content, as a URI DSN."""
    name = "users_precious_db"
    pg_server.create_database(name)
    dsn = pg_server.admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance numeric NOT NULL)")
        conn.execute("INSERT INTO accounts SELECT g, g * 10 FROM generate_series(1, 500) g")
    try:
        yield dsn
    finally:
        pg_server.drop_database(name)


def test_named_database_is_untouched_without_in_place(named_db: str, tmp_path: Path) -> None:
    before = _image(named_db)
    gate = _run("gate", "--dsn", named_db, "--only", "schema", "--only", "backup", "--reports-dir", str(tmp_path))
    generate = _run("generate", "--dsn", named_db, "--scale-factor", "0.01", "--reports-dir", str(tmp_path))
    assert gate.returncode == 0, gate.stderr
    assert generate.returncode == 0, generate.stderr
    assert _image(named_db) == before
    assert "dbname=wardbench_" in gate.stderr.replace("\n", "")  # the run worked in its own database


@dataclass
class PasswordServer:
    server: EmbeddedServer
    uri: str  # with the password, percent-encoded
    keyvalue: str  # libpq key=value form with the raw password


@pytest.fixture(scope="module")
def password_server() -> Iterator[PasswordServer]:
    """A server where wb_user must give its password (scram-sha-256 on TCP); postgres stays trusted."""
    with scratch_server(18, {"shared_buffers": "128MB"}, prefix="tests-pw-") as server:
        with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
            hba = server.pgdata / "pg_hba.conf"
            hba.write_text(f"host all {USER} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
            conn.execute("SELECT pg_reload_conf()")
        host = f"127.0.0.1:{server.port}"
        yield PasswordServer(server, f"postgresql://{USER}:{quote(PASSWORD, safe='')}@{host}/postgres",
                             f"host=127.0.0.1 port={server.port} user={USER} password='{PASSWORD}' "
                             "dbname=postgres")


def test_the_password_is_really_required(password_server: PasswordServer) -> None:
    wrong = password_server.uri.replace(quote(PASSWORD, safe=""), "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5).close()
    psycopg.connect(password_server.uri, connect_timeout=5).close()


def _outputs(proc: subprocess.CompletedProcess[str], reports: Path) -> dict[str, bytes]:
    found = {"stdout": proc.stdout.encode(), "stderr": proc.stderr.encode()}
    found.update({str(p): p.read_bytes() for p in reports.rglob("*") if p.is_file()})
    return found


def test_no_output_of_any_run_contains_the_password(password_server: PasswordServer, tmp_path: Path) -> None:
    uri, kv = password_server.uri, password_server.keyvalue
    wrong_uri = uri.replace(quote(PASSWORD, safe=""), quote(PASSWORD + "-nope", safe=""))
    dead_port = uri.replace(f":{password_server.server.port}/", ":1/")
    malformed = kv.replace(f"port={password_server.server.port}", "port=notaport")
    runs = {  # name: (argv, env, expected exit code)
        "gate": (["gate", "--dsn", uri, "--only", "schema", "--only", "backup"], {}, 0),
        "gate-keyvalue": (["gate", "--dsn", kv, "--only", "schema"], {}, 0),
        # schema, a small dataset, then every fault (children and Locust get the DSN through the environment)
        "faults-env": (["faults"], {"WARDBENCH_DSN": uri}, 0),
        "wrong-password": (["gate", "--dsn", wrong_uri], {}, 3),
        "dead-port": (["backup", "verify", "--dsn", dead_port], {}, 3),
        "malformed": (["gate", "--dsn", malformed], {}, 2),
    }
    searched = 0
    for name, (argv, env, code) in runs.items():
        reports = tmp_path / name
        proc = _run(*argv, "--reports-dir", str(reports), "--json", str(reports / "out.json"), env=env)
        assert proc.returncode == code, f"{name}: {proc.stderr[-2000:]}"
        for where, data in _outputs(proc, reports).items():
            searched += 1
            for form in (PASSWORD, quote(PASSWORD, safe=""), PASSWORD + "-nope", quote(PASSWORD + "-nope")):
                assert form.encode() not in data, f"{name}: password in {where}"
        if code == 0:
            assert (reports / "out.json").is_file() and any(reports.rglob("results.json"))
    assert searched >= 10
