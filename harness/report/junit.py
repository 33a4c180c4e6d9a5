"""The one JUnit XML writer: junit.xml of every run, and `migrate verify --junit`.

A gate that failed is a <failure>; a stage where the harness or the environment broke is an <error> (its
"completed" gate, typed by the error family), so a crash never reads as a missed target; a gate that could
not be evaluated, or a stage not run, is <skipped> with the reason. Callers build `Case`s; `render` counts.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import StrEnum

from harness.report import view
from harness.results import Gate, Results, Verdict, completion_gate_name


class Outcome(StrEnum):
    """A test case's JUnit outcome; the element names of all but PASSED."""

    PASSED = "passed"
    FAILURE = "failure"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Case:
    """One <testcase>: `message` is the one-line reason, `text` the body (system-out when it passed)."""

    classname: str
    name: str
    outcome: Outcome
    message: str = ""
    text: str = ""
    kind: str = ""  # the failure's or error's type attribute
    seconds: float = 0.0


def _message(g: Gate) -> str:
    observed = "nothing observed" if g.observed is None else f"observed {g.observed:g} {g.unit}".strip()
    target = "" if g.target is None else f", target {g.comparator} {g.target:g} {g.unit}".rstrip()
    return f"{observed}{target}" + (f": {g.reason}" if g.reason else "")


def gate_cases(results: Results) -> list[Case]:
    """One case per gate, one per errored stage's gate as an error, one skipped case per stage not run."""
    broke = {s.name: s for s in results.stages if s.status == "error"}
    cases = []
    for g in results.gates:
        stage = broke.get(g.stage)
        if stage is not None and g.name == completion_gate_name(g.stage):
            outcome, kind = Outcome.ERROR, f"{stage.family or 'harness'}_error"
        elif g.verdict == Verdict.FAIL:
            outcome, kind = Outcome.FAILURE, "GateFailed"
        elif g.verdict == Verdict.NOT_EVALUATED:
            outcome, kind = Outcome.SKIPPED, ""
        else:
            outcome, kind = Outcome.PASSED, ""
        text = _message(g)
        message = f"not evaluated: {text}" if outcome is Outcome.SKIPPED else text
        cases.append(Case(f"wardbench.{g.stage}", g.name, outcome, message, text, kind))
    cases += [Case(f"wardbench.{stage}", f"stage {stage}", Outcome.SKIPPED,
                   "stage not run in this selection (--skip/--only)") for stage in view.skipped_stages(results)]
    return cases


def render(results: Results, cases: list[Case], suite_name: str | None = None) -> str:
    """A JUnit XML document of `cases`: <testsuites> with one <testsuite>, counts on both."""
    counts = {str(o): sum(c.outcome is o for c in cases) for o in (Outcome.FAILURE, Outcome.ERROR, Outcome.SKIPPED)}
    totals = {"tests": str(len(cases)), "failures": str(counts["failure"]), "errors": str(counts["error"]),
              "skipped": str(counts["skipped"])}
    duration = f"{sum(s.duration_s for s in results.stages) or sum(c.seconds for c in cases):.3f}"
    suites = ET.Element("testsuites", {"name": "wardbench", **totals, "time": duration})
    suite = ET.SubElement(suites, "testsuite", {"name": suite_name or f"wardbench.{results.command}", **totals,
                                                "time": duration, "timestamp": results.created_at,
                                                "hostname": "wardbench"})
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "command", "verdict"):
        ET.SubElement(props, "property", name=key, value=str(getattr(results, key)))
    for c in cases:
        case = ET.SubElement(suite, "testcase", classname=c.classname, name=c.name, time=f"{c.seconds:.3f}")
        if c.outcome is Outcome.PASSED:
            if c.text:
                ET.SubElement(case, "system-out").text = c.text
        elif c.outcome is Outcome.SKIPPED:
            ET.SubElement(case, "skipped", message=c.message[:1000])
        else:
            ET.SubElement(case, str(c.outcome), message=c.message[:1000], type=c.kind).text = c.text or c.message
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def render_junit(results: Results) -> str:
    """junit.xml of a run: one case per gate (see the module docstring)."""
    return render(results, gate_cases(results))
