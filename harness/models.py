"""SQLAlchemy 2 models of the reference schema at head (revision 016), kept equal to what the chain builds.

The chain in migrations/versions is the source of truth; tests/integration/test_models_match_chain.py
compares these models with a database migrated to head. Triggers and plpgsql functions (the audit trail,
purge_expired) have no declarative form and live only in the chain.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    REAL,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import BIT, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

EMBEDDING_DIM = 384
PROVIDERS = ("gemini", "perplexity", "openai", "anthropic", "mistral", "local")
ELECTION_KINDS = ("general", "local", "by-election", "mayoral", "referendum")
SOURCE_KINDS = ("news", "social", "forum", "blog", "official")
AUDITED_TABLES = ("ward_results", "ward_turnout", "ai_reports", "candidates")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _hnsw(name: str, ef_construction: int = 64) -> Index:
    return Index(name, "embedding", postgresql_using="hnsw",
                 postgresql_with={"m": 16, "ef_construction": ef_construction},
                 postgresql_ops={"embedding": "vector_cosine_ops"})


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={"pk": "pk_%(table_name)s"})


class Constituency(Base):
    __tablename__ = "constituencies"
    __table_args__ = (
        UniqueConstraint("code", name="uq_constituencies_code"),
        CheckConstraint("code <> ''", name="ck_constituencies_code_not_empty"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(Text)


class Ward(Base):
    __tablename__ = "wards"
    __table_args__ = (
        UniqueConstraint("code", name="uq_wards_code"),
        CheckConstraint("code <> ''", name="ck_wards_code_not_empty"),
        CheckConstraint("population >= 0", name="ck_wards_population_non_negative"),
        CheckConstraint("electorate >= 0", name="ck_wards_electorate_non_negative"),
        CheckConstraint("area_km2 > 0", name="ck_wards_area_positive"),
        Index("ix_wards_constituency_id", "constituency_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    constituency_id: Mapped[int] = mapped_column(
        ForeignKey("constituencies.id", name="fk_wards_constituency_id_constituencies", ondelete="RESTRICT"))
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    population: Mapped[int] = mapped_column(Integer)
    electorate: Mapped[int] = mapped_column(Integer)
    area_km2: Mapped[Decimal] = mapped_column(Numeric(10, 3))


class Party(Base):
    __tablename__ = "parties"
    __table_args__ = (
        UniqueConstraint("code", name="uq_parties_code"),
        CheckConstraint("colour ~ '^#[0-9A-Fa-f]{6}$'", name="ck_parties_colour_hex"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    colour: Mapped[str | None] = mapped_column(Text)


class Candidate(Base):
    """A candidate standing in one ward; the name split is invertible (see revision 008)."""

    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("id", "ward_id", name="uq_candidates_id_ward_id"),
        CheckConstraint("CASE WHEN family_name IS NULL THEN strpos(given_name, ' ') = 0 "
                        "ELSE strpos(family_name, ' ') = 0 END", name="ck_candidates_name_split_invertible"),
        Index("ix_candidates_ward_id", "ward_id"),
        Index("ix_candidates_party_id", "party_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int | None] = mapped_column(
        ForeignKey("parties.id", name="fk_candidates_party_id_parties", ondelete="SET NULL"))
    ward_id: Mapped[int] = mapped_column(
        ForeignKey("wards.id", name="fk_candidates_ward_id_wards", ondelete="RESTRICT"))
    given_name: Mapped[str] = mapped_column(Text)
    family_name: Mapped[str | None] = mapped_column(Text)


class Election(Base):
    __tablename__ = "elections"
    __table_args__ = (
        UniqueConstraint("name", name="uq_elections_name"),
        CheckConstraint(_in_list("kind", ELECTION_KINDS), name="ck_elections_kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    election_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(Text)


class WardResult(Base):
    __tablename__ = "ward_results"
    __table_args__ = (
        ForeignKeyConstraint(["candidate_id", "ward_id"], ["candidates.id", "candidates.ward_id"],
                             name="fk_ward_results_candidate_in_ward", ondelete="RESTRICT"),
        UniqueConstraint("election_id", "ward_id", "candidate_id",
                         name="uq_ward_results_election_id_ward_id_candidate_id"),
        CheckConstraint("votes >= 0", name="ck_ward_results_votes_non_negative"),
        Index("ix_ward_results_ward_id_election_id", "ward_id", "election_id"),
        Index("ix_ward_results_candidate_id", "candidate_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    election_id: Mapped[int] = mapped_column(
        ForeignKey("elections.id", name="fk_ward_results_election_id_elections", ondelete="RESTRICT"))
    ward_id: Mapped[int] = mapped_column(
        ForeignKey("wards.id", name="fk_ward_results_ward_id_wards", ondelete="RESTRICT"))
    candidate_id: Mapped[int] = mapped_column(Integer)
    votes: Mapped[int] = mapped_column(Integer)


class WardTurnout(Base):
    __tablename__ = "ward_turnout"
    __table_args__ = (
        CheckConstraint("ballots_cast >= 0", name="ck_ward_turnout_ballots_non_negative"),
        CheckConstraint("ballots_cast <= registered", name="ck_ward_turnout_ballots_within_registered"),
        Index("ix_ward_turnout_ward_id_election_id", "ward_id", "election_id"),
    )

    election_id: Mapped[int] = mapped_column(
        ForeignKey("elections.id", name="fk_ward_turnout_election_id_elections", ondelete="RESTRICT"),
        primary_key=True)
    ward_id: Mapped[int] = mapped_column(
        ForeignKey("wards.id", name="fk_ward_turnout_ward_id_wards", ondelete="RESTRICT"), primary_key=True)
    registered: Mapped[int] = mapped_column(Integer)
    ballots_cast: Mapped[int] = mapped_column(Integer)


class ContentSource(Base):
    __tablename__ = "content_sources"
    __table_args__ = (
        UniqueConstraint("url", name="uq_content_sources_url"),
        CheckConstraint(_in_list("kind", SOURCE_KINDS), name="ck_content_sources_kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_ward_id_published_at", "ward_id", text("published_at DESC")),
        Index("ix_posts_ward_id_id", "ward_id", "id"),
        Index("ix_posts_source_id", "source_id"),
        Index("ix_posts_published_at", "published_at"),
        CheckConstraint("status IN ('visible', 'hidden')", name="ck_posts_status_known"),
        Index("ix_posts_hidden_published_at", text("published_at DESC"), postgresql_where=text("status = 'hidden'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("content_sources.id", name="fk_posts_source_id_content_sources", ondelete="RESTRICT"))
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id", name="fk_posts_ward_id_wards", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text, server_default=text("'visible'"))  # moderation (revision 010)


class SentimentScore(Base):
    __tablename__ = "sentiment_scores"
    __table_args__ = (
        CheckConstraint("score >= -1 AND score <= 1", name="ck_sentiment_scores_score_range"),
        Index("ix_sentiment_scores_model_scored_at", "model", "scored_at"),
        Index("ix_sentiment_scores_score_post_id", "score", "post_id"),  # narrow bands searched exactly (012)
    )

    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", name="fk_sentiment_scores_post_id_posts", ondelete="CASCADE"), primary_key=True)
    score: Mapped[float] = mapped_column(REAL)
    model: Mapped[str] = mapped_column(Text)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class PostEmbedding(Base):
    __tablename__ = "post_embeddings"
    __table_args__ = (
        # A halfvec expression index (revision 013): searches order by embedding::halfvec(384) <=> ...
        Index("ix_post_embeddings_embedding_hnsw", text(f"(embedding::halfvec({EMBEDDING_DIM})) halfvec_cosine_ops"),
              postgresql_using="hnsw", postgresql_with={"m": 16, "ef_construction": 64}),
        Index("ix_post_embeddings_ward_id", "ward_id"),
        Index("ix_post_embeddings_published_at", "published_at"),
        *(Index(f"ix_post_embeddings_{band}_hnsw", text(f"(embedding::halfvec({EMBEDDING_DIM})) halfvec_cosine_ops"),
                postgresql_using="hnsw", postgresql_with={"m": 16, "ef_construction": 64},
                postgresql_where=text(where))
          for band, where in (("positive", "sentiment_score >= 0.9"), ("negative", "sentiment_score <= -0.9"))),
    )

    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", name="fk_post_embeddings_post_id_posts", ondelete="CASCADE"), primary_key=True)
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIM))
    # Copies of the post's and its score, set by triggers (revision 014): filtered searches read this table alone.
    ward_id: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sentiment_score: Mapped[float | None] = mapped_column(REAL)


class PostEmbeddingBits(Base):
    """One bit per dimension of each post embedding, with its ward and time (revision 016, kept by a trigger on
    post_embeddings): filtered searches rank candidates from the covering B-trees alone."""

    __tablename__ = "post_embedding_bits"
    __table_args__ = (
        Index("ix_post_embedding_bits_ward_id", "ward_id", postgresql_include=["post_id", "bits"]),
        Index("ix_post_embedding_bits_published_at", "published_at", postgresql_include=["post_id", "bits"]),
    )

    post_id: Mapped[int] = mapped_column(
        ForeignKey("post_embeddings.post_id", name="fk_post_embedding_bits_post_id_post_embeddings",
                   ondelete="CASCADE", onupdate="CASCADE"), primary_key=True)
    ward_id: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    bits: Mapped[str] = mapped_column(BIT(EMBEDDING_DIM))


class AiModel(Base):
    __tablename__ = "ai_models"
    __table_args__ = (
        UniqueConstraint("provider", "name", "version", name="uq_ai_models_provider_name_version"),
        CheckConstraint(_in_list("provider", PROVIDERS), name="ck_ai_models_provider_known"),
        CheckConstraint("version <> ''", name="ck_ai_models_version_not_empty"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(Text)


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("name", name="uq_experiments_name"),
        CheckConstraint("jsonb_typeof(config) = 'object'", name="ck_experiments_config_object"),
        Index("ix_experiments_ai_model_id", "ai_model_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    ai_model_id: Mapped[int] = mapped_column(
        ForeignKey("ai_models.id", name="fk_experiments_ai_model_id_ai_models", ondelete="RESTRICT"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class AiReport(Base):
    __tablename__ = "ai_reports"
    __table_args__ = (
        _hnsw("ix_ai_reports_embedding_hnsw"),
        Index("ix_ai_reports_ward_id_generated_at", "ward_id", text("generated_at DESC")),
        Index("ix_ai_reports_ai_model_id", "ai_model_id"),
        Index("ix_ai_reports_experiment_id", "experiment_id"),
        Index("ix_ai_reports_generated_at", "generated_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ward_id: Mapped[int] = mapped_column(
        ForeignKey("wards.id", name="fk_ai_reports_ward_id_wards", ondelete="RESTRICT"))
    ai_model_id: Mapped[int] = mapped_column(
        ForeignKey("ai_models.id", name="fk_ai_reports_ai_model_id_ai_models", ondelete="RESTRICT"))
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", name="fk_ai_reports_experiment_id_experiments", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    generated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    embedding: Mapped[Any | None] = mapped_column(Vector(EMBEDDING_DIM))


class AuditLog(Base):
    """Written only by the audit_row_change() trigger (revision 006) on AUDITED_TABLES."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("op IN ('INSERT', 'UPDATE', 'DELETE')", name="ck_audit_log_op_known"),
        CheckConstraint("(op = 'INSERT' AND old_row IS NULL AND new_row IS NOT NULL)"
                        " OR (op = 'UPDATE' AND old_row IS NOT NULL AND new_row IS NOT NULL)"
                        " OR (op = 'DELETE' AND old_row IS NOT NULL AND new_row IS NULL)",
                        name="ck_audit_log_rows_match_op"),
        Index("ix_audit_log_table_name_changed_at", "table_name", "changed_at"),
        Index("ix_audit_log_changed_at", "changed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    table_name: Mapped[str] = mapped_column(Text)
    op: Mapped[str] = mapped_column(Text)
    old_row: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    new_row: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    changed_by: Mapped[str] = mapped_column(Text, server_default=text("CURRENT_USER"))
    txid: Mapped[int] = mapped_column(BigInteger, server_default=text("txid_current()"))


class RetentionPolicy(Base):
    """What purge_expired() (revision 009) deletes: rows of table_name older than keep_days."""

    __tablename__ = "retention_policies"
    __table_args__ = (
        CheckConstraint("keep_days > 0", name="ck_retention_policies_keep_days_positive"),
        CheckConstraint("(table_name, time_column) IN (('posts', 'published_at'), "
                        "('ai_reports', 'generated_at'), ('audit_log', 'changed_at'))",
                        name="ck_retention_policies_table_known"),
    )

    table_name: Mapped[str] = mapped_column(Text, primary_key=True)
    time_column: Mapped[str] = mapped_column(Text)
    keep_days: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
