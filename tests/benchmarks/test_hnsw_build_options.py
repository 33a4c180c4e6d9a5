"""The post-embeddings HNSW build by the options that matter on this machine: storage type (vector, a halfvec
expression, or a binary-quantized expression re-ranked in full precision), ef_construction, maintenance_work_mem
against the graph's size, parallel maintenance workers; and, as the peer with no graph to build, an IVFFlat index
(k-means lists) searched at a few probe counts.

Slow: 10^6 rows (WARDBENCH_HNSW_ROWS) of the release profile's own embeddings (the generator's batches, seed
42), each option built once, then recall@10 against an exact scan and latency over the same perturbed queries
(as the `post_embedding` sampler draws them), unfiltered and under two filters through pgvector's iterative
scan as the scenarios run them: sentiment >= 0 (about half the rows, spread over the graph, as
`vector_search_sentiment`) and the newest 37.7 % of rows (the rows inserted last, as model v2 selects them:
posts are generated in publication order and v2 scored the latest), at the profile's ef_search and the
scenarios' 200 (or the option's own). The table (option -> build s, index MB, recall@10, p50/p95 ms) is
printed, kept in extra_info and written to hnsw-build-options.json (in WARDBENCH_HNSW_OUT when set), with the
fastest build whose recall@10 is >= 0.95 by its lower 95 % confidence bound and p95 <= 20 ms (issue 15's bar),
unfiltered and under both filters, at one ef_search.
Filtered recall is what decided revision 013: ef_construction 32 passes unfiltered on these queries (0.963) and
failed the release bench's filtered scenarios. This table screens; the release bench decides: m 12 with
ef_construction 48 passes here at ef_search 400 (lower bounds 0.951-0.954, the newest rows included), and a release
bench on a dataset indexed so measured recall@10 0.932 for model v2 (its filter joins the scores table) and
0.950-0.956 for three more scenarios.
IVFFlat has no graph to build, and on these embeddings (topic clusters) its lists hold recall: 10^6 rows, quiet,
one run (issue 15's session 6): halfvec graph of revision 013 786.5 s; IVFFlat over the halfvec expression, 1000
lists, 74.4-81.7 s (passing at 16 probes: lower bound 0.954, p95 17.6 ms; 12 probes 0.902; 2000 lists build in
196.6 s and need 40 probes); binary-quantized, 1000 lists, the 400 nearest re-ranked, 27.1 s, passing this screen
at 40 probes (lower bound 0.979, p95 14.1 / 20.0 / 15.7 ms). On a copy of the release dataset with the graph
replaced, the scenarios' own queries (60 each): halfvec at 16 probes recall@10 0.960-0.975 and p95 17.0-18.4 ms for
all, model v1/v2 and sentiment >= 0, but the 30-day window's plan turned into its B-tree and an exact sort (p95
~280 ms); binary's 400 candidates made the joined filters 18-23 ms at p50. Its lists are trained on the rows
present at CREATE INDEX, so posts on topics that arrive later land in lists centred elsewhere: an IVFFlat index is
rebuilt as the data drifts, which a graph is not.
In the chain, the lists lost (issue 15's session 7, a revision swapping the graph for 1000 lists, reverted). Same
day, same machine, quiet: generate took 290.4 s (lists 67.2 s) against 993.5 s (graph 766.2 s), but the release
bench at 16 probes measured p95 21.5-26.2 ms for all, model v1/v2, sentiment >= 0 and the 30-day window (the
graph: 16.6-20.4), recall@10 0.944 for the window (its plan fenced onto the lists), and at the lists' default of
1 probe the planner preferred them to the sentiment bands' partial graphs (0 rows). On a copy of that dataset,
12 probes: p95 19.5-25.8 ms, recall 0.925-0.952.
WARDBENCH_HNSW_OPTIONS picks options by name (default: the issue's build, revision 013's, and m 12).
Speed is never asserted: the assertions are on recall and on the build actually being what was asked for.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from harness.bench.sampling import perturb_vector
from harness.config import load_profile
from harness.datagen import content, geography
from harness.datagen.copy import copy_batches, table_columns
from harness.datagen.embeddings import SyntheticEmbedder, make_space
from harness.datagen.plan import make_plan
from harness.datagen.pools import TOPICS, build_pools
from harness.db import Database
from harness.db.embedded import scratch_server

pytestmark = pytest.mark.slow
ROWS = int(os.environ.get("WARDBENCH_HNSW_ROWS", "1000000"))
DIM, QUERIES, K, RECALL_FLOOR = 384, 200, 10, 0.95
P95_BAR_MS = 20.0  # issue 15's bar for a vector scenario at release scale (the users' target is 200)


@dataclass(frozen=True)
class Option:
    name: str
    opclass_expr: str  # what the index is built on, and with which operator class
    order_by: str  # the ORDER BY expression that uses it
    ef_construction: int
    maintenance_work_mem: str
    workers: int
    m: int = 16
    candidates: int = 10  # rows the index returns for re-ranking in full precision (k, or more when quantized)
    ef_searches: tuple[int, ...] = ()  # () = the profile's ef_search and 200; an IVFFlat index's probes
    lists: int = 0  # > 0: an IVFFlat index of that many lists instead of a graph (m, ef_construction unused)

    @property
    def method(self) -> str:
        return "ivfflat" if self.lists else "hnsw"

    @property
    def build_with(self) -> str:
        return f"lists = {self.lists}" if self.lists else f"m = {self.m}, ef_construction = {self.ef_construction}"

    @property
    def breadth(self) -> str:
        """The setting that widens a search: candidates a graph walk keeps, or lists an IVFFlat scan reads."""
        return "ivfflat.probes" if self.lists else "hnsw.ef_search"


VECTOR = ("embedding vector_cosine_ops", "embedding <=> %(q)s")
HALF = ("(embedding::halfvec(384)) halfvec_cosine_ops", "embedding::halfvec(384) <=> %(q)s::halfvec(384)")
BITS = ("(binary_quantize(embedding)::bit(384)) bit_hamming_ops",
        "binary_quantize(embedding)::bit(384) <~> binary_quantize(%(q)s::vector(384))")
OPTIONS = {o.name: o for o in (
    Option("vector_ef64", *VECTOR, 64, "3GB", 1),  # revisions 004-010: the 1506 s build of the issue
    Option("vector_ef128", *VECTOR, 128, "3GB", 1),  # revision 011
    Option("halfvec_ef64", *HALF, 64, "3GB", 1),
    Option("halfvec_ef32", *HALF, 32, "3GB", 1),
    Option("halfvec_ef64_serial", *HALF, 64, "3GB", 0),
    Option("halfvec_ef64_mwm256", *HALF, 64, "256MB", 1),  # the graph (~1 GB at 10^6) does not fit
    # One bit per dimension: a graph of 332 MB, distances nearly free; recall comes from re-ranking 400 candidates.
    Option("binary_ef48", *BITS, 48, "3GB", 1, candidates=400, ef_searches=(400,)),
    Option("binary_ef64", *BITS, 64, "3GB", 1, candidates=400, ef_searches=(400,)),
    # Fewer links per node: each insertion's search expands fewer neighbours, so the build does less work; the
    # searches must then widen (ef_search) to keep recall.
    Option("halfvec_m8_ef64", *HALF, 64, "3GB", 1, m=8, ef_searches=(100, 200, 400)),
    Option("halfvec_m8_ef48", *HALF, 48, "3GB", 1, m=8, ef_searches=(100, 200, 400)),
    Option("halfvec_m12_ef48", *HALF, 48, "3GB", 1, m=12, ef_searches=(200, 400)),
    Option("halfvec_m12_ef40", *HALF, 40, "3GB", 1, m=12, ef_searches=(200, 400)),
    # No graph at all: k-means lists (rows / 1000, as pgvector advises), each row assigned to its nearest centre.
    # The build is a sample's clustering plus one distance per row and centre; a search reads `probes` lists.
    Option("ivfflat_halfvec_l1000", *HALF, 0, "3GB", 1, lists=1000, ef_searches=(5, 8, 10, 12, 16, 20, 40)),
    Option("ivfflat_halfvec_l2000", *HALF, 0, "3GB", 1, lists=2000, ef_searches=(5, 10, 16, 20, 40)),
    Option("ivfflat_halfvec_l500", *HALF, 0, "3GB", 1, lists=500, ef_searches=(5, 8, 10, 20)),
    Option("ivfflat_binary_l1000", *BITS, 0, "3GB", 1, lists=1000, candidates=400, ef_searches=(20, 40, 80)),
)}
DEFAULT = "vector_ef64,halfvec_ef64,halfvec_m12_ef48"


@dataclass
class Row:
    option: str
    build_s: float
    index_mb: int
    ef_search: int
    recall_at_10: float
    recall_min: float
    p50_ms: float
    p95_ms: float
    filtered_recall_at_10: float  # sentiment >= 0
    filtered_p95_ms: float
    newest_recall_at_10: float  # the newest 37.7 % of rows
    newest_p95_ms: float
    recall_low: float  # the worst lower 95 % confidence bound of the three mean recalls (what the choice reads)


def _embedding_batches(rows: int) -> Iterator[dict[str, Any]]:
    """The release profile's post embeddings, batch by batch, exactly as `generate` writes them."""
    plan = make_plan(dict(load_profile("release")), rows / 1_000_000, 42)
    pools = build_pools(plan.seed, plan.locale)
    act = content.build(plan, pools, geography.build(plan, pools))
    embedder = SyntheticEmbedder(make_space(DIM, len(TOPICS), plan.seed))
    for i, batch in enumerate(content.post_batches(plan, act, pools)):
        data = content.embedding_rows(plan, batch, embedder, i)
        yield {name: data[name] for name in ("post_id", "embedding", "sentiment_score")}


