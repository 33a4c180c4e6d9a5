"""`migrate verify --junit`: one test case per revision, plus the chain's structure and the round trip.

A finding about the chain is a <failure>; wardbench failing to check a step is an <error>; a step that could
not run is <skipped>. Accepted findings and warnings go to the passing case's <system-out>. The XML is
written by the one JUnit writer, harness.report.junit.
"""

from __future__ import annotations

from harness.report.junit import Case, Outcome, render
from harness.results import Results
from harness.results.migrations import MigrationsSection, RoundTripVerdict, StepVerdict
from harness.verify.accept import finding_text

SUITE = "wardbench.migrations"


def _case(name: str, seconds: float, verdict: StepVerdict | RoundTripVerdict | None, detail: str,
          notes: list[str]) -> Case:
    """verdict None: the chain's structure, which failed when it has findings (`notes`)."""
    if verdict in (StepVerdict.NOT_RUN, RoundTripVerdict.NOT_RUN):
        return Case(SUITE, name, Outcome.SKIPPED, detail or str(verdict), seconds=seconds)
    if verdict == StepVerdict.ERROR:
        return Case(SUITE, name, Outcome.ERROR, detail, detail, str(verdict), seconds)
    failed = bool(notes) if verdict is None else not (
        verdict == RoundTripVerdict.PASS or (isinstance(verdict, StepVerdict) and verdict.passes))
    if failed:
        kind = "structure" if verdict is None else str(verdict)
        return Case(SUITE, name, Outcome.FAILURE, f"{kind}: {detail}", "\n".join(notes) or detail, kind, seconds)
    return Case(SUITE, name, Outcome.PASSED, text="\n".join(notes), seconds=seconds)


def migration_cases(section: MigrationsSection) -> list[Case]:
    """The chain structure, each step, then head -> base -> head."""
    findings = list(section.structure.findings)
    cases = [_case("chain structure", 0.0, None, "; ".join(findings), findings)]
    for step in section.steps:
        seconds = sum(s or 0.0 for s in (step.duration_s, step.downgrade_s, step.reupgrade_s))
        cases.append(_case(f"{step.from_} -> {step.revision}: {step.name}", seconds, step.verdict, step.detail,
                           [finding_text(f) for f in step.findings]))
    trip = section.round_trip
    cases.append(_case("head -> base -> head", (trip.downgrade_s or 0.0) + (trip.upgrade_s or 0.0), trip.verdict,
                       trip.detail, []))
    return cases


def render_migrations_junit(results: Results) -> str:
    """The JUnit XML of a `migrate verify` run (no migrations section: only the run's own stage cases)."""
    return render(results, migration_cases(results.migrations) if results.migrations else [],
                  "wardbench migrate verify")
