"""Binary COPY: NumPy columns encoded straight into PostgreSQL's binary COPY format, schema-driven.

Large tables are encoded with NumPy (fixed-width columns as one structured array, text as pre-encoded
pool entries) and written as raw binary COPY data; small tables go through psycopg's `write_row`
with `set_types`. Column types always come from the catalog, so an int4/int8 or vector(384)/(768)
difference in the schema changes the encoding, not the generator.
"""

from __future__ import annotations

import functools
import itertools
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from queue import Empty, Full, Queue
from typing import Any, TypeVar

import numpy as np
import psycopg
from psycopg import sql

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
PG_EPOCH_DAYS = 10_957  # 2000-01-01 in days since 1970-01-01
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)

# Fixed-width binary encodings by type name (pg_type.typname).
_FIXED = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float4": ">f4", "float8": ">f8", "bool": "u1",
          "timestamptz": ">i8", "timestamp": ">i8", "date": ">i4"}
T = TypeVar("T")
_VARIABLE = {"text", "varchar", "bpchar", "name", "jsonb", "json"}


@dataclass(frozen=True)
class Column:
    """One column as the catalog describes it."""

    name: str
    typname: str
    typmod: int
    type_oid: int
    not_null: bool


def table_columns(conn: psycopg.Connection[Any], table: str, schema: str = "public") -> dict[str, Column]:
    """Columns of `table` that COPY can write (not dropped, not generated), keyed by name."""
    rows = conn.execute(
        "SELECT a.attname, t.typname, a.atttypmod, a.atttypid, a.attnotnull "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass "
        "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
        (schema, table)).fetchall()
    return {r[0]: Column(r[0], r[1], int(r[2]), int(r[3]), bool(r[4])) for r in rows}


def vector_dimension(conn: psycopg.Connection[Any], table: str, column: str) -> int:
    """The declared dimension of a pgvector column (its atttypmod); never assumed."""
    col = table_columns(conn, table).get(column)
    if col is None or col.typname != "vector" or col.typmod <= 0:
        raise LookupError(f"{table}.{column} is not a vector column with a declared dimension")
    return col.typmod


class FieldPool:
    """Values encoded once as binary COPY fields (length header + bytes), drawn by index per row."""

    def __init__(self, fields: list[bytes], texts: list[str] | None = None) -> None:
        self.fields = fields
        self.texts = texts or []  # kept for text pools: the real-model embedder reads them

    @classmethod
    def text(cls, texts: Sequence[str], jsonb: bool = False) -> FieldPool:
        """Text (or jsonb, version byte 1 + text) fields for `texts`."""
        prefix = b"\x01" if jsonb else b""
        return cls([struct.pack(">i", len(b) + len(prefix)) + prefix + b for b in (t.encode() for t in texts)],
                   list(texts))

    @classmethod
    def nullable_ints(cls, values: Sequence[int], typname: str) -> FieldPool:
        """Integer fields for `values`, plus NULL as the last entry (index len(values))."""
        fmt = {"int2": ">ih", "int4": ">ii", "int8": ">iq"}[typname]
        width = struct.calcsize(fmt) - 4
        return cls([struct.pack(fmt, width, v) for v in values] + [struct.pack(">i", -1)])

    def __len__(self) -> int:
        return len(self.fields)

    @functools.cached_property
    def uniform(self) -> np.ndarray | None:
        """The fields as one fixed-width NumPy array when they all have the same length, else None.

        Such a pool (e.g. model names of one length) is packed with the fixed-width columns instead
        of being joined row by row.
        """
        widths = {len(f) for f in self.fields}
        if len(widths) != 1:
            return None
        width = widths.pop()
        return np.frombuffer(b"".join(self.fields), dtype=np.dtype((np.void, width)))


@dataclass(frozen=True)
class Pooled:
    """A variable-width or nullable column given as indices into a FieldPool."""

    pool: FieldPool
    index: np.ndarray


ColumnData = np.ndarray | Pooled


