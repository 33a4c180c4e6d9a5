"""Bulk seeding of any schema: N rows per table through binary COPY, foreign keys consistent.

The verifier's reflection (harness.verify.seed) gives the tables in foreign-key order with their types
and CHECK hints. Numbers, booleans, times and vectors are drawn as NumPy columns; every other column
draws from a pool of the verifier's own values (unicode, quotes, enum labels, CHECK-conforming literals),
turned into binary fields once by the type's own send function on the server, so any type PostgreSQL
can parse can be seeded without a Python encoder. Foreign keys draw from the parent's key values as the
server sends them (composite keys row-aligned); a unique set made only of foreign keys is filled in
mixed radix so no pair repeats. Nothing goes row by row: one COPY per table, generated in batches in a
worker thread while the server ingests the previous one (harness.datagen.copy).
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import psycopg
import sqlalchemy as sa
from psycopg import sql

from harness.datagen.copy import Column, ColumnData, FieldPool, Pooled, copy_batches
from harness.results.migrations import Shortfall
from harness.results.rehearsal import Seeding
from harness.verify import seed as reflected

POOL_SIZE = 256  # distinct values per pooled column
NULL_SHARE = 8  # about one row in NULL_SHARE is NULL in a nullable column (not in foreign keys: 1 in 10)
BATCH_BYTES = 32 << 20  # rows per COPY batch are chosen so a batch's fixed-width part stays near this
_NULL_FIELD = struct.pack(">i", -1)
_INT_LIMITS = {"int2": 2**15 - 1, "int4": 2**31 - 1, "int8": 2**63 - 1}
_NUMPY = {"int2", "int4", "int8", "float4", "float8", "bool", "timestamp", "timestamptz", "date", "vector"}
_EPOCH = np.datetime64("2019-01-01T00:00:00", "us")


@dataclass
class BulkReport:
    """Rows per table, the seconds the COPY took, and the tables that got fewer rows than asked."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    shortfalls: list[Shortfall] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    def record(self) -> Seeding:
        rate = self.total_rows / self.total_s if self.total_s else None
        return Seeding(method="binary COPY (NumPy columns, server-encoded pools)", rows=dict(self.rows),
                       seconds={t: round(s, 3) for t, s in self.seconds.items()}, total_rows=self.total_rows,
                       total_s=round(self.total_s, 3), rows_per_s=round(rate) if rate else None,
                       shortfalls=list(self.shortfalls))


@dataclass(frozen=True)
class _Catalog:
    """What COPY and the pools need beyond the reflected spec: base type, format for casts, send function."""

    base: str
    formatted: str
    send: str
    not_null: bool
    type_oid: int
    typmod: int


def seed_tables(conn: psycopg.Connection[Any], engine: sa.Engine, rows: int, seed: int = 42,
                schema: str = "public", only_empty: bool = True, only: set[str] | None = None) -> BulkReport:
    """Seed `rows` rows into every table of `schema` (only the empty ones unless `only_empty` is False;
    only those in `only` when given)."""
    report = BulkReport()
    specs = reflected.reflect(engine, schema)
    for position, spec in enumerate(specs):
        if (only is not None and spec.name not in only) or (only_empty and _has_rows(conn, schema, spec.name)):
            continue
        start = time.perf_counter()
        try:
            written = _seed_table(conn, spec, rows, seed, position, schema)
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, spec.name)))
            conn.commit()
        except (psycopg.Error, _Unseedable) as exc:
            conn.rollback()
            written = 0
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            report.shortfalls.append(Shortfall(spec.name, rows, 0, reason))
        report.rows[spec.name] = written
        report.seconds[spec.name] = time.perf_counter() - start
        if 0 < written < rows:
            report.shortfalls.append(Shortfall(spec.name, rows, written,
                                               "its unique foreign keys allow no more distinct rows"))
    return report


class _Unseedable(Exception):
    """A table this seeder cannot fill (e.g. a NOT NULL foreign key whose parent is empty)."""


def _has_rows(conn: psycopg.Connection[Any], schema: str, table: str) -> bool:
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(schema, table))
    found = bool(conn.execute(query).fetchone()[0])  # type: ignore[index]
    conn.rollback()
    return found


