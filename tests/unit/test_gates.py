"""harness.gates: each comparator at and around its target, a missing value, and the sign of the margin."""

from __future__ import annotations

import pytest

from harness.gates import Comparator, evaluate, not_evaluated
from harness.results import Verdict


@pytest.mark.parametrize(("comparator", "below", "at", "above"), [
    ("<", Verdict.PASS, Verdict.FAIL, Verdict.FAIL),
    ("<=", Verdict.PASS, Verdict.PASS, Verdict.FAIL),
    (">", Verdict.FAIL, Verdict.FAIL, Verdict.PASS),
    (">=", Verdict.FAIL, Verdict.PASS, Verdict.PASS),
    ("==", Verdict.FAIL, Verdict.PASS, Verdict.FAIL),
])
def test_each_comparator_judges_observed_against_the_target(comparator: Comparator, below: Verdict, at: Verdict,
                                                            above: Verdict) -> None:
    verdicts = [evaluate("g", "s", observed, 10.0, "ms", comparator).verdict for observed in (9.5, 10.0, 10.5)]
    assert verdicts == [below, at, above]


def test_a_gate_records_what_it_was_judged_by() -> None:
    gate = evaluate("ward p95", "bench", 7, 10.0, "ms", "<=")
    assert (gate.name, gate.stage, gate.target, gate.observed, gate.unit, gate.comparator, gate.reason) == (
        "ward p95", "bench", 10.0, 7.0, "ms", "<=", "")
    assert isinstance(gate.observed, float)


def test_nothing_observed_is_not_evaluated_with_the_reason_never_a_pass() -> None:
    gate = evaluate("recall", "bench", None, 0.9, "", ">=", "no exact baseline")
    assert (gate.verdict, gate.reason, gate.observed, gate.margin) == (Verdict.NOT_EVALUATED, "no exact baseline",
                                                                        None, None)
    assert evaluate("p95", "load", None, 5.0, "ms", "<").reason == "no measurement"


def test_not_evaluated_keeps_the_comparator_it_would_have_been_judged_by() -> None:
    gate = not_evaluated("recall", "bench", "stage did not run", 0.9, "", ">=")
    assert (gate.verdict, gate.comparator, gate.target, gate.reason) == (Verdict.NOT_EVALUATED, ">=", 0.9,
                                                                         "stage did not run")


@pytest.mark.parametrize(("comparator", "observed", "margin"), [
    ("<=", 8.0, 0.2), ("<=", 12.0, -0.2), ("<", 5.0, 0.5),  # a maximum: headroom below it is positive
    (">=", 12.0, 0.2), (">=", 8.0, -0.2), (">", 15.0, 0.5),  # a minimum: headroom above it is positive
    ("==", 10.0, 0.0), ("==", 11.0, -1.0),
])
def test_margin_is_positive_when_passing_and_negative_when_failing(comparator: Comparator, observed: float,
                                                                   margin: float) -> None:
    gate = evaluate("g", "s", observed, 10.0, "", comparator)
    assert gate.margin == pytest.approx(margin)
    assert (gate.margin >= 0) == (gate.verdict == Verdict.PASS)  # type: ignore[operator]


def test_no_margin_without_a_target_to_measure_it_against() -> None:
    assert evaluate("g", "s", 3.0, 0.0, "", "<=").margin is None
    assert not_evaluated("g", "s", "why").margin is None