def _fixed_dtype(col: Column) -> list[tuple[Any, ...]]:
    if col.typname == "vector":
        return [(f"{col.name}__len", ">i4"), (f"{col.name}__dim", ">i2"), (f"{col.name}__unused", ">i2"),
                (col.name, ">f4", (col.typmod,))]
    return [(f"{col.name}__len", ">i4"), (col.name, _FIXED[col.typname])]


def _fixed_value(col: Column, values: np.ndarray) -> np.ndarray:
    """Values in the binary representation PostgreSQL expects (epoch shifts for times and dates)."""
    if col.typname in ("timestamptz", "timestamp"):
        return values.astype("datetime64[us]").astype(np.int64) - PG_EPOCH_US
    if col.typname == "date":
        return values.astype("datetime64[D]").astype(np.int64) - PG_EPOCH_DAYS
    return values


def _fixed_width(col: Column) -> int:
    return int(np.dtype(_fixed_dtype(col)).itemsize) - 4


def _is_fixed(col: Column) -> bool:
    return col.typname in _FIXED or col.typname == "vector"


def _packed(data: Mapping[str, ColumnData], name: str) -> bool:
    """True for columns packed in the structured block: arrays, and pools of one field width."""
    value = data[name]
    return not isinstance(value, Pooled) or value.pool.uniform is not None


def encode_rows(columns: Sequence[Column], data: Mapping[str, ColumnData]) -> bytes:
    """Binary COPY tuples (no header) for `data`, whose keys must follow `columns` order.

    Packed columns (NumPy arrays, and pools whose fields share one width) must come first (see
    `copy_order`): they form one structured array; other pooled columns are then joined per row from
    their pre-encoded fields. A nullable column is given as Pooled too (FieldPool.nullable_ints).
    """
    fixed = [c for c in columns if _packed(data, c.name)]
    var = [c for c in columns if not _packed(data, c.name)]
    if [c.name for c in columns] != [c.name for c in fixed + var]:
        raise ValueError("fixed-width columns must precede pooled ones: order columns with copy_order()")
    n = _rows(data)
    fields: list[tuple[Any, ...]] = [("nfields", ">i2")]
    for col in fixed:
        value = data[col.name]
        if isinstance(value, Pooled):
            assert value.pool.uniform is not None
            fields.append((col.name, value.pool.uniform.dtype))
        else:
            fields += _fixed_dtype(col)
    block = np.empty(n, dtype=np.dtype(fields))
    block["nfields"] = len(columns)
    for col in fixed:
        values = data[col.name]
        if isinstance(values, Pooled):
            if len(values.index) != n:
                raise ValueError(f"column {col.name} has {len(values.index)} values, expected {n}")
            assert values.pool.uniform is not None
            block[col.name] = values.pool.uniform[values.index]
            continue
        if len(values) != n:
            raise ValueError(f"column {col.name} has {len(values)} values, expected {n}")
        block[f"{col.name}__len"] = _fixed_width(col)
        if col.typname == "vector":
            if values.shape != (n, col.typmod):
                raise ValueError(f"{col.name}: vectors of shape {values.shape}, schema says dim {col.typmod}")
            block[f"{col.name}__dim"] = col.typmod
            block[f"{col.name}__unused"] = 0
        block[col.name] = _fixed_value(col, values)
    if not var:
        return block.tobytes()
    raw = memoryview(block.tobytes())
    width = block.dtype.itemsize
    rows: list[Iterable[Any]] = [[raw[i * width:(i + 1) * width] for i in range(n)]]
    for col in var:
        pooled = data[col.name]
        assert isinstance(pooled, Pooled)
        if len(pooled.index) != n:
            raise ValueError(f"column {col.name} has {len(pooled.index)} values, expected {n}")
        entries = pooled.pool.fields
        rows.append([entries[i] for i in pooled.index.tolist()])
    return b"".join(b for row in zip(*rows, strict=True) for b in row)


