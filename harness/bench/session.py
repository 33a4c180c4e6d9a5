"""Measured sessions: the settings they run under, built here only, and benchmark connections.

Every path that times a query (bench, load, capacity, the rehearsal's live workload, pgbench beside Locust)
takes its session settings from `session_settings` / `scenario_settings`, so the same profile measures the
same plans everywhere. psycopg 3 prepares a statement server-side after `prepare_threshold` (default 5)
executions, and a prepared generic plan ignores later `SET` changes, so every benchmark connection states it
explicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
from pgvector.psycopg import register_vector

from harness.errors import EnvironmentFailure

if TYPE_CHECKING:
    from harness.bench.scenarios import Scenario
    from harness.config import RunConfig

# None: never prepare. Every execution is planned with its own parameter values, so the plan EXPLAIN
# shows for a parameter set is the plan that ran, and SET changes always take effect.
PREPARE_THRESHOLD: int | None = None
# Sessions that run read scenarios: every statement in them is a READ ONLY transaction, so a read scenario
# whose SQL writes fails (SQLSTATE 25006) instead of changing the database.
READ_ONLY = {"default_transaction_read_only": "on"}


def session_settings(cfg: RunConfig, kind: str | None = None) -> dict[str, str]:
    """What a session running queries of `kind` starts with, from the profile: its hnsw.ef_search where vector
    queries may run (kind "vector", or None for a session that runs every kind: a Locust user, the rehearsal's
    live workload, pgbench beside them). A scenario's own settings go on top (scenario_settings)."""
    if kind not in (None, "vector") or "ef_search" not in cfg.profile_data:
        return {}
    return {"hnsw.ef_search": str(cfg.profile_data["ef_search"])}


def scenario_settings(cfg: RunConfig, scenario: Scenario) -> dict[str, str]:
    """The session settings of one scenario's own session: the profile's, then the scenario's."""
    return {**session_settings(cfg, scenario.kind), **scenario.settings}


def apply_settings(conn: psycopg.Connection[Any], settings: dict[str, str]) -> None:
    """Set session settings by name through set_config (names are data, never spliced into SQL)."""
    for name, value in settings.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))


def pgoptions(settings: dict[str, str]) -> str:
    """The same settings for client tools (Locust processes, pgbench) as libpq's PGOPTIONS value."""
    return " ".join(f"-c {k}={v}" for k, v in sorted(settings.items()))


def connect(dsn: str, settings: dict[str, str] | None = None,
            prepare_threshold: int | None = PREPARE_THRESHOLD, read_only: bool = False) -> psycopg.Connection[Any]:
    """An autocommit connection with vector types registered and `settings` applied for the session;
    `read_only`: every transaction of the session is READ ONLY (read scenarios, parameter draws)."""
    conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=prepare_threshold)
    try:
        register_vector(conn)
    except psycopg.ProgrammingError as exc:
        conn.close()
        raise EnvironmentFailure(f"the database has no vector extension: {exc}") from exc
    apply_settings(conn, {**(settings or {}), **(READ_ONLY if read_only else {})})
    return conn
