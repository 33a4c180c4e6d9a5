"""Plan summaries from canned EXPLAIN (FORMAT JSON) documents: access paths named, index use detected."""

from __future__ import annotations

from typing import Any

from harness.bench.plans import shape, uses_index

HNSW_JOIN: dict[str, Any] = {"Plan": {"Node Type": "Limit", "Plans": [{"Node Type": "Nested Loop", "Plans": [
    {"Node Type": "Index Scan", "Index Name": "ix_post_embeddings_embedding_hnsw", "Relation Name": "post_embeddings"},
    {"Node Type": "Index Scan", "Index Name": "pk_posts", "Relation Name": "posts"}]}]}}
EXACT: dict[str, Any] = {"Plan": {"Node Type": "Limit", "Plans": [{"Node Type": "Sort", "Plans": [
    {"Node Type": "Seq Scan", "Relation Name": "post_embeddings"}]}]}}
BITMAP: dict[str, Any] = {"Plan": {"Node Type": "Bitmap Heap Scan", "Relation Name": "posts", "Plans": [
    {"Node Type": "Bitmap Index Scan", "Index Name": "ix_posts_ward_id_id"}]}}


def test_shape_names_indexes_in_plan_order() -> None:
    assert shape(HNSW_JOIN) == "ix_post_embeddings_embedding_hnsw + pk_posts"
    assert shape(BITMAP) == "ix_posts_ward_id_id"


def test_shape_without_indexes_names_the_scans() -> None:
    assert shape(EXACT) == "Seq Scan"


def test_uses_index_sees_every_index_path() -> None:
    assert uses_index(HNSW_JOIN) and uses_index(BITMAP)
    assert not uses_index(EXACT)  # what the exact-search ground truth must look like
