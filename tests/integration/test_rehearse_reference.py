"""The reference chain's rehearsal on the ci profile's generated dataset (small scale): the newest revision is
downgraded then upgraded under ward readers, vector readers and AI writers; the round trip is lossless and
the safe revision's statements are the ones it preaches."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from harness import alembic_project
from harness.config import build_config
from harness.datagen.stage import generate
from harness.db import Database
from harness.rehearse.reference import options_for, rehearse_reference
from harness.results import Results
from harness.results.rehearsal import LiveRun, Rehearsal

SCALE = 0.02  # about 1,200 posts


@pytest.fixture(scope="module")
def rehearsed(pg_server: Any) -> tuple[Results, Rehearsal, Database]:
    name = "t_rehearse_ref"
    pg_server.create_database(name)
    db = Database(pg_server.database_dsn(name), name, pg_server, disposable=True)
    cfg = build_config(profile="ci", scale_factor=SCALE, seed=3)
    results = Results(run_id="t", command="gate")
    alembic_project.upgrade(db, "head")
    generate(cfg, db, results)
    results.gates.clear()
    options = replace(options_for(cfg), baseline_s=1.5, rate=80.0)
    section = rehearse_reference(cfg, db, results, options=options)
    assert section is not None
    return results, section, db


def test_newest_revision_down_then_up_under_scenarios(rehearsed: tuple[Results, Rehearsal, Database]) -> None:
    results, section, db = rehearsed
    head = alembic_project.head_revision()
    down, up = section.steps
    assert (down.direction, down.source, up.direction, up.to) == ("downgrade", head, "upgrade", head)
    assert down.to == up.source == section.source
    for step in (down, up):
        live = step.live
        assert isinstance(live, LiveRun) and {"ward", "vector", "write"} <= set(live.kinds), live
        assert live.kinds["ward"].during.count + live.kinds["ward"].before.count > 0
        assert step.loss.lossless is True, step.loss
    assert down.loss.removed and down.loss.removed[0].startswith("posts.status (")
    (trip,) = section.round_trips
    assert trip.lossless is True and trip.rows_checked > 1000
    assert (trip.at, trip.via) == (head, up.source) and trip.not_compared == []
    statements = " ".join(s.statement for s in up.statements)
    for expected in ("NOT VALID", "VALIDATE CONSTRAINT", "SET NOT NULL", "CREATE INDEX CONCURRENTLY", "UPDATE posts"):
        assert expected in statements, expected
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM posts WHERE status IS NULL").fetchone() == (0,)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)


def test_gates_per_step_include_live_p95_per_kind(rehearsed: tuple[Results, Rehearsal, Database]) -> None:
    results, section, _ = rehearsed
    names = [g.name for g in results.gates]
    for step in section.steps:
        label = f"rehearsal {step.direction} {step.source} -> {step.to}"
        for suffix in ("ran and lost nothing", "longest live wait on a lock", "live error rate",
                       "live ward p95 during the step", "live vector p95 during the step"):
            assert f"{label} {suffix}" in names
    assert any(n.startswith("rehearsal round trip") for n in names)
    ward = [g for g in results.gates if "live ward p95" in g.name]
    assert all(g.target == 100.0 and g.observed is not None for g in ward)
    failing = [(g.name, g.observed, g.reason) for g in results.gates if g.verdict != "pass"]
    assert not failing, failing
