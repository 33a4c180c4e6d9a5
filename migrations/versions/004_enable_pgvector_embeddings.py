"""Enable pgvector and store one 384-dimensional embedding per post, searched through HNSW (cosine).

The extension is created only if absent and then marked with a comment, so the downgrade drops it only
when this revision created it and nothing outside the chain still uses it.

Revision ID: 004
Revises: 003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector

revision: str = "004"
down_revision: str | None = "003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMBEDDING_DIM = 384
MARKER = "pgvector, created by wardbench migration 004 (its downgrade drops it)"


def upgrade() -> None:
    op.execute(sa.text(f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
                CREATE EXTENSION vector;
                COMMENT ON EXTENSION vector IS '{MARKER}';
            END IF;
        END
        $$"""))
    op.create_table(
        "post_embeddings",
        sa.Column("post_id", sa.BigInteger, nullable=False),
        sa.Column("embedding", Vector(EMBEDDING_DIM), nullable=False),
        sa.PrimaryKeyConstraint("post_id", name="pk_post_embeddings"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name="fk_post_embeddings_post_id_posts",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_post_embeddings_embedding_hnsw", "post_embeddings", ["embedding"],
                    postgresql_using="hnsw", postgresql_with={"m": 16, "ef_construction": 64},
                    postgresql_ops={"embedding": "vector_cosine_ops"})


def downgrade() -> None:
    op.drop_index("ix_post_embeddings_embedding_hnsw", table_name="post_embeddings")
    op.drop_table("post_embeddings")
    op.execute(sa.text(f"""
        DO $$
        BEGIN
            IF obj_description((SELECT oid FROM pg_extension WHERE extname = 'vector'), 'pg_extension')
                    = '{MARKER}' THEN
                BEGIN
                    DROP EXTENSION vector;
                EXCEPTION WHEN dependent_objects_still_exist THEN
                    RAISE NOTICE 'vector extension kept: objects outside the chain still use it';
                END;
            END IF;
        END
        $$"""))
