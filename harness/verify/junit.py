"""JUnit XML for the migration verifier: one test case per revision, plus the structure and the round trip.

A finding about the chain is a <failure>; wardbench failing to check a step is an <error>; a step that could
not run is <skipped>. Accepted findings and warnings go to the passing case's <system-out>.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.results.migrations import MigrationsSection, VerifyStep
from harness.verify.accept import PASSING, finding_text

_SKIPPED, _ERROR = "not_run", "error"


def _case(suite: ET.Element, name: str, seconds: float, verdict: str, detail: str, notes: list[str]) -> None:
    case = ET.SubElement(suite, "testcase", classname="wardbench.migrations", name=name, time=f"{seconds:.3f}")
    if verdict == _SKIPPED:
        ET.SubElement(case, "skipped", message=detail or verdict)
    elif verdict == _ERROR:
        ET.SubElement(case, "error", type=verdict, message=detail[:1000]).text = detail
    elif verdict not in (*PASSING, "pass"):
        ET.SubElement(case, "failure", type=verdict, message=f"{verdict}: {detail}"[:1000]).text = "\n".join(
            notes) or detail
    if notes and verdict in (*PASSING, "pass"):
        ET.SubElement(case, "system-out").text = "\n".join(notes)


def _notes(step: VerifyStep) -> list[str]:
    return [finding_text(f) for f in step.findings]


def build(section: MigrationsSection) -> ET.Element:
    suite = ET.Element("testsuite", name="wardbench migrate verify")
    findings = list(section.structure.findings)
    _case(suite, "chain structure", 0.0, "structure" if findings else "pass", "; ".join(findings), findings)
    for step in section.steps:
        seconds = sum(s or 0.0 for s in (step.duration_s, step.downgrade_s, step.reupgrade_s))
        _case(suite, f"{step.from_} -> {step.revision}: {step.name}", seconds, step.verdict, step.detail,
              _notes(step))
    trip = section.round_trip
    _case(suite, "head -> base -> head", (trip.downgrade_s or 0.0) + (trip.upgrade_s or 0.0), trip.verdict,
          trip.detail, [])
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for tag, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        suite.set(attribute, str(sum(1 for c in cases if c.find(tag) is not None)))
    suite.set("time", f"{sum(float(c.get('time', 0)) for c in cases):.3f}")
    return suite


def write(section: MigrationsSection, path: Path) -> Path:
    """Write the JUnit file atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(build(section))
    ET.indent(tree)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".junit-", suffix=".xml")
    with os.fdopen(fd, "wb") as fh:
        tree.write(fh, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)
    return path
