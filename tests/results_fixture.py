"""One synthetic Results with every section filled, shared by the renderer, compare and round-trip tests.

One builder per section, so the section's owner changes only its own function when its type changes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from harness.capacity.fit import fit_section
from harness.gates import evaluate
from harness.results import Gate, Results, StageRecord
from harness.results import migrations as mig
from harness.results.backup import BackupSection, LogicalTimings, PhysicalSkipped, TableImage
from harness.results.bench import (
    BenchFidelity,
    BenchOptions,
    BenchSection,
    ScenarioKind,
    ScenarioResult,
    ServerTimeSource,
)
from harness.results.capacity import CapacityPoint, CapacitySection, SizeDatabase
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


def scenarios_section(rng: np.random.Generator, ward_target: float) -> list[ScenarioResult]:
    scenarios = []
    for i, name in enumerate(["ward_dashboard", "sentiment_trend", "latest_posts", "turnout_ranking",
                              "latest_reports", "swing"]):
        scenarios.append(_scenario(rng, name, "ward", 0.4 + i * 0.3, ward_target))
    for i, name in enumerate(["semantic_search", "semantic_ward", "semantic_dates", "similar_reports"]):
        scenarios.append(replace(_scenario(rng, name, "vector", 2.0 + i, 200.0), k=10, rows_returned_min=10,
                                 rows_short_queries=0, recall_at_10=[0.99, 0.97, 0.96, 0.98][i]))
    return scenarios


def gates_for(scenarios: list[ScenarioResult], ward_target: float) -> list[Gate]:
    gates = [evaluate("schema at head", "schema", 1.0, 1.0, "bool", "==")]
    for s in scenarios:
        target = ward_target if s.kind == "ward" else 200.0
        gates.append(evaluate(f"{s.name} p95", "bench", s.p95_ms, target, "ms", "<"))
        if s.recall_at_10 is not None:
            gates.append(evaluate(f"{s.name} recall@10", "bench", s.recall_at_10, 0.95, "", ">="))
    return gates


def migrations_section() -> mig.MigrationsSection:
    """Five revisions verified as the stairway records them; locks and reads under load grow with the revision."""
    steps = tuple(mig.VerifyStep(f"00{i}", f"00{i - 1}" if i > 1 else "base", mig.StepVerdict.LOSSLESS,
                                 name=f"step {i}",
                       lossless=True, reversible=True, duration_s=0.05 * i, downgrade_s=0.02 * i, reupgrade_s=0.05 * i,
                       tables=3, rows_checked=36, seeding=mig.VerifySeeding({"posts": 12, "wards": 12, "users": 12}),
                       locks={"posts": mig.Lock(mode="AccessExclusiveLock", held_ms=12.0)}, lock_polls=20,
                       lock_poll_interval_ms=2.0, lock_timeout="0",
                       blocking_locks=("posts",), rewritten={"posts": 12} if i == 3 else {},
                       under_load=mig.UnderLoad(reads_during=40, reads_before=100, p95_before_ms=1.2,
                                            p95_during_ms=40.0 * i, p95_ratio=round(40.0 * i / 1.2, 2),
                                            blocked_reads=i - 1, longest_lock_wait_ms=30.0 * i,
                                            reads=("ward by id",)))
                  for i in range(1, 6))
    timeout = mig.LockTimeout(True, tuple(s.revision for s in steps), "no lock_timeout in the migration sessions")
    return mig.MigrationsSection(
        chain="migrations/alembic.ini", head="005", revisions=tuple(s.revision for s in steps),
        structure=mig.Structure((), True), plain_walk=mig.PlainWalk(mig.WalkVerdict.PASS, "", 0.2, 0.1, 0.2),
        steps=steps,
        round_trip=mig.VerifyRoundTrip(mig.RoundTripVerdict.PASS, "", 60, 0.1, 0.2), lock_timeout=timeout,
        summary=mig.Summary(lossless=5), checksum_throughput=mig.ChecksumThroughput(180, 0.01, 0.005, 2.0),
        options=mig.VerifiedWith(True, 12, 42, False), warnings=(timeout.detail,), duration_s=4.2)


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


def bench_section() -> BenchSection:
    fidelity = BenchFidelity(samples=360, overhead_p50_ms=0.135, server_p50_ms=0.417, overhead_target_ms=0.2,
                             within_target=True, roundtrip_floor_p50_ms=0.105,
                             server_time_from=(ServerTimeSource.SERVER_LOG,), method="client minus server time")
    return BenchSection(options=BenchOptions(), pytest_benchmark_json="bench/pytest-benchmark.json",
                        prepare_threshold=None, fidelity=fidelity)


def capacity_section(rng: np.random.Generator) -> CapacitySection:
    sizes = (10_000, 30_000, 100_000)
    points = tuple(CapacityPoint(scenario="ward_dashboard", kind="ward", posts=n, users=1, count=200,
                                 p95_ms=0.5 * (n / 1e4) ** 0.6 * float(np.exp(rng.normal(0, 0.05))),
                                 posts_requested=n, plan="ix_posts_ward_id") for n in sizes)
    loads = tuple(SizeDatabase(posts=n, scale_factor=n / 60_000, rows={"posts": n}, load_s=1.5) for n in sizes)
    return CapacitySection(scales=sizes, users=(1,), base_profile="ci", duration_s=20.0, tool="pytest-benchmark",
                           loads=loads, points=points, fits=tuple(fit_section(points, "posts",
                                                                              {"ward_dashboard": 100.0})),
                           method="power law on log-log, backtested")


def _scenario(rng: np.random.Generator, name: str, kind: ScenarioKind, median_ms: float,
              target: float) -> ScenarioResult:
    samples = rng.lognormal(np.log(median_ms), 0.35, 800)
    return ScenarioResult(name=name, kind=kind, count=800, errors=0, target_ms=target,
                          p50_ms=float(np.percentile(samples, 50)), p95_ms=float(np.percentile(samples, 95)),
                          p99_ms=float(np.percentile(samples, 99)), max_ms=float(samples.max()),
                          qps=1000 / median_ms, samples_ms=tuple(round(float(v), 4) for v in samples))


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
