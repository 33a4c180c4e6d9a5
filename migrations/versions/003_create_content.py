"""Create content: sources, posts tied to wards, and a sentiment score per post.

Revision ID: 003
Revises: 002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "003"
down_revision: str | None = "002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE_KINDS = "('news', 'social', 'forum', 'blog', 'official')"


def upgrade() -> None:
    op.create_table(
        "content_sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_content_sources"),
        sa.UniqueConstraint("url", name="uq_content_sources_url"),
        sa.CheckConstraint(f"kind IN {SOURCE_KINDS}", name="ck_content_sources_kind_known"),
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("source_id", sa.Integer, nullable=False),
        sa.Column("ward_id", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_posts"),
        sa.ForeignKeyConstraint(["source_id"], ["content_sources.id"], name="fk_posts_source_id_content_sources",
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["ward_id"], ["wards.id"], name="fk_posts_ward_id_wards", ondelete="RESTRICT"),
    )
    op.create_table(
        "sentiment_scores",
        sa.Column("post_id", sa.BigInteger, nullable=False),
        sa.Column("score", sa.REAL, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("post_id", name="pk_sentiment_scores"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name="fk_sentiment_scores_post_id_posts",
                                ondelete="CASCADE"),
        # NaN sorts above every number in PostgreSQL, so this also refuses NaN and +/-Infinity.
        sa.CheckConstraint("score >= -1 AND score <= 1", name="ck_sentiment_scores_score_range"),
    )


def downgrade() -> None:
    op.drop_table("sentiment_scores")
    op.drop_table("posts")
    op.drop_table("content_sources")
