"""The bench and capacity sections through results.json: what is written reads back equal, in the file's key names."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from results_fixture import bench_section, capacity_section, scenarios_section

from harness.capacity.fit import fit_section
from harness.results import Results
from harness.results.bench import PlanSummary, ScenarioResult, SeqScan, ServerTimeSource
from harness.results.capacity import CapacityPoint, FitVerdict


def _vector_row() -> ScenarioResult:
    """A vector scenario with every group of fields set: latencies, plan, fidelity, rows and recall."""
    return ScenarioResult(
        name="vector_search_ward.quiet_ward", kind="vector", target_ms=200.0, count=3, selectivity="quiet_ward",
        source="scenarios/vector_search_ward.toml", settings={"hnsw.ef_search": "100"}, p50_ms=1.5, p95_ms=2.5,
        p99_ms=2.5, max_ms=2.5, qps=600.0, margin=0.9875, samples_ms=(1.5, 1.25, 2.5),
        plan=PlanSummary(nodes=("Limit", "Index Scan"), indexes=("ix_post_embeddings_embedding_hnsw",),
                         seq_scans=(SeqScan("wards", 40),), large_seq_scans=(), total_cost=12.5),
        plan_shapes={"ix_post_embeddings_embedding_hnsw": 3}, timed_statement_prepared=False, server_p50_ms=1.0,
        client_p50_ms=1.2, overhead_p50_ms=0.2, fidelity_samples=3, server_time_from=ServerTimeSource.SERVER_LOG,
        roundtrip_floor_ms=0.1, overhead_p50_vs_explain_ms=0.15, k=10, rows_returned_min=7, rows_short_queries=1,
        recall_at_10=0.9, recall_at_10_tie_tolerant=0.95, recall_queries=3, recall_min=0.7, truth_rows_min=10,
        tie_tolerance=1e-4, truth_plan_nodes=("Limit", "Sort", "Seq Scan"))


def test_scenario_row_round_trips_with_its_keys(tmp_path: Path) -> None:
    row = _vector_row()
    results = Results(run_id="r", command="bench", scenarios=[row, *scenarios_section(np.random.default_rng(1), 5)],
                      bench=bench_section())
    path = results.write(tmp_path / "results.json")
    back = Results.read(path)
    assert back.scenarios == results.scenarios and back.bench == results.bench
    assert back.scenarios[0].server_time_from is ServerTimeSource.SERVER_LOG
    raw = json.loads(path.read_text())["scenarios"][0]
    assert raw["samples_ms"] == [1.5, 1.25, 2.5] and raw["plan"]["seq_scans"] == [{"table": "wards", "table_rows": 40}]
    assert raw["server_time_from"] == "server log" and raw["recall_at_10"] == 0.9


def test_capacity_section_round_trips_with_its_verdicts(tmp_path: Path) -> None:
    section = capacity_section(np.random.default_rng(2))
    plans = ["ix_posts_ward_id", "ix_posts_ward_id", "ix_posts_embedding_hnsw"]
    changing = tuple(CapacityPoint(scenario="swing", kind="ward", posts=n, users=1, p95_ms=0.4 * (n / 1e3) ** 0.5,
                                   plan=plan) for n, plan in zip((1_000, 10_000, 100_000), plans, strict=True))
    too_few = (CapacityPoint(scenario="solo", kind="vector", posts=1_000, users=1, p95_ms=3.0),)
    points = section.points + changing + too_few
    targets = {"ward_dashboard": 100.0, "swing": 100.0, "solo": 50.0}
    section = replace(section, points=points, fits=tuple(fit_section(points, "posts", targets)))
    verdicts = {f.scenario: f.verdict for f in section.fits}
    assert verdicts == {"solo": FitVerdict.NOT_FITTED, "swing": FitVerdict.NOT_EXTRAPOLATED,
                        "ward_dashboard": verdicts["ward_dashboard"]}
    path = Results(run_id="c", command="capacity", capacity=section).write(tmp_path / "results.json")
    back = Results.read(path)
    assert back.capacity == section
    raw = json.loads(path.read_text())["capacity"]["fits"]
    swing = next(f for f in raw if f["scenario"] == "swing")
    assert swing["verdict"] == "not extrapolated" and swing["reason"].startswith("plan changes from ix_posts_ward_id")
    assert swing["plan_changes"] == [{"between": [1e4, 1e5], "from": "ix_posts_ward_id",
                                      "to": "ix_posts_embedding_hnsw"}]
