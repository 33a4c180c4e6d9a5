"""Create versioned AI models from known providers, experiments, and AI reports with their own embeddings.

Revision ID: 005
Revises: 004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "005"
down_revision: str | None = "004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMBEDDING_DIM = 384
PROVIDERS = "('gemini', 'perplexity', 'openai', 'anthropic', 'mistral', 'local')"


def upgrade() -> None:
    op.create_table(
        "ai_models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ai_models"),
        sa.UniqueConstraint("provider", "name", "version", name="uq_ai_models_provider_name_version"),
        sa.CheckConstraint(f"provider IN {PROVIDERS}", name="ck_ai_models_provider_known"),
        sa.CheckConstraint("version <> ''", name="ck_ai_models_version_not_empty"),
    )
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("ai_model_id", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("config", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        sa.ForeignKeyConstraint(["ai_model_id"], ["ai_models.id"], name="fk_experiments_ai_model_id_ai_models",
                                ondelete="RESTRICT"),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
        sa.CheckConstraint("jsonb_typeof(config) = 'object'", name="ck_experiments_config_object"),
    )
    op.create_table(
        "ai_reports",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("ward_id", sa.Integer, nullable=False),
        sa.Column("ai_model_id", sa.Integer, nullable=False),
        sa.Column("experiment_id", sa.Integer, nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("embedding", Vector(EMBEDDING_DIM), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ai_reports"),
        sa.ForeignKeyConstraint(["ward_id"], ["wards.id"], name="fk_ai_reports_ward_id_wards", ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["ai_model_id"], ["ai_models.id"], name="fk_ai_reports_ai_model_id_ai_models",
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"],
                                name="fk_ai_reports_experiment_id_experiments", ondelete="SET NULL"),
    )
    op.create_index("ix_ai_reports_embedding_hnsw", "ai_reports", ["embedding"],
                    postgresql_using="hnsw", postgresql_with={"m": 16, "ef_construction": 64},
                    postgresql_ops={"embedding": "vector_cosine_ops"})


def downgrade() -> None:
    op.drop_index("ix_ai_reports_embedding_hnsw", table_name="ai_reports")
    op.drop_table("ai_reports")
    op.drop_table("experiments")
    op.drop_table("ai_models")
