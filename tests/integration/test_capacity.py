"""`wardbench capacity` over three tiny sizes on a real server: measured points, fits and predictions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.db import ServerHandle
from harness.report.schema import validate_results


def test_capacity_three_sizes_fit_and_predict(pg_server: ServerHandle, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "capacity",
                           "--scales", "1k,2k,4k", "--scenario", "ward_dashboard", "--scenario", "vector_search_all",
                           "--rounds", "20", "--dsn", pg_server.admin_dsn, "--reports-dir", str(tmp_path),
                           "--json", str(tmp_path / "cap.json")], capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    data = json.loads((tmp_path / "cap.json").read_text())
    validate_results(data)
    cap = data["capacity"]
    sizes = sorted({p["posts"] for p in cap["points"]})
    assert len(sizes) == 3 and sizes[0] < sizes[1] < sizes[2]
    assert {p["scenario"] for p in cap["points"]} == {"ward_dashboard", "vector_search_all"}
    assert all(p["p95_ms"] > 0 for p in cap["points"])
    for fit in cap["fits"]:
        assert fit["axis"] == "posts" and fit["n_points"] == 3 and fit["slope"] is not None
        low, high = fit["slope_ci"]
        assert low <= fit["slope"] <= high
        assert fit["target_ms"] > 0 and fit["verdict"]
        if fit["breaks_at"] is not None:
            assert fit["breaks_at_ci"][0] is not None and fit["breaks_at_ci"][0] <= fit["breaks_at"]
    assert len(cap["fits"]) == 2
    # The verdict follows the sweep's gates: every point under target passes.
    assert proc.returncode == (0 if all(g["verdict"] == "pass" for g in data["gates"]) else 1)
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    html = (run / "report.html").read_text()
    assert "ward_dashboard vs posts" in html and "Capacity sweep: not run" not in html
    assert html.count("<svg") >= 2
    assert "breaks at" in proc.stdout


@pytest.mark.slow
def test_capacity_concurrency_sweep_fits_users(pg_server: ServerHandle, tmp_path: Path) -> None:
    """Three concurrencies through Locust at each size: a fit along users per size, besides the size fits."""
    proc = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "capacity",
                           "--scales", "1k,2k,4k", "--users", "1,4,8", "--duration", "3s", "--scenario",
                           "ward_dashboard", "--dsn", pg_server.admin_dsn, "--reports-dir", str(tmp_path),
                           "--json", str(tmp_path / "cap.json")], capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    cap = json.loads((tmp_path / "cap.json").read_text())["capacity"]
    assert cap["tool"] == "locust" and {p["users"] for p in cap["points"]} == {1, 4, 8}
    axes = sorted((f["axis"], f["at"]) for f in cap["fits"])
    assert [a for a, _ in axes].count("users") == 3 and [a for a, _ in axes].count("posts") == 3
