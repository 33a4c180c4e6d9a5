"""Add B-tree indexes for ward-centric access, foreign-key lookups and time-based retention.

Most application reads start from one ward: its latest posts, its results per election, its latest AI
reports. A ward filter on a vector search is answered exactly by these B-trees (the ward's rows, then an
exact distance sort) instead of an HNSW scan that filters after the fact and returns too few rows.

Revision ID: 007
Revises: 006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "007"
down_revision: str | None = "006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, columns); a column written "x DESC" is indexed descending.
INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_wards_constituency_id", "wards", ("constituency_id",)),
    ("ix_candidates_ward_id", "candidates", ("ward_id",)),
    ("ix_candidates_party_id", "candidates", ("party_id",)),
    ("ix_ward_results_ward_id_election_id", "ward_results", ("ward_id", "election_id")),
    ("ix_ward_results_candidate_id", "ward_results", ("candidate_id",)),
    ("ix_ward_turnout_ward_id_election_id", "ward_turnout", ("ward_id", "election_id")),
    ("ix_posts_ward_id_published_at", "posts", ("ward_id", "published_at DESC")),
    # The ward's post ids by index-only scan: the driving side of an exact per-ward vector search.
    ("ix_posts_ward_id_id", "posts", ("ward_id", "id")),
    ("ix_posts_source_id", "posts", ("source_id",)),
    ("ix_posts_published_at", "posts", ("published_at",)),
    ("ix_sentiment_scores_model_scored_at", "sentiment_scores", ("model", "scored_at")),
    ("ix_experiments_ai_model_id", "experiments", ("ai_model_id",)),
    ("ix_ai_reports_ward_id_generated_at", "ai_reports", ("ward_id", "generated_at DESC")),
    ("ix_ai_reports_ai_model_id", "ai_reports", ("ai_model_id",)),
    ("ix_ai_reports_experiment_id", "ai_reports", ("experiment_id",)),
    ("ix_ai_reports_generated_at", "ai_reports", ("generated_at",)),
    ("ix_audit_log_table_name_changed_at", "audit_log", ("table_name", "changed_at")),
    ("ix_audit_log_changed_at", "audit_log", ("changed_at",)),
)


def _column(spec: str) -> str | sa.TextClause:
    return sa.text(spec) if " " in spec else spec


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, [_column(c) for c in columns])


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
