"""Baseline vs current: per scenario, is it slower beyond a threshold, and is that more than noise?

Evidence comes from the raw samples (`samples_ms`, in the order they were taken), because a single mean
or p95 from a shared runner moves 10-50 % by itself. Neighbouring samples are not independent there (a
burst of other work slows a run of consecutive queries), so both tests work on blocks of consecutive
samples rather than on single ones, which would make a transient stall look significant:
- a one-sided Mann-Whitney U test on block medians (is current stochastically slower?);
- a block bootstrap 99 % interval of the p95 ratio and of the median ratio (current / baseline).
A scenario regresses when its p95 ratio exceeds 1 + threshold with the interval wholly above 1, or its
median does so and the rank test agrees. Improvements mirror this; anything else is within noise.

Rehearsal steps (matched by revision and direction) have one wall time each, so no test of noise applies: a
step regresses when it took at least SLOWER_FACTOR x its baseline time (and MIN_EXTRA_S more, as a step of
milliseconds doubles from scheduling alone), or when it newly blocks the live workload: its longest live
wait is over max_blocked_ms now but was not, or its blocked-query gate fails now and passed before.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.report.view import finite, scenarios
from harness.results import Results
from harness.results.rehearsal import LiveRun, Step

ALPHA = 0.01
RESAMPLES = 1000
MAX_SAMPLES = 4000  # bootstrap cost is RESAMPLES x n; a few thousand samples already pin a p95
BLOCKS = 20  # blocks of consecutive samples per run: the units the tests treat as independent
MIN_SAMPLES = 40  # two samples per block at least


@dataclass
class ScenarioComparison:
    """One scenario's verdict and the figures behind it (ratios are current / baseline)."""

    name: str
    verdict: str  # slower | faster | unchanged | not_evaluated
    baseline_p95_ms: float | None
    current_p95_ms: float | None
    p95_ratio: float | None
    p95_ratio_ci: list[float] | None
    median_ratio: float | None
    median_ratio_ci: list[float] | None
    mwu_p_slower: float | None
    mwu_p_faster: float | None
    n_baseline: int
    n_current: int
    reason: str = ""


MAX_REGRESSION_PERCENT = 1000.0  # a slowdown of 10x; beyond that no regression could ever be reported


def parse_threshold(text: str) -> float:
    """A percentage, with or without '%' ('10%' and '10' -> 0.1; '0.99' is 0.99 %, not 99 %) as a fraction.

    One meaning for every number: an earlier reading of values below 1 as fractions made 0.99 mean 99 %
    while 1 meant 1 %.
    """
    raw = text.strip().removesuffix("%").strip()
    try:
        percent = float(raw)
    except ValueError:
        raise UsageError(f"bad --max-regression {text!r}: use a percentage, e.g. 10%") from None
    if not (math.isfinite(percent) and 0 < percent <= MAX_REGRESSION_PERCENT):
        raise UsageError(f"bad --max-regression {text!r}: a percentage above 0 up to {MAX_REGRESSION_PERCENT:g} "
                         "(numbers are percent: 10 and 10% mean 10 %, 0.99 means 0.99 %)")
    return percent / 100


def blocks(samples: np.ndarray) -> np.ndarray:
    """Consecutive samples as a (BLOCKS, length) array; the remainder at the end is dropped."""
    count = min(BLOCKS, samples.size)
    length = samples.size // count
    return samples[: count * length].reshape(count, length)


def _bootstrap_ratio_ci(base: np.ndarray, cur: np.ndarray, q: float, rng: np.random.Generator) -> list[float]:
    """(1 - ALPHA) interval of quantile(cur, q) / quantile(base, q), resampling whole blocks of each run."""
    def resampled(b: np.ndarray) -> np.ndarray:
        picks = b[rng.integers(0, b.shape[0], size=(RESAMPLES, b.shape[0]))]  # (R, blocks, length)
        return np.asarray(np.quantile(picks.reshape(RESAMPLES, -1), q, axis=1))

    ratio = resampled(cur) / np.maximum(resampled(base), 1e-12)
    low, high = np.percentile(ratio, [50 * ALPHA, 100 - 50 * ALPHA])
    return [float(low), float(high)]


def _thin(samples: list[float]) -> np.ndarray:
    """At most MAX_SAMPLES, evenly spaced so the time order (and the blocks) survive."""
    arr = np.asarray(samples, float)
    return arr[np.linspace(0, arr.size - 1, MAX_SAMPLES).astype(int)] if arr.size > MAX_SAMPLES else arr


