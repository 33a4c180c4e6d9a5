"""One synthetic Results with every section filled, shared by the renderer, compare and round-trip tests.

One builder per section, so the section's owner changes only its own function when its type changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.capacity.fit import fit_section
from harness.gates import evaluate
from harness.results import Gate, Results, StageRecord
from harness.results.migrations import (
    ChecksumThroughput,
    Lock,
    LockTimeout,
    MigrationsSection,
    Options,
    PlainWalk,
    RoundTrip,
    RoundTripVerdict,
    Seeding,
    Step,
    StepVerdict,
    Structure,
    Summary,
    UnderLoad,
    WalkVerdict,
)


def full_results(tight_ward_target: bool = False) -> Results:
    """Every section filled, with raw samples drawn from lognormal latencies (seeded)."""
    rng = np.random.default_rng(3)
    ward_target = 0.5 if tight_ward_target else 100.0
    scenarios = scenarios_section(rng, ward_target)
    capacity = capacity_section(rng)
    return Results(
        run_id="fixture", command="gate",
        environment={"postgres_version": "18.4", "pgvector_version": "0.8.5", "cpu_count": 2,
                     "memory_bytes": 24 * 2**30, "harness_version": "0.1.0", "git_commit": "abc123", "python": "3.11.7",
                     "server_settings": {"shared_buffers": "1GB"}},
        profile={"name": "ci", "scale_factor": 0.1,
                 "targets": {"ward_p95_ms": ward_target, "vector_p95_ms": 200.0, "recall_at_10": 0.95}},
        dataset={"tables": {"wards": 2400, "posts": 6000, "post_embeddings": 6000}, "seed": 42},
        stages=[StageRecord("schema", "ok", 1.2), StageRecord("bench", "ok", 30.5)],
        scenarios=scenarios,
        migrations=migrations_section(),
        load=load_section(rng),
        bench=bench_section(),
        capacity=capacity,
        gates=gates_for(scenarios, ward_target),
        selection={"stages": ["schema", "bench"], "not_run": [], "skip": [], "only": []})


def scenarios_section(rng: np.random.Generator, ward_target: float) -> list[Any]:
    scenarios = []
    for i, name in enumerate(["ward_dashboard", "sentiment_trend", "latest_posts", "turnout_ranking",
                              "latest_reports", "swing"]):
        scenarios.append(_scenario(rng, name, "ward", 0.4 + i * 0.3, ward_target))
    for i, name in enumerate(["semantic_search", "semantic_ward", "semantic_dates", "similar_reports"]):
        s = _scenario(rng, name, "vector", 2.0 + i, 200.0)
        s["recall_at_10"] = [0.99, 0.97, 0.96, 0.98][i]
        scenarios.append(s)
    return scenarios


def gates_for(scenarios: list[Any], ward_target: float) -> list[Gate]:
    gates = [evaluate("schema at head", "schema", 1.0, 1.0, "bool", "==")]
    for s in scenarios:
        target = ward_target if s["kind"] == "ward" else 200.0
        gates.append(evaluate(f"{s['name']} p95", "bench", s["p95_ms"], target, "ms", "<"))
        if "recall_at_10" in s:
            gates.append(evaluate(f"{s['name']} recall@10", "bench", s["recall_at_10"], 0.95, "", ">="))
    return gates


def migrations_section() -> MigrationsSection:
    """Five revisions verified as the stairway records them; locks and reads under load grow with the revision."""
    steps = tuple(Step(f"00{i}", f"00{i - 1}" if i > 1 else "base", StepVerdict.LOSSLESS, name=f"step {i}",
                       lossless=True, reversible=True, duration_s=0.05 * i, downgrade_s=0.02 * i, reupgrade_s=0.05 * i,
                       tables=3, rows_checked=36, seeding=Seeding({"posts": 12, "wards": 12, "users": 12}),
                       locks={"posts": Lock(mode="AccessExclusiveLock", held_ms=12.0)}, lock_polls=20,
                       lock_poll_interval_ms=2.0, lock_timeout="0",
                       blocking_locks=("posts",), rewritten={"posts": 12} if i == 3 else {},
                       under_load=UnderLoad(reads_during=40, reads_before=100, p95_before_ms=1.2,
                                            p95_during_ms=40.0 * i, p95_ratio=round(40.0 * i / 1.2, 2),
                                            blocked_reads=i - 1, longest_lock_wait_ms=30.0 * i,
                                            reads=("ward by id",)))
                  for i in range(1, 6))
    timeout = LockTimeout(True, tuple(s.revision for s in steps), "no lock_timeout in the migration sessions")
    return MigrationsSection(
        chain="migrations/alembic.ini", head="005", revisions=tuple(s.revision for s in steps),
        structure=Structure((), True), plain_walk=PlainWalk(WalkVerdict.PASS, "", 0.2, 0.1, 0.2), steps=steps,
        round_trip=RoundTrip(RoundTripVerdict.PASS, "", 60, 0.1, 0.2), lock_timeout=timeout,
        summary=Summary(lossless=5), checksum_throughput=ChecksumThroughput(180, 0.01, 0.005, 2.0),
        options=Options(True, 12, 42, False), warnings=(timeout.detail,), duration_s=4.2)


def load_section(rng: np.random.Generator) -> Any:
    timeline = [{"t_s": t, "readers_qps": 900 + 40 * float(rng.normal()), "readers_p95_ms": 3 + float(rng.random()),
                 "writers_qps": 80 + 5 * float(rng.normal()), "writers_p95_ms": 9 + float(rng.random())}
                for t in range(0, 60)]
    readers = {"count": 50000, "errors": 0, "qps": 900.0, "corrected": {"p50_ms": 1.1, "p95_ms": 3.2},
               "uncorrected": {"p50_ms": 1.0, "p95_ms": 2.9}}
    return {"model": "closed", "users": 20, "duration_s": 60, "timeline": timeline,
            "summary": {"qps": 980.0, "in_flight_mean": 7.5}, "roles": {"readers": readers},
            "scenarios": [{"name": "ward_dashboard", "kind": "ward", **readers}]}


def bench_section() -> Any:
    return {"fidelity": {"samples": 360, "overhead_p50_ms": 0.135, "server_p50_ms": 0.417,
                         "overhead_target_ms": 0.2, "within_target": True, "roundtrip_floor_p50_ms": 0.105,
                         "server_time_from": ["server log"]}}


def capacity_section(rng: np.random.Generator) -> Any:
    points = [{"scenario": "ward_dashboard", "posts": n, "users": 1,
               "p95_ms": 0.5 * (n / 1e4) ** 0.6 * float(np.exp(rng.normal(0, 0.05)))} for n in (1e4, 3e4, 1e5)]
    return {"points": points, "fits": fit_section(points, "posts", {"ward_dashboard": 100.0})}


def _scenario(rng: np.random.Generator, name: str, kind: str, median_ms: float, target: float) -> dict:
    samples = rng.lognormal(np.log(median_ms), 0.35, 800)
    return {"name": name, "kind": kind, "count": 800, "errors": 0, "target_p95_ms": target,
            "p50_ms": float(np.percentile(samples, 50)), "p95_ms": float(np.percentile(samples, 95)),
            "p99_ms": float(np.percentile(samples, 99)), "max_ms": float(samples.max()),
            "qps": 1000 / median_ms, "samples_ms": [round(float(v), 4) for v in samples]}
