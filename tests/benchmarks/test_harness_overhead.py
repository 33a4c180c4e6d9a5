"""Harness overhead per query against the server-side time of the same queries (slow: a full ci dataset).

Run: `pytest -m slow tests/benchmarks/test_harness_overhead.py` (WARDBENCH_BENCH_SCALE scales the ci
profile, default 1). Issue criterion: overhead p50 at most max(10% of the server p50, 0.2 ms). The figures
(overhead against the server log and against EXPLAIN ANALYZE, the SELECT 1 round-trip floor) land in the
benchmark's extra_info and in harness-overhead.json.
"""

from __future__ import annotations

import io
import json
import os
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.bench.runner import run_bench
from harness.bench.scenarios import load_scenarios, suite_kinds
from harness.config import build_config, load_profile
from harness.datagen.loader import load_dataset
from harness.db import Database
from harness.results import Results
from harness.results.bench import BenchOptions, ScenarioResult


@pytest.mark.slow
def test_harness_overhead_within_criterion(head_db: Database, bench_scale: float, benchmark: Any,
                                           tmp_path: Path) -> None:
    load_dataset(head_db, load_profile("ci"), bench_scale, seed=7, console=Console(file=io.StringIO()))
    cfg = build_config(reports_dir=tmp_path, profile="ci")
    results = Results(run_id=cfg.run_id, command="bench")
    options = BenchOptions.from_config(cfg)

    def bench() -> list[ScenarioResult]:
        return run_bench(cfg, head_db, results, load_scenarios(None, suite_kinds("all")), options,
                         Console(file=io.StringIO()))

    records = benchmark.pedantic(bench, rounds=1, iterations=1)
    assert results.bench is not None
    fidelity = asdict(results.bench.fidelity)
    per_scenario = {r.name: {k: getattr(r, k) for k in ("server_p50_ms", "client_p50_ms", "overhead_p50_ms",
                                                        "overhead_p50_vs_explain_ms", "roundtrip_floor_ms")}
                    for r in records}
    explain_overheads = [r.overhead_p50_vs_explain_ms for r in records if r.overhead_p50_vs_explain_ms is not None]
    figures = {**{k: v for k, v in fidelity.items() if k != "method"},
               "overhead_over_floor": round(fidelity["overhead_p50_ms"] / fidelity["roundtrip_floor_p50_ms"], 2),
               "median_scenario_overhead_vs_explain_ms": statistics.median(explain_overheads)
               if explain_overheads else None, "scenarios": per_scenario}
    benchmark.extra_info.update(figures)
    out = Path(os.environ.get("WARDBENCH_BENCH_OUT", tmp_path / "harness-overhead.json"))
    out.write_text(json.dumps(figures, indent=2))
    assert list(fidelity["server_time_from"]) == ["server log"]
    assert fidelity["within_target"], (f"overhead p50 {fidelity['overhead_p50_ms']:.3f} ms > "
                                       f"{fidelity['overhead_target_ms']:.3f} ms")
