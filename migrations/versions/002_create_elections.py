"""Create parties, candidates (one full_name column), elections, per-ward results and turnout.

Revision ID: 002
Revises: 001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "002"
down_revision: str | None = "001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ELECTION_KINDS = "('general', 'local', 'by-election', 'mayoral', 'referendum')"


def upgrade() -> None:
    op.create_table(
        "parties",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("colour", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_parties"),
        sa.UniqueConstraint("code", name="uq_parties_code"),
        sa.CheckConstraint("colour ~ '^#[0-9A-Fa-f]{6}$'", name="ck_parties_colour_hex"),
    )
    # full_name is the last column on purpose: 008 replaces it with given_name/family_name at the end of
    # the row and its downgrade re-adds full_name at the end, so the row layout round-trips exactly.
    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("party_id", sa.Integer, nullable=True),
        sa.Column("ward_id", sa.Integer, nullable=False),
        sa.Column("full_name", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_candidates"),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name="fk_candidates_party_id_parties",
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ward_id"], ["wards.id"], name="fk_candidates_ward_id_wards",
                                ondelete="RESTRICT"),
        # Target of ward_results' composite key: a result's candidate must stand in that result's ward.
        sa.UniqueConstraint("id", "ward_id", name="uq_candidates_id_ward_id"),
    )
    op.create_table(
        "elections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("election_date", sa.Date, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_elections"),
        sa.UniqueConstraint("name", name="uq_elections_name"),
        sa.CheckConstraint(f"kind IN {ELECTION_KINDS}", name="ck_elections_kind_known"),
    )
    op.create_table(
        "ward_results",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("election_id", sa.Integer, nullable=False),
        sa.Column("ward_id", sa.Integer, nullable=False),
        sa.Column("candidate_id", sa.Integer, nullable=False),
        sa.Column("votes", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ward_results"),
        sa.ForeignKeyConstraint(["election_id"], ["elections.id"], name="fk_ward_results_election_id_elections",
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["ward_id"], ["wards.id"], name="fk_ward_results_ward_id_wards",
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["candidate_id", "ward_id"], ["candidates.id", "candidates.ward_id"],
                                name="fk_ward_results_candidate_in_ward", ondelete="RESTRICT"),
        sa.UniqueConstraint("election_id", "ward_id", "candidate_id",
                            name="uq_ward_results_election_id_ward_id_candidate_id"),
        sa.CheckConstraint("votes >= 0", name="ck_ward_results_votes_non_negative"),
    )
    op.create_table(
        "ward_turnout",
        sa.Column("election_id", sa.Integer, nullable=False),
        sa.Column("ward_id", sa.Integer, nullable=False),
        sa.Column("registered", sa.Integer, nullable=False),
        sa.Column("ballots_cast", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("election_id", "ward_id", name="pk_ward_turnout"),
        sa.ForeignKeyConstraint(["election_id"], ["elections.id"], name="fk_ward_turnout_election_id_elections",
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["ward_id"], ["wards.id"], name="fk_ward_turnout_ward_id_wards",
                                ondelete="RESTRICT"),
        # registered >= 0 follows from these two, so it is not a constraint of its own.
        sa.CheckConstraint("ballots_cast >= 0", name="ck_ward_turnout_ballots_non_negative"),
        sa.CheckConstraint("ballots_cast <= registered", name="ck_ward_turnout_ballots_within_registered"),
    )


def downgrade() -> None:
    op.drop_table("ward_turnout")
    op.drop_table("ward_results")
    op.drop_table("elections")
    op.drop_table("candidates")
    op.drop_table("parties")
