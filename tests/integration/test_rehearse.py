"""migrate rehearse: an unsafe migration on a populated posts table fails the blocked-query gate, its safe twin
passes; every value that existed before is still there after either, and after the downgrade that follows
(the round trip brings back every value seeded before the upgrade)."""

from __future__ import annotations

from pathlib import Path

from harness.db import Database
from harness.rehearse.stage import run_rehearsal, window
from harness.rehearse.step import RehearseOptions
from harness.results import Results
from harness.results.rehearsal import LiveRun, Rehearsal
from harness.verify.chain import load_chain

CHAINS = Path(__file__).resolve().parents[2] / "fixtures" / "chains"
# 100k rows: the unsafe backfill holds ACCESS EXCLUSIVE for well over 250 ms even on a fast machine;
# the safe twin's longest wait is a catalog change of milliseconds.
OPTIONS = RehearseOptions(rows=100_000, baseline_s=1.0, rate=200.0, workers=4, max_blocked_ms=250.0)


def _rehearse(db: Database, chain: str) -> tuple[Results, Rehearsal]:
    loaded = load_chain(CHAINS / chain / "alembic.ini")
    results = Results(run_id="t", command="migrate rehearse")
    section = run_rehearsal(db, results, loaded, window(loaded, None, False), OPTIONS)
    return results, section


def test_unsafe_backfill_fails_the_blocked_query_gate_naming_what_blocked(fresh_db: Database) -> None:
    results, section = _rehearse(fresh_db, "rehearse_unsafe")
    step, down = section.steps
    assert (step.direction, down.direction) == ("upgrade", "downgrade")
    assert step.seeding.rows == {"posts": 100_000}
    assert step.loss.lossless is True and step.loss.rows_checked == 100_000
    assert step.locks["posts"].mode == "AccessExclusiveLock"
    assert isinstance(step.live, LiveRun) and isinstance(down.live, LiveRun)
    longest = step.live.longest_wait
    assert longest is not None and longest.table == "posts" and longest.wait_ms > 250
    assert "UPDATE posts" in longest.blocked_by_statement or "CREATE INDEX" in longest.blocked_by_statement
    assert (step.live.during.p99_ms or 0) > (step.live.before.p99_ms or 0)
    # the exclusive lock's holds, in seconds from the step's start, cover the backfill that ran under it
    holds = step.locks["posts"].modes["AccessExclusiveLock"].holds
    assert holds and all(0 <= h.start_s <= h.end_s < step.duration_s for h in holds), holds
    update = next(s for s in step.statements if s.statement.startswith("UPDATE posts"))
    middle = update.start_s + (update.duration_s or 0) / 2
    assert any(h.start_s <= middle <= h.end_s for h in holds), (holds, update)
    assert (step.wal_bytes or 0) > 0 and step.sizes is not None and "ix_posts_word_count" in step.sizes.changed
    gate = next(g for g in results.gates if "longest live wait" in g.name)
    assert gate.verdict == "fail" and "posts" in gate.reason and "AccessExclusiveLock" in gate.reason
    assert results.exit_code == 1 and step.verdict == "fail"
    (removed,) = down.loss.removed  # the downgrade's own removal is listed, not counted as loss
    assert down.loss.lossless is True and removed.startswith("posts.word_count (")


def test_safe_twin_passes_every_gate(fresh_db: Database) -> None:
    results, section = _rehearse(fresh_db, "rehearse_safe")
    step, down = section.steps
    assert isinstance(step.live, LiveRun) and isinstance(down.live, LiveRun)
    assert step.loss.lossless is True
    assert step.live.during.count > 0 and step.live.rows_inserted > 0
    assert step.loss.live_rows_left_out == step.live.rows_inserted
    assert (down.direction, down.source, down.to) == ("downgrade", "002", "001")
    assert down.live.during.count > 0 and down.loss.lossless is True
    (trip,) = section.round_trips
    assert trip.lossless is True and trip.rows_checked == 100_000 and trip.at == "001"
    assert trip.live_rows_left_out == step.live.rows_inserted + down.live.rows_inserted
    assert [g.verdict for g in results.gates] == ["pass"] * 7, [g.reason for g in results.gates]
    assert results.gates[-1].name == "rehearsal round trip 001 -> 002 -> 001 restored every value"
    assert results.exit_code == 0


def test_window_choices() -> None:
    chain = load_chain(CHAINS / "rehearse_safe" / "alembic.ini")
    assert window(chain, None, False) == ["002"]
    assert window(chain, "001", False) == ["002"]
    assert window(chain, None, True) == ["001", "002"]
