"""Generator load rates against peers measured in the same run on the same server (slow: a full ci load).

Run: `pytest -m slow tests/benchmarks/test_generate_rates.py` (WARDBENCH_BENCH_SCALE scales the ci
profile, default 1). Rates per table, `pgbench -i`, the naive Faker loop and text COPY land in the
benchmark's extra_info (pytest-benchmark JSON with --benchmark-json) and in generate-rates.json.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.config import load_profile
from harness.datagen import benchmark as peers
from harness.datagen.loader import load_dataset
from harness.db import Database
from harness.results.generate import GenerateSection
from harness.targets import defaults


@pytest.mark.slow
def test_generate_rates_against_peers(head_db: Database, bench_scale: float, benchmark: Any, tmp_path: Path) -> None:
    def load() -> GenerateSection:
        return load_dataset(head_db, load_profile("ci"), bench_scale, seed=7, console=Console(file=io.StringIO()))

    summary = benchmark.pedantic(load, rounds=1, iterations=1)
    section, gates = peers.run(head_db, summary, defaults())
    benchmark.extra_info.update({"scale": bench_scale, "total_s": summary.total_s, **asdict(section)})
    out = Path(os.environ.get("WARDBENCH_BENCH_OUT", tmp_path / "generate-rates.json"))
    out.write_text(json.dumps({"summary": asdict(summary), "benchmark": asdict(section),
                               "gates": [asdict(g) for g in gates]}, indent=2, default=str))
    verdicts = {g.name: g for g in gates}
    vectors = next(g for n, g in verdicts.items() if n.startswith("post_embeddings binary COPY"))
    narrow = next(g for n, g in verdicts.items() if "INSERT ... SELECT" in n)
    assert vectors.verdict == "pass", vectors
    assert section.vs_naive.gated is False and section.vs_naive.ratio > 1
    assert narrow.verdict == "pass", (narrow, section.narrow_vs_ceiling)
    assert not any("pgbench" in n for n in verdicts), "the pgbench -i ratio is reported, not gated"
