"""Targets to verdicts. Gates only read observed values; a missing value is 'not evaluated', never a pass."""

from __future__ import annotations

import operator
from typing import Literal

from harness.results import Gate, Verdict

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
Comparator = Literal["<", "<=", ">", ">=", "=="]


def evaluate(name: str, stage: str, observed: float | None, target: float, unit: str,
             comparator: Comparator, why_missing: str = "no measurement") -> Gate:
    """A gate whose verdict is observed `comparator` target; observed None gives not_evaluated."""
    if observed is None:
        return Gate(name, stage, target, None, unit, comparator, Verdict.NOT_EVALUATED, why_missing)
    ok = _OPS[comparator](observed, target)
    return Gate(name, stage, target, float(observed), unit, comparator, Verdict.PASS if ok else Verdict.FAIL)


def not_evaluated(name: str, stage: str, reason: str, target: float | None = None, unit: str = "",
                  comparator: Comparator = "==") -> Gate:
    """A gate that could not be evaluated, with the reason shown wherever it is rendered.

    `comparator` is the one the gate would have been judged by (recall is `>=` its target): a report must not
    show a minimum as a maximum because the measurement was missing.
    """
    return Gate(name, stage, target, None, unit, comparator, Verdict.NOT_EVALUATED, reason)
