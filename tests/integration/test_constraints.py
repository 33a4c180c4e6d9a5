"""Every constraint of the head schema refuses a row that breaks it, with that constraint named in the error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors
from reference_rows import head_database, insert_row, seed_rows, unit_vector, valid_rows

from harness.db import ServerHandle
from harness.models import Base

MISSING = 999_999

# (constraint, table, overrides of the valid row); a None override on a key means "insert the valid row
# first, then this one" (duplicates for unique and primary keys).
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("ck_constituencies_code_not_empty", "constituencies", {"code": ""}),
    ("ck_wards_code_not_empty", "wards", {"code": ""}),
    ("ck_wards_population_non_negative", "wards", {"population": -1}),
    ("ck_wards_electorate_non_negative", "wards", {"electorate": -5}),
    ("ck_wards_area_positive", "wards", {"area_km2": 0}),
    ("ck_parties_colour_hex", "parties", {"colour": "green"}),
    ("ck_candidates_name_split_invertible", "candidates", {"family_name": "van Dyke"}),
    ("ck_candidates_name_split_invertible", "candidates", {"given_name": "Mary Ann", "family_name": None}),
    ("ck_elections_kind_known", "elections", {"kind": "coronation"}),
    ("ck_ward_results_votes_non_negative", "ward_results", {"votes": -1}),
    ("ck_ward_turnout_ballots_non_negative", "ward_turnout", {"ballots_cast": -1}),
    ("ck_ward_turnout_ballots_within_registered", "ward_turnout", {"registered": 100, "ballots_cast": 101}),
    ("ck_content_sources_kind_known", "content_sources", {"kind": "rumour"}),
    ("ck_sentiment_scores_score_range", "sentiment_scores", {"score": 1.01}),
    ("ck_sentiment_scores_score_range", "sentiment_scores", {"score": -1.5}),
    ("ck_sentiment_scores_score_range", "sentiment_scores", {"score": float("nan")}),
    ("ck_ai_models_provider_known", "ai_models", {"provider": "skynet"}),
    ("ck_ai_models_version_not_empty", "ai_models", {"version": ""}),
    ("ck_experiments_config_object", "experiments", {"config": "[1, 2]"}),
    ("ck_audit_log_op_known", "audit_log", {"op": "TRUNCATE"}),
    ("ck_audit_log_rows_match_op", "audit_log", {"op": "DELETE"}),
    ("ck_retention_policies_keep_days_positive", "retention_policies", {"keep_days": 0}),
    ("ck_retention_policies_table_known", "retention_policies", {"time_column": "title"}),
    ("uq_constituencies_code", "constituencies", {"code": "C01"}),
    ("uq_wards_code", "wards", {"code": "W01"}),
    ("uq_parties_code", "parties", {"code": "GRN"}),
    ("uq_elections_name", "elections", {"name": "Local 2024"}),
    ("uq_ward_results_election_id_ward_id_candidate_id", "ward_results", {"twice": None}),
    ("uq_content_sources_url", "content_sources", {"url": "https://gazette.example/"}),
    ("uq_ai_models_provider_name_version", "ai_models", {"provider": "gemini", "name": "gemini-pro",
                                                          "version": "1.5"}),
    ("uq_experiments_name", "experiments", {"name": "baseline"}),
    ("pk_constituencies", "constituencies", {"id": "constituency"}),
    ("pk_wards", "wards", {"id": "ward"}),
    ("pk_parties", "parties", {"id": "party"}),
    ("pk_candidates", "candidates", {"id": "candidate"}),
    ("pk_elections", "elections", {"id": "election"}),
    ("pk_ward_results", "ward_results", {"id": 1, "twice": None}),
    ("pk_ward_turnout", "ward_turnout", {"twice": None}),
    ("pk_content_sources", "content_sources", {"id": "source"}),
    ("pk_posts", "posts", {"id": "post"}),
    ("pk_sentiment_scores", "sentiment_scores", {"twice": None}),
    ("pk_post_embeddings", "post_embeddings", {"twice": None}),
    ("pk_post_embedding_bits", "post_embedding_bits", {"twice": None}),
    ("pk_ai_models", "ai_models", {"id": "ai_model"}),
    ("pk_experiments", "experiments", {"id": "experiment"}),
    ("pk_ai_reports", "ai_reports", {"id": 1, "twice": None}),
    ("pk_audit_log", "audit_log", {"id": 1}),  # row 1: the audit of the seed candidate
    ("pk_retention_policies", "retention_policies", {"table_name": "ai_reports", "time_column": "generated_at"}),
    ("fk_wards_constituency_id_constituencies", "wards", {"constituency_id": MISSING}),
    ("fk_candidates_party_id_parties", "candidates", {"party_id": MISSING}),
    ("fk_candidates_ward_id_wards", "candidates", {"ward_id": MISSING}),
    ("fk_ward_results_election_id_elections", "ward_results", {"election_id": MISSING}),
    # A result's ward is also reached through (candidate_id, ward_id); see test_result_ward_fk_is_checked.
    ("fk_ward_results_candidate_in_ward", "ward_results", {"ward_id": "other_ward"}),
    ("fk_ward_results_candidate_in_ward", "ward_results", {"candidate_id": MISSING}),
    ("fk_ward_turnout_election_id_elections", "ward_turnout", {"election_id": MISSING}),
    ("fk_ward_turnout_ward_id_wards", "ward_turnout", {"ward_id": MISSING}),
    ("fk_posts_source_id_content_sources", "posts", {"source_id": MISSING}),
    ("fk_posts_ward_id_wards", "posts", {"ward_id": MISSING}),
    ("ck_posts_status_known", "posts", {"status": "deleted"}),
    ("fk_sentiment_scores_post_id_posts", "sentiment_scores", {"post_id": MISSING}),
    ("fk_post_embeddings_post_id_posts", "post_embeddings", {"post_id": MISSING}),
    ("fk_post_embedding_bits_post_id_post_embeddings", "post_embedding_bits", {"post_id": MISSING}),
    ("fk_experiments_ai_model_id_ai_models", "experiments", {"ai_model_id": MISSING}),
    ("fk_ai_reports_ward_id_wards", "ai_reports", {"ward_id": MISSING}),
    ("fk_ai_reports_ai_model_id_ai_models", "ai_reports", {"ai_model_id": MISSING}),
    ("fk_ai_reports_experiment_id_experiments", "ai_reports", {"experiment_id": MISSING}),
]

# Constraints no row can break on its own, and why.
UNBREAKABLE = {
    "uq_candidates_id_ward_id": "id is already the primary key; this key exists as the target of "
                                "fk_ward_results_candidate_in_ward",
    "fk_ward_results_ward_id_wards": "a missing ward also breaks fk_ward_results_candidate_in_ward, which "
                                     "PostgreSQL may check first (covered by test_result_ward_fk_is_checked)",
}

NOT_NULL = [(t.name, c.name) for t in Base.metadata.sorted_tables for c in t.columns if not c.nullable]


@pytest.fixture(scope="module")
def head(pg_server: ServerHandle) -> Iterator[tuple[psycopg.Connection[Any], dict[str, int]]]:
    """One database at head with seed rows; each test works in a transaction that is rolled back."""
    with head_database(pg_server, "ck") as db, db.connect() as conn:
        ids = seed_rows(conn)
        conn.commit()
        yield conn, ids


def _resolve(value: Any, ids: dict[str, int]) -> Any:
    return ids[value] if isinstance(value, str) and value in ids else value


def _prepare(conn: psycopg.Connection[Any], table: str) -> None:
    if table == "retention_policies":
        conn.execute("DELETE FROM retention_policies WHERE table_name = 'posts'")
    if table == "post_embedding_bits":  # its parent row, without the copy the trigger makes of it
        conn.execute("INSERT INTO post_embeddings (post_id, embedding) SELECT id, %s FROM posts ORDER BY id LIMIT 1",
                     (unit_vector(1),))
        conn.execute("DELETE FROM post_embedding_bits")


@pytest.mark.parametrize(("constraint", "table", "overrides"), CASES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_constraint_refuses_bad_row(head: tuple[psycopg.Connection[Any], dict[str, int]], constraint: str,
                                    table: str, overrides: dict[str, Any]) -> None:
    conn, ids = head
    overrides = dict(overrides)
    twice = "twice" in overrides
    overrides.pop("twice", None)
    keyed = {k: _resolve(v, ids) for k, v in overrides.items() if k != "id"}
    if "id" in overrides:
        keyed["id"] = _resolve(overrides["id"], ids)
    row = {**valid_rows(ids)[table], **keyed}
    with conn.transaction(force_rollback=True):
        _prepare(conn, table)
        if twice:
            insert_row(conn, table, row)
        with pytest.raises(errors.IntegrityError) as caught:
            insert_row(conn, table, row)
    assert caught.value.diag.constraint_name == constraint


@pytest.mark.parametrize(("table", "column"), NOT_NULL, ids=[f"{t}.{c}" for t, c in NOT_NULL])
def test_not_null_refuses_null(head: tuple[psycopg.Connection[Any], dict[str, int]], table: str,
                               column: str) -> None:
    conn, ids = head
    row = {**valid_rows(ids)[table], column: None}
    with conn.transaction(force_rollback=True):
        _prepare(conn, table)
        with pytest.raises(errors.NotNullViolation) as caught:
            insert_row(conn, table, row)
    assert (caught.value.diag.table_name, caught.value.diag.column_name) == (table, column)


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_valid_row_is_accepted(head: tuple[psycopg.Connection[Any], dict[str, int]], table: str) -> None:
    """The rows the refusal tests bend are themselves valid, so each refusal is the bent value's doing."""
    conn, ids = head
    with conn.transaction(force_rollback=True):
        _prepare(conn, table)
        insert_row(conn, table, valid_rows(ids)[table])


