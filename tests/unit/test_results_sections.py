"""The load, backup, faults, generate and dataset sections read back as the same typed records they were
written from: every union member (physical run or skipped, each fault's figures, pgbench run or failed)
comes back as itself, and the schema describes their fields."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from results_fixture import full_results

from harness.datagen.benchmark import NARROW_TABLE
from harness.datasets.record import DatasetRecord
from harness.results import Results
from harness.results.backup import Amcheck, PhysicalBackup, PhysicalSkipped, PhysicalTable, PhysicalTimings
from harness.results.faults import DroppedConnectionDetails, DurabilityDetails
from harness.results.generate import (
    CopyMethod,
    CopyRun,
    GenerateBenchmark,
    NaiveInsert,
    NarrowServerSide,
    NarrowUnconstrained,
    NarrowVsCeiling,
    PgbenchFailed,
    PgbenchInit,
    PreparedOrigin,
    RatedRuns,
    VectorCopy,
    VsNaive,
)
from harness.results.load import LoadModel, TimelinePoint

PHYSICAL = PhysicalBackup(
    restore_settings={"max_connections": "100"},
    timings_s=PhysicalTimings(basebackup_s=1.5, read_snapshot_s=0.2, copy_s=0.3, read_restored_s=0.2),
    acknowledged_by_backup_end=40, wal_segments=3, recovery_target_time="2026-12-06 16:00:00.1+00", writers=2,
    acknowledged_before_target=80, acknowledged_after_target=30, backup_bytes=50_000_000,
    verifier="pg_verifybackup", pg_verifybackup="backup successfully verified", recovery_s=2.5,
    amcheck=Amcheck(evaluated=True, indexes_checked=12),
    per_table={"public.ai_reports": PhysicalTable(rows_at_target=80, checksum_at_target="1", rows_restored=80,
                                                  checksum_restored="1")},
    tables=1, rows=80, differences=[], found_before_target=80, found_after_target=0)


def _benchmark(pgbench: PgbenchInit | PgbenchFailed) -> GenerateBenchmark:
    runs = RatedRuns(rows_per_s=90_000, runs_s=[0.1, 0.1])
    return GenerateBenchmark(
        per_table_rows_per_s={"posts": 20_000}, pgbench_init=pgbench,
        naive_faker_insert=NaiveInsert(table="posts", rows=1500, seconds=1.5, rows_per_s=1000),
        vector_copy=VectorCopy(rows=5000, dim=384, binary=CopyRun(seconds=0.1, rows_per_s=50_000),
                               text=CopyRun(seconds=1.0, rows_per_s=5000), binary_over_text=10.0,
                               generate_rows_per_s=40_000),
        narrow_unconstrained=NarrowUnconstrained(shape_of=NARROW_TABLE, rows=10, seconds=0.1, rows_per_s=100,
                                                 constraints="none"),
        narrow_server_side=NarrowServerSide(table=NARROW_TABLE, runs=2, rows=10, constraints=["PRIMARY KEY (id)"],
                                            loader_copy=runs, constrained=runs, unconstrained=runs,
                                            paired_ratios=[1.0, 1.1], paired_ratio_median=1.05),
        narrow_vs_ceiling=NarrowVsCeiling(
            table=NARROW_TABLE, rows_per_s=90_000, during_generate_rows_per_s=80_000,
            server_insert_select_rows_per_s=90_000, ratio=1.05, paired_ratios=[1.0, 1.1], during_generate_ratio=0.9,
            pgbench_rows_per_s=None, pgbench_ratio=None, pgbench_ratio_gated=False, pgbench_ratio_why_not_gated="x",
            pgbench_error="pgbench -i failed", server_insert_select_vs_pgbench=None,
            unconstrained_copy_vs_pgbench=None),
        vs_naive=VsNaive(table="posts", ratio=20.0, gated=False, why_not_gated="y"))


def test_sections_round_trip_through_write_and_read(tmp_path: Path) -> None:
    results = full_results()
    assert None not in (results.load, results.backup, results.faults, results.generate)
    back = Results.read(results.write(tmp_path / "results.json"))
    assert (back.load, back.backup, back.faults, back.generate, back.dataset) == \
        (results.load, results.backup, results.faults, results.generate, results.dataset)
    assert back.load is not None and back.load.model is LoadModel.CLOSED
    assert isinstance(back.load.timeline[0], TimelinePoint)
    assert back.backup is not None and isinstance(back.backup.physical, PhysicalSkipped)
    assert back.faults is not None
    assert [type(f.details) for f in back.faults.faults] == [DroppedConnectionDetails, DurabilityDetails, type(None)]


def test_every_union_member_reads_back_as_itself(tmp_path: Path) -> None:
    base = full_results()
    assert base.backup is not None and base.generate is not None
    origin = PreparedOrigin(name="ci", database="wardbench_ds_ci", created_at="2026-12-06T16:00:00Z",
                            head_revision="009", generator_digest="abc", copy_method=CopyMethod.CLONE, copy_s=0.4)
    for pgbench in (PgbenchInit(scale=5, rows=500_055, runs_s=[1.0], median_s=1.0, rows_per_s=500_055, steps="dtg"),
                    PgbenchFailed(error="pgbench -i failed: no binary")):
        results = replace(base, backup=replace(base.backup, physical=PHYSICAL),
                          generate=replace(base.generate, benchmark=_benchmark(pgbench), from_dataset=origin,
                                           copy_rows={"posts": 6000}),
                          dataset=replace(base.dataset, prepared=origin))
        back = Results.read(results.write(tmp_path / "results.json"))
        assert back == results
        assert back.generate is not None and back.generate.benchmark is not None
        assert type(back.generate.benchmark.pgbench_init) is type(pgbench)
        assert back.backup is not None and isinstance(back.backup.physical, PhysicalBackup)


def test_written_keys_are_the_ones_the_stages_wrote_before(tmp_path: Path) -> None:
    data = json.loads(full_results().write(tmp_path / "r.json").read_text())
    assert {"model", "summary", "scenarios", "roles", "kinds", "timeline", "concurrency", "fidelity"} <= \
        data["load"].keys()
    assert data["load"]["roles"]["reader"]["corrected"]["p95_ms"] == 3.2
    assert data["backup"]["per_table"]["public.posts"] == {"rows": 6000, "checksum": "42000"}
    assert data["backup"]["physical"] == {"not_evaluated": "only the embedded backend provides a second server"}
    assert data["faults"]["faults"][0]["details"]["error_kinds"] == {"AdminShutdown": 2}
    assert data["dataset"]["rows"]["posts"] == 6000 and data["generate"]["tables"]["posts"]["method"] == \
        "numpy binary COPY"


def test_dataset_record_keeps_the_typed_generation_in_its_comment_json() -> None:
    generate = full_results().generate
    record = DatasetRecord(name="ci", profile="ci", seed=42, scale_factor=0.1, head_revision="009",
                           generator_digest="abc", dataset_digest="0123456789abcdef", rows={"posts": 6000},
                           generate=generate)
    assert DatasetRecord.from_json(record.to_json()) == record


def test_schema_describes_the_section_fields() -> None:
    from harness.results.codec import generated_schema

    defs = generated_schema()["$defs"]
    for name in ("LoadSection", "BackupSection", "FaultsSection", "GenerateSection", "DatasetSection"):
        props = defs[name]["properties"]
        assert props and all(p.get("description") for p in props.values()), name
    assert defs["LoadModel"]["enum"] == ["closed", "open"]
