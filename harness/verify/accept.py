"""Acknowledged findings and the step verdicts computed from findings.

A team declares a revision's known, intended loss in pyproject.toml:

    [tool.wardbench.verify.accept]
    "003" = { kinds = ["lossy"], reason = "apikey is obsolete" }
    "0a1b2c3d4e5f" = { kinds = ["irreversible", "lock_hazard"], objects = ["events"], reason = "..." }

Accepted findings stay in every report, marked with the reason, and do not fail the gate; an acceptance that
matches no finding is itself reported (a warning), so stale ones do not hide the next real loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import UsageError

KINDS = ("lossy", "schema_drift", "lock_hazard", "upgrade_failed", "fails_on_existing_data", "irreversible",
         "downgrade_failed_on_empty", "empty_downgrade")
PASSING = ("lossless", "accepted")  # step verdicts whose gate passes
KEEP = ("not_run", "error")  # verdicts not computed from findings (the step did not run, or wardbench crashed)


@dataclass(frozen=True)
class Acceptance:
    revision: str
    kinds: tuple[str, ...]
    reason: str
    objects: tuple[str, ...] = ()  # empty: any object

    def matches(self, finding: dict[str, Any]) -> bool:
        return finding.get("kind") in self.kinds and (not self.objects or finding.get("object") in self.objects)


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


def finding_text(finding: dict[str, Any]) -> str:
    """One finding as one line (JUnit, the detail in reports): `kind: detail` + `(accepted: reason)`/`(warning)`."""
    text = f"{finding['kind']}: {finding.get('detail', '')}"
    if finding.get("accepted"):
        return f"{text} (accepted: {finding.get('reason', '')})"
    return text + (" (warning)" if finding.get("severity") == "warning" else "")


def step_verdict(findings: list[dict[str, Any]]) -> str:
    """The first unaccepted error finding's kind; 'accepted' when only accepted errors; else 'lossless'."""
    errors = [f for f in findings if f.get("severity") == "error"]
    open_errors = [f for f in errors if not f.get("accepted")]
    if open_errors:
        return str(open_errors[0]["kind"])
    return "accepted" if errors else "lossless"


def apply(steps: list[dict[str, Any]], acceptances: tuple[Acceptance, ...], strict_locks: bool) -> list[str]:
    """Mark accepted findings, raise lock hazards to errors under --strict-locks, set every step's verdict.

    Returns warnings for acceptances of revisions that are not in the chain (the others are step findings).
    """
    by_revision: dict[str, list[Acceptance]] = {}
    for acceptance in acceptances:
        by_revision.setdefault(acceptance.revision, []).append(acceptance)
    for step in steps:
        findings = step.setdefault("findings", [])
        if strict_locks:
            for f in findings:
                if f.get("kind") == "lock_hazard":
                    f["severity"] = "error"
        used: set[Acceptance] = set()
        for f in findings:
            match = next((a for a in by_revision.get(step["revision"], []) if a.matches(f)), None)
            if match is not None:
                f.update({"accepted": True, "reason": match.reason})
                used.add(match)
        for a in by_revision.get(step["revision"], []):
            if a not in used and step.get("verdict") not in KEEP:
                findings.append({"kind": "unused_acceptance", "direction": "", "object": ",".join(a.objects),
                                 "severity": "warning",
                                 "detail": f"accepted {', '.join(a.kinds)} ({a.reason}) matches no finding of "
                                           f"revision {a.revision}: remove it from [tool.wardbench.verify.accept]"})
        if step.get("verdict") not in KEEP:
            step["verdict"] = step_verdict(findings)
    known = {s["revision"] for s in steps}
    return [f"[tool.wardbench.verify.accept] names revision {a.revision}, which is not in the chain"
            for a in acceptances if a.revision not in known]
