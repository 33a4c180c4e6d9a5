"""Acknowledged findings, --strict-locks and the step verdict computed from findings: no database needed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest
from results_fixture import migrations_section

from harness.errors import UsageError
from harness.results import Results
from harness.results.migrations import Finding, FindingKind, MigrationsSection, StepVerdict, VerifyStep
from harness.verify import accept, junit


def _suite(section: MigrationsSection) -> ET.Element:
    """The <testsuite> of the JUnit file `migrate verify --junit` writes for `section`."""
    root = ET.fromstring(junit.render_migrations_junit(Results("t", "migrate verify", migrations=section)))
    suite = root.find("testsuite")
    assert suite is not None and root.get("errors") == suite.get("errors")
    return suite


def _step(revision: str, *findings: Finding) -> VerifyStep:
    return VerifyStep(revision, "base", StepVerdict.LOSSLESS, findings=findings)


LOSSY = Finding(FindingKind.LOSSY, "upgrade", "apikey", "drops apikey (24 rows)", "error")
HAZARD = Finding(FindingKind.LOCK_HAZARD, "upgrade", "events", "CREATE INDEX on events", "warning",
                 rule="create-index-not-concurrently")


def test_parse_validates_each_entry() -> None:
    parsed = accept.parse({"003": {"kinds": ["lossy"], "reason": "apikey is obsolete", "objects": ["apikey"]}})
    assert parsed == (accept.Acceptance("003", ("lossy",), "apikey is obsolete", ("apikey",)),)
    for bad, said in [({"003": {"kinds": ["lossy"]}}, "reason"), ({"003": {"kinds": ["loss"], "reason": "x"}},
                                                                  "kinds must be"),
                      ({"003": "lossy"}, "kinds = "), ({"003": {"kinds": ["lossy"], "reason": "x", "why": 1}},
                                                      "kinds = "), (["003"], "must be a table")]:
        with pytest.raises(UsageError, match=said):
            accept.parse(bad)


def test_accepted_error_passes_with_its_reason_and_unmatched_ones_are_reported() -> None:
    steps = [_step("003", LOSSY), _step("004", LOSSY), _step("005")]
    acceptances = accept.parse({"003": {"kinds": ["lossy"], "reason": "apikey is obsolete"},
                                "005": {"kinds": ["irreversible"], "reason": "stale"},
                                "999": {"kinds": ["lossy"], "reason": "typo"}})
    steps, warnings = accept.apply(steps, acceptances, strict_locks=False)
    assert [s.verdict for s in steps] == ["accepted", "lossy", "lossless"]
    assert steps[0].findings[0] == replace(LOSSY, accepted=True, reason="apikey is obsolete")
    (stale,) = steps[2].findings
    assert stale.kind == "unused_acceptance" and stale.severity == "warning"
    assert warnings == ["[tool.wardbench.verify.accept] names revision 999, which is not in the chain"]
    assert "(accepted: apikey is obsolete)" in accept.finding_text(steps[0].findings[0])


def test_objects_narrow_an_acceptance() -> None:
    steps = [_step("003", LOSSY, replace(LOSSY, object="users"))]
    steps, _ = accept.apply(steps, accept.parse({"003": {"kinds": ["lossy"], "reason": "r", "objects": ["apikey"]}}),
                            False)
    assert steps[0].verdict == "lossy" and [f.accepted for f in steps[0].findings] == [True, False]


def test_lock_hazards_warn_unless_strict() -> None:
    (relaxed,), _ = accept.apply([_step("002", HAZARD)], (), strict_locks=False)
    (strict,), _ = accept.apply([_step("002", HAZARD)], (), strict_locks=True)
    assert relaxed.verdict == "lossless" and strict.verdict == "lock_hazard"
    assert relaxed.findings[0].severity == "warning" and strict.findings[0].severity == "error"


def test_not_run_and_error_steps_keep_their_verdict_and_junit_keeps_them_apart() -> None:
    steps = [_step("001", LOSSY), replace(_step("002"), verdict=StepVerdict.ERROR, detail="wardbench crashed"),
             replace(_step("003"), verdict=StepVerdict.NOT_RUN, detail="not run")]
    steps, _ = accept.apply(steps, (), False)
    assert [s.verdict for s in steps] == ["lossy", "error", "not_run"]
    suite = _suite(replace(migrations_section(), steps=tuple(steps)))
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "1", "1")
