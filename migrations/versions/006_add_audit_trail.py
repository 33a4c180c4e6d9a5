"""Add the audit trail: every insert, update and delete on the critical tables writes one audit_log row.

A row-level AFTER trigger records the table, the operation and the old/new row as jsonb, in the same
transaction as the change, so a rolled-back change leaves no audit row and a committed one exactly one.

Revision ID: 006
Revises: 005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "006"
down_revision: str | None = "005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (trigger, table) spelled out: identifiers stay literal SQL, never formatted in.
AUDIT_TRIGGERS = (
    ("audit_ward_results", "ward_results"),
    ("audit_ward_turnout", "ward_turnout"),
    ("audit_ai_reports", "ai_reports"),
    ("audit_candidates", "candidates"),
)

AUDIT_FUNCTION = """
CREATE FUNCTION audit_row_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (table_name, op, old_row, new_row)
    VALUES (TG_TABLE_NAME, TG_OP,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
    RETURN NULL;  -- AFTER trigger: the return value is ignored
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("table_name", sa.Text, nullable=False),
        sa.Column("op", sa.Text, nullable=False),
        sa.Column("old_row", postgresql.JSONB, nullable=True),
        sa.Column("new_row", postgresql.JSONB, nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("changed_by", sa.Text, nullable=False, server_default=sa.text("CURRENT_USER")),
        sa.Column("txid", sa.BigInteger, nullable=False, server_default=sa.text("txid_current()")),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.CheckConstraint("op IN ('INSERT', 'UPDATE', 'DELETE')", name="ck_audit_log_op_known"),
        sa.CheckConstraint(
            "(op = 'INSERT' AND old_row IS NULL AND new_row IS NOT NULL)"
            " OR (op = 'UPDATE' AND old_row IS NOT NULL AND new_row IS NOT NULL)"
            " OR (op = 'DELETE' AND old_row IS NOT NULL AND new_row IS NULL)",
            name="ck_audit_log_rows_match_op"),
    )
    op.execute(sa.text(AUDIT_FUNCTION))
    for trigger, table in AUDIT_TRIGGERS:
        op.execute(sa.text(f"CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                           "FOR EACH ROW EXECUTE FUNCTION audit_row_change()"))


def downgrade() -> None:
    for trigger, table in reversed(AUDIT_TRIGGERS):
        op.execute(sa.text(f"DROP TRIGGER {trigger} ON {table}"))
    op.execute(sa.text("DROP FUNCTION audit_row_change()"))
    op.drop_table("audit_log")
