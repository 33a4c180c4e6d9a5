"""`wardbench migrate verify` end to end: exit codes, one-line errors, results JSON and JUnit."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.db import ServerHandle

REPO = Path(__file__).resolve().parents[2]
CHAINS = REPO / "fixtures" / "chains"


def _verify(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "migrate", "verify", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("wardbench: error: ")
    return lines[0]


def test_not_an_alembic_project_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "alembic.ini").write_text("[loggers]\nkeys = root\n")
    for target in (tmp_path / "missing.ini", tmp_path / "alembic.ini", REPO / "pyproject.toml"):
        proc = _verify("--alembic-ini", str(target), cwd=tmp_path)
        assert proc.returncode == 2
        assert str(target.name) in _one_error_line(proc)
    assert not (tmp_path / "reports").exists()  # nothing half-written


def test_two_heads_is_exit_2(tmp_path: Path) -> None:
    proc = _verify("--alembic-ini", str(CHAINS / "two_heads" / "alembic.ini"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "2 heads (002, 002b)" in _one_error_line(proc)


def test_refused_connection_is_exit_3(tmp_path: Path) -> None:
    proc = _verify("--backend", "dsn", "--dsn", "postgresql://postgres@127.0.0.1:1/postgres",
                   "--alembic-ini", str(CHAINS / "clean" / "alembic.ini"), cwd=tmp_path)
    assert proc.returncode == 3
    assert "refused" in _one_error_line(proc).lower()


@pytest.mark.parametrize(("chain", "code"), [("lossy_type", 1), ("clean", 0)])
def test_results_json_and_junit(pg_server: ServerHandle, tmp_path: Path, chain: str, code: int) -> None:
    out, junit = tmp_path / "out.json", tmp_path / "steps.xml"
    proc = _verify("--backend", "dsn", "--dsn", pg_server.admin_dsn, "--rows", "4",
                   "--alembic-ini", str(CHAINS / chain / "alembic.ini"), "--json", str(out), "--junit", str(junit),
                   cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    results = json.loads(out.read_text())
    steps = results["migrations"]["steps"]
    assert [s["revision"] for s in steps] == ["001", "002", "003"]
    gates = {g["name"]: g["verdict"] for g in results["gates"]}
    assert gates["migration 001 -> 002 lossless and reversible"] == ("fail" if code else "pass")
    suite = ET.parse(junit).getroot()
    cases = {c.get("name", "").split(":")[0]: c for c in suite.iter("testcase")}
    assert {"base -> 001", "001 -> 002", "002 -> 003"} <= cases.keys()
    failed = {n for n, c in cases.items() if c.find("failure") is not None}
    assert failed == ({"001 -> 002"} if code else set())
    assert "001 -> 002" in proc.stderr and ("lossy" in proc.stderr) == bool(code)  # the terminal table
    with pytest.raises(Exception):  # the disposable database is gone
        import psycopg

        dbname = f"wardbench_{results['run_id']}"
        psycopg.connect(pg_server.database_dsn(dbname), connect_timeout=3).close()