@pytest.fixture
def embeddings() -> Iterator[Database]:
    """A server with the release profile's settings (shared_buffers holds the table and the index)."""
    settings = {k: str(v) for k, v in load_profile("release")["server"].items()}
    with scratch_server(18, settings, prefix="tests-") as server:
        handle = server.handle()
        handle.create_database("hnsw_options")
        db = Database(handle.database_dsn("hnsw_options"), "hnsw_options", handle, disposable=True)
        _load(db)
        yield db


def _load(db: Database) -> None:
    with db.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        # sentiment_score: revision 014's copy of the post's score, so a filter can be probed on the table itself.
        conn.execute(f"CREATE TABLE post_embeddings (post_id bigint PRIMARY KEY, embedding vector({DIM}) NOT NULL, "
                     "sentiment_score double precision NOT NULL)")
        with conn.cursor() as cur:
            copy_batches(cur, "post_embeddings", table_columns(conn, "post_embeddings"), _embedding_batches(ROWS))
        conn.execute("VACUUM (ANALYZE) post_embeddings")


def _queries(conn: psycopg.Connection[Any]) -> list[np.ndarray[Any, Any]]:
    rng = np.random.default_rng(7)
    ids = rng.choice(np.arange(1, ROWS + 1), QUERIES, replace=False).tolist()
    rows = conn.execute("SELECT embedding FROM post_embeddings WHERE post_id = ANY(%s) ORDER BY post_id",
                        (ids,)).fetchall()
    return [perturb_vector(r[0].to_numpy(), 0.05, rng) for r in rows]