def _catalog(conn: psycopg.Connection[Any], schema: str, table: str) -> dict[str, _Catalog]:
    rows = conn.execute(
        "SELECT a.attname, bt.typname, format_type(a.atttypid, a.atttypmod), t.typsend::regproc::text, "
        "a.attnotnull, a.atttypid::int8, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
        "WHERE a.attrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass "
        "AND a.attnum > 0 AND NOT a.attisdropped", (schema, table)).fetchall()
    return {r[0]: _Catalog(r[1], r[2], r[3], bool(r[4]), int(r[5]), int(r[6])) for r in rows}


def _sent(conn: psycopg.Connection[Any], cat: _Catalog, texts: list[str | None]) -> list[bytes]:
    """Binary COPY fields for `texts` as the column's type, encoded by the server; values it refuses are left out."""
    query = sql.SQL("SELECT {}(v::{}) FROM unnest(%s::text[]) v").format(
        sql.SQL(cat.send), sql.SQL(cat.formatted))  # regproc and format_type output are already quoted
    out: list[bytes] = []
    with conn.cursor(binary=True) as cur:
        try:
            with conn.transaction():
                got = [r[0] for r in cur.execute(query, (texts,)).fetchall()]
        except psycopg.Error:  # one bad value: try them one by one
            got = []
            for text in texts:
                try:
                    with conn.transaction():
                        got.append(cur.execute(query, ([text],)).fetchone()[0])  # type: ignore[index]
                except psycopg.Error:
                    continue
    for value in got:
        out.append(_NULL_FIELD if value is None else struct.pack(">i", len(value)) + bytes(value))
    return out


@dataclass
class _Plan:
    """How each column of one table is filled; `limit` caps rows when unique foreign keys run out."""

    columns: dict[str, Column]
    numpy: dict[str, tuple[reflected.ColumnSpec, reflected.Hints, _Catalog]]
    pools: dict[str, tuple[FieldPool, bool]]  # pool, nullable (last entry is NULL)
    unique_pooled: dict[str, tuple[reflected.ColumnSpec, reflected.Hints, _Catalog]]
    fks: list[tuple[list[str], list[FieldPool], int, bool]]  # columns, parent pools, parent rows, nullable
    radix: list[int]  # indexes into fks filled in mixed radix (a unique set of foreign keys only)
    limit: int


