"""Add the retention policy (what expires after how many days) and purge_expired(), which deletes it.

Expiring tables: posts (their sentiment_scores and post_embeddings go with them), ai_reports and
audit_log. purge_expired(as_of) deletes every row whose time column is older than as_of - keep_days, and
only those, and returns one (purged_table, purged_rows) row per table it can touch, dependants included.

Revision ID: 009
Revises: 008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "009"
down_revision: str | None = "008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICIES = (
    ("posts", "published_at", 730, "public posts are kept two years; their scores and embeddings go with them"),
    ("ai_reports", "generated_at", 1095, "AI reports are kept three years"),
    ("audit_log", "changed_at", 2555, "the audit trail is kept seven years"),
)

# Order matters. audit_log is purged before ai_reports so the audit rows that record the purge of
# reports survive it. Expired posts are locked first: a concurrent insert of a score or embedding for
# one of them waits (its foreign-key check needs a KEY SHARE lock), so the dependants counted by the
# explicit deletes are all the dependants that go.
PURGE_FUNCTION = """
CREATE FUNCTION purge_expired(as_of timestamptz DEFAULT now())
RETURNS TABLE (purged_table text, purged_rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    keep integer;
    n bigint;
BEGIN
    SELECT keep_days INTO keep FROM retention_policies WHERE retention_policies.table_name = 'audit_log';
    n := 0;
    IF keep IS NOT NULL THEN
        DELETE FROM audit_log WHERE changed_at < as_of - make_interval(days => keep);
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    purged_table := 'audit_log'; purged_rows := n; RETURN NEXT;

    SELECT keep_days INTO keep FROM retention_policies WHERE retention_policies.table_name = 'ai_reports';
    n := 0;
    IF keep IS NOT NULL THEN
        DELETE FROM ai_reports WHERE generated_at < as_of - make_interval(days => keep);
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    purged_table := 'ai_reports'; purged_rows := n; RETURN NEXT;

    SELECT keep_days INTO keep FROM retention_policies WHERE retention_policies.table_name = 'posts';
    IF keep IS NULL THEN
        FOREACH purged_table IN ARRAY ARRAY['sentiment_scores', 'post_embeddings', 'posts'] LOOP
            purged_rows := 0; RETURN NEXT;
        END LOOP;
        RETURN;
    END IF;
    PERFORM 1 FROM posts WHERE published_at < as_of - make_interval(days => keep) FOR UPDATE;
    DELETE FROM sentiment_scores s USING posts p
        WHERE s.post_id = p.id AND p.published_at < as_of - make_interval(days => keep);
    GET DIAGNOSTICS n = ROW_COUNT;
    purged_table := 'sentiment_scores'; purged_rows := n; RETURN NEXT;
    DELETE FROM post_embeddings e USING posts p
        WHERE e.post_id = p.id AND p.published_at < as_of - make_interval(days => keep);
    GET DIAGNOSTICS n = ROW_COUNT;
    purged_table := 'post_embeddings'; purged_rows := n; RETURN NEXT;
    DELETE FROM posts WHERE published_at < as_of - make_interval(days => keep);
    GET DIAGNOSTICS n = ROW_COUNT;
    purged_table := 'posts'; purged_rows := n; RETURN NEXT;
END
$$
"""


def upgrade() -> None:
    policies = op.create_table(
        "retention_policies",
        sa.Column("table_name", sa.Text, nullable=False),
        sa.Column("time_column", sa.Text, nullable=False),
        sa.Column("keep_days", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("table_name", name="pk_retention_policies"),
        sa.CheckConstraint("keep_days > 0", name="ck_retention_policies_keep_days_positive"),
        sa.CheckConstraint(
            "(table_name, time_column) IN (('posts', 'published_at'), ('ai_reports', 'generated_at'),"
            " ('audit_log', 'changed_at'))",
            name="ck_retention_policies_table_known"),
    )
    op.bulk_insert(policies, [{"table_name": t, "time_column": c, "keep_days": d, "description": note}
                              for t, c, d, note in POLICIES])
    op.execute(sa.text(PURGE_FUNCTION))


def downgrade() -> None:
    op.execute(sa.text("DROP FUNCTION purge_expired(timestamptz)"))
    op.drop_table("retention_policies")
