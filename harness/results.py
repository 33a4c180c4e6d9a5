"""The one shape stages and renderers share: `results.json` (versioned by SCHEMA_VERSION).

Stages return their section as plain JSON-able data; gates are typed because every renderer,
`compare` and the exit code read them.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from harness.errors import UsageError

SCHEMA_VERSION = 1
Verdict = Literal["pass", "fail", "not_evaluated"]


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
    """A target and what was observed against it. `comparator` says which side of the target passes."""

    name: str
    stage: str
    target: float | None
    observed: float | None
    unit: str
    comparator: Literal["<", "<=", ">", ">=", "=="]
    verdict: Verdict
    reason: str = ""

    @property
    def margin(self) -> float | None:
        """Relative headroom: positive when passing (e.g. 0.8 = observed is 80 % below a max target)."""
        if self.target in (None, 0) or self.observed is None:
            return None
        assert self.target is not None
        if self.comparator in ("<", "<="):
            return (self.target - self.observed) / self.target
        if self.comparator in (">", ">="):
            return (self.observed - self.target) / self.target
        return 0.0 if self.observed == self.target else -1.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "margin": self.margin}


@dataclass
class StageRecord:
    name: str
    status: Literal["ok", "failed", "error", "skipped"]
    duration_s: float
    detail: str = ""


@dataclass
class Results:
    """Everything one run found. Sections left None were not run."""

    run_id: str
    command: str
    environment: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    stages: list[StageRecord] = field(default_factory=list)
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    migrations: dict[str, Any] | None = None
    rehearsal: dict[str, Any] | None = None
    load: dict[str, Any] | None = None
    backup: dict[str, Any] | None = None
    faults: dict[str, Any] | None = None
    capacity: dict[str, Any] | None = None
    generate: dict[str, Any] | None = None
    bench: dict[str, Any] | None = None
    gates: list[Gate] = field(default_factory=list)
    selection: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    schema_version: int = SCHEMA_VERSION

    @property
    def verdict(self) -> Verdict:
        """pass only when there is at least one gate and every gate passed."""
        if any(g.verdict == "fail" for g in self.gates):
            return "fail"
        if not self.gates or any(g.verdict == "not_evaluated" for g in self.gates):
            return "not_evaluated"
        return "pass"

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == "pass" else 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gates"] = [g.to_dict() for g in self.gates]
        data["verdict"] = self.verdict
        return data

    def write(self, path: Path) -> Path:
        """Write atomically so a crash never leaves half a results file."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=2, default=str) + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Results:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise UsageError(f"results schema_version {data.get('schema_version')!r} is not "
                             f"{SCHEMA_VERSION}: re-run with this wardbench version")
        data = {k: v for k, v in data.items() if k != "verdict"}
        data["gates"] = [Gate(**{k: v for k, v in g.items() if k != "margin"}) for g in data["gates"]]
        data["stages"] = [StageRecord(**s) for s in data["stages"]]
        return cls(**data)

    @classmethod
    def read(cls, path: Path) -> Results:
        """Load a results file; a missing or malformed one is a UsageError."""
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise UsageError(f"results file {path} does not exist") from exc
        except (OSError, ValueError) as exc:
            raise UsageError(f"results file {path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise UsageError(f"results file {path} is not a wardbench results object")
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError) as exc:
            raise UsageError(f"results file {path} is not a wardbench results file: {exc}") from exc
