"""`wardbench generate` against a real server: determinism, constraints, shapes, atomicity, bad input."""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql
from rich.console import Console

from harness import alembic_project
from harness.config import load_profile
from harness.datagen import content
from harness.datagen.benchmark import generation_floor
from harness.datagen.loader import TABLES, load_dataset
from harness.db import Database, ServerHandle
from harness.errors import UsageError
from harness.results.generate import GenerateSection
from harness.targets import defaults
from harness.verify.checksums import database_checksums

SCALE = 0.03  # ci x 0.03: 72 wards, 1,800 posts and embeddings, ~270 AI reports


def quiet() -> Console:
    return Console(file=io.StringIO())


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from harness.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600,
                          check=False)


@pytest.fixture(scope="module")
def cli_runs(pg_server: ServerHandle, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Two `wardbench generate --profile ci --seed 7` runs, each into a fresh disposable database."""
    out = []
    for i in range(2):
        path = tmp_path_factory.mktemp("gen") / f"run{i}.json"
        proc = run_cli("generate", "--profile", "ci", "--seed", "7", "--scale-factor", str(SCALE),
                       "--dsn", pg_server.admin_dsn, "--json", str(path),
                       "--reports-dir", str(path.parent / "reports"))
        assert proc.returncode == 0, proc.stderr[-2000:]
        out.append(json.loads(path.read_text()))
    return out


@pytest.fixture(scope="module")
def loaded(pg_server: ServerHandle) -> Iterator[tuple[Database, GenerateSection]]:
    """One database at head loaded with seed 8 (shared by the read-only tests below)."""
    name = f"t_gen_{secrets.token_hex(4)}"
    pg_server.create_database(name)
    db = Database(pg_server.database_dsn(name), name, pg_server, disposable=True)
    try:
        alembic_project.upgrade(db, "head")
        yield db, load_dataset(db, load_profile("ci"), SCALE, seed=8, console=quiet())
    finally:
        pg_server.drop_database(name)


def test_same_seed_twice_gives_identical_checksums_and_counts(cli_runs: list[dict[str, Any]]) -> None:
    first, second = (r["dataset"] for r in cli_runs)
    assert first["checksums"] == second["checksums"]
    assert first["dataset_digest"] == second["dataset_digest"]
    assert set(first["checksums"]) == set(TABLES)
    assert all(c["rows"] > 0 for c in first["checksums"].values())
    assert cli_runs[0]["verdict"] == "pass"


def test_a_different_seed_gives_different_data(cli_runs: list[dict[str, Any]],
                                               loaded: tuple[Database, GenerateSection]) -> None:
    seed7 = cli_runs[0]["dataset"]["checksums"]
    seed8 = loaded[1].checksums
    assert loaded[1].dataset_digest != cli_runs[0]["dataset"]["dataset_digest"]
    for table in ("wards", "candidates", "ward_results", "posts", "post_embeddings", "ai_reports"):
        assert seed7[table]["checksum"] != seed8[table].checksum, table


def test_every_row_satisfies_the_schema_and_the_domain_invariants(loaded: tuple[Database, GenerateSection]) -> None:
    db, summary = loaded
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                            "WHERE n.nspname = 'public' AND NOT c.convalidated").fetchone() == (0,)
        over = conn.execute(
            "SELECT count(*) FROM ward_turnout t JOIN (SELECT election_id, ward_id, sum(votes) AS v "
            "FROM ward_results GROUP BY 1, 2) r USING (election_id, ward_id) "
            "WHERE r.v > t.ballots_cast OR r.v < 0.98 * t.ballots_cast").fetchone()
        assert over == (0,)
        assert conn.execute("SELECT count(*) FROM ward_results r LEFT JOIN ward_turnout t "
                            "USING (election_id, ward_id) WHERE t.ward_id IS NULL").fetchone() == (0,)
        # Audit triggers fired during the load: one audit row per audited row, none disabled.
        audited = conn.execute("SELECT (SELECT count(*) FROM candidates) + (SELECT count(*) FROM ward_results)"
                               " + (SELECT count(*) FROM ward_turnout) + (SELECT count(*) FROM ai_reports)"
                               ).fetchone()
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == audited
        assert audited is not None and summary.audit_log.rows == audited[0]
        # Sequences were moved past the explicit ids: the application's next insert just works.
        new_id = conn.execute("INSERT INTO parties (code, name, colour) VALUES ('ZZ', 'New', '#000000') "
                              "RETURNING id").fetchone()
        assert new_id == (summary.tables["parties"].rows + 1,)
        conn.rollback()
        # Secondary indexes, HNSW included, were rebuilt.
        names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
        assert {"ix_post_embeddings_embedding_hnsw", "ix_ai_reports_embedding_hnsw",
                "ix_posts_ward_id_published_at"} <= names


def test_the_floor_copies_every_table_and_leaves_the_dataset_as_it_was(
        loaded: tuple[Database, GenerateSection]) -> None:
    """generate --benchmark's floor: a timed raw COPY of every table's own rows plus the run's vector index builds
    (told apart by access method: the reference chain's are HNSW graphs); the scratch tables go with the
    rolled-back transaction, so the dataset's checksums are unchanged."""
    db, summary = loaded
    with db.connect() as conn:
        before = database_checksums(conn)
    floor, gate = generation_floor(db, summary, defaults())
    assert set(floor.raw_copy_s) == set(summary.tables) and floor.raw_copy_s["post_embeddings"] > 0
    hnsw = {n for n in summary.index_builds_s if "hnsw" in n}
    assert hnsw == {"ix_post_embeddings_embedding_hnsw", "ix_ai_reports_embedding_hnsw",
                    "ix_post_embeddings_positive_hnsw", "ix_post_embeddings_negative_hnsw"}
    assert floor.hnsw_build_s == pytest.approx(sum(summary.index_builds_s[n] for n in hnsw), abs=1e-3)
    assert floor.ivfflat_build_s == 0 and floor.floor_s == pytest.approx(floor.raw_copy_total_s + floor.hnsw_build_s,
                                                                           abs=2e-3)
    assert floor.ratio == pytest.approx(summary.total_s / floor.floor_s, rel=1e-2) and floor.ratio > 1
    assert gate.key == "generate_vs_floor" and gate.observed == floor.ratio
    with db.connect() as conn:
        assert database_checksums(conn) == before
        scratch = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'wardbench_loadbench'").fetchone()
        assert scratch == (0,)


def test_a_database_that_already_holds_data_is_refused(loaded: tuple[Database, GenerateSection]) -> None:
    with pytest.raises(UsageError, match="already holds data"):
        load_dataset(loaded[0], load_profile("ci"), SCALE, seed=8, console=quiet())


def test_hnsw_recall_is_high_on_generated_embeddings_and_lower_on_iid_ones(
        loaded: tuple[Database, GenerateSection]) -> None:
    db, _ = loaded
    with db.connect() as conn:
        register_vector(conn)
        ids, vectors = zip(*conn.execute("SELECT post_id, embedding FROM post_embeddings ORDER BY post_id"),
                           strict=True)
        data = np.stack([np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v) for v in vectors])
        data = data.astype(np.float32)
        iid = np.random.default_rng(0).standard_normal(data.shape).astype(np.float32)
        iid /= np.linalg.norm(iid, axis=1, keepdims=True)
        conn.execute(sql.SQL("CREATE TEMP TABLE iid (id bigint PRIMARY KEY, embedding vector({}))").format(
            sql.Literal(data.shape[1])))
        with conn.cursor().copy("COPY iid (id, embedding) FROM STDIN") as copy:
            for i, v in enumerate(iid):
                copy.write_row((i, v))
        # Both as the reference chain indexes post embeddings (revision 013): a halfvec expression index.
        conn.execute(sql.SQL("CREATE INDEX ON iid USING hnsw ((embedding::halfvec({})) halfvec_cosine_ops)").format(
            sql.Literal(data.shape[1])))
        conn.execute("SET hnsw.ef_search = 10")
        queries = np.arange(0, len(data), max(1, len(data) // 40))

        def recall(table: str, matrix: np.ndarray, keys: np.ndarray) -> float:
            hits = 0
            for q in queries:
                ann = [r[0] for r in conn.execute(f"SELECT {'post_id' if table == 'post_embeddings' else 'id'} "
                                                  f"FROM {table} ORDER BY embedding::halfvec({data.shape[1]}) "
                                                  f"<=> %s::halfvec({data.shape[1]}) LIMIT 10", (matrix[q],))]
                exact = keys[np.argsort(-(matrix @ matrix[q]))[:10]]
                hits += len(set(ann) & set(exact.tolist()))
            return hits / (10 * len(queries))

        generated = recall("post_embeddings", data, np.array(ids))
        random = recall("iid", iid, np.arange(len(iid)))
    assert generated >= 0.95
    assert random < generated


def test_the_copies_on_embedding_rows_equal_their_sources_and_the_triggers_are_back(
        loaded: tuple[Database, GenerateSection]) -> None:
    """The loader writes each embedding row's ward, time and score itself with revision 014's triggers off, and
    revision 016's post_embedding_bits in one statement with its trigger off: every copy equals its source, and
    the triggers are enabled again after the load."""
    from harness.datagen.loader import COPY_TRIGGERS

    with loaded[0].connect() as conn:
        drift = conn.execute(
            "SELECT count(*) FROM post_embeddings e JOIN posts p ON p.id = e.post_id "
            "LEFT JOIN sentiment_scores s ON s.post_id = e.post_id "
            "WHERE (e.ward_id, e.published_at, e.sentiment_score) IS DISTINCT FROM (p.ward_id, p.published_at, s.score)"
        ).fetchone()
        assert drift == (0,)
        assert conn.execute("SELECT count(*) FROM post_embeddings WHERE sentiment_score IS NULL").fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*), count(e.post_id) FILTER (WHERE b.bits IS DISTINCT FROM "
            "binary_quantize(e.embedding)::bit(384) OR (b.ward_id, b.published_at) IS DISTINCT FROM "
            "(e.ward_id, e.published_at)) FROM post_embeddings e FULL JOIN post_embedding_bits b USING (post_id)"
        ).fetchone() == (loaded[1].planned_rows["post_embeddings"], 0)
        states = conn.execute("SELECT tgname, tgenabled FROM pg_trigger WHERE tgname = ANY(%s) ORDER BY 1",
                              ([t for _, t in COPY_TRIGGERS],)).fetchall()
    assert states == sorted((t, "O") for _, t in COPY_TRIGGERS)


def test_a_table_of_the_users_referencing_ours_loads_without_freeze(fresh_db: Database) -> None:
    """A database at head with one more table referencing posts cannot TRUNCATE posts alone: generate loads the
    same rows without COPY FREEZE, and the user's table is left as it was."""
    alembic_project.upgrade(fresh_db, "head")
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE user_bookmarks (post_id bigint REFERENCES posts (id), note text)")
    summary = load_dataset(fresh_db, load_profile("ci"), SCALE, seed=8, console=quiet())
    with fresh_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM posts").fetchone() == (summary.planned_rows["posts"],)
        assert conn.execute("SELECT count(*) FROM user_bookmarks").fetchone() == (0,)


def test_a_failure_mid_load_leaves_nothing_behind(fresh_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    alembic_project.upgrade(fresh_db, "head")
    with fresh_db.connect() as conn:
        before = conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'").fetchone()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(content, "post_rows", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        load_dataset(fresh_db, load_profile("ci"), SCALE, seed=1, console=quiet())
    with fresh_db.connect() as conn:
        for table in TABLES:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (0,)
        after = conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'").fetchone()
    assert after == before


@pytest.mark.parametrize(("args", "message"), [
    (["--profile", "nope"], "unknown profile 'nope'"),
    (["--scale-factor", "-1"], "bad scale factor"),
])
def test_bad_profile_or_scale_exits_2_with_one_line(args: list[str], message: str) -> None:
    proc = run_cli("generate", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


@pytest.mark.parametrize("revision", [None, "005"])
def test_schema_not_at_head_exits_2_and_loads_nothing(fresh_db: Database, revision: str | None,
                                                      tmp_path: Path) -> None:
    if revision:
        alembic_project.upgrade(fresh_db, revision)
    proc = run_cli("generate", "--profile", "ci", "--scale-factor", str(SCALE), "--dsn", fresh_db.dsn,
                   "--in-place", "--reports-dir", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not head" in lines[0]
    with fresh_db.connect() as conn:
        assert alembic_project.current_revision(fresh_db) == revision
        if revision:
            assert conn.execute("SELECT count(*) FROM constituencies").fetchone() == (0,)
