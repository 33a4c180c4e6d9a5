"""Every reference scenario measured and gated at a tiny scale; recall computed; the filtered-search trap caught."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from psycopg import sql

from harness import alembic_project
from harness.bench import session
from harness.bench.runner import run_bench
from harness.bench.sampling import draw_params
from harness.bench.scenarios import load_scenarios, suite_kinds
from harness.config import build_config, load_profile
from harness.datagen.loader import load_dataset
from harness.db import Database, ServerHandle
from harness.results import Results
from harness.results.bench import BenchOptions, ScenarioResult

TINY = BenchOptions(rounds=30, warmup_rounds=5, recall_queries=10, explain_samples=5)
SCALE = 0.02  # ci profile x 0.02: ~1,200 posts and embeddings, ~50 wards of very different activity


@pytest.fixture(scope="module")
def tiny_db(pg_server: ServerHandle) -> Iterator[Database]:
    """One tiny generated database (the real generator) shared by this module's tests (they only read it)."""
    name = f"t_bench_{secrets.token_hex(3)}"
    pg_server.create_database(name)
    db = Database(pg_server.database_dsn(name), name, pg_server, disposable=True)
    try:
        alembic_project.upgrade(db, "head")
        load_dataset(db, load_profile("ci"), SCALE, seed=3)
        yield db
    finally:
        pg_server.drop_database(name)


def _bench(db: Database, tmp_path: Path, dirs: list[Path] | None = None, suite: str = "all",
           options: BenchOptions = TINY, only: set[str] | None = None) -> tuple[Results, list[ScenarioResult]]:
    cfg = build_config(reports_dir=tmp_path, profile="ci")
    scenarios = [s for s in load_scenarios(dirs, suite_kinds(suite)) if only is None or s.name in only]
    results = Results(run_id=cfg.run_id, command="bench")
    records = run_bench(cfg, db, results, scenarios, options)
    return results, records


def test_every_reference_scenario_is_measured_and_gated(tiny_db: Database, tmp_path: Path) -> None:
    results, records = _bench(tiny_db, tmp_path)
    names = {r.name for r in records}
    assert {"ward_dashboard", "sentiment_trend_30d", "latest_posts_in_ward", "constituency_turnout_ranking",
            "latest_ai_reports_for_ward", "swing_between_elections"} <= names
    assert {"vector_search_all", "vector_search_ward.busy_ward", "vector_search_ward.quiet_ward",
            "vector_search_constituency", "vector_search_date_range", "vector_similar_reports"} <= names
    by_gate = {g.name: g for g in results.gates}
    for r in records:
        assert r.errors == 0, r.error
        assert r.count == TINY.rounds == len(r.samples_ms)
        assert 0 < r.p50_ms <= r.p95_ms <= r.p99_ms <= r.max_ms
        assert by_gate[f"{r.name} p95"].verdict == "pass"
        assert r.margin == pytest.approx((r.target_ms - r.p95_ms) / r.target_ms)
        assert r.timed_statement_prepared is False  # prepare_threshold=None: every execution planned afresh
        assert r.plan is not None and r.plan.nodes and r.server_p50_ms is not None and r.server_p50_ms > 0
        assert r.blocks_p50 is not None and r.blocks_p50 > 0  # every scenario reads pages of its tables
        if r.kind == "vector":
            label = f"{r.name} [{r.selectivity}]"
            assert by_gate[f"{label} rows returned"].verdict == "pass", r.name
            assert by_gate[f"{label} recall@10"].verdict == "pass", r
            assert r.recall_at_10 <= r.recall_at_10_tie_tolerant <= 1.0
            assert r.truth_plan_nodes is not None and "Index Scan" not in r.truth_plan_nodes
    assert results.bench is not None
    fidelity = results.bench.fidelity
    assert fidelity.samples == TINY.explain_samples * len(records)
    assert fidelity.server_p50_ms is not None and fidelity.server_p50_ms > 0
    assert fidelity.server_time_from == ("server log",)  # the embedded server's log is readable
    assert all(r.server_time_from == "server log" and r.overhead_p50_vs_explain_ms is not None for r in records)
    run_dir = tmp_path / results.run_id / "bench"
    assert (run_dir / "pytest-benchmark.json").is_file()
    assert results.bench.prepare_threshold is None


