"""migrate rehearse: an unsafe migration on a populated posts table fails the blocked-query gate, its safe twin
passes; every value that existed before is still there after either."""

from __future__ import annotations

from pathlib import Path

from harness.db import Database
from harness.rehearse.stage import run_rehearsal, window
from harness.rehearse.step import RehearseOptions
from harness.results import Results
from harness.verify.chain import load_chain

CHAINS = Path(__file__).resolve().parents[2] / "fixtures" / "chains"
# 100k rows: the unsafe backfill holds ACCESS EXCLUSIVE for well over 250 ms even on a fast machine;
# the safe twin's longest wait is a catalog change of milliseconds.
OPTIONS = RehearseOptions(rows=100_000, baseline_s=1.0, rate=200.0, workers=4, max_blocked_ms=250.0)


def _rehearse(db: Database, chain: str) -> tuple[Results, dict]:
    loaded = load_chain(CHAINS / chain / "alembic.ini")
    results = Results(run_id="t", command="migrate rehearse")
    section = run_rehearsal(db, results, loaded, window(loaded, None, False), OPTIONS)
    return results, section


def test_unsafe_backfill_fails_the_blocked_query_gate_naming_what_blocked(fresh_db: Database) -> None:
    results, section = _rehearse(fresh_db, "rehearse_unsafe")
    (step,) = section["steps"]
    assert step["seeding"]["rows"] == {"posts": 100_000}
    assert step["loss"]["lossless"] is True and step["loss"]["rows_checked"] == 100_000
    assert step["locks"]["posts"]["mode"] == "AccessExclusiveLock"
    longest = step["live"]["longest_wait"]
    assert longest["table"] == "posts" and longest["wait_ms"] > 250
    assert "UPDATE posts" in longest["blocked_by_statement"] or "CREATE INDEX" in longest["blocked_by_statement"]
    assert step["live"]["during"]["p99_ms"] > step["live"]["before"]["p99_ms"]
    assert step["wal_bytes"] > 0 and "ix_posts_word_count" in step["sizes"]["changed"]
    gate = next(g for g in results.gates if "longest live wait" in g.name)
    assert gate.verdict == "fail" and "posts" in gate.reason and "AccessExclusiveLock" in gate.reason
    assert results.exit_code == 1 and step["verdict"] == "fail"


def test_safe_twin_passes_every_gate(fresh_db: Database) -> None:
    results, section = _rehearse(fresh_db, "rehearse_safe")
    (step,) = section["steps"]
    assert step["loss"]["lossless"] is True
    assert step["live"]["during"]["count"] > 0 and step["live"]["rows_inserted"] > 0
    assert step["loss"]["live_rows_left_out"] == step["live"]["rows_inserted"]
    assert [g.verdict for g in results.gates] == ["pass", "pass", "pass"], [g.reason for g in results.gates]
    assert results.exit_code == 0


def test_window_choices() -> None:
    chain = load_chain(CHAINS / "rehearse_safe" / "alembic.ini")
    assert window(chain, None, False) == ["002"]
    assert window(chain, "001", False) == ["002"]
    assert window(chain, None, True) == ["001", "002"]
