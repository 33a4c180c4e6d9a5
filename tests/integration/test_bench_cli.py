"""`wardbench bench` end to end: a generated disposable database measured and gated; bad input exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.db import ServerHandle


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "bench", *args],
                          capture_output=True, text=True, timeout=600)


def test_bench_cli_measures_every_scenario_and_writes_results(pg_server: ServerHandle, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = _bench("--profile", "ci", "--scale-factor", "0.02", "--rounds", "10", "--dsn", pg_server.admin_dsn,
                  "--reports-dir", str(tmp_path / "reports"), "--json", str(out), "--target", "vector_p95_ms=150")
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    names = {s["name"] for s in data["scenarios"]}
    assert names == set(data["selection"]["scenarios"]) and len(names) >= 10
    gates = {g["name"]: g for g in data["gates"] if g["stage"] == "bench"}
    for s in data["scenarios"]:
        assert gates[f"{s['name']} p95"]["verdict"] == "pass" and gates[f"{s['name']} p95"]["margin"] > 0
        for key in ("count", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms", "qps", "target_ms", "margin",
                    "plan"):
            assert s[key] is not None, key
    assert all(s["recall_at_10"] is not None for s in data["scenarios"] if s["kind"] == "vector")
    vector = [gates[f"{s['name']} p95"] for s in data["scenarios"] if s["kind"] == "vector"]
    assert vector and all((g["key"], g["target"]) == ("vector_p95_ms", 150) for g in vector)  # --target took effect
    assert data["bench"]["prepare_threshold"] is None and data["bench"]["fidelity"]["samples"] > 0
    run_dir = next((tmp_path / "reports").iterdir())
    assert json.loads((run_dir / "bench" / "pytest-benchmark.json").read_text())["benchmarks"][0]["stats"]["data"]
    assert "margin" in proc.stderr


def test_bad_scenario_file_exits_2_before_any_server_starts(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "bad.toml").write_text('name = "x"\nkind = "vector"\nsql = "SELECT %(q)s"\n')
    proc = _bench("--scenarios", str(folder), "--dsn", "postgresql://nobody@127.0.0.1:1/none")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"wardbench: error: {folder / 'bad.toml'}: field 'sql': "
                                   "parameter %(q)s has no sampler in [params]")


def test_unknown_suite_exits_2(tmp_path: Path) -> None:
    proc = _bench("--suite", "writes")
    assert proc.returncode == 2 and "unknown suite 'writes'" in proc.stderr