def _search(conn: psycopg.Connection[Any], order_by: str, queries: list[np.ndarray[Any, Any]], *,
            candidates: int = K, where: str = "") -> tuple[list[list[int]], list[float]]:
    """Top-k ids per query and each query's latency (ms); the index's candidates re-ranked by full-precision
    distance, as the scenarios do."""
    query = (f"WITH c AS MATERIALIZED (SELECT post_id, embedding FROM post_embeddings {where} ORDER BY {order_by} "
             f"LIMIT {candidates}) SELECT post_id FROM c ORDER BY embedding <=> %(q)s LIMIT {K}")
    ids, ms = [], []
    for q in queries:
        t0 = time.perf_counter()
        rows = conn.execute(query, {"q": q}).fetchall()
        ms.append((time.perf_counter() - t0) * 1000)
        ids.append([r[0] for r in rows])
    return ids, ms


def _truth(conn: psycopg.Connection[Any], queries: list[np.ndarray[Any, Any]], where: str = "") -> list[list[int]]:
    conn.execute("SET enable_indexscan = off")
    try:
        return _search(conn, "embedding <=> %(q)s", queries, where=where)[0]
    finally:
        conn.execute("RESET enable_indexscan")


SENTIMENT = "WHERE sentiment_score >= 0"
NEWEST = f"WHERE post_id > {int(ROWS * 0.623)}"  # model v2's share of the release dataset: posts after 623,262
WHERE = ("", SENTIMENT, NEWEST)


def _recalls(ids: list[list[int]], truth: list[list[int]]) -> list[float]:
    return [len(set(a) & set(t)) / K for a, t in zip(ids, truth, strict=True)]


def _low(recalls: list[float]) -> float:
    """Lower 95 % confidence bound of the mean recall: a few stranded queries (recall 0-0.7) move a mean near
    0.95 across the floor from one query set to the next (ef_construction 32: 0.963 on this benchmark's first
    100 queries, 0.944 on the release bench's), so an option must clear the floor by its sampling error."""
    return statistics.fmean(recalls) - 1.96 * statistics.stdev(recalls) / math.sqrt(len(recalls))


def _p95(ms: list[float]) -> float:
    return round(sorted(ms)[int(0.95 * len(ms)) - 1], 2)