def copy_order(columns: Mapping[str, Column], data: Mapping[str, ColumnData]) -> list[Column]:
    """The COPY column list for `data`: packed columns first, then row-joined pooled ones (catalog order)."""
    unknown = [name for name in data if name not in columns]
    if unknown:
        raise LookupError(f"the schema has no column(s) {', '.join(unknown)}")
    chosen = [columns[name] for name in data]
    for col in chosen:
        if not isinstance(data[col.name], Pooled) and not _is_fixed(col):
            raise TypeError(f"column {col.name} ({col.typname}) needs a Pooled value")
        if isinstance(data[col.name], Pooled) and col.typname not in _VARIABLE | set(_FIXED):
            raise TypeError(f"column {col.name} ({col.typname}) cannot be given as pooled text")
    return [c for c in chosen if _packed(data, c.name)] + [c for c in chosen if not _packed(data, c.name)]


def copy_statement(table: str, columns: Sequence[Column], binary: bool = True,
                   schema: str = "public", freeze: bool = False) -> sql.Composed:
    """COPY ... FROM STDIN; FREEZE (only for a table created or truncated in this transaction) writes the rows
    frozen and all-visible, so the VACUUM after a load has no page left to visit."""
    options = [o for o, on in (("FORMAT BINARY", binary), ("FREEZE", freeze)) if on]
    fmt = sql.SQL(f" ({', '.join(options)})") if options else sql.SQL("")
    return sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(sql.Identifier(c.name) for c in columns), fmt)


def _rows(data: Mapping[str, ColumnData]) -> int:
    first = next(iter(data.values()))
    return len(first.index) if isinstance(first, Pooled) else len(first)


def prefetch(batches: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Produce batches in a worker thread while the caller sends the previous one to the server.

    NumPy and psycopg both release the GIL for their heavy work, so generation and the server's
    ingestion overlap on two cores; at most `depth` + 1 batches are alive, so memory stays bounded.
    """
    queue: Queue[tuple[str, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        queue.put(("item", item), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(("done", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            queue.put(("error", exc))

    worker = threading.Thread(target=work, name="datagen-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = queue.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            try:
                queue.get(timeout=0.1)
            except Empty:
                pass
        worker.join()


def copy_batches(cur: psycopg.Cursor[Any], table: str, columns: Mapping[str, Column],
                 batches: Iterable[Mapping[str, ColumnData]], on_batch: Callable[[int], None] | None = None,
                 schema: str = "public", freeze: bool = False) -> int:
    """Stream NumPy batches into `table` through one raw binary COPY; returns the rows written.

    The column list is fixed by the first batch. Batches are generated and encoded in a worker thread
    (see `prefetch`) while this one sends the previous payload.
    """
    orders: list[list[Column]] = []

    def encoded() -> Iterator[tuple[bytes, int]]:
        for batch in batches:
            if not orders:
                orders.append(copy_order(columns, batch))
            yield encode_rows(orders[0], {c.name: batch[c.name] for c in orders[0]}), _rows(batch)

    payloads = prefetch(encoded())
    first = next(payloads, None)
    if first is None:
        return 0
    total = 0
    with cur.copy(copy_statement(table, orders[0], schema=schema, freeze=freeze)) as copy:
        copy.write(COPY_HEADER)
        for payload, n in itertools.chain([first], payloads):
            copy.write(payload)
            total += n
            if on_batch is not None:
                on_batch(n)
        copy.write(COPY_TRAILER)
    return total


def copy_records(cur: psycopg.Cursor[Any], table: str, columns: Mapping[str, Column],
                 names: Sequence[str], records: Iterable[Sequence[Any]], freeze: bool = False) -> int:
    """Small tables: psycopg's binary `write_row` with `set_types` from the catalog (numeric, jsonb, NULLs)."""
    missing = [n for n in names if n not in columns]
    if missing:
        raise LookupError(f"{table} has no column(s) {', '.join(missing)}")
    count = 0
    with cur.copy(copy_statement(table, [columns[n] for n in names], freeze=freeze)) as copy:
        copy.set_types([columns[n].type_oid for n in names])
        for record in records:
            copy.write_row(record)
            count += 1
    return count