def _seed_table(conn: psycopg.Connection[Any], spec: reflected.TableSpec, rows: int, seed: int, position: int,
                schema: str) -> int:
    plan = _plan(conn, spec, rows, seed, schema)
    target = min(rows, plan.limit)
    if target == 0 or not plan.columns:
        return 0
    width = sum(cat.typmod * 4 if cat.base == "vector" else 16 for _, _, cat in plan.numpy.values()) + 64
    batch = max(1000, min(200_000, BATCH_BYTES // width))
    seeder = reflected.Seeder(seed + position, 1)
    with conn.cursor() as cur:
        return copy_batches(cur, spec.name, plan.columns,
                            _batches(conn, plan, target, batch, seed, position, seeder), schema=schema)


def _plan(conn: psycopg.Connection[Any], spec: reflected.TableSpec, rows: int, seed: int,
          schema: str) -> _Plan:
    catalog = _catalog(conn, schema, spec.name)
    seeder = reflected.Seeder(seed, 1)
    plan = _Plan({}, {}, {}, {}, [], [], rows)
    taken: set[str] = set()
    present = {c.name for c in spec.columns}
    for fk in spec.fks:
        if not set(fk.columns) <= present or set(fk.columns) & taken:
            continue
        nullable = all(not catalog[c].not_null for c in fk.columns)
        if fk.ref_table == spec.name:
            if not nullable:
                raise _Unseedable(f"{spec.name} references itself with a NOT NULL key")
            pools, count = [FieldPool([]) for _ in fk.columns], 0  # left NULL
        else:
            pools, count = _parent_pools(conn, schema, fk, [catalog[c] for c in fk.columns])
        if count == 0 and not nullable:
            raise _Unseedable(f"{spec.name}: its NOT NULL foreign key to {fk.ref_table} has no parent rows")
        if nullable:  # NULL is the pool's last entry
            pools = [FieldPool(p.fields + [_NULL_FIELD]) for p in pools]
        plan.fks.append((fk.columns, pools, count, nullable))
        taken |= set(fk.columns)
        for name in fk.columns:
            cat = catalog[name]
            plan.columns[name] = Column(name, "text", cat.typmod, cat.type_oid, cat.not_null)
    unique_sets = _unique_sets(conn, schema, spec.name)
    for unique in unique_sets:
        covering = [i for i, (cols, _, _, _) in enumerate(plan.fks) if set(cols) <= unique]
        if covering and set().union(*(plan.fks[i][0] for i in covering)) == unique:
            plan.radix = covering
            plan.limit = min(plan.limit, int(np.prod([max(plan.fks[i][2], 1) for i in covering], dtype=object)))
            break
    for col in spec.columns:
        if col.name in taken:
            continue
        cat = catalog[col.name]
        hints = spec.hints.get(col.name, reflected.Hints())
        is_unique = col.unique or any(found == {col.name} | (found & taken) for found in unique_sets)
        col = replace(col, unique=is_unique)
        if cat.base in _NUMPY and not hints.choices and not (col.nullable and not is_unique and cat.base != "vector"):
            plan.numpy[col.name] = (col, hints, cat)
            plan.columns[col.name] = Column(col.name, cat.base, cat.typmod, cat.type_oid, cat.not_null)
        elif is_unique:
            plan.unique_pooled[col.name] = (col, hints, cat)
            plan.columns[col.name] = Column(col.name, "text", cat.typmod, cat.type_oid, cat.not_null)
        else:
            texts = [seeder.value(col, hints, i % 4 == 3) for i in range(POOL_SIZE)]
            fields = _sent(conn, cat, [t for t in texts if t is not None])
            if not fields:
                if not col.nullable:
                    raise _Unseedable(f"{spec.name}.{col.name}: no generated value is a valid {cat.formatted}")
                fields = [_NULL_FIELD]
            if col.nullable:
                fields.append(_NULL_FIELD)
            plan.pools[col.name] = (FieldPool(fields), col.nullable)
            plan.columns[col.name] = Column(col.name, "text", cat.typmod, cat.type_oid, cat.not_null)
    conn.rollback()
    return plan


def _unique_sets(conn: psycopg.Connection[Any], schema: str, table: str) -> list[set[str]]:
    rows = conn.execute(
        "SELECT ARRAY(SELECT a.attname FROM unnest(i.indkey) k JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = k) FROM pg_index i "
        "WHERE i.indrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass AND i.indisunique "
        "AND i.indexprs IS NULL AND i.indpred IS NULL", (schema, table)).fetchall()
    return [set(r[0]) for r in rows if r[0]]


def _parent_pools(conn: psycopg.Connection[Any], schema: str, fk: reflected.ForeignKey,
                  child: list[_Catalog]) -> tuple[list[FieldPool], int]:
    """The parent's key values as binary fields of the child's column types, one pool per column, row-aligned;
    and how many rows."""
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
        sql.SQL(", ").join(sql.SQL("{}({}::{})").format(sql.SQL(cat.send), sql.Identifier(c), sql.SQL(cat.formatted))
                           for c, cat in zip(fk.ref_columns, child, strict=True)),
        sql.Identifier(schema, fk.ref_table),
        sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in fk.ref_columns))
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(query).fetchall()
    conn.rollback()
    pools = [FieldPool([struct.pack(">i", len(r[j])) + bytes(r[j]) for r in rows]) for j in range(len(fk.ref_columns))]
    return pools, len(rows)