@pytest.mark.parametrize("table", ["post_embeddings", "ai_reports"])
@pytest.mark.parametrize("dim", [3, 383, 385, 768])
def test_wrong_vector_dimension_is_refused(head: tuple[psycopg.Connection[Any], dict[str, int]], table: str,
                                           dim: int) -> None:
    conn, ids = head
    row = {**valid_rows(ids)[table], "embedding": "[" + ",".join(["0.1"] * dim) + "]"}
    with conn.transaction(force_rollback=True), pytest.raises(errors.DataException, match="384 dimensions"):
        insert_row(conn, table, row)


def test_result_ward_fk_is_checked(head: tuple[psycopg.Connection[Any], dict[str, int]]) -> None:
    conn, ids = head
    row = {**valid_rows(ids)["ward_results"], "ward_id": MISSING}
    with conn.transaction(force_rollback=True), pytest.raises(errors.ForeignKeyViolation) as caught:
        insert_row(conn, "ward_results", row)
    assert caught.value.diag.constraint_name in {"fk_ward_results_ward_id_wards", "fk_ward_results_candidate_in_ward"}


def test_every_constraint_has_a_refusal_test(head: tuple[psycopg.Connection[Any], dict[str, int]]) -> None:
    """A constraint added to the chain without a case here fails this test."""
    conn, _ = head
    rows = conn.execute(
        "SELECT c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = 'public' AND t.relname <> 'alembic_version' AND c.contype IN ('c', 'f', 'u', 'p')"
    ).fetchall()
    conn.rollback()
    present = {r[0] for r in rows}
    tested = {c for c, _, _ in CASES} | set(UNBREAKABLE)
    assert present - tested == set()
    assert tested - present == set()
