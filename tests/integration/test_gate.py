"""`wardbench gate` end to end on a real server: four files and exit 0; a target tightened below what is
observed: exit 1 and that gate red in every report."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from unittest import mock

import pytest

from harness.db import ServerHandle
from harness.pipeline import STAGES
from harness.report.schema import validate_results

SCALE = "0.02"  # ci profile x 0.02: about 1,200 posts; enough for every stage to measure something
FILES = ("results.json", "report.html", "summary.md", "junit.xml")


def _gate(server: ServerHandle, reports: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    proc = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "gate", "--profile", "ci",
                           "--scale-factor", SCALE, "--dsn", server.admin_dsn, "--reports-dir", str(reports),
                           *extra], capture_output=True, text=True, timeout=900)
    runs = sorted(p for p in reports.iterdir() if p.is_dir())
    assert len(runs) == 1, (proc.stdout, proc.stderr)
    return proc, runs[0]


# The tightened run needs the stages up to the one reading the target; the full pipeline repeats it (slow).
BENCH_ONLY = ["--only", "schema", "--only", "generate", "--only", "bench"]


@pytest.fixture(scope="module")
def passing_run(pg_server: ServerHandle, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, str]:
    proc, run = _gate(pg_server, tmp_path_factory.mktemp("gate-pass"))
    return proc.returncode, run, proc.stderr


def test_gate_ci_passes_and_writes_four_files(passing_run: tuple[int, Path, str]) -> None:
    code, run, stderr = passing_run
    data = json.loads((run / "results.json").read_text())
    not_passed = [f"{g['stage']}: {g['name']} ({g['verdict']}, observed {g['observed']}, target {g['target']})"
                  for g in data["gates"] if g["verdict"] != "pass"]
    assert code == 0, f"gates not passing: {not_passed}" if not_passed else stderr[-3000:]
    for name in FILES:
        assert (run / name).stat().st_size > 0, name
    assert data["verdict"] == "pass" and data["gates"]
    assert set(data["selection"]["stages"]) == set(STAGES) and data["selection"]["not_run"] == []
    html = (run / "report.html").read_text()
    assert "PASSED" in html and "PARTIAL" not in html
    assert "✅" in (run / "summary.md").read_text()


def test_real_results_validate_against_the_published_schema(passing_run: tuple[int, Path, str]) -> None:
    data = json.loads((passing_run[1] / "results.json").read_text())
    validate_results(data)
    env = data["environment"]
    for key in ("postgres_version", "pgvector_version", "server_settings", "cpu_count", "memory_bytes",
                "harness_version", "git_commit"):
        assert env.get(key) is not None, key


def test_junit_has_one_testcase_per_gate(passing_run: tuple[int, Path, str]) -> None:
    run = passing_run[1]
    gates = json.loads((run / "results.json").read_text())["gates"]
    root = ET.parse(run / "junit.xml").getroot()
    assert len(root.findall(".//testcase")) == len(gates)
    assert len(root.findall(".//failure")) == sum(g["verdict"] != "pass" for g in gates)


def test_report_rerenders_offline(passing_run: tuple[int, Path, str], tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "report",
                           str(passing_run[1] / "results.json"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    verdict = json.loads((passing_run[1] / "results.json").read_text())["verdict"]
    assert proc.returncode == (0 if verdict == "pass" else 1), proc.stderr  # the exit code follows the verdict
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES[1:])
    assert (tmp_path / "report.html").read_text().count("<section") >= 6


@pytest.mark.parametrize("selection", [pytest.param(BENCH_ONLY, id="schema-generate-bench"),
                                       pytest.param([], id="full", marks=pytest.mark.slow)])
def test_tightened_target_fails_and_shows_red(pg_server: ServerHandle, tmp_path: Path, selection: list[str]) -> None:
    proc, run = _gate(pg_server, tmp_path, "--target", "ward_p95_ms=0.001", "--target", "vector_p95_ms=150",
                      *selection)
    assert proc.returncode == 1, proc.stderr[-3000:]
    data = json.loads((run / "results.json").read_text())
    assert data["verdict"] == "fail" and data["profile"]["targets"]["ward_p95_ms"] == 0.001
    ward_p95 = [g for g in data["gates"] if g["stage"] == "bench" and g["name"].endswith(" p95")
                and g["target"] == 0.001]
    assert ward_p95 and all(g["verdict"] == "fail" and g["observed"] > 0.001 for g in ward_p95)
    assert all(g["key"] == "ward_p95_ms" for g in ward_p95)
    vector_p95 = [g for g in data["gates"] if g["key"] == "vector_p95_ms"]
    assert vector_p95 and all(g["target"] == 150 for g in vector_p95)
    html = (run / "report.html").read_text()
    assert data["profile"]["targets"]["vector_p95_ms"] == 150 and "<h3>Targets in force</h3>" in html
    red_row = f'<tr class="row-fail"><td><span class="v v-fail">fail</span></td>\n      <td>{ward_p95[0]["name"]}'
    assert "FAILED" in html and red_row in html
    assert f"❌ | {ward_p95[0]['name']}" in (run / "summary.md").read_text()
    failures = {c.get("name") for c in ET.parse(run / "junit.xml").getroot().iter("testcase")
                if c.find("failure") is not None}
    assert {g["name"] for g in ward_p95} <= failures


def test_skipped_stage_is_recorded_and_banner_is_partial(pg_server: ServerHandle, tmp_path: Path) -> None:
    proc, run = _gate(pg_server, tmp_path, "--only", "schema")
    assert proc.returncode == 0, proc.stderr[-3000:]  # every gate that ran passed ...
    data = json.loads((run / "results.json").read_text())
    others = [s for s in STAGES if s != "schema"]
    assert data["selection"]["not_run"] == others and data["selection"]["only"] == ["schema"]
    assert [s["name"] for s in data["stages"] if s["status"] == "skipped"] == others
    html = (run / "report.html").read_text()
    assert "PASSED (PARTIAL RUN)" in html and "PASSED</h1>" not in html  # ... but it does not read as verified
    assert "stages not run: " + ", ".join(others) in html
    skipped = ET.parse(run / "junit.xml").getroot().findall(".//testcase/skipped")
    assert len(skipped) == len(others)


def test_bad_target_and_unknown_stage_exit_2(pg_server: ServerHandle, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    for extra in (["--target", "ward_p95_ms"], ["--target", "ward_p95_ms=fast"], ["--skip", "nosuchstage"]):
        argv = ["wardbench", "gate", "--dsn", pg_server.admin_dsn, "--reports-dir", str(tmp_path), *extra]
        with mock.patch.object(sys, "argv", argv), pytest.raises(SystemExit) as exit_info:
            main()
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.count("\n") == 1 and err.startswith("wardbench: error:"), err
        assert not any(tmp_path.iterdir()), "nothing written on bad usage"
