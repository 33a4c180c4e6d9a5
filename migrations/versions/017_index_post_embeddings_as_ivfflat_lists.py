"""Index the post embeddings with IVFFlat lists (k-means lists over the halfvec expression, sized to the rows) in
place of revision 013's HNSW graph, swapped in without blocking readers.

Why: the graph is the floor of every release dataset, restore and reindex, and no graph option halves it on two
cores. At 10^6 x 384 on a 2-core AMD EPYC, quiet, in one run of tests/benchmarks/test_hnsw_build_options.py:
revision 013's graph (m 16, ef_construction 64) built in 786.5 s (370-426 s on faster machines of the same
class); IVFFlat over the same halfvec expression with 1000 lists built in 74.4-81.7 s (0.095-0.104x) at 785 MB
against 1,116 MB. A search reads `ivfflat.probes` lists: at 16 the screen's
recall@10 was 0.981 unfiltered, 0.964 for sentiment >= 0 and 0.964 for the newest 37.7 % of rows (lower 95 %
bound 0.954), p95 16.4-17.6 ms; 12 probes fell to 0.902, 20 cost 20-23.6 ms. On a copy of the release dataset
with the graph replaced, the scenarios' own queries (60 each) at 16 probes: all 0.975 / p95 17.33 ms, model v1
0.970 / 18.35, model v2 0.960 / 16.99, sentiment >= 0 0.972 / 17.94 (the graph, same day: 0.970-0.986 /
18.1-21.6). The scenarios set the probes and an iterative scan, so a filter that rejects most of the probed rows
reads further lists until k pass. Candidates are still re-ranked in full precision, which the table keeps.

The lists are sized to the rows present, as pgvector advises: rows / 1000 up to 10^6 rows, sqrt(rows) above, at
least 1 (1000 at release scale; 60 at the ci profile's 60,000, where 16 probes read a quarter of the rows; one
list, an exact scan, on an empty or tiny table).

The price: the lists are k-means centres of the rows present when the index is built. Posts on topics that
arrive later are assigned to the nearest existing centre, so as the corpus drifts the lists grow uneven and
recall falls for the same probes; the index is rebuilt (REINDEX CONCURRENTLY) as the data drifts, which a graph
is not. An index built on a table still empty is created again once the rows are there, so that its lists are
sized to them (`wardbench generate` does so after its load). The sentiment bands' partial graphs (revision 014)
and the reports' graph stay HNSW: they are small.

How: as revision 013, the new index is built beside the old one with CREATE INDEX CONCURRENTLY in an autocommit
block (searches use the graph until the lists are valid), the old index is dropped CONCURRENTLY and the new one
takes its name. An interrupted step is resumed: a leftover build is dropped first and every drop tolerates an
index already gone. The downgrade builds revision 013's graph back the same way.

Revision ID: 017
Revises: 016
"""

import math
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "017"
down_revision: str | None = "016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LISTS = "ix_post_embeddings_embedding_ivfflat"
GRAPH = "ix_post_embeddings_embedding_hnsw"  # revision 013's
EXPRESSION = "(embedding::halfvec(384)) halfvec_cosine_ops"
HNSW = f"USING hnsw ({EXPRESSION}) WITH (m = 16, ef_construction = 64)"


def _swap(old: str, new: str, method: str) -> None:
    """Build `new` concurrently under a temporary name, drop `old` concurrently, then rename."""
    building = f"{new}_rebuild"
    with op.get_context().autocommit_block():
        op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {building}"))
        op.execute(sa.text(f"CREATE INDEX CONCURRENTLY {building} ON post_embeddings {method}"))
        op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {old}"))
        op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {new}"))  # an earlier run's, renamed before it failed
        op.execute(sa.text("SET lock_timeout = '2s'"))  # the rename never queues readers behind it
        op.execute(sa.text(f"ALTER INDEX {building} RENAME TO {new}"))
        op.execute(sa.text("RESET lock_timeout"))


def lists_for(rows: int) -> int:
    """pgvector's advice for the number of lists: rows / 1000 up to 10^6 rows, sqrt(rows) above; at least 1."""
    return max(1, rows // 1000 if rows <= 1_000_000 else math.isqrt(rows))


def upgrade() -> None:
    rows = op.get_bind().execute(sa.text("SELECT count(*) FROM post_embeddings")).scalar_one()
    _swap(GRAPH, LISTS, f"USING ivfflat ({EXPRESSION}) WITH (lists = {lists_for(rows)})")


def downgrade() -> None:
    _swap(LISTS, GRAPH, HNSW)
