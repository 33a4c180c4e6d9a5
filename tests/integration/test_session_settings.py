"""One place builds the settings every measured session runs under: bench, load, capacity and the rehearsal's
live workload all see the profile's hnsw.ef_search (capacity's Locust points: tests/integration/test_capacity.py)."""

from __future__ import annotations

import time
from dataclasses import replace

from harness.bench.scenarios import load_scenarios
from harness.bench.session import scenario_settings, session_settings
from harness.config import build_config
from harness.db import Database
from harness.load.workload import Job
from harness.rehearse.live import FixedPlanner, Plan
from harness.rehearse.reference import options_for
from harness.rehearse.step import live_workload

# Fails (a cast error naming the value it saw) unless the session runs at the ci profile's ef_search.
PROBE = ("SELECT CASE WHEN current_setting('hnsw.ef_search', true) = '100' THEN 1 "
         "ELSE (coalesce(current_setting('hnsw.ef_search', true), 'unset') || '!')::int END")


def test_every_path_takes_the_profile_s_ef_search_from_one_place() -> None:
    cfg = build_config(profile="ci")
    assert cfg.profile_data["ef_search"] == 100
    vector = next(s for s in load_scenarios(kinds=("vector",)) if "hnsw.ef_search" not in s.settings)
    assert session_settings(cfg) == {"hnsw.ef_search": "100"}  # load, capacity's Locust points, pgbench
    assert scenario_settings(cfg, vector)["hnsw.ef_search"] == "100"  # bench and capacity's one-user points
    assert options_for(cfg).session == session_settings(cfg)  # the rehearsal's live workload
    own = replace(vector, settings={"hnsw.ef_search": "40"})
    assert scenario_settings(cfg, own)["hnsw.ef_search"] == "40"  # a scenario's own setting wins


def _probe_live(db: Database, session: dict[str, str]) -> tuple[int, dict[str, int]]:
    """Run the probe as the rehearsal's live workload for a moment: (requests, errors by message)."""
    options = replace(options_for(build_config(profile="ci")), rate=100.0, workers=2, session=session)
    workload = live_workload(db.dsn, FixedPlanner(Plan([], [], [Job("ef_probe", "vector", PROBE)])), options)
    workload.start()
    try:
        time.sleep(1.0)
    finally:
        workload.stop()
    return len(workload.samples), dict(workload.errors)


def test_rehearsal_live_queries_run_at_the_profile_s_ef_search(fresh_db: Database) -> None:
    """Read from inside the live workload's queries: before, its vector readers ran at pgvector's default 40."""
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    requests, errors = _probe_live(fresh_db, options_for(build_config(profile="ci")).session)
    assert requests > 0 and not errors, errors
    requests, errors = _probe_live(fresh_db, {})  # the probe tells: without the settings every request fails
    assert requests > 0 and sum(errors.values()) == requests, errors  # at pgvector's default (or unset)
