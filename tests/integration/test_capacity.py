"""`wardbench capacity` over three tiny sizes on a real server: measured points, fits and predictions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import alembic_project
from harness.capacity.cache import graph_bytes, last_level_cache_bytes, server_cache_bytes
from harness.db import Database, ServerHandle
from harness.report.schema import validate_results


def test_capacity_three_sizes_fit_and_predict(pg_server: ServerHandle, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "capacity",
                           "--scales", "1k,2k,4k", "--scenario", "ward_dashboard", "--scenario", "vector_search_all",
                           "--rounds", "20", "--dsn", pg_server.admin_dsn, "--reports-dir", str(tmp_path),
                           "--target", "vector_p95_ms=150", "--json", str(tmp_path / "cap.json")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    data = json.loads((tmp_path / "cap.json").read_text())
    validate_results(data)
    cap = data["capacity"]
    sizes = sorted({p["posts"] for p in cap["points"]})
    assert len(sizes) == 3 and sizes[0] < sizes[1] < sizes[2]
    assert {p["scenario"] for p in cap["points"]} == {"ward_dashboard", "vector_search_all"}
    assert all(p["p95_ms"] > 0 for p in cap["points"])
    assert all(p["blocks_p50"] > 0 for p in cap["points"])  # pages per query, for predict_at's all-work bound
    # The cache rules' inputs: at these sizes no plan walks a graph (an exact scan is cheaper), and the server
    # is this machine, so its last-level cache is known.
    assert all(p["graph_bytes"] is None for p in cap["points"] if not p["plan"].startswith("ix_post_embeddings_em"))
    assert cap["cache_bytes"] == last_level_cache_bytes() and cap["cache_bytes"] > 0
    for fit in cap["fits"]:
        assert fit["axis"] == "posts" and fit["n_points"] == 3 and fit["slope"] is not None
        low, high = fit["slope_ci"]
        assert low <= fit["slope"] <= high
        assert fit["target_ms"] > 0 and fit["verdict"]
        if fit["breaks_at"] is not None:
            assert fit["breaks_at_ci"][0] is not None and fit["breaks_at_ci"][0] <= fit["breaks_at"]
    assert len(cap["fits"]) == 2
    vector = next(g for g in data["gates"] if g["name"] == "vector_search_all p95 across the sweep")
    assert (vector["key"], vector["target"]) == ("vector_p95_ms", 150)  # --target reached the sweep's gate
    assert next(f for f in cap["fits"] if f["scenario"] == "vector_search_all")["target_ms"] == 150
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


def test_capacity_locust_points_run_with_the_profiles_ef_search(fresh_db: Database, tmp_path: Path) -> None:
    """A query that divides by zero unless its session has the profile's hnsw.ef_search: every Locust-driven
    request of the sweep must succeed (before the fix, capacity's Locust sessions ran at pgvector's default)."""
    from harness.bench.scenarios import load_scenarios
    from harness.capacity.sweep import run_capacity
    from harness.config import build_config

    folder = tmp_path / "probe"
    folder.mkdir()
    # The cast fails unless the session has ef_search 100, and its error names the value it saw.
    (folder / "ef_probe.toml").write_text(
        "name = \"ef_probe\"\nkind = \"ward\"\nsql = \"\"\"SELECT CASE WHEN current_setting('hnsw.ef_search', true) "
        "= '100' THEN %(ward_id)s ELSE (coalesce(current_setting('hnsw.ef_search', true), 'unset') || '!')::int "
        "END\"\"\"\n[params.ward_id]\nsampler = \"any_ward\"\n")
    cfg = build_config(profile="ci", reports_dir=tmp_path / "reports")
    assert cfg.profile_data["ef_search"] == 100
    probe = [s for s in load_scenarios([folder]) if s.name == "ef_probe"]
    section, _ = run_capacity(cfg, fresh_db, probe, [300], [1, 2], duration_s=2.0)
    points = [p for p in section.points if p.scenario == "ef_probe"]
    assert {p.users for p in points} == {1, 2}
    assert all(p.count > 0 and p.errors == 0 for p in points), [(p.count, p.errors) for p in points]


def test_graph_bytes_counts_the_vector_graphs_a_plan_names(fresh_db: Database) -> None:
    """The HNSW indexes a plan shape names are sized, B-trees and unknown names are not; the embedded server runs
    here, so the cache the fits are judged against is this machine's."""
    alembic_project.upgrade(fresh_db, "head")
    with fresh_db.connect() as conn:
        graph = graph_bytes(conn, "ix_post_embeddings_embedding_hnsw + pk_sentiment_scores")
        both = graph_bytes(conn, "ix_post_embeddings_embedding_hnsw + ix_ai_reports_embedding_hnsw")
        assert graph is not None and graph > 0 and both is not None and both > graph
        assert graph_bytes(conn, "pk_wards + ix_wards_constituency_id") is None
        assert graph_bytes(conn, "Seq Scan + CTE Scan") is None and graph_bytes(conn, None) is None
    assert server_cache_bytes(fresh_db) == last_level_cache_bytes()