def compare_samples(name: str, base_samples: list[float], cur_samples: list[float], threshold: float,
                    seed: int = 0) -> ScenarioComparison:
    """Verdict for one scenario from its raw samples (see the module docstring for the rule)."""
    rng = np.random.default_rng(seed)
    base, cur = _thin(base_samples), _thin(cur_samples)
    if base.size < MIN_SAMPLES or cur.size < MIN_SAMPLES:
        return ScenarioComparison(name, "not_evaluated", None, None, None, None, None, None, None, None,
                                  int(base.size), int(cur.size), f"fewer than {MIN_SAMPLES} raw samples on a side")
    base_blocks, cur_blocks = blocks(base), blocks(cur)
    p95_b, p95_c = float(np.quantile(base, 0.95)), float(np.quantile(cur, 0.95))
    med_b, med_c = float(np.median(base)), float(np.median(cur))
    p95_ratio, med_ratio = p95_c / max(p95_b, 1e-12), med_c / max(med_b, 1e-12)
    p95_ci = _bootstrap_ratio_ci(base_blocks, cur_blocks, 0.95, rng)
    med_ci = _bootstrap_ratio_ci(base_blocks, cur_blocks, 0.5, rng)
    base_medians, cur_medians = np.median(base_blocks, axis=1), np.median(cur_blocks, axis=1)
    from scipy import stats  # imported here: scipy.stats costs ~1 s at every CLI start otherwise

    p_slower = float(stats.mannwhitneyu(cur_medians, base_medians, alternative="greater").pvalue)
    p_faster = float(stats.mannwhitneyu(cur_medians, base_medians, alternative="less").pvalue)
    up, down = 1 + threshold, 1 / (1 + threshold)
    slower = (p95_ratio > up and p95_ci[0] > 1) or (med_ratio > up and med_ci[0] > 1 and p_slower < ALPHA)
    faster = (p95_ratio < down and p95_ci[1] < 1) or (med_ratio < down and med_ci[1] < 1 and p_faster < ALPHA)
    verdict = "slower" if slower else "faster" if faster else "unchanged"
    return ScenarioComparison(name, verdict, p95_b, p95_c, p95_ratio, p95_ci, med_ratio, med_ci, p_slower,
                              p_faster, int(base.size), int(cur.size))


SLOWER_FACTOR = 2.0
MIN_EXTRA_S = 0.05
BLOCKED_GATE = "longest live wait on a lock"  # harness.rehearse.stage.step_gates names it so


@dataclass
class StepComparison:
    """One rehearsal step in both runs: wall times, longest live waits, the blocked gate, and why it regressed."""

    name: str  # the step's label, as its gates are named
    revision: str
    direction: str
    verdict: str  # regressed | unchanged | not_evaluated
    baseline_duration_s: float | None
    current_duration_s: float | None
    duration_ratio: float | None
    baseline_wait_ms: float | None
    current_wait_ms: float | None
    max_blocked_ms: float | None
    baseline_blocked_gate: str | None
    current_blocked_gate: str | None
    reasons: list[str]


def _steps(results: Results) -> dict[tuple[str, str], Step]:
    steps = results.rehearsal.steps if results.rehearsal else []
    return {(s.revision, str(s.direction)): s for s in steps}


def _label(step: Step) -> str:
    from harness.rehearse.stage import step_label  # the label the step's gates carry

    return step_label(step)


def _blocked_gate(results: Results, step: Step) -> str | None:
    name = f"{_label(step)} {BLOCKED_GATE}"
    return next((g.verdict for g in results.gates if g.name == name), None)


def _wait_ms(step: Step) -> float | None:
    """The step's longest live wait on a lock (0 when none waited); None when the live workload did not run."""
    if not isinstance(step.live, LiveRun):
        return None
    longest = step.live.longest_wait
    return longest.wait_ms if longest else 0.0


def _max_blocked_ms(results: Results) -> float | None:
    limit = results.rehearsal.options.max_blocked_ms if results.rehearsal else None
    return limit if finite(limit) else None


