"""Split candidates.full_name into given_name and family_name; the downgrade restores full_name exactly.

The split is at the LAST space (U+0020): family_name is what follows it, given_name what precedes it;
with no space, given_name is the whole name and family_name is NULL. The inverse,
given_name || coalesce(' ' || family_name, ''), is exact for every string (several, leading or trailing
spaces, other whitespace, non-ASCII), and a CHECK keeps head data inside the image of the split so the
downgrade-then-upgrade round trip is exact too: family_name has no space, and a given_name without a
family_name has no space either.

The transform rewrites how names are stored, not what they are, so the audit trigger on candidates is
disabled for it: otherwise up/down would not leave the database as it found it (audit_log would grow).

Revision ID: 008
Revises: 007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "008"
down_revision: str | None = "007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPLIT_INVERTIBLE = ("CASE WHEN family_name IS NULL THEN strpos(given_name, ' ') = 0 "
                    "ELSE strpos(family_name, ' ') = 0 END")


def upgrade() -> None:
    op.execute(sa.text("ALTER TABLE candidates DISABLE TRIGGER audit_candidates"))
    op.add_column("candidates", sa.Column("given_name", sa.Text, nullable=True))
    op.add_column("candidates", sa.Column("family_name", sa.Text, nullable=True))
    # strpos(reverse(s), ' ') is the 1-based position of the last space counted from the end.
    op.execute(sa.text("""
        UPDATE candidates SET
            given_name = CASE WHEN strpos(full_name, ' ') = 0 THEN full_name
                              ELSE left(full_name, length(full_name) - strpos(reverse(full_name), ' ')) END,
            family_name = CASE WHEN strpos(full_name, ' ') = 0 THEN NULL
                               ELSE right(full_name, strpos(reverse(full_name), ' ') - 1) END"""))
    op.alter_column("candidates", "given_name", nullable=False)
    op.drop_column("candidates", "full_name")
    op.create_check_constraint("ck_candidates_name_split_invertible", "candidates", SPLIT_INVERTIBLE)
    op.execute(sa.text("ALTER TABLE candidates ENABLE TRIGGER audit_candidates"))


def downgrade() -> None:
    op.execute(sa.text("ALTER TABLE candidates DISABLE TRIGGER audit_candidates"))
    op.drop_constraint("ck_candidates_name_split_invertible", "candidates", type_="check")
    op.add_column("candidates", sa.Column("full_name", sa.Text, nullable=True))
    op.execute(sa.text("UPDATE candidates SET full_name = given_name || coalesce(' ' || family_name, '')"))
    op.alter_column("candidates", "full_name", nullable=False)
    op.drop_column("candidates", "family_name")
    op.drop_column("candidates", "given_name")
    op.execute(sa.text("ALTER TABLE candidates ENABLE TRIGGER audit_candidates"))