def _ward_scenario(db: Database, tmp_path: Path, name: str, query: str, options: BenchOptions,
                   extra: str = "") -> tuple[Results, ScenarioResult]:
    """Bench one user scenario of kind ward (any ward as its parameter), written to a folder of its own."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.toml").write_text(f'name = "{name}"\nkind = "ward"\n{extra}sql = "{query}"\n'
                                         '[params.ward_id]\nsampler = "any_ward"\n')
    results, (record,) = _bench(db, tmp_path, [folder], "ward", options, only={name})
    return results, record


def _trap_scenario(folder: Path, iterative: str) -> Path:
    """The ward-filtered search forced onto the HNSW path (enable_sort off), as the planner picks at scale."""
    folder.mkdir()
    (folder / "trap.toml").write_text(f"""
name = "trap_{iterative}"
kind = "vector"
selectivity = "quiet_ward"
sql = \"\"\"
SELECT e.post_id AS id, e.embedding <=> %(query)s AS distance
FROM post_embeddings e JOIN posts p ON p.id = e.post_id
WHERE p.ward_id = %(ward_id)s
ORDER BY e.embedding::halfvec(384) <=> %(query)s::halfvec(384) LIMIT %(k)s
\"\"\"
[settings]
"hnsw.iterative_scan" = "{iterative}"
"hnsw.ef_search" = "40"
enable_sort = "off"
[params.query]
sampler = "post_embedding"
[params.ward_id]
sampler = "quiet_ward"
""")
    return folder


@pytest.mark.parametrize("iterative", ["off", "relaxed_order"])
def test_selective_filter_without_iterative_scan_is_caught(tiny_db: Database, tmp_path: Path,
                                                             iterative: str) -> None:
    folder = _trap_scenario(tmp_path / "mine", iterative)
    results, records = _bench(tiny_db, tmp_path, [folder], "vector", only={f"trap_{iterative}"})
    (record,) = records
    assert record.plan is not None and "ix_post_embeddings_embedding_hnsw" in record.plan.indexes
    by_gate = {g.name: g for g in results.gates}
    label = f"trap_{iterative} [quiet_ward]"
    rows, recall = by_gate[f"{label} rows returned"], by_gate[f"{label} recall@10"]
    if iterative == "off":  # fast and wrong: HNSW's 40 candidates hold almost none of the ward's posts
        assert record.rows_returned_min < 10 and rows.verdict == "fail"
        assert record.recall_at_10 < 0.5 and recall.verdict == "fail"
    else:  # the same query with iterative scans keeps going until k rows pass the filter
        assert rows.verdict == "pass" and recall.verdict == "pass"


def test_weak_index_setting_fails_the_recall_gate(tiny_db: Database, tmp_path: Path) -> None:
    """Fast but wrong: HNSW with a candidate list of 2 returns at most 2 rows; rows and recall gates fail."""
    folder = tmp_path / "weak"
    folder.mkdir()
    reference = (Path(__file__).resolve().parents[2] / "scenarios" / "vector_search_all.toml").read_text()
    weak = reference.replace('name = "vector_search_all"', 'name = "weak_index"')
    assert '"hnsw.ef_search" = "200"' in weak
    (folder / "weak.toml").write_text(weak.replace('"hnsw.ef_search" = "200"',
                                                   '"hnsw.ef_search" = "2"\nenable_sort = "off"'))
    results, (record,) = _bench(tiny_db, tmp_path, [folder], "vector", only={"weak_index"})
    verdicts = {g.name: g.verdict for g in results.gates}
    assert record.plan is not None and record.plan.indexes == ("ix_post_embeddings_embedding_hnsw",)
    assert verdicts["weak_index p95"] == "pass"  # the latency gate alone would let it through
    assert verdicts["weak_index [all] rows returned"] == "fail" and verdicts["weak_index [all] recall@10"] == "fail"
    assert record.recall_at_10 <= 0.2


def test_without_a_readable_server_log_server_time_comes_from_explain(tiny_db: Database, tmp_path: Path) -> None:
    """A --dsn server's log is not ours to read: the portable EXPLAIN ANALYZE measure is used and named."""
    db = replace(tiny_db, server=replace(tiny_db.server, log_file=None))
    opts = BenchOptions(rounds=5, warmup_rounds=1, recall_queries=1, explain_samples=4)
    results, (record,) = _bench(db, tmp_path, options=opts, only={"latest_posts_in_ward"})
    assert results.bench is not None
    fidelity = results.bench.fidelity
    assert fidelity.server_time_from == ("explain analyze",) and fidelity.samples == 4
    assert record.server_time_from == "explain analyze" and record.overhead_p50_vs_explain_ms is None