def compare_step(base: Step, cur: Step, baseline: Results, current: Results) -> StepComparison:
    """Verdict for one rehearsal step (see the module docstring for the rule)."""
    reasons, unknown = [], []
    b_s, c_s = base.duration_s, cur.duration_s
    ratio = None
    if not (finite(b_s) and finite(c_s) and b_s > 0):
        unknown.append("no wall time on a side")
    elif (ratio := c_s / b_s) >= SLOWER_FACTOR and c_s - b_s >= MIN_EXTRA_S:
        reasons.append(f"{ratio:.1f}x slower in wall time ({b_s:g} s -> {c_s:g} s)")
    limit = _max_blocked_ms(current)
    b_wait, c_wait = _wait_ms(base), _wait_ms(cur)
    if limit is None or b_wait is None or c_wait is None:
        unknown.append("no live workload on a side" if limit is not None else "no max_blocked_ms in the current run")
    elif c_wait > limit >= b_wait:
        reasons.append(f"newly blocks: a live request waited {c_wait:g} ms (limit {limit:g} ms, "
                       f"baseline {b_wait:g} ms)")
    b_gate, c_gate = _blocked_gate(baseline, base), _blocked_gate(current, cur)
    if c_gate == "fail" and b_gate == "pass" and not any(r.startswith("newly blocks") for r in reasons):
        reasons.append("newly blocks: its blocked-query gate fails now and passed in the baseline")
    verdict = "regressed" if reasons else "not_evaluated" if unknown else "unchanged"
    return StepComparison(_label(cur), cur.revision, str(cur.direction), verdict,
                          b_s, c_s, round(ratio, 3) if ratio is not None else None, b_wait, c_wait, limit, b_gate,
                          c_gate, reasons or unknown)


def compare_rehearsals(baseline: Results, current: Results) -> dict[str, Any]:
    """Rehearsal steps in both runs compared, and the labels of steps on one side only."""
    base, cur = _steps(baseline), _steps(current)
    rows = [compare_step(base[k], cur[k], baseline, current) for k in cur if k in base]
    return {"steps": [asdict(r) for r in rows],
            "only_in_baseline": [_label(base[k]) for k in base if k not in cur],
            "only_in_current": [_label(cur[k]) for k in cur if k not in base]}


ENV_KEYS = ("postgres_version", "pgvector_version", "cpu_model", "cpu_count", "memory_bytes", "server_settings")


def compare_results(baseline: Results, current: Results, threshold: float) -> dict[str, Any]:
    """Per-scenario comparisons, scenarios on one side only, and environment differences."""
    base = {s.name: s for s in scenarios(baseline)}
    cur = {s.name: s for s in scenarios(current)}
    common = [n for n in cur if n in base]
    rehearsal = compare_rehearsals(baseline, current)
    if not common and not rehearsal["steps"]:
        raise UsageError("the two results files share no scenario and no rehearsal step: nothing to compare")
    rows = []
    for i, name in enumerate(common):
        b, c = base[name], cur[name]
        if not b.samples_ms or not c.samples_ms:
            side = "baseline" if not b.samples_ms else "current"
            rows.append(ScenarioComparison(name, "not_evaluated", b.p95_ms, c.p95_ms, None, None, None,
                                           None, None, None, len(b.samples_ms), len(c.samples_ms),
                                           f"no raw samples (samples_ms) in the {side} results"))
        else:
            rows.append(compare_samples(name, list(b.samples_ms), list(c.samples_ms), threshold, seed=i))
    env_b, env_c = baseline.environment or {}, current.environment or {}
    env_diff = {k: [env_b.get(k), env_c.get(k)] for k in ENV_KEYS if env_b.get(k) != env_c.get(k)}
    busy = [f"{side} started on a busy machine (load average {env.get('load_average_1m')} on "
            f"{env.get('cpu_count')} CPUs): its timings carry other work's noise"
            for side, env in (("baseline", env_b), ("current", env_c))
            if isinstance(env.get("load_average_1m"), int | float) and isinstance(env.get("cpu_count"), int)
            and env["load_average_1m"] > env["cpu_count"]]
    return {"threshold": threshold, "alpha": ALPHA, "baseline": baseline.run_id, "current": current.run_id,
            "scenarios": [asdict(r) for r in rows], "rehearsal_steps": rehearsal["steps"],
            "only_in_baseline": [n for n in base if n not in cur] + rehearsal["only_in_baseline"],
            "only_in_current": [n for n in cur if n not in base] + rehearsal["only_in_current"],
            "environment_differences": env_diff, "warnings": busy,
            "regressions": [r.name for r in rows if r.verdict == "slower"]
            + [s["name"] for s in rehearsal["steps"] if s["verdict"] == "regressed"]}
