"""A statement's shape: what the client sent and what the server counted compare equal once literals and
parameters are `?` and whitespace is folded."""

from __future__ import annotations

from harness.rehearse.server_stats import shape


def test_client_text_and_server_normalised_text_have_one_shape() -> None:
    sent = "UPDATE posts SET status = 'it''s', n = -12, ok = TRUE\n   WHERE id BETWEEN 1 AND 1000.5"
    counted = "UPDATE posts SET status = $1, n = $2, ok = $3 WHERE id BETWEEN $4 AND $5"
    assert shape(sent) == shape(counted) == "update posts set status = ?, n = ?, ok = ? where id between ? and ?"
    assert shape("SELECT * FROM t WHERE a = %(a_1)s AND b = %s") == "select * from t where a = ? and b = ?"


def test_identifiers_with_digits_keep_their_shape() -> None:
    assert shape("CREATE INDEX ix_posts_2 ON posts_2024 (col1)") == "create index ix_posts_2 on posts_2024 (col1)"
    assert shape("ALTER TABLE a ADD c int") != shape("ALTER TABLE a ADD d int")