def _measure(conn: psycopg.Connection[Any], option: Option, queries: list[np.ndarray[Any, Any]],
             truth: list[list[list[int]]], ef_search: int, build_s: float, index_mb: int) -> Row:
    conn.execute(f"SET {option.breadth} = {ef_search}")
    _search(conn, option.order_by, queries[:10], candidates=option.candidates)  # warm the index's pages
    recalls, latencies = [], []  # per filter, in WHERE's order (unfiltered first)
    for where, exact in zip(WHERE, truth, strict=True):
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT post_id FROM post_embeddings {where} ORDER BY "
                                                     f"{option.order_by} LIMIT {option.candidates}",
                                                     {"q": queries[0]}).fetchall())
        assert "hnsw_build_option" in plan, plan  # the option's index answered, not a scan
        ids, ms = _search(conn, option.order_by, queries, candidates=option.candidates, where=where)
        recalls.append(_recalls(ids, exact))
        latencies.append(ms)
    mean = [round(statistics.fmean(r), 3) for r in recalls]
    p95s = [_p95(ms) for ms in latencies]
    return Row(option.name, round(build_s, 1), index_mb, ef_search, mean[0], min(recalls[0]),
               round(statistics.median(latencies[0]), 2), p95s[0],
               mean[1], p95s[1], mean[2], p95s[2], round(min(_low(r) for r in recalls), 3))


@pytest.mark.timeout(4 * 3600)  # builds of 4-8 min each at 10^6, not the suite's 15-min limit per test
def test_hnsw_build_options(embeddings: Database, benchmark: Any, tmp_path: Path) -> None:
    names = os.environ.get("WARDBENCH_HNSW_OPTIONS", DEFAULT).split(",")
    ef_default = int(load_profile("release")["ef_search"])
    table: list[Row] = []

    def build_all() -> None:
        with embeddings.connect(autocommit=True) as conn:
            register_vector(conn)
            for method in ("hnsw", "ivfflat"):  # filtered searches, as the scenarios run them
                conn.execute(f"SET {method}.iterative_scan = relaxed_order")
            queries = _queries(conn)
            truth = [_truth(conn, queries, where) for where in WHERE]
            for name in names:
                o = OPTIONS[name]
                conn.execute(f"SET maintenance_work_mem = '{o.maintenance_work_mem}'")
                conn.execute(f"SET max_parallel_maintenance_workers = {o.workers}")
                t0 = time.perf_counter()
                conn.execute(f"CREATE INDEX hnsw_build_option ON post_embeddings USING {o.method} "
                             f"({o.opclass_expr}) WITH ({o.build_with})")
                build_s = time.perf_counter() - t0
                mb = conn.execute("SELECT pg_relation_size('hnsw_build_option') / 1048576").fetchone()[0]  # type: ignore[index]
                print(f"{name}: built in {build_s:.1f} s, {mb} MB", flush=True)
                for ef in o.ef_searches or sorted({ef_default, 200}):
                    table.append(_measure(conn, o, queries, truth, ef, build_s, int(mb)))
                    print(f"  {asdict(table[-1])}", flush=True)
                conn.execute("DROP INDEX hnsw_build_option")

    benchmark.pedantic(build_all, rounds=1, iterations=1)
    good = [r for r in table if r.recall_low >= RECALL_FLOOR
            and max(r.p95_ms, r.filtered_p95_ms, r.newest_p95_ms) <= P95_BAR_MS]
    fastest = min(good, key=lambda r: r.build_s) if good else None
    lines = [f"HNSW build options, {ROWS:,} x {DIM} (release embeddings), {QUERIES} queries:",
             "option | m | build s | index MB | ef_search (IVFFlat: probes) | recall@10 (min) | p50 ms | p95 ms | "
             "filtered recall@10 | filtered p95 ms | newest recall@10 | newest p95 ms | recall lower bound"]
    lines += [f"{r.option} | {'-' if OPTIONS[r.option].lists else OPTIONS[r.option].m} | {r.build_s} | {r.index_mb} | "
              f"{r.ef_search} | "
              f"{r.recall_at_10} ({r.recall_min}) | {r.p50_ms} | {r.p95_ms} | {r.filtered_recall_at_10} | "
              f"{r.filtered_p95_ms} | {r.newest_recall_at_10} | {r.newest_p95_ms} | {r.recall_low}"
              for r in table]
    lines.append(f"fastest build passing this screen (recall@10 lower bound >= {RECALL_FLOOR}, p95 <= {P95_BAR_MS} ms, "
                 "unfiltered and under both filters): "
                 f"{fastest.option if fastest else 'none'}; a release bench on a dataset indexed so decides")
    print("\n" + "\n".join(lines))
    out = {"rows": ROWS, "table": [asdict(r) for r in table], "fastest_passing": fastest.option if fastest else None}
    benchmark.extra_info.update(out)
    (Path(os.environ.get("WARDBENCH_HNSW_OUT", tmp_path)) / "hnsw-build-options.json").write_text(
        json.dumps(out, indent=2))
    assert fastest is not None, lines
