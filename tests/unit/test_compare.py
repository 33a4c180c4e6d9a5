"""`wardbench compare`: a doubled p95 is flagged, two runs of one build stay quiet, bad input exits 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from results_fixture import rehearsal_section, rehearsal_step

from harness.cli import main
from harness.errors import UsageError
from harness.report.compare import compare_results, compare_samples, parse_threshold
from harness.results import Results
from harness.results.bench import ScenarioResult
from harness.results.rehearsal import LiveRun, Step


def _results(tmp_path: Path, name: str, samples: dict[str, np.ndarray]) -> Path:
    scenarios = [ScenarioResult(name=n, kind="ward", target_ms=100.0, p95_ms=float(np.quantile(s, 0.95)),
                                samples_ms=tuple(float(v) for v in s)) for n, s in samples.items()]
    path = tmp_path / f"{name}.json"
    Results(run_id=name, command="bench", scenarios=scenarios).write(path)
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`wardbench compare ARGS` in this process (the CLI's own main, so exit codes and stderr are real)."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["wardbench", "compare", *map(str, args)]
    code = 0
    with mock.patch.object(sys, "argv", argv), redirect_stdout(out), redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def _same_build(seed: int, n: int = 1500) -> dict[str, np.ndarray]:
    """Two scenarios as one build would give them on one runner: lognormal body, seeded draw."""
    rng = np.random.default_rng(seed)
    return {"ward_dashboard": rng.lognormal(np.log(1.2), 0.35, n), "semantic_search": rng.lognormal(np.log(4), 0.5, n)}


def test_doubled_p95_is_flagged_and_exits_1(tmp_path: Path) -> None:
    base = _same_build(1)
    cur = _same_build(2)
    tail = cur["ward_dashboard"] > np.quantile(cur["ward_dashboard"], 0.9)
    cur["ward_dashboard"] = np.where(tail, cur["ward_dashboard"] * 2.2, cur["ward_dashboard"])  # p95 about 2x
    proc = _run(_results(tmp_path, "base", base), _results(tmp_path, "cur", cur), "--json", tmp_path / "c.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "c.json").read_text())
    verdicts = {r["name"]: r for r in report["scenarios"]}
    assert verdicts["ward_dashboard"]["verdict"] == "slower"
    assert verdicts["ward_dashboard"]["p95_ratio_ci"][0] > 1.5
    assert verdicts["semantic_search"]["verdict"] == "unchanged"
    assert "regression" in proc.stdout and "ward_dashboard" in proc.stdout


def test_same_build_stays_quiet(tmp_path: Path) -> None:
    proc = _run(_results(tmp_path, "a", _same_build(11)), _results(tmp_path, "b", _same_build(12)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no significant regression" in proc.stdout


@pytest.mark.parametrize("seed", range(5))
def test_same_distribution_no_false_alarm(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    a, b = rng.lognormal(0, 0.5, 400), rng.lognormal(0, 0.5, 400)
    assert compare_samples("x", a.tolist(), b.tolist(), 0.10, seed=seed).verdict == "unchanged"


def test_uniform_slowdown_and_speedup() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.lognormal(0, 0.3, 800), rng.lognormal(0, 0.3, 800)
    slow = compare_samples("x", a.tolist(), (b * 1.5).tolist(), 0.10)
    assert slow.verdict == "slower" and slow.mwu_p_slower is not None and slow.mwu_p_slower < 0.01
    assert compare_samples("x", a.tolist(), (b / 1.5).tolist(), 0.10).verdict == "faster"
    # Slower, but within the threshold: not a regression.
    assert compare_samples("x", a.tolist(), (b * 1.03).tolist(), 0.10).verdict == "unchanged"


def test_missing_samples_is_not_evaluated_not_a_pass(tmp_path: Path) -> None:
    base = Results(run_id="a", command="bench", scenarios=[ScenarioResult("s", "ward", 100.0, p95_ms=1.0)])
    cur = Results(run_id="b", command="bench", scenarios=[ScenarioResult("s", "ward", 100.0, p95_ms=9.0)])
    row = compare_results(base, cur, 0.1)["scenarios"][0]
    assert row["verdict"] == "not_evaluated" and "samples_ms" in row["reason"]


@pytest.mark.parametrize("text", ["ten", "-5%", "0"])
def test_bad_threshold(text: str) -> None:
    with pytest.raises(UsageError):
        parse_threshold(text)


def test_threshold_forms() -> None:
    """Every number is a percentage, '%' or not: 0.99 is 0.99 %, 1 is 1 % (no fraction reading below 1)."""
    assert parse_threshold("10%") == pytest.approx(0.1) == parse_threshold("10")
    assert parse_threshold("0.99") == pytest.approx(0.0099) and parse_threshold("1") == pytest.approx(0.01)
    assert parse_threshold("1000%") == pytest.approx(10.0)


@pytest.mark.parametrize("text", ["1e9%", "inf", "nan", "1000.5"])
def test_threshold_out_of_range_says_what_numbers_mean(text: str) -> None:
    with pytest.raises(UsageError, match=r"above 0 up to 1000 .*0\.99 means 0\.99 %"):
        parse_threshold(text)


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    good = _results(tmp_path, "good", _same_build(1, 100))
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    other = tmp_path / "other.json"
    Results(run_id="o", command="bench",
            scenarios=[ScenarioResult("elsewhere", "ward", 100.0, samples_ms=(1.0,) * 30)]).write(other)
    for args in ([good, tmp_path / "missing.json"], [good, tmp_path / "junk.json"], [good, tmp_path / "list.json"],
                 [good, other], [good, good, "--max-regression", "lots"]):
        proc = _run(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("wardbench: error:"), proc.stderr


# Rehearsal steps, as harness.rehearse.step and stage write them (results.rehearsal, one gate per step).

def _step(revision: str, direction: str, duration_s: float, wait_ms: float | None, ran: bool = True) -> Step:
    return rehearsal_step(revision, direction, duration_s, wait_ms, ran)


def _rehearsal(name: str, steps: list[Step], max_blocked_ms: float = 1000.0) -> Results:
    from harness.gates import evaluate
    from harness.rehearse.stage import step_label

    gates = [evaluate(f"{step_label(s)} longest live wait on a lock", "rehearse",
                      s.live.longest_wait.wait_ms if s.live.longest_wait else 0.0, max_blocked_ms, "ms", "<=")
             for s in steps if isinstance(s.live, LiveRun)]
    return Results(run_id=name, command="migrate rehearse", rehearsal=rehearsal_section(steps, max_blocked_ms),
                   gates=gates)


def _verdicts(report: dict) -> dict[tuple[str, str], dict]:
    return {(r["revision"], r["direction"]): r for r in report["rehearsal_steps"]}


def test_rehearsal_step_twice_as_slow_is_flagged_and_exits_1(tmp_path: Path) -> None:
    base = _rehearsal("base", [_step("002", "upgrade", 0.40, None), _step("002", "downgrade", 0.30, 12.0)])
    cur = _rehearsal("cur", [_step("002", "upgrade", 0.85, None), _step("002", "downgrade", 0.45, 15.0)])
    base.write(tmp_path / "base.json")
    cur.write(tmp_path / "cur.json")
    proc = _run(tmp_path / "base.json", tmp_path / "cur.json", "--json", tmp_path / "c.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "c.json").read_text())
    rows = _verdicts(report)
    assert rows[("002", "upgrade")]["verdict"] == "regressed"
    assert rows[("002", "upgrade")]["duration_ratio"] == pytest.approx(0.85 / 0.40, rel=1e-3)
    assert "slower in wall time" in rows[("002", "upgrade")]["reasons"][0]
    assert rows[("002", "downgrade")]["verdict"] == "unchanged"  # 1.5x: below the factor
    assert report["regressions"] == ["rehearsal upgrade 001 -> 002"]
    assert "rehearsal upgrade 001 -> 002" in proc.stdout and "regression" in proc.stdout


def test_rehearsal_step_that_newly_blocks_is_flagged() -> None:
    base = _rehearsal("base", [_step("002", "upgrade", 0.4, 30.0), _step("003", "upgrade", 0.4, 1800.0)])
    cur = _rehearsal("cur", [_step("002", "upgrade", 0.4, 1500.0), _step("003", "upgrade", 0.4, 1900.0)])
    report = compare_results(base, cur, 0.1)
    rows = _verdicts(report)
    newly = rows[("002", "upgrade")]
    assert newly["verdict"] == "regressed" and newly["reasons"][0].startswith("newly blocks")
    assert (newly["baseline_wait_ms"], newly["current_wait_ms"], newly["current_blocked_gate"]) == (30.0, 1500.0,
                                                                                                     "fail")
    # Blocked in both runs: the gate fails in each, but nothing newly blocks.
    assert rows[("003", "upgrade")]["verdict"] == "unchanged"
    assert report["regressions"] == ["rehearsal upgrade 001 -> 002"]


def test_blocked_gate_failing_now_and_passing_before_is_flagged() -> None:
    """The baseline ran with a looser max_blocked_ms: the same wait passed its gate there and fails it now."""
    base = _rehearsal("base", [_step("002", "upgrade", 0.4, 1500.0)], max_blocked_ms=2000.0)
    cur = _rehearsal("cur", [_step("002", "upgrade", 0.4, 1500.0)], max_blocked_ms=1000.0)
    row = compare_results(base, cur, 0.1)["rehearsal_steps"][0]
    assert (row["baseline_blocked_gate"], row["current_blocked_gate"]) == ("pass", "fail")
    assert row["verdict"] == "regressed" and "gate fails now and passed" in row["reasons"][0]


def test_rehearsal_noise_and_missing_live_are_not_regressions() -> None:
    base = _rehearsal("base", [_step("002", "upgrade", 0.010, None), _step("002", "downgrade", 0.5, None, ran=False),
                               _step("004", "upgrade", 0.5, None)])
    cur = _rehearsal("cur", [_step("002", "upgrade", 0.030, None), _step("002", "downgrade", 0.5, None, ran=False),
                             _step("005", "upgrade", 0.5, None)])
    report = compare_results(base, cur, 0.1)
    rows = _verdicts(report)
    assert rows[("002", "upgrade")]["verdict"] == "unchanged"  # 3x, but 20 ms: scheduling noise on a tiny step
    assert rows[("002", "downgrade")]["verdict"] == "not_evaluated"
    assert "no live workload" in rows[("002", "downgrade")]["reasons"][0]
    assert report["regressions"] == []
    assert report["only_in_baseline"] == ["rehearsal upgrade 001 -> 004"]
    assert report["only_in_current"] == ["rehearsal upgrade 001 -> 005"]


def test_rehearsals_with_no_common_step_exit_2(tmp_path: Path) -> None:
    _rehearsal("a", [_step("002", "upgrade", 0.4, None)]).write(tmp_path / "a.json")
    _rehearsal("b", [_step("003", "upgrade", 0.4, None)]).write(tmp_path / "b.json")
    proc = _run(tmp_path / "a.json", tmp_path / "b.json")
    assert proc.returncode == 2 and "no rehearsal step" in proc.stderr, proc.stdout + proc.stderr
