"""The typed atoms every section shares: verdicts, gates, stage records, and the atomic file write."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from harness.errors import ErrorFamily

Comparator = Literal["<", "<=", ">", ">=", "=="]


class Verdict(StrEnum):
    """What a gate, a step or a whole run concluded. A str, so JSON and comparisons read it as text."""

    PASS = "pass"
    FAIL = "fail"
    NOT_EVALUATED = "not_evaluated"


def write_text_atomic(path: Path, text: str) -> Path:
    """Temp file + rename, so a crash never leaves half a file (results, reports, comparisons)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; these files are meant to be read by others (CI artifact servers)
    os.replace(tmp, path)
    return path


@dataclass
class Gate:
    """A target and what was observed against it. `comparator` says which side of the target passes.

    `key` names the target in the registry (harness.targets) the gate was judged by, "" for gates with a
    fixed meaning (a stage completed, checksums equal).
    """

    name: str
    stage: str
    target: float | None
    observed: float | None
    unit: str
    comparator: Comparator
    verdict: Verdict
    reason: str = ""
    key: str = ""

    @property
    def margin(self) -> float | None:
        """Relative headroom: positive when passing (e.g. 0.8 = observed is 80 % below a max target)."""
        if self.target is None or self.target == 0 or self.observed is None:
            return None
        if self.comparator in ("<", "<="):
            return (self.target - self.observed) / self.target
        if self.comparator in (">", ">="):
            return (self.observed - self.target) / self.target
        return 0.0 if self.observed == self.target else -1.0


def completion_gate_name(stage: str) -> str:
    """The gate a stage that raised fails (harness.pipeline), so a crash is never a pass."""
    return f"stage {stage} completed"


@dataclass(frozen=True)
class StageRecord:
    """One stage as it ran: `error` means the harness or the environment broke, `failed` a gate failed.

    `family` says, for an `error`, what broke (harness.errors.EXIT_CODES maps it to the run's exit code).
    """

    name: str
    status: Literal["ok", "failed", "error", "skipped"]
    duration_s: Annotated[float, Field(ge=0)]
    detail: str = ""
    family: ErrorFamily | None = None
