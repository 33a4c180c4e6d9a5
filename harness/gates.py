"""Targets to verdicts. Gates only read observed values; a missing value is 'not evaluated', never a pass."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Literal

from harness import targets as registry
from harness.results import Gate, Verdict

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
Comparator = Literal["<", "<=", ">", ">=", "=="]


def evaluate(name: str, stage: str, observed: float | None, target: float, unit: str,
             comparator: Comparator, why_missing: str = "no measurement", key: str = "") -> Gate:
    """A gate whose verdict is observed `comparator` target; observed None gives not_evaluated."""
    if observed is None:
        return Gate(name, stage, target, None, unit, comparator, Verdict.NOT_EVALUATED, why_missing, key)
    ok = _OPS[comparator](observed, target)
    return Gate(name, stage, target, float(observed), unit, comparator, Verdict.PASS if ok else Verdict.FAIL,
                key=key)


def gate_for(key: str, name: str, stage: str, observed: float | None, targets: Mapping[str, float],
             why_missing: str = "no measurement", own: float | None = None) -> Gate:
    """A gate judged by registry target `key` at its value in `targets` (the run's), with the registry's
    unit and comparator. `own`: a target a scenario sets for itself, which replaces the run's; the gate
    then records no key, since no --target reaches it."""
    spec = registry.spec(key)
    target = targets[key] if own is None else own
    return evaluate(name, stage, observed, target, spec.unit, spec.comparator, why_missing,
                    key if own is None else "")


def not_evaluated(name: str, stage: str, reason: str, target: float | None = None, unit: str = "",
                  comparator: Comparator = "==") -> Gate:
    """A gate that could not be evaluated, with the reason shown wherever it is rendered.

    `comparator` is the one the gate would have been judged by (recall is `>=` its target): a report must not
    show a minimum as a maximum because the measurement was missing.
    """
    return Gate(name, stage, target, None, unit, comparator, Verdict.NOT_EVALUATED, reason)
