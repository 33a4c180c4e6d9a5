"""`wardbench migrate verify` end to end: exit codes, one-line errors, results JSON and JUnit."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg
import pytest

from harness.db import ServerHandle

REPO = Path(__file__).resolve().parents[2]
CHAINS = REPO / "fixtures" / "chains"


def _verify(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "migrate", "verify", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def _in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the CLI's entry point here (no interpreter start-up): its exit code and its one error line."""
    from harness.cli import main

    monkeypatch.setattr(sys, "argv", ["wardbench", "migrate", "verify", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("wardbench: error: ")
    return int(exited.value.code or 0), lines[0]


def test_not_an_alembic_project_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alembic.ini").write_text("[loggers]\nkeys = root\n")
    for target in (tmp_path / "missing.ini", tmp_path / "alembic.ini", REPO / "pyproject.toml", tmp_path):
        code, line = _in_process(monkeypatch, capsys, "--alembic-ini", str(target))
        assert code == 2 and ("alembic.ini" in line or target.name in line), line
    assert not (tmp_path / "reports").exists()  # nothing half-written


def test_two_heads_is_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, line = _in_process(monkeypatch, capsys, "--alembic-ini", str(CHAINS / "two_heads" / "alembic.ini"))
    assert code == 2 and "2 heads (002, 002b)" in line


def test_refused_connection_is_exit_3(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, line = _in_process(monkeypatch, capsys, "--backend", "dsn", "--dsn",
                             "postgresql://postgres@127.0.0.1:1/postgres",
                             "--alembic-ini", str(CHAINS / "clean" / "alembic.ini"))
    assert code == 3 and "refused" in line.lower()


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
    # the terminal: a count line, then only the steps with findings
    assert ("3 revisions: 2 lossless, 1 lossy" if code else "3 revisions: 3 lossless") in proc.stderr
    assert ("001 -> 002" in proc.stderr) == ("lossy" in proc.stderr) == bool(code)
    with pytest.raises(psycopg.OperationalError, match="does not exist"):  # the disposable database is gone
        dbname = f"wardbench_{results['run_id']}"
        psycopg.connect(pg_server.database_dsn(dbname), connect_timeout=3).close()
