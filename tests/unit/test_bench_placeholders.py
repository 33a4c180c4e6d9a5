"""Placeholder conversion for the libpq-level timed path: the same `$n` numbering psycopg would send."""

from __future__ import annotations

import pytest
from psycopg.adapt import PyFormat

from harness.bench.wire import to_dollar


def test_named_placeholders_become_numbered_and_a_repeated_name_is_one_parameter() -> None:
    text, names = to_dollar("SELECT %(q)s <=> e, %(k)s FROM t ORDER BY e <=> %(q)s LIMIT %(k)s")
    assert text == "SELECT $1 <=> e, $2 FROM t ORDER BY e <=> $1 LIMIT $2"
    assert names == [("q", PyFormat.AUTO), ("k", PyFormat.AUTO)]


def test_format_suffixes_and_escaped_percent() -> None:
    text, names = to_dollar("SELECT %(a)b, %(b)t WHERE x LIKE 'a%%'")
    assert text == "SELECT $1, $2 WHERE x LIKE 'a%'"
    assert names == [("a", PyFormat.BINARY), ("b", PyFormat.TEXT)]


@pytest.mark.parametrize("query", ["SELECT %s", "SELECT 5 % 2"])
def test_positional_or_stray_percent_is_refused(query: str) -> None:
    with pytest.raises(ValueError, match=r"only %\(name\)s placeholders"):
        to_dollar(query)


def test_query_without_placeholders_is_unchanged() -> None:
    assert to_dollar("SELECT 1") == ("SELECT 1", [])
