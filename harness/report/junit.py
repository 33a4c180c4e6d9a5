"""junit.xml: one testcase per gate (failure carries the reason), skipped stages as skipped testcases."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.report import view
from harness.results import Gate, Results


def _message(g: Gate) -> str:
    observed = "nothing observed" if g.observed is None else f"observed {g.observed:g} {g.unit}".strip()
    target = "" if g.target is None else f", target {g.comparator} {g.target:g} {g.unit}".rstrip()
    return f"{observed}{target}" + (f": {g.reason}" if g.reason else "")


def render_junit(results: Results) -> str:
    """A JUnit XML document; a not-evaluated gate is a failure too, since it is not a pass."""
    skipped = view.skipped_stages(results)
    total = len(results.gates) + len(skipped)
    failures = sum(g.verdict != "pass" for g in results.gates)
    duration = sum(s.duration_s for s in results.stages)
    suites = ET.Element("testsuites", name="wardbench", tests=str(total), failures=str(failures),
                        errors="0", skipped=str(len(skipped)), time=f"{duration:.3f}")
    suite = ET.SubElement(suites, "testsuite", name=f"wardbench.{results.command}", tests=str(total),
                          failures=str(failures), errors="0", skipped=str(len(skipped)),
                          time=f"{duration:.3f}", timestamp=results.created_at, hostname="wardbench")
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "command", "verdict"):
        ET.SubElement(props, "property", name=key, value=str(getattr(results, key)))
    for g in results.gates:
        case = ET.SubElement(suite, "testcase", classname=f"wardbench.{g.stage}", name=g.name, time="0")
        if g.verdict == "fail":
            ET.SubElement(case, "failure", message=_message(g), type="GateFailed").text = _message(g)
        elif g.verdict == "not_evaluated":
            ET.SubElement(case, "failure", message=f"not evaluated: {_message(g)}",
                          type="NotEvaluated").text = _message(g)
        else:
            ET.SubElement(case, "system-out").text = _message(g)
    for stage in skipped:
        case = ET.SubElement(suite, "testcase", classname=f"wardbench.{stage}", name=f"stage {stage}", time="0")
        ET.SubElement(case, "skipped", message="stage not run in this selection (--skip/--only)")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
