"""Results: everything one run found, one field per section; a section left None was not run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import EXIT_CODES, ErrorFamily
from harness.results.backup import BackupSection
from harness.results.bench import BenchSection, ScenarioResult
from harness.results.capacity import CapacitySection
from harness.results.core import Gate, StageRecord, Verdict
from harness.results.faults import FaultsSection
from harness.results.generate import DatasetSection, GenerateSection
from harness.results.load import LoadSection
from harness.results.migrations import MigrationsSection
from harness.results.rehearsal import Rehearsal


@dataclass
class Results:
    """Stages fill their own section and append gates; renderers only read."""

    run_id: str
    command: str
    environment: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    dataset: DatasetSection = field(default_factory=DatasetSection)
    stages: list[StageRecord] = field(default_factory=list)
    scenarios: list[ScenarioResult] = field(default_factory=list)
    migrations: MigrationsSection | None = None
    rehearsal: Rehearsal | None = None
    load: LoadSection | None = None
    backup: BackupSection | None = None
    faults: FaultsSection | None = None
    capacity: CapacitySection | None = None
    generate: GenerateSection | None = None
    bench: BenchSection | None = None
    gates: list[Gate] = field(default_factory=list)
    selection: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    schema_version: int = 2  # harness.results.codec.SCHEMA_VERSION

    @property
    def verdict(self) -> Verdict:
        """pass only when there is at least one gate and every gate passed."""
        if any(g.verdict == Verdict.FAIL for g in self.gates):
            return Verdict.FAIL
        if not self.gates or any(g.verdict == Verdict.NOT_EVALUATED for g in self.gates):
            return Verdict.NOT_EVALUATED
        return Verdict.PASS

    @property
    def exit_code(self) -> int:
        """The gates' code (0 or 1), or a stage error's when higher: an environment failure is 3 wherever it hit."""
        codes = [EXIT_CODES[s.family] for s in self.stages if s.status == "error" and s.family is not None]
        return max([0 if self.verdict == Verdict.PASS else EXIT_CODES[ErrorFamily.GATE], *codes])

    def to_dict(self) -> dict[str, Any]:
        from harness.results.codec import dump

        return dump(self)

    def write(self, path: Path) -> Path:
        """Write atomically so a crash never leaves half a results file."""
        from harness.results.codec import write

        return write(self, path)

    @classmethod
    def from_dict(cls, data: object, source: str = "results") -> Results:
        from harness.results.codec import load

        return load(data, source)

    @classmethod
    def read(cls, path: Path) -> Results:
        """Load a results file; a missing, malformed or older one is a UsageError (exit 2)."""
        from harness.results.codec import read

        return read(path)