def test_a_prepare_threshold_prepares_the_timed_statement(tiny_db: Database, tmp_path: Path) -> None:
    opts = BenchOptions(rounds=8, warmup_rounds=1, recall_queries=1, explain_samples=1, prepare_threshold=2)
    results, (record,) = _bench(tiny_db, tmp_path, options=opts, only={"latest_posts_in_ward"})
    assert record.errors == 0 and record.count == 8
    assert record.timed_statement_prepared is True  # run 10 times: prepared from the third
    assert results.bench and results.bench.prepare_threshold == 2


def test_missed_latency_target_fails_its_gate(tiny_db: Database, tmp_path: Path) -> None:
    opts = BenchOptions(rounds=10, warmup_rounds=1, recall_queries=1, explain_samples=2)
    results, record = _ward_scenario(tiny_db, tmp_path, "slow_ward", "SELECT pg_sleep(0.01), %(ward_id)s::int AS ward",
                                     opts, "target_p95_ms = 5\n")
    gate = next(g for g in results.gates if g.name == "slow_ward p95")
    assert record.p95_ms >= 10 and gate.verdict == "fail" and gate.margin is not None and gate.margin < 0


def test_failing_query_is_an_error_not_a_pass(tiny_db: Database, tmp_path: Path) -> None:
    opts = BenchOptions(rounds=5, warmup_rounds=1, recall_queries=1, explain_samples=1)
    results, record = _ward_scenario(tiny_db, tmp_path, "broken", "SELECT * FROM no_such_table WHERE id = %(ward_id)s",
                                     opts)
    verdicts = {g.name: g.verdict for g in results.gates}
    assert record.errors == 1 and "no_such_table" in record.error
    assert verdicts["broken errors"] == "fail" and verdicts["broken p95"] == "not_evaluated"
    assert results.verdict == "fail"


def test_sequential_scan_over_a_large_table_is_reported(tiny_db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / "scan.toml").write_text(
        'name = "title_search"\nkind = "ward"\n'
        'sql = "SELECT count(*) FROM posts WHERE ward_id = %(ward_id)s AND title LIKE \'%%vote%%\'"\n'
        '[params.ward_id]\nsampler = "any_ward"\n[settings]\nenable_indexscan = "off"\nenable_bitmapscan = "off"\n')
    opts = BenchOptions(rounds=5, warmup_rounds=1, recall_queries=1, explain_samples=2, large_table_rows=500)
    _, (record,) = _bench(tiny_db, tmp_path, [folder], "ward", opts, only={"title_search"})
    assert record.plan is not None and record.plan.large_seq_scans == ("posts",)
    assert record.plan.seq_scans[0].table_rows >= 500
    assert record.plan_shapes == {"Seq Scan": 2}


def test_parameter_draws_are_seeded(tiny_db: Database) -> None:
    scenario = next(s for s in load_scenarios() if s.name == "swing_between_elections")
    with session.connect(tiny_db.dsn) as conn:
        a, b = draw_params(conn, scenario, 20, seed=5), draw_params(conn, scenario, 20, seed=5)
        c = draw_params(conn, scenario, 20, seed=6)
    assert a == b and a != c
    assert all(d["before_id"] != d["after_id"] for d in a)


def test_prepared_generic_plan_ignores_later_settings_unless_preparation_is_off(tiny_db: Database) -> None:
    """Why the bench connection never prepares: a prepared generic plan survives SET enable_indexscan=off."""
    query = "SELECT id FROM posts WHERE ward_id = %(w)s ORDER BY published_at DESC LIMIT 5"
    with session.connect(tiny_db.dsn, {"plan_cache_mode": "force_generic_plan"}, prepare_threshold=0) as conn:
        conn.execute(query, {"w": 3}).fetchall()
        session.apply_settings(conn, {"enable_indexscan": "off", "enable_bitmapscan": "off"})
        conn.execute(query, {"w": 3}).fetchall()
        (name,) = conn.execute("SELECT name FROM pg_prepared_statements WHERE statement LIKE '%published_at%'",
                               prepare=False).fetchone() or (None,)
        assert name is not None
        cached = conn.execute(sql.SQL("EXPLAIN EXECUTE {}(3)").format(sql.Identifier(name)), prepare=False).fetchall()
        assert "Index" in " ".join(r[0] for r in cached)  # the stale plan still reads the index
    with session.connect(tiny_db.dsn) as conn:
        assert conn.prepare_threshold is None
        session.apply_settings(conn, {"enable_indexscan": "off", "enable_bitmapscan": "off"})
        for _ in range(8):
            conn.execute(query, {"w": 3}).fetchall()
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
        fresh = conn.execute("EXPLAIN " + query, {"w": 3}).fetchall()
        assert "Index" not in " ".join(r[0] for r in fresh)
