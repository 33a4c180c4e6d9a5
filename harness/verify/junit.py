"""`migrate verify --junit`: one test case per revision, plus the chain's structure and the round trip.

A finding about the chain is a <failure>; wardbench failing to check a step is an <error>; a step that could
not run is <skipped>. Accepted findings and warnings go to the passing case's <system-out>. The XML is
written by the one JUnit writer, harness.report.junit.
"""

from __future__ import annotations

from typing import Any

from harness.report.junit import Case, Outcome, render
from harness.results import Results
from harness.verify.accept import PASSING, finding_text

_SKIPPED, _ERROR = "not_run", "error"


def _case(name: str, seconds: float, verdict: str, detail: str, notes: list[str]) -> Case:
    if verdict == _SKIPPED:
        return Case("wardbench.migrations", name, Outcome.SKIPPED, detail or verdict, seconds=seconds)
    if verdict == _ERROR:
        return Case("wardbench.migrations", name, Outcome.ERROR, detail, detail, verdict, seconds)
    if verdict not in (*PASSING, "pass"):
        return Case("wardbench.migrations", name, Outcome.FAILURE, f"{verdict}: {detail}", "\n".join(notes) or detail,
                    verdict, seconds)
    return Case("wardbench.migrations", name, Outcome.PASSED, text="\n".join(notes), seconds=seconds)


def migration_cases(section: dict[str, Any]) -> list[Case]:
    """The chain structure, each step, then head -> base -> head."""
    findings = section.get("structure", {}).get("findings", [])
    cases = [_case("chain structure", 0.0, "structure" if findings else "pass", "; ".join(findings), findings)]
    for step in section.get("steps", []):
        seconds = sum(float(step.get(k) or 0) for k in ("duration_s", "downgrade_s", "reupgrade_s"))
        cases.append(_case(f"{step['from']} -> {step['revision']}: {step.get('name', '')}", seconds,
                           step.get("verdict", _SKIPPED), step.get("detail", ""),
                           [finding_text(f) for f in step.get("findings", [])]))
    trip = section.get("round_trip", {})
    cases.append(_case("head -> base -> head",
                       float(trip.get("downgrade_s") or 0) + float(trip.get("upgrade_s") or 0),
                       trip.get("verdict", _SKIPPED), trip.get("detail", ""), []))
    return cases


def render_migrations_junit(results: Results) -> str:
    """The JUnit XML of a `migrate verify` run."""
    return render(results, migration_cases(results.migrations or {}), "wardbench migrate verify")
