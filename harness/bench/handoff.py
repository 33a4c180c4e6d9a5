"""What the bench runner hands its pytest-benchmark subprocess (a pickled plan) and what each test hands back
(an observations file beside pytest-benchmark's timings)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from pydantic import TypeAdapter

from harness.bench.sampling import Params
from harness.results.bench import PlanSummary, ScenarioKind


@dataclass(frozen=True)
class ScenarioSpec:
    """One scenario as the subprocess runs it: SQL, session settings and its pre-drawn parameter sets."""

    name: str
    kind: ScenarioKind
    sql: str
    settings: dict[str, str]
    read_only: bool
    params: list[Params]


@dataclass(frozen=True)
class BenchPlan:
    """Everything the subprocess needs; pickled (it holds numpy vectors and the DSN), read once."""

    dsn: str
    prepare_threshold: int | None
    rounds: int
    warmup_rounds: int
    explain_samples: int
    large_table_rows: int
    server_log: Path | None
    observations_dir: Path
    scenarios: dict[str, ScenarioSpec]


@dataclass(frozen=True)
class Answer:
    """What one timed round returned: its row count, and for vector scenarios the ids and distances in order."""

    rows: int
    ids: list[str | None] | None = None
    distances: list[float] | None = None


@dataclass
class Observation:
    """One scenario's record beside its timings: answers, plan, server-side times; filled as the test runs."""

    name: str
    error: str | None = None
    returned: list[Answer] = field(default_factory=list)
    plan_summary: PlanSummary | None = None
    plan_shapes: dict[str, int] | None = None
    client_ms: list[float] = field(default_factory=list)
    server_explain_ms: list[float] = field(default_factory=list)
    server_blocks: list[int] = field(default_factory=list)
    server_log_ms: list[float] | None = None
    roundtrip_floor_ms: float | None = None
    timed_statement_prepared: bool | None = None

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path) -> Observation:
        """The file a test wrote; a test that never got to write one is recorded as that error."""
        if not path.is_file():
            return cls(path.stem, error="no observations written")
        return _adapter().validate_python(json.loads(path.read_text()))


@cache
def _adapter() -> TypeAdapter[Observation]:
    return TypeAdapter(Observation)
