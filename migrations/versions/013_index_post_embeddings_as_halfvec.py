"""Index the post embeddings as halfvec (an expression index), swapped in without blocking readers.

Why: the HNSW build is the floor of every release dataset, restore and index rebuild. At 10^6 x 384 on this
2-core machine (m 16, one parallel worker, the graph in maintenance_work_mem), quiet: the single-precision graph
of ef_construction 64 took 576 s and 1,953 MB; a half-precision one of ef_construction 64 builds in 395-426 s and
takes 1,116 MB (tests/benchmarks/test_hnsw_build_options.py has the table). ef_construction 32 builds in 251 s,
but a release bench on it (10^6 posts) measured recall@10 0.944 unfiltered, 0.948 by model and 0.946 for
sentiment >= 0 at ef_search 200, and 0.948 unfiltered still at 300 (single queries stranded in the wrong
cluster): 64 is kept, which holds 0.964-0.982 on every scenario. Recall is kept by re-ranking: candidates are
ordered by their full-precision distance, which the table keeps (only the index is halved). Searches that
should use the index order by `embedding::halfvec(384) <=> query::halfvec(384)`.
An embedding element a half float cannot hold (|x| > 65,504) is refused from here on (the index expression
cannot cast it); model embeddings are normalised, and an upgrade over such a row fails before any swap.

How: as revision 011, the new index is built next to the old one with CREATE INDEX CONCURRENTLY in an autocommit
block, the old one is dropped CONCURRENTLY and the new one takes the name; an interrupted step is resumed. The
downgrade swaps the single-precision index of revision 011 back the same way.

Revision ID: 013
Revises: 012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "013"
down_revision: str | None = "012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_post_embeddings_embedding_hnsw"
BUILDING = f"{INDEX}_rebuild"
HALFVEC = "USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)"
VECTOR = "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 128)"  # revision 011's


def _swap(method: str) -> None:
    with op.get_context().autocommit_block():
        op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {BUILDING}"))
        op.execute(sa.text(f"CREATE INDEX CONCURRENTLY {BUILDING} ON post_embeddings {method}"))
        op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}"))
        op.execute(sa.text("SET lock_timeout = '2s'"))  # the rename never queues readers behind it
        op.execute(sa.text(f"ALTER INDEX {BUILDING} RENAME TO {INDEX}"))
        op.execute(sa.text("RESET lock_timeout"))


def upgrade() -> None:
    _swap(HALFVEC)


def downgrade() -> None:
    _swap(VECTOR)
