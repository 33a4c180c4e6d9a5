"""Keep one bit per dimension of each post embedding beside its ward and publication time, in covering B-trees,
so a search filtered to a ward, a constituency, a day or a week ranks its rows by Hamming distance from the
index alone and re-ranks only the closest 200 in full precision.

Why: at 10^6 posts those filters are answered exactly over the B-tree-selected rows (revision 014), and the cost
is the heap walk: a week is 19,500 rows on 3,963 heap blocks (31 MB read per query, about 0.75 us a row,
whether or not a distance is computed), a busy ward up to 7,400 rows on 4,784 blocks. Release bench on a 2-core
AMD EPYC: week p95 23-29 ms, busy ward 17.6-24.4 ms, against issue 15's 20 ms bar. The bits are 48 bytes a
row: an index-only scan reads a week from about 230 index pages, and 200 primary-key lookups fetch the
candidates' full vectors. Measured on the same data and queries (post_embedding sampler, 200 queries, twice,
interleaved; a side table standing in for this revision): week p50 9.3 ms, p95 11.1 ms; busy ward p50 4.1 ms,
p95 5.8 ms. Recall@10 against the exact answer on 100 queries: week 1.000, busy wards 0.987-0.992 with 200
candidates (0.963-0.973 with 100; 0.995 with 400 at p95 7.9 ms for a busy ward). Signs are a coarse code; the
re-rank in full precision is what makes the answer exact among the candidates.

The bits are derived, never written by the application: a BEFORE INSERT OR UPDATE trigger sets them from the
row's embedding, so they cannot drift and a downgrade then upgrade restores them exactly.

How, without blocking: as revision 014. Each DDL statement in its own transaction, waiting at most LOCK_WAIT
for its lock and retrying; the column is added nullable (catalog only), then the trigger; every row is
backfilled in committed batches of BATCH ids (the trigger computes the bits); the indexes are built with
CREATE INDEX CONCURRENTLY, and then revision 014's plain B-trees on ward and publication time are dropped
CONCURRENTLY (the covering ones serve everything they did, and with both the planner chose the plain ones and a
heap walk). The downgrade builds those again, drops the covering ones CONCURRENTLY, then the trigger, the
function and the column. Every statement tolerates a step already done, so an interrupted run is resumed.

Revision ID: 016
Revises: 015
"""

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "016"
down_revision: str | None = "015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 20_000  # post ids per committed backfill batch
INDEXES = (("ix_post_embeddings_ward_bits", "(ward_id) INCLUDE (post_id, embedding_bits)"),
           ("ix_post_embeddings_published_bits", "(published_at) INCLUDE (post_id, embedding_bits)"))
# Revision 014's B-trees on the same keys: the covering ones serve every query they served, and a planner that
# had both chose the narrower one and a heap walk over the index-only scan.
REPLACED = (("ix_post_embeddings_ward_id", "(ward_id)"), ("ix_post_embeddings_published_at", "(published_at)"))
LOCK_WAIT = "200ms"  # the longest any DDL statement here waits for its lock before it retries
FUNCTION = ("CREATE OR REPLACE FUNCTION post_embeddings_bits() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "NEW.embedding_bits := binary_quantize(NEW.embedding)::bit(384); RETURN NEW; END $$")
TRIGGER = ("CREATE TRIGGER tr_post_embeddings_bits BEFORE INSERT OR UPDATE ON post_embeddings "
           "FOR EACH ROW EXECUTE FUNCTION post_embeddings_bits()")


def _brief(statement: str, attempts: int = 50) -> None:
    """Run one DDL statement in its own transaction, waiting at most LOCK_WAIT for its lock and retrying (see
    revision 014: live queries queue behind a waiting ALTER)."""
    for attempt in range(attempts):
        try:
            op.execute(sa.text(statement))
            return
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03" or attempt == attempts - 1:  # lock_not_available
                raise
            time.sleep(0.1 * (attempt + 1))


def _build(indexes: tuple[tuple[str, str], ...]) -> None:
    for name, definition in indexes:
        op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))  # an interrupted build is invalid
        op.execute(sa.text(f"CREATE INDEX CONCURRENTLY {name} ON post_embeddings {definition}"))


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(sa.text(f"SET lock_timeout = '{LOCK_WAIT}'"))
        _brief("ALTER TABLE post_embeddings ADD COLUMN IF NOT EXISTS embedding_bits bit(384)")
        _brief(FUNCTION)
        _brief("DROP TRIGGER IF EXISTS tr_post_embeddings_bits ON post_embeddings")
        _brief(TRIGGER)
        op.execute(sa.text("RESET lock_timeout"))
        bounds = op.get_bind().execute(sa.text("SELECT min(post_id), max(post_id) FROM post_embeddings")).one()
        if bounds[0] is not None:
            for low in range(bounds[0], bounds[1] + 1, BATCH):
                # Rows the trigger has not seen (written before it existed); it computes their bits.
                op.execute(sa.text("UPDATE post_embeddings SET embedding_bits = NULL WHERE post_id >= :low "
                                   "AND post_id < :high AND embedding_bits IS NULL")
                           .bindparams(low=low, high=low + BATCH))
        _build(INDEXES)
        for name, _ in REPLACED:
            op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))


def downgrade() -> None:
    with op.get_context().autocommit_block():
        _build(REPLACED)  # before the covering ones go, so a filter always has a B-tree
        for name, _ in INDEXES:
            op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
        op.execute(sa.text(f"SET lock_timeout = '{LOCK_WAIT}'"))
        _brief("DROP TRIGGER IF EXISTS tr_post_embeddings_bits ON post_embeddings")
        _brief("DROP FUNCTION IF EXISTS post_embeddings_bits()")
        _brief("ALTER TABLE post_embeddings DROP COLUMN IF EXISTS embedding_bits")
        op.execute(sa.text("RESET lock_timeout"))
