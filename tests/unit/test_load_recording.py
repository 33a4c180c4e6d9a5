"""Load recording without Locust: intended-start schedules, corrected vs uncorrected latency, histogram merges."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

from harness.load.histograms import (
    HIGHEST_US,
    LatencyRecorder,
    ProcessPayload,
    decode,
    encode,
    new_histogram,
    record_us,
)
from harness.load.schedule import ArrivalSchedule, achieved_ratio
from harness.load.summary import by_field, merge_payloads, scenario_rows, summarize_ms, timeline


def test_schedule_spreads_the_rate_over_users_and_keeps_intended_times() -> None:
    schedule = ArrivalSchedule.for_user(total_rate_per_s=200.0, users=20, start_s=1000.0)
    assert schedule.interval_s == pytest.approx(0.1)
    assert [round(schedule.next_intended(), 6) for _ in range(4)] == [1000.0, 1000.1, 1000.2, 1000.3]
    # Intended times do not slide when a request is late: the fifth is still due at +0.4 s.
    assert schedule.next_intended() == pytest.approx(1000.4)
    assert schedule.due_by(999.0) == 0 and schedule.due_by(1000.0) == 1 and schedule.due_by(1001.0) == 11
    # The measured window skips the warm-up: intended times in [1000.45, 1001.0] are 1000.5 ... 1001.0.
    assert schedule.due_between(1000.45, 1001.0) == 6 and schedule.due_between(999.0, 1001.0) == 11
    assert schedule.due_between(1000.5, 1000.5) == 1 and schedule.due_between(1002.0, 1001.0) == 0
    with pytest.raises(ValueError):
        ArrivalSchedule.for_user(0.0, 5, 0.0)


def test_achieved_ratio_needs_something_due() -> None:
    assert achieved_ratio(90, 100) == pytest.approx(0.9)
    assert achieved_ratio(0, 0) is None


def _simulate_open_user(stall_at: int, stall_s: float, rate: float = 100.0, n: int = 1000,
                        service_s: float = 0.001) -> LatencyRecorder:
    """One open-model user: each request is sent at its intended start or, if late, when the previous ends."""
    recorder = LatencyRecorder()
    schedule = ArrivalSchedule.for_user(rate, 1, 0.0)
    free_at = 0.0
    for i in range(n):
        intended = schedule.next_intended()
        sent = max(intended, free_at)
        done = sent + service_s + (stall_s if i == stall_at else 0.0)
        recorder.record("q", "ward", intended, sent, done)
        free_at = done
    return recorder


def test_a_stall_shows_in_the_corrected_latencies_only() -> None:
    """A 2 s stall at 100 requests/s delays the next ~200 requests: only timing from intended start sees it."""
    rec = _simulate_open_user(stall_at=100, stall_s=2.0).scenarios["q"]
    corrected, uncorrected = summarize_ms(rec.corrected), summarize_ms(rec.uncorrected)
    assert uncorrected.p95_ms == pytest.approx(1.0, rel=0.01)  # each request's own service time
    assert uncorrected.max_ms == pytest.approx(2001, rel=0.01)  # the one stalled request
    assert corrected.p95_ms is not None and corrected.p95_ms > 1000  # the requests that queued behind it
    assert corrected.p50_ms == pytest.approx(1.0, rel=0.01)
    no_stall = _simulate_open_user(stall_at=-1, stall_s=0.0).scenarios["q"]
    assert summarize_ms(no_stall.corrected).p99_ms == pytest.approx(1.0, rel=0.01)


def test_closed_model_backfills_what_a_stalled_user_did_not_send() -> None:
    recorder = LatencyRecorder()
    for i in range(100):
        latency = 2.0 if i == 50 else 0.001
        recorder.record("q", "ward", i, i, i + latency, expected_interval_s=0.05)
    rec = recorder.scenarios["q"]
    assert rec.count == 100 and rec.uncorrected.get_total_count() == 100
    assert rec.corrected.get_total_count() == 100 + 39  # 2 s / 50 ms - 1 back-filled samples
    assert summarize_ms(rec.uncorrected).p95_ms == pytest.approx(1.0, rel=0.01)
    corrected_p95 = summarize_ms(rec.corrected).p95_ms
    assert corrected_p95 is not None and corrected_p95 > 500


def test_out_of_range_latency_is_clamped_not_dropped() -> None:
    hist = new_histogram()
    record_us(hist, 10 * HIGHEST_US)
    record_us(hist, 0.2)
    assert hist.get_total_count() == 2


def test_percentiles_keep_three_significant_digits_where_locust_rounds_to_two() -> None:
    hist = new_histogram()
    for _ in range(100):
        record_us(hist, 99_500)  # 99.5 ms: Locust's report shows 100
    assert summarize_ms(hist).p95_ms == pytest.approx(99.5, abs=0.1)


def _payload(recorder: LatencyRecorder, started: float, stopped: float, due: int = 0) -> ProcessPayload:
    payload: ProcessPayload = {"pid": 1, "wait_function": "wait_poll", "started_s": started, "stopped_s": stopped,
                               "users": 2, "rate_per_s": 0.0, "measure_from_s": started, "due": due,
                               "sent_in_time": 0, "warmup_requests": 0, "warmup_errors": 0, **recorder.to_dict()}
    return cast(ProcessPayload, json.loads(json.dumps(payload)))


def test_histograms_merge_across_processes_sample_for_sample() -> None:
    """Two processes' encoded histograms merge to exactly what one process recording everything holds."""
    one, a, b = LatencyRecorder(), LatencyRecorder(), LatencyRecorder()
    for i in range(2000):
        latency = 0.0005 + (i % 97) * 0.0003 + (0.5 if i % 500 == 0 else 0.0)
        kind, name = ("write", "w") if i % 5 == 0 else ("vector", "v")
        for rec in (one, a if i % 2 else b):
            rec.record(name, kind, 100.0 + i * 0.001, 100.0 + i * 0.001, 100.0 + i * 0.001 + latency)
    merged = merge_payloads([_payload(a, 100.0, 102.0), _payload(b, 100.0, 102.5)])
    single = merge_payloads([_payload(one, 100.0, 102.5)])
    assert merged.count == 2000 and merged.processes == 2
    assert merged.first_s == 100.0 and merged.wall_s == pytest.approx(single.wall_s)
    for name in ("v", "w"):
        for which in ("corrected", "uncorrected"):
            assert summarize_ms(getattr(merged.scenarios[name], which)) == \
                summarize_ms(getattr(single.scenarios[name], which))
    roles = by_field(merged, "role")
    assert roles["reader"].count == 1600 and roles["writer"].count == 400
    assert [r.name for r in scenario_rows(merged)] == ["v", "w"]
    series = timeline(merged)
    assert sum(r.readers_qps or 0 for r in series) == 1600
    assert sum(r.writers_qps or 0 for r in series) == 400
    assert all(r.t_s >= 0 for r in series)


def test_encoded_histogram_round_trips() -> None:
    hist = new_histogram()
    for v in (5, 50, 500, 5000):
        record_us(hist, v)
    again = decode(encode(hist))
    assert again.get_total_count() == 4 and again.get_max_value() == hist.get_max_value()


def test_cli_and_harness_never_import_locust_or_gevent() -> None:
    """`import locust` monkey-patches the process: only the Locust subprocess may import it."""
    code = ("import sys, harness.cli, harness.load.stage, harness.load.runner; "
            "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"

