"""The environment a chain's env.py sees: every variable that could name a database names the scratch one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.alembic_project import load_config
from harness.verify.envpy import libpq_uri, scratch_environment, scratch_variables

SCRATCH = "host=127.0.0.1 port=5433 user=wb password=s3cret dbname=wardbench_x"


def _project(tmp_path: Path, url_line: str, env_py: str = "") -> Path:
    (tmp_path / "versions").mkdir()
    (tmp_path / "env.py").write_text(env_py)
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = %(here)s\npath_separator = os\n{url_line}\n")
    return ini


def test_libpq_uri_from_key_value_and_socket() -> None:
    assert libpq_uri(SCRATCH) == "postgresql://wb:s3cret@127.0.0.1:5433/wardbench_x"
    assert libpq_uri("host=/tmp/sock user=a dbname=d") == "postgresql://a@/d?host=%2Ftmp%2Fsock"


def test_interpolated_url_parts_get_the_scratch_values(tmp_path: Path) -> None:
    ini = _project(tmp_path, "sqlalchemy.url = postgresql+psycopg://%(DB_USER)s:%(DB_PASS)s@%(DB_HOST)s:"
                             "%(DB_PORT)s/%(DB_NAME)s")
    found = scratch_variables(load_config(ini), SCRATCH)
    assert {k: found[k] for k in ("DB_USER", "DB_PASS", "DB_HOST", "DB_PORT", "DB_NAME")} == {
        "DB_USER": "wb", "DB_PASS": "s3cret", "DB_HOST": "127.0.0.1", "DB_PORT": "5433", "DB_NAME": "wardbench_x"}


def test_whole_url_variables_and_env_py_reads(tmp_path: Path) -> None:
    ini = _project(tmp_path, "sqlalchemy.url = ${APP_DB_URL}",
                   'import os\nurl = os.environ.get("SQLALCHEMY_DATABASE_URI") or os.getenv("SENTRY_DSN")\n')
    found = scratch_variables(load_config(ini), SCRATCH)
    uri = "postgresql://wb:s3cret@127.0.0.1:5433/wardbench_x"
    assert found["APP_DB_URL"] == found["SQLALCHEMY_DATABASE_URI"] == found["DATABASE_URL"] == uri
    assert "SENTRY_DSN" not in found  # a DSN, but not a database's
    assert found["PGDATABASE"] == "wardbench_x" and found["PGSERVICE"] is None


def test_postgres_image_variables_name_the_scratch(tmp_path: Path) -> None:
    """Apps that build their URL from POSTGRES_SERVER/PORT/USER/DB (FastAPI's template, mealie) reach the scratch."""
    found = scratch_variables(load_config(_project(tmp_path, "")), SCRATCH)
    assert (found["POSTGRES_SERVER"], found["POSTGRES_PORT"], found["POSTGRES_DB"]) == ("127.0.0.1", "5433",
                                                                                        "wardbench_x")
    assert found["POSTGRES_USER"] == "wb" and found["POSTGRES_PASSWORD"] == "s3cret"


def test_environment_is_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ini = _project(tmp_path, "")
    monkeypatch.setenv("DATABASE_URL", "postgresql://prod/db")
    monkeypatch.setenv("PGSERVICE", "prod")
    monkeypatch.delenv("PGHOST", raising=False)
    with scratch_environment(load_config(ini), SCRATCH):
        assert os.environ["DATABASE_URL"].endswith("/wardbench_x") and os.environ["PGHOST"] == "127.0.0.1"
        assert "PGSERVICE" not in os.environ
    assert os.environ["DATABASE_URL"] == "postgresql://prod/db" and os.environ["PGSERVICE"] == "prod"
    assert "PGHOST" not in os.environ
