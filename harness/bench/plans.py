"""EXPLAIN (FORMAT JSON) plans reduced to what a reader checks: node types, indexes, sequential scans."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Required, TypedDict, cast

import psycopg
from psycopg import sql

from harness.results.bench import PlanSummary, SeqScan

# The keys of EXPLAIN's JSON this module reads (PostgreSQL names them with spaces).
PlanNode = TypedDict("PlanNode", {"Node Type": Required[str], "Plans": list["PlanNode"], "Index Name": str,
                                  "Relation Name": str, "Total Cost": float, "Shared Hit Blocks": int,
                                  "Shared Read Blocks": int}, total=False)
ExplainDoc = TypedDict("ExplainDoc", {"Plan": Required[PlanNode], "Planning Time": float, "Execution Time": float},
                       total=False)


def _nodes(node: PlanNode) -> Iterator[PlanNode]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def explain(conn: psycopg.Connection[Any], query: str, params: Mapping[str, object],
            analyze: bool = False) -> ExplainDoc:
    """The plan JSON document (top object, with Plan, and timings under ANALYZE) for one parameter set."""
    # TIMING OFF: per-node clocks would inflate the execution time we compare client latency against.
    # BUFFERS only reports the counts the executor keeps anyway.
    options = sql.SQL("ANALYZE, TIMING OFF, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON")
    statement = sql.SQL("EXPLAIN ({}) ").format(options) + sql.SQL(query)
    row = conn.execute(statement, params).fetchone()
    if row is None:
        raise RuntimeError("EXPLAIN returned no plan")
    doc = row[0]
    return cast(ExplainDoc, dict(doc[0] if isinstance(doc, list) else doc))


def blocks(plan: ExplainDoc) -> int | None:
    """Shared buffers the execution touched, hit or read (EXPLAIN ANALYZE BUFFERS; the top node counts its
    children's): the query's work in pages, which grows with the data even where a fixed per-query cost hides
    that growth in the latency. None without ANALYZE."""
    top = plan["Plan"]
    if "Shared Hit Blocks" not in top:
        return None
    return top["Shared Hit Blocks"] + top.get("Shared Read Blocks", 0)


def uses_index(plan: ExplainDoc) -> bool:
    """True when any node reads through an index (B-tree, HNSW, bitmap)."""
    return any("Index" in n["Node Type"] or "Bitmap" in n["Node Type"] for n in _nodes(plan["Plan"]))


def shape(plan: ExplainDoc) -> str:
    """A short name for a plan's access path: the indexes it reads, else its scan node types."""
    nodes = list(_nodes(plan["Plan"]))
    indexes = list(dict.fromkeys(n["Index Name"] for n in nodes if "Index Name" in n))
    if indexes:
        return " + ".join(indexes)
    return " + ".join(dict.fromkeys(n["Node Type"] for n in nodes if "Scan" in n["Node Type"])) or "no scan"


def summarize(conn: psycopg.Connection[Any], plan: ExplainDoc, large_table_rows: int) -> PlanSummary:
    """Node types in plan order, indexes used, and sequential scans with the scanned table's size."""
    nodes = list(_nodes(plan["Plan"]))
    seq = sorted({n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan" and "Relation Name" in n})
    sizes: dict[str, int] = {}
    if seq:
        # reltuples is -1 before the first ANALYZE; the live-tuple count covers that case.
        rows = conn.execute("SELECT c.relname, greatest(c.reltuples, s.n_live_tup, 0)::bigint FROM pg_class c "
                            "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = ANY(%s)",
                            (seq,)).fetchall()
        sizes = {str(name): int(tuples) for name, tuples in rows}
    return PlanSummary(
        nodes=tuple(dict.fromkeys(n["Node Type"] for n in nodes)),
        indexes=tuple(dict.fromkeys(n["Index Name"] for n in nodes if "Index Name" in n)),
        seq_scans=tuple(SeqScan(t, sizes.get(t, 0)) for t in seq),
        large_seq_scans=tuple(t for t in seq if sizes.get(t, 0) >= large_table_rows),
        total_cost=plan["Plan"].get("Total Cost"))
