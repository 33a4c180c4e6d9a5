"""Add a B-tree on sentiment_scores (score, post_id): narrow sentiment bands searched exactly, not through HNSW.

A vector search filtered to a narrow sentiment band (a few % of posts or less) is answered exactly: the band's
post ids by an index-only range scan of this B-tree, their embeddings by primary key, every distance computed
(scenarios/vector_search_sentiment_extreme.toml). Sentiment follows topic and ward, so an HNSW scan filtered
after the fact misses such a band (recall@10 0.81-0.84 at 250k posts), and without this index the exact plan
reads the whole table. Broad bands keep HNSW with iterative scans and do not need it.

Built with CREATE INDEX CONCURRENTLY (sentiment_scores is written with every new post) in an autocommit
block; the downgrade drops it CONCURRENTLY.

Revision ID: 012
Revises: 011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "012"
down_revision: str | None = "011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_sentiment_scores_score_post_id"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}"))  # an interrupted build leaves it invalid
        op.create_index(INDEX, "sentiment_scores", ["score", "post_id"], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, table_name="sentiment_scores", postgresql_concurrently=True)
