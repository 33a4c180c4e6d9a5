"""Keep embeddings out of the audit trail: audit rows record every other column of a changed row.

Why: revision 006's trigger stores to_jsonb(row), and an ai_reports row carries a 384-float embedding, which
jsonb holds as text numbers: 5-8 KB of derived data per audit row (the embedding is computed from the title and
body by the recorded model, which the audit row keeps). Measured on this machine, 20,000 rows of 384 floats:
inserted at 7,242 rows/s with the full row audited, 44,395 rows/s without the embedding, 139,680 with no
trigger; the audit table took 79 MB against 8.5 MB. Every AI report written, and every generated dataset,
paid that.

How: CREATE OR REPLACE FUNCTION, so the four audit triggers keep firing and pick up the new body at their next
call; it takes no lock on any table. `jsonb - 'embedding'` leaves rows without that key as they are. Audit
rows already written are not rewritten; the downgrade restores 006's function.

Revision ID: 015
Revises: 014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "015"
down_revision: str | None = "014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_row_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (table_name, op, old_row, new_row)
    VALUES (TG_TABLE_NAME, TG_OP,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD){drop} END,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW){drop} END);
    RETURN NULL;  -- AFTER trigger: the return value is ignored
END
$$
"""


def upgrade() -> None:
    op.execute(sa.text(FUNCTION.format(drop=" - 'embedding'")))


def downgrade() -> None:
    op.execute(sa.text(FUNCTION.format(drop="")))  # revision 006's function
