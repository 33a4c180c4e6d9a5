"""One synthetic Results with every section filled, shared by the renderer, compare and round-trip tests.

One builder per section, so the section's owner changes only its own function when its type changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.capacity.fit import fit_section
from harness.gates import evaluate
from harness.results import Gate, Results, StageRecord
from harness.results.backup import BackupSection, LogicalTimings, PhysicalSkipped, TableImage
from harness.results.faults import DroppedConnectionDetails, DurabilityDetails, FaultOutcome, FaultsSection
from harness.results.generate import AuditLog, DatasetSection, GenerateSection, LoadedTable, LoadMethod
from harness.results.load import (
    ConcurrencyProof,
    Fidelity,
    FidelityRound,
    Latency,
    LoadGroup,
    LoadModel,
    LoadScenario,
    LoadSection,
    RoleProof,
    RunSummary,
    TimelinePoint,
)
from harness.results.rehearsal import (
    ChecksumTiming,
    ChecksumVsCount,
    Direction,
    KindStats,
    LiveRun,
    LiveSkipped,
    LiveStats,
    LockHold,
    LongestWait,
    Loss,
    Options,
    Rehearsal,
    Seeding,
    Series,
    Statement,
    Step,
    StepOutcome,
)
from harness.targets import defaults


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
                 "targets": {**defaults(), "ward_p95_ms": ward_target}},
        dataset=dataset_section(),
        stages=[StageRecord("schema", "ok", 1.2), StageRecord("bench", "ok", 30.5)],
        scenarios=scenarios,
        migrations=migrations_section(),
        load=load_section(rng),
        backup=backup_section(),
        faults=faults_section(),
        generate=generate_section(),
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


def migrations_section() -> Any:
    return {"chain": "migrations", "head": "009", "steps": [
        {"revision": f"00{i}", "direction": d, "duration_s": 0.05 * i, "lossless": True,
         "locks": [{"table": "posts", "mode": "AccessExclusiveLock", "held_ms": 12}],
         "under_load": {"p95_before_ms": 1.2, "p95_during_ms": 40.0 * i, "blocked_reads": i - 1,
                        "longest_lock_wait_ms": 30.0 * i}}
        for i in range(1, 6) for d in ("up", "down")]}


def load_section(rng: np.random.Generator) -> LoadSection:
    timeline = [TimelinePoint(t_s=t, readers_qps=900 + int(40 * rng.normal()), readers_errors=0,
                              readers_p95_ms=3 + float(rng.random()), writers_qps=80 + int(5 * rng.normal()),
                              writers_errors=0, writers_p95_ms=9 + float(rng.random()))
                for t in range(0, 60)]
    readers = LoadGroup(count=50000, errors=0, error_rate=0.0, qps=900.0, corrected=_latency(1.1, 3.2),
                        uncorrected=_latency(1.0, 2.9))
    scenario = LoadScenario(count=50000, errors=0, error_rate=0.0, qps=900.0, corrected=_latency(1.1, 3.2),
                            uncorrected=_latency(1.0, 2.9), name="ward_dashboard", kind="ward", role="reader",
                            rows_per_request=12.0, error_kinds={}, locust_p95_ms=3.0, target_p95_ms=100.0)
    summary = _run_summary(qps=980.0, in_flight=7.5, users=20)
    proof = ConcurrencyProof(users=20, duration_s=5.0, readers=RoleProof(
        one_user=_run_summary(qps=300.0, in_flight=0.9, users=1), many_users=summary, throughput_ratio=3.27))
    return LoadSection(model=LoadModel.CLOSED, users=20, writers=0, processes=1, duration_s=60.0, think_time_s=0.05,
                       rate_asked_per_s=None, latency_from="send", summary=summary, scenarios=[scenario],
                       roles={"reader": readers}, kinds={"ward": readers}, timeline=timeline,
                       locust_log="load/mixed/locust.log", concurrency=proof, target_p95_ms=100.0,
                       fidelity=Fidelity(scenario="ward_dashboard", clients=8, duration_s=3.0, processes=1,
                                         pgbench_threads=1, statement_file="load/fidelity_statement.sql",
                                         rounds=[FidelityRound(locust_qps=900.0, locust_errors=0, pgbench_tps=1200.0,
                                                               pgbench_failed=0, pgbench_latency_avg_ms=0.8,
                                                               ratio=0.75)], ratio=0.75))


def _latency(p50: float, p95: float) -> Latency:
    return Latency(samples=50000, p50_ms=p50, p95_ms=p95, p99_ms=p95 * 1.5, max_ms=p95 * 4, mean_ms=p50 * 1.2)


def _run_summary(qps: float, in_flight: float, users: int) -> RunSummary:
    return RunSummary(count=int(qps * 60), errors=0, qps=qps, wall_s=60.0, in_flight_mean=in_flight, users=users,
                      processes=1, wait_functions=["wait_c"], warmup_requests=50, warmup_errors=0, due=0,
                      sent_in_time=0, achieved_ratio=None)


def dataset_section() -> DatasetSection:
    rows = {"wards": 2400, "posts": 6000, "post_embeddings": 6000}
    return DatasetSection(head_revision="009", profile="ci", seed=42, scale_factor=0.1, rows=rows,
                          checksums={t: TableImage(rows=n, checksum=str(7 * n)) for t, n in rows.items()},
                          dataset_digest="0123456789abcdef", embedding_dim=384)


def generate_section() -> GenerateSection:
    rows = {"wards": 2400, "posts": 6000, "post_embeddings": 6000}
    return GenerateSection(
        profile={"name": "ci", "posts": 60000, "locale": "en_GB"}, plan={"seed": 42, "scale": 0.1, "posts": 6000,
                                                                        "end_date": "2026-01-01"},
        seed=42, scale_factor=0.1, embedding_dim=384,
        tables={t: LoadedTable(rows=n, seconds=0.5, rows_per_s=2 * n, columns=6, method=LoadMethod.BINARY_COPY)
                for t, n in rows.items()},
        index_builds_s={"posts_ward_idx": 0.2}, index_build_total_s=0.2,
        build_settings={"maintenance_work_mem": "256MB"}, vacuum_analyze_s=0.4, total_s=3.1, load_s=1.5,
        checksums={t: TableImage(rows=n, checksum=str(7 * n)) for t, n in rows.items()},
        dataset_digest="0123456789abcdef",
        audit_log=AuditLog(rows=10, deterministic_checksum="99", note="trigger columns excluded"),
        planned_rows=rows)


def backup_section() -> BackupSection:
    return BackupSection(
        format="custom", compression=0, restore_jobs=2, dump_bytes=1_000_000,
        timings_s=LogicalTimings(dump_s=1.0, restore_s=2.0, read_original_s=0.5, read_restored_s=0.5),
        tables=3, rows=14400, schema_objects={"tables": 3, "indexes": 5},
        per_table={"public.posts": TableImage(rows=6000, checksum="42000")},
        table_differences=[], schema_differences=[],
        physical=PhysicalSkipped(not_evaluated="only the embedded backend provides a second server"))


def faults_section() -> FaultsSection:
    dropped = FaultOutcome("connection dropped under load", True, True, "2 sessions terminated", 7.5,
                           DroppedConnectionDetails(waiting=2, terminated=2, errors_counted=2, warmup_errors=0,
                                                    requests=900, error_kinds={"AdminShutdown": 2}))
    killed = FaultOutcome("server killed under AI writers", True, True, "200 of 200 found", 9.0,
                          DurabilityDetails(acknowledged=200, found=200, lost=0, lost_ids=[],
                                            settings={"fsync": "on"}, processes_killed=8))
    skipped = FaultOutcome("kill during an embedded run", False, False, "the child run ended first")
    return FaultsSection(injected=2, survived=2, faults=[dropped, killed, skipped])


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


def live_stats(p95_ms: float | None, count: int = 300, errors: int = 0) -> LiveStats:
    return LiveStats(count, errors, errors / count if count else None, p95_ms and p95_ms / 2, p95_ms,
                     p95_ms and p95_ms * 1.5, p95_ms and p95_ms * 2)


def rehearsal_step(revision: str = "002", direction: str = "upgrade", duration_s: float = 1.3,
                   wait_ms: float | None = None, ran: bool = True, series: Series | None = None,
                   during_p95_ms: float = 900.0, locks: dict[str, LockHold] | None = None,
                   statements: list[Statement] | None = None) -> Step:
    """A step as harness.rehearse.step writes it, between revision 001 and `revision`."""
    source, target = ("001", revision) if direction == "upgrade" else (revision, "001")
    longest = None if wait_ms is None else LongestWait(
        wait_ms, "read posts by id", wait_ms + 1.0, "AccessExclusiveLock", "relation", "posts", 4242,
        "UPDATE posts SET flag = true")
    live: LiveRun | LiveSkipped = LiveRun(
        before=live_stats(2.0), during=live_stats(during_p95_ms),
        kinds={"read": KindStats(live_stats(2.0), live_stats(during_p95_ms))}, requests=["read posts by id"],
        rate_per_s=200.0, workers=50, during_s=duration_s + 1.0, settle_s=1.0, baseline_s=30.0, errors_seen={},
        blocked_requests=0 if wait_ms is None else 3, longest_wait=longest, wait_polls=40, sampler_error=None,
        rows_inserted=0, series=series or Series(-5.0, 0.1, "p95_ms", {})) if ran else \
        LiveSkipped("no table with rows and a single-column primary key to read or insert")
    return Step(revision=revision, source=source, to=target, name="add flag", direction=Direction(direction),
                verdict=StepOutcome.PASS, seeding=Seeding("binary COPY"), duration_s=duration_s, wal_bytes=3 * 2**20,
                locks=locks or {}, lock_polls=100, live=live, loss=Loss(True, tables=1, rows_checked=100_000),
                checksum_timing=ChecksumTiming(100_000, 0.12, 0.1, 1.2),
                statements=statements if statements is not None else [
                    Statement("ALTER TABLE posts ADD COLUMN flag boolean", 0.01, 0.002, None),
                    Statement("UPDATE posts SET flag = true", 0.05, 1.2, 100_000)])


def rehearsal_section(steps: list[Step], max_blocked_ms: float = 1000.0) -> Rehearsal:
    return Rehearsal(chain="fixtures/chains/rehearse_safe/alembic.ini", window=["002"], source="001",
                     dataset="seeded", order="upgrade the window, then downgrade it, revision by revision",
                     options=Options(100_000, 42, 30.0, 200.0, 50, 0.2, max_blocked_ms, 0.001, {}, "keys"),
                     steps=steps, duration_s=sum(s.duration_s for s in steps),
                     checksum_vs_count=ChecksumVsCount(100_000, 0.12, 0.1, 1.2), seeding_rows_per_s=250_000)
