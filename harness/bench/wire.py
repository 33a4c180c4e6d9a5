"""Timed execution at the libpq level: parameters are converted before the clock starts.

`cursor.execute()` converts the query, dumps the parameters and drives non-blocking libpq through
Python generators, all inside the timed region. Client time minus EXPLAIN ANALYZE time of the same
queries, p50 over the reference scenarios, measured here in two runs: 0.24-0.32 ms that way (vector
queries the most), 0.16-0.21 ms with one blocking libpq call on pre-encoded parameters; a C client's
`SELECT 1` round trip (pgbench) takes 0.09 ms.
The clock now covers one extended-protocol round trip (Parse/Bind/Execute/Sync, or Bind/Execute of a
prepared statement), as pgbench's does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq
from psycopg.abc import Buffer
from psycopg.adapt import PyFormat, Transformer

_PLACEHOLDER = re.compile(r"%\((?P<name>[^)]+)\)(?P<fmt>[sbt])|%(?P<other>.)", re.DOTALL)
_FORMATS = {"s": PyFormat.AUTO, "b": PyFormat.BINARY, "t": PyFormat.TEXT}


@dataclass(frozen=True)
class Encoded:
    """One query with one parameter set, in the bytes libpq sends."""

    query: bytes
    params: Sequence[Buffer | None]
    types: Sequence[int]
    formats: Sequence[pq.Format]


def to_dollar(query: str) -> tuple[str, list[tuple[str, PyFormat]]]:
    """`%(name)s` placeholders as `$n` (a name used twice is one parameter) and `%%` as `%`."""
    names: list[tuple[str, PyFormat]] = []

    def replace(m: re.Match[str]) -> str:
        if m.group("other") is not None:
            if m.group("other") == "%":
                return "%"
            raise ValueError(f"only %(name)s placeholders are supported, found '%{m.group('other')}'")
        key = (m.group("name"), _FORMATS[m.group("fmt")])
        if key not in names:
            names.append(key)
        return f"${names.index(key) + 1}"

    return _PLACEHOLDER.sub(replace, query), names


def encode(conn: psycopg.Connection[Any], query: str, params: Mapping[str, Any]) -> Encoded:
    """Convert and dump with the connection's adapters (pgvector's included), as psycopg would."""
    text, names = to_dollar(query)
    missing = [n for n, _ in names if n not in params]
    if missing:
        raise KeyError(f"no value for query parameter(s) {', '.join(missing)}")
    tx = Transformer(conn)
    values = tx.dump_sequence([params[n] for n, _ in names], [f for _, f in names])
    return Encoded(text.encode(conn.info.encoding), values, tx.types or (), tx.formats or [])


@dataclass
class Executor:
    """Runs encoded queries on one connection, preparing each after `prepare_threshold` runs like psycopg.

    None never prepares: every execution is planned with its own values (the plan EXPLAIN shows is the
    plan that ran). A result that is not rows raises the matching psycopg error.
    """

    conn: psycopg.Connection[Any]
    prepare_threshold: int | None = None
    _seen: dict[bytes, int] = field(default_factory=dict)
    _prepared: dict[bytes, bytes] = field(default_factory=dict)

    def execute(self, enc: Encoded) -> pq.abc.PGresult:
        pgconn = self.conn.pgconn
        name = self._prepared.get(enc.query)
        if name is None and self.prepare_threshold is not None:
            self._seen[enc.query] = self._seen.get(enc.query, 0) + 1
            if self._seen[enc.query] > self.prepare_threshold:
                name = f"wardbench_{len(self._prepared)}".encode()
                self._check(pgconn.prepare(name, enc.query, enc.types), pq.ExecStatus.COMMAND_OK)
                self._prepared[enc.query] = name
        if name is None:
            res = pgconn.exec_params(enc.query, enc.params, enc.types, enc.formats)
        else:
            # libpq sends None as NULL here as in exec_params; psycopg's stub for this one omits None
            res = pgconn.exec_prepared(name, enc.params, enc.formats)  # type: ignore[arg-type]
        return self._check(res, pq.ExecStatus.TUPLES_OK)

    def _check(self, res: pq.abc.PGresult, ok: pq.ExecStatus) -> pq.abc.PGresult:
        if res.status != ok:
            raise psycopg.errors.error_from_result(res, encoding=self.conn.info.encoding)
        return res


def column(res: pq.abc.PGresult, name: str) -> list[bytes | None]:
    """One column of a text-format result, raw (ValueError when the query has no such column)."""
    i = column_names(res).index(name)
    return [res.get_value(r, i) for r in range(res.ntuples)]


def column_names(res: pq.abc.PGresult) -> list[str]:
    return [(res.fname(i) or b"").decode() for i in range(res.nfields)]
