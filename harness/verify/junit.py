"""JUnit XML for the migration stairway: one test case per step, plus structure and the round trip."""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

_FAILING = {"lossy", "irreversible", "upgrade_failed", "schema_changed", "structure"}


def _case(suite: ET.Element, name: str, seconds: float, verdict: str, detail: str) -> None:
    case = ET.SubElement(suite, "testcase", classname="wardbench.migrations", name=name, time=f"{seconds:.3f}")
    if verdict in _FAILING:
        ET.SubElement(case, "failure", type=verdict, message=f"{verdict}: {detail}"[:1000]).text = detail
    elif verdict != "lossless" and verdict != "pass":
        ET.SubElement(case, "skipped", message=detail or verdict)


def build(section: dict[str, Any]) -> ET.Element:
    suite = ET.Element("testsuite", name="wardbench migrate verify")
    findings = section.get("structure", {}).get("findings", [])
    _case(suite, "chain structure", 0.0, "structure" if findings else "pass", "; ".join(findings))
    for step in section.get("steps", []):
        seconds = sum(float(step.get(k) or 0) for k in ("duration_s", "downgrade_s", "reupgrade_s"))
        _case(suite, f"{step['from']} -> {step['revision']}: {step.get('name', '')}", seconds,
              step.get("verdict", "not_run"), step.get("detail", ""))
    trip = section.get("round_trip", {})
    _case(suite, "head -> base -> head", float(trip.get("downgrade_s") or 0) + float(trip.get("upgrade_s") or 0),
          trip.get("verdict", "not_run"), trip.get("detail", ""))
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    suite.set("errors", "0")
    suite.set("time", f"{sum(float(c.get('time', 0)) for c in cases):.3f}")
    return suite


def write(section: dict[str, Any], path: Path) -> Path:
    """Write the JUnit file atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(build(section))
    ET.indent(tree)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".junit-", suffix=".xml")
    with os.fdopen(fd, "wb") as fh:
        tree.write(fh, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)
    return path
