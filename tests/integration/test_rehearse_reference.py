"""The reference chain's rehearsal on the ci profile's generated dataset (small scale): the revisions that change
populated tables the safe way (011 onwards) are downgraded then upgraded under ward readers, vector readers and
AI writers; every round trip is lossless and each revision's statements are the ones it preaches."""

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
    section = rehearse_reference(cfg, db, results, since="010", options=options)
    assert section is not None
    return results, section, db


def test_safe_revisions_down_then_up_under_scenarios(rehearsed: tuple[Results, Rehearsal, Database]) -> None:
    results, section, db = rehearsed
    head = alembic_project.head_revision()
    window = [r for r in ("011", "012", "013", "014", "015", "016") if r <= head]
    steps = section.steps
    assert [(s.direction, s.revision) for s in steps] == \
        [("downgrade", r) for r in reversed(window)] + [("upgrade", r) for r in window]
    assert steps[0].source == steps[-1].to == head
    down = {s.revision: s for s in steps if s.direction == "downgrade"}
    up = {s.revision: s for s in steps if s.direction == "upgrade"}
    for step in steps:
        live = step.live
        assert isinstance(live, LiveRun) and {"ward", "vector", "write"} <= set(live.kinds), live
        assert live.kinds["ward"].during.count + live.kinds["ward"].before.count > 0
        assert step.loss.lossless is True, step.loss
    removed = down["014"].loss.removed
    assert removed and removed[0].startswith("post_embeddings.ward_id, published_at, sentiment_score ("), removed
    removed = down["016"].loss.removed
    assert removed and removed[0].startswith("table post_embedding_bits ("), removed
    assert [t.revision for t in section.round_trips] == window
    assert section.prewarm is not None and section.prewarm.relations > 10  # the copy was read in before step one
    for trip in section.round_trips:
        assert trip.lossless is True and trip.rows_checked > 1000 and trip.not_compared == []
    preached = {"011": ("CREATE INDEX CONCURRENTLY ix_post_embeddings_embedding_hnsw_rebuild",
                        "DROP INDEX CONCURRENTLY IF EXISTS ix_post_embeddings_embedding_hnsw",
                        "RENAME TO ix_post_embeddings_embedding_hnsw"),
                "012": ("CREATE INDEX CONCURRENTLY ix_sentiment_scores_score_post_id",),
                "013": ("CREATE INDEX CONCURRENTLY ix_post_embeddings_embedding_hnsw_rebuild",
                        "halfvec_cosine_ops", "RENAME TO ix_post_embeddings_embedding_hnsw"),
                "014": ("CREATE TRIGGER tr_post_embeddings_from_post", "UPDATE post_embeddings SET post_id",
                        "CREATE INDEX CONCURRENTLY ix_post_embeddings_ward_id",
                        "CREATE INDEX CONCURRENTLY ix_post_embeddings_published_at",
                        "CREATE INDEX CONCURRENTLY ix_post_embeddings_negative_hnsw"),
                "015": ("CREATE OR REPLACE FUNCTION audit_row_change()", "- 'embedding'"),
                "016": ("CREATE TRIGGER tr_post_embedding_bits", "INSERT INTO post_embedding_bits",
                        "CREATE INDEX CONCURRENTLY ix_post_embedding_bits_ward_id",
                        "CREATE INDEX CONCURRENTLY ix_post_embedding_bits_published_at")}
    for revision in window:
        statements = " ".join(s.statement for s in up[revision].statements)
        for expected in preached[revision]:
            assert expected in statements, (revision, expected)
    for revision in ("011", "012", "013", "015"):  # no lock that blocks writers: concurrent builds, a function
        for direction in (up, down):
            modes = {m for lock in direction[revision].locks.values() for m in lock.modes}
            assert modes <= {"ShareUpdateExclusiveLock", "AccessShareLock", "RowExclusiveLock"}, (revision, modes)
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM post_embeddings WHERE ward_id IS NULL").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM post_embeddings e FULL JOIN post_embedding_bits b USING (post_id) "
                            "WHERE b.bits IS DISTINCT FROM binary_quantize(e.embedding)::bit(384) "
                            "OR (b.ward_id, b.published_at) IS DISTINCT FROM (e.ward_id, e.published_at)"
                            ).fetchone() == (0,)
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
