"""The load mix: scenarios turned into jobs with pre-drawn parameters, split into reader and writer roles.

Parameters are drawn once per process (seeded, from the generated data) so a request only picks one;
a `--wb-sql-file` run replaces the mix with one fixed statement, the same text pgbench runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from harness.bench.sampling import draw_params
from harness.bench.scenarios import Scenario, load_scenarios, reads_only
from harness.errors import UsageError

DRAWS_PER_SCENARIO = 256
APPLICATION_NAME = "wardbench-load"  # application_name of every load session (pg_stat_activity)


def role_of(kind: str) -> str:
    """'writer' for write scenarios, 'reader' for ward and vector ones."""
    return "reader" if reads_only(kind) else "writer"


@dataclass(frozen=True)
class Job:
    """One scenario as the load generator runs it: SQL, session settings and a pool of parameter sets."""

    name: str
    kind: str
    sql: str
    settings: dict[str, str] = field(default_factory=dict)
    draws: tuple[dict[str, Any] | None, ...] = (None,)

    @property
    def role(self) -> str:
        return role_of(self.kind)

    def sample(self, rng: random.Random) -> dict[str, Any] | None:
        """One parameter set, picked at random from the pre-drawn pool."""
        return self.draws[rng.randrange(len(self.draws))]


@dataclass(frozen=True)
class Workload:
    """Every job of a run; users of each role pick among theirs."""

    jobs: tuple[Job, ...]

    def for_role(self, role: str) -> list[Job]:
        return [j for j in self.jobs if j.role == role]


def select_scenarios(scenario_dirs: list[Path], only: list[str]) -> list[Scenario]:
    """The reference scenarios plus the user's, restricted to `only` when given (unknown names: UsageError)."""
    scenarios = load_scenarios(scenario_dirs)
    if not only:
        return scenarios
    known = {s.name for s in scenarios}
    unknown = [n for n in only if n not in known]
    if unknown:
        raise UsageError(f"unknown scenario {unknown[0]!r}: choose from {', '.join(sorted(known))}")
    return [s for s in scenarios if s.name in only]


def load_workload(conn: psycopg.Connection[Any], scenario_dirs: list[str], only: list[str],
                  sql_file: str | None, seed: int, fixed_kind: str = "ward",
                  keep: Callable[[Scenario], bool] | None = None) -> Workload:
    """Jobs for this process: one fixed statement from `sql_file`, else the scenarios (those `keep` accepts)
    with drawn parameters."""
    if sql_file:
        return Workload((Job("fixed_statement", fixed_kind, Path(sql_file).read_text()),))
    scenarios = [s for s in select_scenarios([Path(d) for d in scenario_dirs], only) if keep is None or keep(s)]
    jobs = tuple(Job(s.name, s.kind, s.sql, dict(s.settings),
                     tuple(draw_params(conn, s, DRAWS_PER_SCENARIO, seed + i)))
                 for i, s in enumerate(scenarios))
    return Workload(jobs)