def _batches(conn: psycopg.Connection[Any], plan: _Plan, total: int, size: int, seed: int, position: int,
             seeder: reflected.Seeder) -> Iterator[dict[str, ColumnData]]:
    """The table's rows as NumPy batches, deterministic in (seed, table position, batch number)."""
    for number, start in enumerate(range(0, total, size)):
        n = min(size, total - start)
        index = np.arange(start, start + n, dtype=np.int64)
        rng = np.random.default_rng([seed, position, number])
        batch: dict[str, ColumnData] = {}
        for i, (columns, pools, count, nullable) in enumerate(plan.fks):
            if count == 0:  # a nullable key with no parent rows (or to its own table): NULL
                picks = np.zeros(n, dtype=np.int64)
            elif i in plan.radix:
                below = int(np.prod([plan.fks[j][2] for j in plan.radix if j < i], dtype=object))
                picks = (index // below) % count
            else:
                picks = rng.integers(0, count, n)
                if nullable:
                    picks = np.where(rng.integers(0, 10, n) == 0, count, picks)
            for name, pool in zip(columns, pools, strict=True):
                batch[name] = Pooled(pool, picks)
        for name, (col, hints, cat) in plan.numpy.items():
            batch[name] = _numpy_column(col, hints, cat, index, rng)
        for name, (pool, nullable) in plan.pools.items():
            picks = rng.integers(0, len(pool) - (1 if nullable else 0), n)
            if nullable:
                picks = np.where(rng.integers(0, NULL_SHARE, n) == 0, len(pool) - 1, picks)
            batch[name] = Pooled(pool, picks)
        for name, (col, hints, cat) in plan.unique_pooled.items():
            batch[name] = Pooled(FieldPool(_unique_fields(conn, col, hints, cat, index, seeder)), np.arange(n))
        yield batch


def _numpy_column(col: reflected.ColumnSpec, hints: reflected.Hints, cat: _Catalog, index: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    n = len(index)
    if cat.base in _INT_LIMITS:
        if col.unique:
            return index + (int(hints.low) if hints.low is not None else 1)
        low = int(hints.low) if hints.low is not None else 0
        high = int(hints.high) if hints.high is not None else low + 10_000
        return rng.integers(low, min(high, _INT_LIMITS[cat.base]) + 1, n)
    if cat.base in ("float4", "float8"):
        bottom = hints.low if hints.low is not None else 0.0
        return rng.uniform(bottom, hints.high if hints.high is not None else bottom + 1000.0, n)
    if cat.base == "bool":
        return rng.integers(0, 2, n).astype(np.uint8)
    if cat.base in ("timestamp", "timestamptz"):
        offsets = index * 1_000_003 if col.unique else rng.integers(0, 6 * 365 * 86400 * 10**6, n)
        return _EPOCH + offsets.astype("timedelta64[us]")
    if cat.base == "date":
        days = index if col.unique else rng.integers(0, 3000, n)
        return np.datetime64("2019-01-01", "D") + days.astype("timedelta64[D]")
    dim = cat.typmod  # vector: a low-dimensional mixture would be more realistic; the rehearsal needs bytes
    values = rng.standard_normal((n, dim), dtype=np.float32)
    normalized: np.ndarray = values / np.linalg.norm(values, axis=1, keepdims=True)
    return normalized


def _unique_fields(conn: psycopg.Connection[Any], col: reflected.ColumnSpec, hints: reflected.Hints,
                   cat: _Catalog, index: np.ndarray, seeder: reflected.Seeder) -> list[bytes]:
    """One distinct field per row: text keys built from the row number, other types from the verifier's values."""
    if cat.base in ("text", "varchar", "bpchar", "name", "citext") and not hints.regex:
        salt = f"{zlib.crc32(col.name.encode()) % 997:03d}-"
        max_len = cat.typmod - 4 if cat.typmod > 4 else None
        out = []
        for i in index.tolist():
            data = (salt + str(i + 1)).encode()
            data = data[-max_len:] if max_len else data
            out.append(struct.pack(">i", len(data)) + data)
        return out
    texts = []
    for _ in range(len(index)):
        seeder.counter += 1  # the verifier's unique values follow its counter
        texts.append(seeder.value(col, hints, False))
    fields = _sent(conn, cat, [t for t in texts if t is not None])
    if len(fields) < len(index):
        raise _Unseedable(f"{col.name}: could not generate {len(index)} distinct {cat.formatted} values")
    return fields
