"""The target registry: one declaration per target, reached by key from profiles and --target in every
command that gates, recorded on each gate it judges."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from results_fixture import rehearsal_step

from harness.bench.handoff import Observation
from harness.bench.runner import Fidelity, Measured, judge
from harness.bench.scenarios import Scenario, load_scenarios
from harness.capacity.sweep import _gates as capacity_gates
from harness.config import build_config
from harness.errors import UsageError
from harness.load.histograms import LatencyRecorder
from harness.load.runner import LocustOutcome, LocustRun
from harness.load.stage import load_gates
from harness.load.summary import merge_payloads
from harness.rehearse.reference import options_for
from harness.rehearse.stage import step_gates
from harness.results.bench import BenchOptions
from harness.results.capacity import CapacityPoint
from harness.results.rehearsal import LiveSkipped
from harness.targets import REGISTRY, TARGETS, defaults, parse_items

NOWHERE = "postgresql://nobody@127.0.0.1:1/none"  # never reached: every case here fails before connecting
# Every command that judges gates against registry targets, with the arguments it needs to get that far.
GATING = {
    "gate": ["gate"],
    "bench": ["bench"],
    "load": ["load"],
    "capacity": ["capacity"],
    "generate": ["generate", "--benchmark"],
    "migrate rehearse": ["migrate", "rehearse"],
}


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command run in `cwd`, where its reports would go (not every command takes --reports-dir)."""
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_every_target_is_declared_once_with_a_default_in_its_own_range() -> None:
    assert len(REGISTRY) == len(TARGETS)
    for t in TARGETS:
        assert t.check(t.default, "default") == t.default, t.key
        assert t.unit and t.description and t.comparator in ("<", "<=", ">", ">=")


def test_items_are_parsed_and_checked_by_key() -> None:
    assert parse_items(["vector_p95_ms=150", " recall_at_10 = 0.9"]) == {"vector_p95_ms": 150.0,
                                                                         "recall_at_10": 0.9}
    with pytest.raises(UsageError, match="unknown target 'nope' \\(--target\\): valid keys are ") as info:
        parse_items(["nope=1"])
    assert all(key in info.value.message for key in REGISTRY)
    with pytest.raises(UsageError, match="bad target recall_at_10=1.5 \\(--target\\): .*above 0 up to 1"):
        parse_items(["recall_at_10=1.5"])
    with pytest.raises(UsageError, match="bad --target 'ward_p95_ms': use KEY=NUMBER"):
        parse_items(["ward_p95_ms"])


def test_a_pyproject_target_is_checked_like_any_other(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.wardbench.targets]\nmax_blocked_ms = 0\n")
    with pytest.raises(UsageError, match=r"bad target max_blocked_ms=0.0 \(\[tool.wardbench\] in .*\): "
                                         "must be a finite number above 0"):
        build_config(cwd=tmp_path)
    cfg = build_config(cwd=tmp_path, targets=["max_blocked_ms=250"])  # the command line wins
    assert cfg.targets == {**defaults(), "max_blocked_ms": 250.0}


@pytest.mark.parametrize("command", GATING)
def test_an_unknown_target_exits_2_listing_the_valid_keys(command: str, tmp_path: Path) -> None:
    proc = _cli(tmp_path, *GATING[command], "--target", "nope=1", "--dsn", NOWHERE)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and line.startswith("wardbench: error: unknown target 'nope'"), line
    assert all(key in line for key in REGISTRY), line
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", GATING)
def test_a_target_out_of_range_exits_2_naming_the_range(command: str, tmp_path: Path) -> None:
    proc = _cli(tmp_path, *GATING[command], "--target", "vector_p95_ms=0", "--dsn", NOWHERE)
    assert proc.returncode == 2, proc.stderr
    assert "bad target vector_p95_ms=0.0 (--target): must be a finite number above 0" in proc.stderr


class _Reached(Exception):
    """Raised where the command would open its database: the configuration it built is complete."""


