"""What one injected fault did, and the `faults` section and gate built from a battery of them."""

from __future__ import annotations

from harness.gates import evaluate
from harness.results import Results
from harness.results.faults import FaultOutcome, FaultsSection

__all__ = ["FaultOutcome", "record_faults"]


def record_faults(results: Results, outcomes: list[FaultOutcome]) -> None:
    """Fill `results.faults` and one gate: every injected fault survived (none injected: not evaluated)."""
    injected = [o for o in outcomes if o.injected]
    survived = [o for o in injected if o.survived]
    results.faults = FaultsSection(injected=len(injected), survived=len(survived), faults=list(outcomes))
    gate = evaluate("faults survived", "faults", float(len(survived)) if injected else None,
                    float(len(injected)), "faults", ">=", why_missing="no fault could be injected")
    gate.reason = "; ".join(f"{o.name}: {o.message}" for o in outcomes if not (o.injected and o.survived))
    results.gates.append(gate)
