"""Property-based: the database itself refuses generated invalid rows and accepts generated valid ones."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import errors
from reference_rows import DIM, head_database, insert_row, seed_rows, valid_rows, vector_text

from harness.db import ServerHandle
from harness.models import PROVIDERS

INT4_MAX = 2**31 - 1
EXAMPLES = settings(max_examples=25, deadline=None)

Head = tuple[psycopg.Connection[Any], dict[str, int]]


@pytest.fixture(scope="module")
def head(pg_server: ServerHandle) -> Iterator[Head]:
    """One database at head for the module; every example runs in a transaction that is rolled back."""
    with head_database(pg_server, "hy") as db, db.connect() as conn:
        ids = seed_rows(conn)
        conn.commit()
        yield conn, ids


def _refused(head: Head, table: str, changes: dict[str, Any], error: type[Exception]) -> Exception:
    conn, ids = head
    with conn.transaction(force_rollback=True), pytest.raises(error) as caught:
        insert_row(conn, table, {**valid_rows(ids)[table], **changes})
    return caught.value


def _accepted(head: Head, table: str, changes: dict[str, Any]) -> None:
    conn, ids = head
    with conn.transaction(force_rollback=True):
        insert_row(conn, table, {**valid_rows(ids)[table], **changes})


@EXAMPLES
@given(votes=st.integers(min_value=-(2**31), max_value=-1))
def test_negative_votes_refused(head: Head, votes: int) -> None:
    exc = _refused(head, "ward_results", {"votes": votes}, errors.CheckViolation)
    assert exc.diag.constraint_name == "ck_ward_results_votes_non_negative"  # type: ignore[attr-defined]


@EXAMPLES
@given(registered=st.integers(0, INT4_MAX - 1), excess=st.integers(1, INT4_MAX))
def test_turnout_above_registered_refused(head: Head, registered: int, excess: int) -> None:
    ballots = min(registered + excess, INT4_MAX)
    exc = _refused(head, "ward_turnout", {"registered": registered, "ballots_cast": ballots}, errors.CheckViolation)
    assert exc.diag.constraint_name == "ck_ward_turnout_ballots_within_registered"  # type: ignore[attr-defined]


@EXAMPLES
@given(registered=st.integers(0, INT4_MAX), data=st.data())
def test_turnout_within_registered_accepted(head: Head, registered: int, data: st.DataObject) -> None:
    ballots = data.draw(st.integers(0, registered))
    _accepted(head, "ward_turnout", {"registered": registered, "ballots_cast": ballots})


@EXAMPLES
@given(votes=st.integers(0, INT4_MAX))
def test_non_negative_votes_accepted(head: Head, votes: int) -> None:
    _accepted(head, "ward_results", {"votes": votes})


# float32 values (the column is real), so "out of range" survives the cast exactly.
@EXAMPLES
@given(score=st.floats(width=32, allow_nan=True, allow_infinity=True).filter(lambda x: not -1 <= x <= 1))
def test_sentiment_out_of_range_refused(head: Head, score: float) -> None:
    exc = _refused(head, "sentiment_scores", {"score": score}, errors.CheckViolation)
    assert exc.diag.constraint_name == "ck_sentiment_scores_score_range"  # type: ignore[attr-defined]


@EXAMPLES
@given(score=st.floats(min_value=-1, max_value=1, width=32))
def test_sentiment_in_range_accepted(head: Head, score: float) -> None:
    _accepted(head, "sentiment_scores", {"score": score})


finite = st.floats(min_value=-1e6, max_value=1e6, width=32)


@EXAMPLES
@given(table=st.sampled_from(["post_embeddings", "ai_reports"]),
       values=st.integers(1, 2000).filter(lambda n: n != DIM).flatmap(lambda n: st.lists(finite, min_size=n,
                                                                                         max_size=n)))
def test_wrong_vector_dimension_refused(head: Head, table: str, values: list[float]) -> None:
    _refused(head, table, {"embedding": vector_text(values)}, errors.DataException)


@EXAMPLES
@given(table=st.sampled_from(["post_embeddings", "ai_reports"]),
       values=st.lists(finite, min_size=DIM, max_size=DIM), position=st.integers(0, DIM - 1),
       bad=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_vector_element_refused(head: Head, table: str, values: list[float], position: int,
                                           bad: float) -> None:
    values[position] = bad
    text = "[" + ",".join("NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
                          if math.isinf(v) else repr(v) for v in values) + "]"
    _refused(head, table, {"embedding": text}, errors.DataException)


# Revision 013 indexes post embeddings as embedding::halfvec(384), so an element a half float cannot hold
# (|x| > 65504) is refused there; ai_reports keeps a single-precision index and takes any finite float.
HALF_MAX = 65504.0
half = st.floats(min_value=-HALF_MAX, max_value=HALF_MAX, width=32)
TABLE_ELEMENTS = {"post_embeddings": half, "ai_reports": finite}


@EXAMPLES
@given(data=st.data(), table=st.sampled_from(sorted(TABLE_ELEMENTS)))
def test_right_vector_dimension_accepted(head: Head, data: st.DataObject, table: str) -> None:
    values = data.draw(st.lists(TABLE_ELEMENTS[table], min_size=DIM, max_size=DIM))
    _accepted(head, table, {"embedding": vector_text(values)})


@EXAMPLES
@given(values=st.lists(half, min_size=DIM, max_size=DIM), position=st.integers(0, DIM - 1),
       beyond=st.floats(min_value=65520.0, max_value=1e6, width=32), sign=st.sampled_from([1.0, -1.0]))
def test_post_embedding_beyond_half_precision_refused(head: Head, values: list[float], position: int,
                                                      beyond: float, sign: float) -> None:
    values[position] = sign * beyond
    _refused(head, "post_embeddings", {"embedding": vector_text(values)}, errors.NumericValueOutOfRange)


# NUL cannot travel in PostgreSQL text at all (the client refuses it), so it is not a database refusal.
names = st.text(min_size=0, max_size=30).filter(lambda s: "\x00" not in s)


@EXAMPLES
@given(provider=names.filter(lambda s: s not in PROVIDERS))
def test_unknown_provider_refused(head: Head, provider: str) -> None:
    exc = _refused(head, "ai_models", {"provider": provider}, errors.CheckViolation)
    assert exc.diag.constraint_name == "ck_ai_models_provider_known"  # type: ignore[attr-defined]


@EXAMPLES
@given(provider=st.sampled_from(PROVIDERS), name=names, version=names.filter(bool))
def test_known_provider_accepted(head: Head, provider: str, name: str, version: str) -> None:
    _accepted(head, "ai_models", {"provider": provider, "name": name, "version": version})


# (table, column, key of the existing parent in seed_rows) for every single-column foreign key.
FOREIGN_KEYS = [
    ("wards", "constituency_id", "constituency"), ("candidates", "party_id", "party"),
    ("candidates", "ward_id", "ward"), ("ward_results", "election_id", "election"),
    ("ward_results", "candidate_id", "candidate"), ("ward_turnout", "election_id", "election"),
    ("ward_turnout", "ward_id", "ward"), ("posts", "source_id", "source"), ("posts", "ward_id", "ward"),
    ("sentiment_scores", "post_id", "post"), ("post_embeddings", "post_id", "post"),
    ("experiments", "ai_model_id", "ai_model"), ("ai_reports", "ward_id", "ward"),
    ("ai_reports", "ai_model_id", "ai_model"), ("ai_reports", "experiment_id", "experiment"),
]


@EXAMPLES
@given(fk=st.sampled_from(FOREIGN_KEYS), offset=st.integers(1, INT4_MAX - 1000))
def test_dangling_foreign_key_refused(head: Head, fk: tuple[str, str, str], offset: int) -> None:
    table, column, _ = fk
    missing = 1000 + offset  # seed ids are all below 1000
    _refused(head, table, {column: missing}, errors.ForeignKeyViolation)


@EXAMPLES
@given(fk=st.sampled_from(FOREIGN_KEYS))
def test_existing_parent_accepted(head: Head, fk: tuple[str, str, str]) -> None:
    table, column, key = fk
    _accepted(head, table, {column: head[1][key]})