@pytest.mark.parametrize("command", GATING)
def test_a_target_reaches_the_run_configuration_of_every_gating_command(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--target vector_p95_ms=150` is in force in the RunConfig the command hands to its stages."""
    from harness.cli import main

    seen: list[Any] = []

    def reached(cfg: Any, *args: Any, **kwargs: Any) -> None:
        seen.append(cfg)
        raise _Reached

    for name, module in list(sys.modules.items()):
        if name.startswith("harness.cli") and hasattr(module, "open_database"):
            monkeypatch.setattr(module, "open_database", reached)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["wardbench", *GATING[command], "--target", "vector_p95_ms=150", "--dsn", NOWHERE])
    with pytest.raises(_Reached):
        main()
    assert seen[0].targets == {**defaults(), "vector_p95_ms": 150.0}


TARGETED = {**defaults(), "vector_p95_ms": 150.0}


def test_bench_p95_gate_is_judged_by_the_run_s_target_and_records_its_key() -> None:
    cfg = build_config(targets=["vector_p95_ms=150"])
    scenario = next(s for s in load_scenarios(kinds=("vector",)) if s.target_p95_ms is None)
    _, gates = judge(cfg, None, Measured(scenario, [0.001] * 20, Observation(scenario.name)), [],  # type: ignore[arg-type]
                     BenchOptions(), Fidelity())
    p95 = next(g for g in gates if g.name == f"{scenario.name} p95")
    assert (p95.key, p95.target, p95.comparator, p95.verdict) == ("vector_p95_ms", 150.0, "<", "pass")
    recall = next(g for g in gates if "recall" in g.name)
    assert (recall.key, recall.target) == ("recall_at_10", 0.95)


def test_a_scenario_s_own_target_replaces_the_run_s_and_records_no_key() -> None:
    from dataclasses import replace

    scenario = replace(next(iter(load_scenarios(kinds=("vector",)))), target_p95_ms=70.0)
    (gate,) = capacity_gates([_point(scenario, 80.0)], [scenario], TARGETED)
    assert (gate.key, gate.target, gate.verdict) == ("", 70.0, "fail")


def _point(scenario: Scenario, p95_ms: float) -> CapacityPoint:
    return CapacityPoint(scenario=scenario.name, kind=scenario.kind, posts=1000, users=1, p95_ms=p95_ms)


def test_capacity_gate_records_the_key() -> None:
    scenario = next(s for s in load_scenarios(kinds=("vector",)) if s.target_p95_ms is None)
    (gate,) = capacity_gates([_point(scenario, 160.0)], [scenario], TARGETED)
    assert (gate.key, gate.target, gate.verdict) == ("vector_p95_ms", 150.0, "fail")
    (missing,) = capacity_gates([], [scenario], TARGETED)
    assert (missing.key, missing.target, missing.verdict) == ("vector_p95_ms", 150.0, "not_evaluated")


def test_load_gates_record_their_keys() -> None:
    recorder = LatencyRecorder()
    for i in range(100):
        recorder.record("v", "vector", i * 0.01, i * 0.01, i * 0.01 + 0.002)
    payload = {"pid": 1, "wait_function": "wait_poll", "started_s": 0.0, "stopped_s": 1.0, "users": 2,
               "rate_per_s": 0.0, "due": 0, "sent_in_time": 0, "warmup_requests": 0, "warmup_errors": 0,
               **recorder.to_dict()}
    import json

    merged = merge_payloads([json.loads(json.dumps(payload))])
    outcome = LocustOutcome(LocustRun("mixed", 2, 1.0), merged, {}, Path("locust.log"))
    gates = {g.key: g for g in load_gates(build_config(targets=["vector_p95_ms=150"]), outcome)}
    assert (gates["vector_p95_ms"].target, gates["vector_p95_ms"].verdict) == (150.0, "pass")
    assert gates["load_error_rate"].target == REGISTRY["load_error_rate"].default


def test_rehearse_gates_record_their_keys_even_when_not_evaluated() -> None:
    options = options_for(build_config(targets=["vector_p95_ms=150", "max_blocked_ms=250"]))
    step = replace(rehearsal_step(ran=False), live=LiveSkipped("no live workload"))
    gates = {g.key: g for g in step_gates([step], options) if g.key}
    assert set(gates) == {"max_blocked_ms", "rehearse_error_rate", "ward_p95_ms", "vector_p95_ms"}
    assert gates["vector_p95_ms"].target == 150.0 and gates["max_blocked_ms"].target == 250.0
    assert all(g.verdict == "not_evaluated" and g.reason == "no live workload" for g in gates.values())
