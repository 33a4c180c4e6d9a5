"""Acknowledged findings and the step verdicts computed from findings.

A team declares a revision's known, intended loss in pyproject.toml:

    [tool.wardbench.verify.accept]
    "003" = { kinds = ["lossy"], reason = "apikey is obsolete" }
    "0a1b2c3d4e5f" = { kinds = ["irreversible", "lock_hazard"], objects = ["events"], reason = "..." }

Accepted findings stay in every report, marked with the reason, and do not fail the gate; an acceptance that
matches no finding is itself reported (a warning), so stale ones do not hide the next real loss.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from harness.errors import UsageError
from harness.results.migrations import Finding, FindingKind, StepVerdict, VerifyStep

KINDS = tuple(k.value for k in FindingKind if k != FindingKind.UNUSED_ACCEPTANCE)
PASSING = tuple(v for v in StepVerdict if v.passes)  # step verdicts whose gate passes


@dataclass(frozen=True)
class Acceptance:
    revision: str
    kinds: tuple[str, ...]
    reason: str
    objects: tuple[str, ...] = ()  # empty: any object

    def matches(self, finding: Finding) -> bool:
        return finding.kind in self.kinds and (not self.objects or finding.object in self.objects)


def parse(table: Any) -> tuple[Acceptance, ...]:
    """The `[tool.wardbench.verify.accept]` table, validated (a mistake is a UsageError naming the key)."""
    where = "[tool.wardbench.verify.accept]"
    if table is None:
        return ()
    if not isinstance(table, dict):
        raise UsageError(f"{where} in pyproject.toml must be a table of revision = {{ kinds = [...], reason = ... }}")
    out = []
    for revision, entry in table.items():
        if not isinstance(entry, dict) or set(entry) - {"kinds", "reason", "objects"}:
            raise UsageError(f'{where} "{revision}": give {{ kinds = ["lossy"], reason = "why" }} '
                             "(optional objects = [...])")
        kinds, reason, objects = entry.get("kinds"), entry.get("reason"), entry.get("objects", [])
        if not isinstance(kinds, list) or not kinds or any(k not in KINDS for k in kinds):
            raise UsageError(f'{where} "{revision}": kinds must be a non-empty list of {", ".join(KINDS)}')
        if not isinstance(reason, str) or not reason.strip():
            raise UsageError(f'{where} "{revision}": say why in reason = "..." (it is shown in every report)')
        if not isinstance(objects, list) or not all(isinstance(o, str) for o in objects):
            raise UsageError(f'{where} "{revision}": objects must be a list of names (table or table.column)')
        out.append(Acceptance(str(revision), tuple(kinds), reason.strip(), tuple(objects)))
    return tuple(out)


def finding_text(finding: Finding) -> str:
    """One finding as one line (JUnit, the detail in reports): `kind: detail` + `(accepted: reason)`/`(warning)`."""
    text = f"{finding.kind}: {finding.detail}"
    if finding.accepted:
        return f"{text} (accepted: {finding.reason})"
    return text + (" (warning)" if finding.severity == "warning" else "")


def step_verdict(findings: tuple[Finding, ...]) -> StepVerdict:
    """The first unaccepted error finding's kind; 'accepted' when only accepted errors; else 'lossless'."""
    errors = [f for f in findings if f.severity == "error"]
    open_errors = [f for f in errors if not f.accepted]
    if open_errors:
        return StepVerdict(open_errors[0].kind.value)
    return StepVerdict.ACCEPTED if errors else StepVerdict.LOSSLESS


def apply(steps: list[VerifyStep], acceptances: tuple[Acceptance, ...],
          strict_locks: bool) -> tuple[list[VerifyStep], list[str]]:
    """Mark accepted findings, raise lock hazards to errors under --strict-locks, set every step's verdict.

    Returns the steps so judged, and warnings for acceptances of revisions that are not in the chain (the others
    are step findings).
    """
    by_revision: dict[str, list[Acceptance]] = {}
    for acceptance in acceptances:
        by_revision.setdefault(acceptance.revision, []).append(acceptance)
    out = []
    for step in steps:
        findings, used = [], set()
        for f in step.findings:
            if strict_locks and f.kind == FindingKind.LOCK_HAZARD:
                f = replace(f, severity="error")
            match = next((a for a in by_revision.get(step.revision, []) if a.matches(f)), None)
            if match is not None:
                f = replace(f, accepted=True, reason=match.reason)
                used.add(match)
            findings.append(f)
        if step.verdict.judged:
            findings += [Finding(FindingKind.UNUSED_ACCEPTANCE, "", ",".join(a.objects),
                                 f"accepted {', '.join(a.kinds)} ({a.reason}) matches no finding of revision "
                                 f"{a.revision}: remove it from [tool.wardbench.verify.accept]", "warning")
                         for a in by_revision.get(step.revision, []) if a not in used]
            step = replace(step, verdict=step_verdict(tuple(findings)))
        out.append(replace(step, findings=tuple(findings)))
    known = {s.revision for s in steps}
    return out, [f"[tool.wardbench.verify.accept] names revision {a.revision}, which is not in the chain"
                 for a in acceptances if a.revision not in known]
