"""Create the geography: constituencies and the wards inside them.

Revision ID: 001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "constituencies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_constituencies"),
        sa.UniqueConstraint("code", name="uq_constituencies_code"),
        sa.CheckConstraint("code <> ''", name="ck_constituencies_code_not_empty"),
    )
    op.create_table(
        "wards",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("constituency_id", sa.Integer, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("population", sa.Integer, nullable=False),
        sa.Column("electorate", sa.Integer, nullable=False),
        sa.Column("area_km2", sa.Numeric(10, 3), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_wards"),
        sa.ForeignKeyConstraint(["constituency_id"], ["constituencies.id"],
                                name="fk_wards_constituency_id_constituencies", ondelete="RESTRICT"),
        sa.UniqueConstraint("code", name="uq_wards_code"),
        sa.CheckConstraint("code <> ''", name="ck_wards_code_not_empty"),
        sa.CheckConstraint("population >= 0", name="ck_wards_population_non_negative"),
        sa.CheckConstraint("electorate >= 0", name="ck_wards_electorate_non_negative"),
        sa.CheckConstraint("area_km2 > 0", name="ck_wards_area_positive"),
    )


def downgrade() -> None:
    op.drop_table("wards")
    op.drop_table("constituencies")
