"""The migrations section round-trips through results.json: every kind of step, finding and difference reads back
equal, with its verdicts as enums and the gates judged from it unchanged."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from results_fixture import migrations_section

from harness.results import Results
from harness.results.migrations import (
    FailureInfo,
    Finding,
    FindingKind,
    Lock,
    MigrationsSection,
    RoundTripVerdict,
    RowSample,
    SchemaDifference,
    Shortfall,
    StepVerdict,
    UnderLoad,
    VerifyDifference,
    VerifyRoundTrip,
    VerifySeeding,
    VerifyStep,
)
from harness.verify import failures
from harness.verify.stage import gates

FAILED = FailureInfo(sqlstate="23502", message='column "code" contains null values', table="items", column="code",
                     statement="ALTER TABLE items ADD COLUMN code text NOT NULL")


def _section() -> MigrationsSection:
    lossy = VerifyStep(
        "002", "001", StepVerdict.LOSSY, name="narrow balance", detail="lossy: accounts.balance", lossless=False,
        reversible=True, duration_s=0.04, downgrade_s=0.01, reupgrade_s=0.03, tables=2, rows_checked=10,
        seeding=VerifySeeding({"accounts": 4, "notes": 6}, (Shortfall("notes", 8, 6, "check violated"),)),
        locks={"accounts": Lock(mode="AccessExclusiveLock", held_ms=None)}, lock_polls=3, lock_poll_interval_ms=2.0,
        lock_timeout="0", blocking_locks=("accounts",), rewritten={"accounts": 4},
        downgrade_locks={"accounts": Lock(mode="AccessExclusiveLock", held_ms=1.5)},
        under_load=UnderLoad(reads_during=3, reads_before=9, p95_before_ms=0.8, p95_during_ms=31.0, p95_ratio=38.75,
                             blocked_reads=1, longest_lock_wait_ms=30.2, reads=("accounts by key",),
                             errors={"accounts by key: canceled": 1}),
        findings=(Finding(FindingKind.LOSSY, "upgrade", "accounts.balance", "upgrade 002 changes the values", "error",
                          accepted=True, reason="whole euros"),
                  Finding(FindingKind.LOCK_HAZARD, "upgrade", "accounts", "rewritten", "warning", rule="table-rewrite",
                          table="accounts", lock="AccessExclusiveLock", held_ms=12.5, safe_pattern="backfill")),
        differences=(VerifyDifference("accounts", 2, 0, 0, 2, ("id",), {"balance": 2},
                                (RowSample({"id": 1}, {"balance": 12.34, "tags": ["a", None]}, {"balance": 12}),
                                 RowSample(None, {"v": {"nested": True}}, None)), rows_before=4, rows_after=4),
                     VerifyDifference("gone", 3, 3, 0, 0, reason="table missing after the downgrade")),
        schema_drift=(SchemaDifference("column", "tickets.id", "default x -> none", {"default": "x"}, None),))
    failed = VerifyStep("003", "002", StepVerdict.FAILS_ON_EXISTING_DATA, upgrade_failure=FAILED,
                        rows_checked_on_failure=8,
                  failed_with_data_s=0.2, under_load=UnderLoad(detail="no readable table with rows at this revision"),
                  findings=(failures.finding(FindingKind.FAILS_ON_EXISTING_DATA, "upgrade", "fails", FAILED),))
    return replace(migrations_section(), steps=(
        lossy, failed, VerifyStep("004", "003", StepVerdict.ERROR, detail="wardbench failed while checking this step"),
        VerifyStep("005", "004", StepVerdict.NOT_RUN, detail="not run: the database is at 003, not 004")),
        round_trip=VerifyRoundTrip(RoundTripVerdict.NOT_RUN, "the walk stopped at 003, not head"))


def test_migrations_section_round_trips_equal(tmp_path: Path) -> None:
    section = _section()
    results = Results(run_id="r", command="migrate verify", migrations=section, gates=gates(section))
    path = results.write(tmp_path / "results.json")
    back = Results.read(path)
    assert back == results
    assert back.migrations is not None
    assert all(isinstance(s.verdict, StepVerdict) for s in back.migrations.steps)
    assert gates(back.migrations) == results.gates
    raw = json.loads(path.read_text())["migrations"]["steps"]
    assert [(s["from"], s["verdict"]) for s in raw] == [("001", "lossy"), ("002", "fails_on_existing_data"),
                                                         ("003", "error"), ("004", "not_run")]
    assert raw[1]["upgrade_failure"] == FAILED  # a leaf record keeps only the keys psycopg gave


def test_gates_of_a_section_keep_their_names_verdicts_and_reasons() -> None:
    verdicts = {g.name: (g.verdict, g.reason) for g in gates(_section())}
    assert verdicts["migration 001 -> 002 lossless and reversible"] == ("fail", "lossy: lossy: accounts.balance")
    assert verdicts["migration 003 -> 004 lossless and reversible"] == (
        "not_evaluated", "wardbench failed while checking this step")
    assert verdicts["migration round trip head -> base -> head"] == (
        "not_evaluated", "the walk stopped at 003, not head")
    assert verdicts["migration chain structure"] == ("pass", "")
