"""What one injected fault did, and the `faults` section and gate built from a battery of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from harness.gates import evaluate
from harness.results import Results


@dataclass(frozen=True)
class FaultOutcome:
    """A fault: whether it was really injected, whether everything survived it, and what happened."""

    name: str
    injected: bool
    survived: bool
    message: str
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # the fault's own figures, kept in results.json


def record_faults(results: Results, outcomes: list[FaultOutcome]) -> None:
    """Fill `results.faults` and one gate: every injected fault survived (none injected: not evaluated)."""
    injected = [o for o in outcomes if o.injected]
    survived = [o for o in injected if o.survived]
    results.faults = {"injected": len(injected), "survived": len(survived),
                      "faults": [asdict(o) for o in outcomes]}
    gate = evaluate("faults survived", "faults", float(len(survived)) if injected else None,
                    float(len(injected)), "faults", ">=", why_missing="no fault could be injected")
    gate.reason = "; ".join(f"{o.name}: {o.message}" for o in outcomes if not (o.injected and o.survived))
    results.gates.append(gate)
