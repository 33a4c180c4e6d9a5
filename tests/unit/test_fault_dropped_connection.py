"""The connection-drop fault's verdict: every request terminated in flight is exactly one counted error."""

from __future__ import annotations

from pathlib import Path

from harness.bench.scenarios import load_scenarios
from harness.faults.load import PROBE, Kill, judge, write_probe


def _kill(terminated: list[int], waiting: list[int] | None = None) -> Kill:
    return Kill(waiting=waiting if waiting is not None else list(terminated), terminated=terminated, at_s=100.0)


def test_each_terminated_request_counted_once_and_the_run_going_on_survives() -> None:
    survived, message = judge(_kill([11, 12]), errors=2, requests=900, last_done_s=105.0)
    assert survived, message


def test_terminated_requests_that_were_not_counted_as_errors_fail() -> None:
    survived, message = judge(_kill([11, 12]), errors=0, requests=900, last_done_s=105.0)
    assert not survived and "2 terminated request(s) were not counted as errors" in message
    assert not judge(_kill([11, 12]), errors=1, requests=900, last_done_s=105.0)[0]


def test_more_errors_than_terminated_requests_fail() -> None:
    survived, message = judge(_kill([11]), errors=3, requests=900, last_done_s=105.0)
    assert not survived and "2 request(s) failed that were not terminated" in message


def test_a_run_with_nothing_completed_after_the_kill_fails() -> None:
    survived, message = judge(_kill([11]), errors=1, requests=900, last_done_s=99.0)
    assert not survived and "hung" in message


def test_a_backend_that_did_not_exit_fails() -> None:
    survived, message = judge(_kill([11], waiting=[11, 12]), errors=1, requests=900, last_done_s=105.0)
    assert not survived and "[12] did not exit" in message


def test_the_probe_is_a_valid_read_scenario(tmp_path: Path) -> None:
    folder = write_probe(tmp_path / "probe", 4242)
    probe = next(s for s in load_scenarios([folder]) if s.name == PROBE)
    assert probe.kind == "ward" and "pg_advisory_xact_lock_shared(4242::bigint)" in probe.sql
