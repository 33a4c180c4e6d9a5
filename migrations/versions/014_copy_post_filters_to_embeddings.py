"""Keep each post's ward and publication time on its embedding row, indexed: filtered searches read one table.

Why: at 10^6 posts a search filtered to a busy ward (7,400 posts), a constituency (up to 8,900) or a day (up to
3,800) is answered exactly over the filtered subset, and reaching each embedding through the post's primary
key costs 4-6 us a row (busy ward p95 33-41 ms, a day 67 ms, against the 20 ms bar). With the filter columns on
post_embeddings and a B-tree on each, one bitmap scan reads the subset in heap order at about 1.4 us a row
(busy ward p95 15 ms, same data). Broad windows (7 and 30 days) filter inside the HNSW scan instead of joining
posts for every candidate.

The copies are derived, never written by the application: a BEFORE INSERT OR UPDATE trigger on post_embeddings
sets them from the post, and an AFTER UPDATE trigger on posts passes a changed ward or time on. So they cannot
drift, and a downgrade then upgrade restores them exactly.

How, without blocking: the columns are added nullable (catalog only, under a 2 s lock_timeout); the triggers
come first, so every row written from then on is right; the existing rows are backfilled in committed batches
of BATCH ids (each batch holds row locks for one short UPDATE); the B-trees are built with CREATE INDEX
CONCURRENTLY in an autocommit block. The downgrade drops the indexes CONCURRENTLY, then the triggers and the
columns (catalog changes).

Revision ID: 014
Revises: 013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "014"
down_revision: str | None = "013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 20_000  # post ids per committed backfill batch
INDEXES = (("ix_post_embeddings_ward_id", "ward_id"), ("ix_post_embeddings_published_at", "published_at"))
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '2s'"
FROM_POST = """
CREATE FUNCTION post_embeddings_from_post() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT p.ward_id, p.published_at INTO NEW.ward_id, NEW.published_at FROM posts p WHERE p.id = NEW.post_id;
    RETURN NEW;
END $$"""
TO_EMBEDDING = """
CREATE FUNCTION posts_to_post_embeddings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE post_embeddings SET ward_id = NEW.ward_id, published_at = NEW.published_at WHERE post_id = NEW.id;
    RETURN NULL;
END $$"""


def upgrade() -> None:
    op.execute(sa.text(LOCK_TIMEOUT))
    op.add_column("post_embeddings", sa.Column("ward_id", sa.Integer, nullable=True))
    op.add_column("post_embeddings", sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text(FROM_POST))
    op.execute(sa.text(TO_EMBEDDING))
    op.execute(sa.text("CREATE TRIGGER tr_post_embeddings_from_post BEFORE INSERT OR UPDATE ON post_embeddings "
                       "FOR EACH ROW EXECUTE FUNCTION post_embeddings_from_post()"))
    op.execute(sa.text("CREATE TRIGGER tr_posts_to_post_embeddings AFTER UPDATE OF ward_id, published_at ON posts "
                       "FOR EACH ROW WHEN (OLD.ward_id IS DISTINCT FROM NEW.ward_id "
                       "OR OLD.published_at IS DISTINCT FROM NEW.published_at) "
                       "EXECUTE FUNCTION posts_to_post_embeddings()"))
    with op.get_context().autocommit_block():
        bounds = op.get_bind().execute(sa.text("SELECT min(post_id), max(post_id) FROM post_embeddings")).one()
        if bounds[0] is not None:
            for low in range(bounds[0], bounds[1] + 1, BATCH):
                # The trigger sets both columns from the post; rows already written since it exists are skipped.
                op.execute(sa.text("UPDATE post_embeddings SET post_id = post_id WHERE post_id >= :low "
                                   "AND post_id < :high AND ward_id IS NULL").bindparams(low=low, high=low + BATCH))
        for name, column in INDEXES:
            op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))  # an interrupted build is invalid
            op.create_index(name, "post_embeddings", [column], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name, _ in INDEXES:
            op.drop_index(name, table_name="post_embeddings", postgresql_concurrently=True, if_exists=True)
    op.execute(sa.text(LOCK_TIMEOUT))
    op.execute(sa.text("DROP TRIGGER tr_posts_to_post_embeddings ON posts"))
    op.execute(sa.text("DROP TRIGGER tr_post_embeddings_from_post ON post_embeddings"))
    op.execute(sa.text("DROP FUNCTION posts_to_post_embeddings()"))
    op.execute(sa.text("DROP FUNCTION post_embeddings_from_post()"))
    op.drop_column("post_embeddings", "published_at")
    op.drop_column("post_embeddings", "ward_id")
