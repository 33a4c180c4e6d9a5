"""Add posts.status (moderation: visible or hidden) and the moderation queue index, without blocking posts.

posts is the largest table and is read and written all the time, so each step takes only brief locks:
the column is added nullable (catalog only) with a default for the rows written from now on; the rows
that exist are backfilled in committed batches of BATCH ids (each batch holds its row locks for one
short UPDATE, never a table lock); NOT NULL is proven by CHECK ... NOT VALID then VALIDATE, which scans
under SHARE UPDATE EXCLUSIVE (readers and writers go on), so SET NOT NULL finds the proof and skips its
own scan under ACCESS EXCLUSIVE; the queue index is built with CREATE INDEX CONCURRENTLY. The downgrade
drops the index concurrently and then the column (a catalog change).

Revision ID: 010
Revises: 009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "010"
down_revision: str | None = "009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 20_000  # ids per committed backfill batch
STATUSES = "status IN ('visible', 'hidden')"
QUEUE_INDEX = "ix_posts_hidden_published_at"
# A statement that needs a table lock waits at most this long, then fails: it never queues every reader behind it.
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '2s'"


def upgrade() -> None:
    op.execute(sa.text(LOCK_TIMEOUT))
    op.add_column("posts", sa.Column("status", sa.Text, nullable=True))
    op.alter_column("posts", "status", server_default=sa.text("'visible'"))
    op.create_check_constraint("ck_posts_status_known", "posts", STATUSES, postgresql_not_valid=True)
    with op.get_context().autocommit_block():
        op.execute(sa.text(LOCK_TIMEOUT.replace("LOCAL ", "")))  # the session's, for the statements below
        bounds = op.get_bind().execute(sa.text("SELECT min(id), max(id) FROM posts")).one()
        if bounds[0] is not None:
            for low in range(bounds[0], bounds[1] + 1, BATCH):
                op.execute(sa.text("UPDATE posts SET status = 'visible' WHERE id >= :low AND id < :high "
                                   "AND status IS NULL").bindparams(low=low, high=low + BATCH))
        op.execute(sa.text("ALTER TABLE posts ADD CONSTRAINT ck_posts_status_not_null "
                           "CHECK (status IS NOT NULL) NOT VALID"))
        op.execute(sa.text("ALTER TABLE posts VALIDATE CONSTRAINT ck_posts_status_not_null"))
        op.execute(sa.text("ALTER TABLE posts VALIDATE CONSTRAINT ck_posts_status_known"))
        op.execute(sa.text("ALTER TABLE posts ALTER COLUMN status SET NOT NULL"))  # proven: no scan
        op.execute(sa.text("ALTER TABLE posts DROP CONSTRAINT ck_posts_status_not_null"))
        op.create_index(QUEUE_INDEX, "posts", [sa.text("published_at DESC")],
                        postgresql_where=sa.text("status = 'hidden'"), postgresql_concurrently=True)
        op.execute(sa.text("RESET lock_timeout"))


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(QUEUE_INDEX, table_name="posts", postgresql_concurrently=True)
    op.execute(sa.text(LOCK_TIMEOUT))
    op.drop_column("posts", "status")  # its CHECK goes with it
