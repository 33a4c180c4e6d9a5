"""Per-table, order-independent checksums computed inside the database in one parallel-safe pass.

Each column is hashed with its type's own 64-bit hash function where PostgreSQL has a stable one
(integers, numeric, floats, timestamps, jsonb, uuid, ...), so no value is formatted as text; text
uses the CPU's CRC-32C instruction where PostgreSQL has crc32c (18+); other types hash their text form.
pgvector columns are hashed exactly, every bit of every float (a CRC detects any change confined to 32
consecutive bits, e.g. the last bit of one float). pgvector has no hash function, its SIMD distances round,
and its exact forms cost: text formats each float (~30 us a 384-dim row), vector_send and the real[] cast
~2 us. So in a disposable database (`cast=True`: the stairway's and the rehearsal's scratch databases) a
vector's bytes are read where they lie through a binary-coercible cast to bytea made in a savepoint that is
rolled back (see `vector_cast`); anywhere else (a user's database: backup verification) nothing is created,
not even for a rolled-back moment, and the same bytes rebuilt from the send form give the same checksum,
slower. halfvec and sparsevec are hashed in their send form.
Each column's hash is seeded from the column's *name* and the column hashes of a row are XOR-ed,
so the checksum does not depend on column order (a downgrade that re-adds a column at the end is
not a false alarm). Row hashes are re-hashed and summed exactly (a multiset sum, with the row count),
which makes the result independent of row order without sorting; every function is parallel safe, so
the server scans a large table with parallel workers. The hash functions are internal to PostgreSQL:
compare checksums only between databases of the same major version.
"""

from __future__ import annotations

import statistics
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

# Builtin types whose default hash support function (amproc 2) takes the type itself and does not
# hash an OID (enums, reg* types do: their hashes would differ between two databases).
_HASHED_TYPES = {
    "int2": "hashint2extended", "int4": "hashint4extended", "int8": "hashint8extended",
    "numeric": "hash_numeric_extended", "float4": "hashfloat4extended", "float8": "hashfloat8extended",
    "text": "hashtextextended", "varchar": "hashtextextended", "bpchar": "hashbpcharextended",
    "name": "hashnameextended", "timestamp": "timestamp_hash_extended",
    "timestamptz": "timestamptz_hash_extended", "time": "time_hash_extended",
    "timetz": "timetz_hash_extended", "interval": "interval_hash_extended", "uuid": "uuid_hash_extended",
    "jsonb": "jsonb_hash_extended", "macaddr": "hashmacaddrextended", "inet": "hashinetextended",
    "cidr": "hashinetextended",
}
# pgvector's types (in the extension's schema): hashed through their binary send form, never projected.
_VECTOR_TYPES = ("vector", "halfvec", "sparsevec")


@dataclass(frozen=True)
class TableChecksum:
    table: str
    rows: int
    checksum: str  # numeric as text: exact, and JSON-safe


@dataclass(frozen=True)
class _Column:
    name: str
    typname: str
    type_schema: str
    not_null: bool
    send: tuple[str, str] | None  # the type's binary send function (schema, name), if it has one


# A relation whose only column is version_num: Alembic's bookkeeping table, whatever env.py's version_table
# names it (asterisk's chains use alembic_version_config, _cdr, ...).
VERSION_TABLE_SQL = ("(SELECT array_agg(a.attname::text) FROM pg_attribute a WHERE a.attrelid = c.oid "
                     "AND a.attnum > 0 AND NOT a.attisdropped) = ARRAY['version_num']")


VERSION_TABLES_QUERY = ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        f"WHERE n.nspname = %(schema)s AND c.relkind = 'r' AND {VERSION_TABLE_SQL}")


def version_tables(conn: psycopg.Connection[Any], schema: str = "public") -> list[str]:
    """Alembic version tables in `schema`, found by shape rather than by the default name."""
    return [r[0] for r in conn.execute(VERSION_TABLES_QUERY, {"schema": schema}).fetchall()]


def user_tables(conn: psycopg.Connection[Any], schema: str = "public",
                exclude: tuple[str, ...] = ("alembic_version",)) -> list[str]:
    """Ordinary tables in `schema`, sorted, without Alembic's bookkeeping table(s) or extension tables."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND NOT EXISTS ("
        "SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
        f"AND d.deptype = 'e') AND NOT coalesce({VERSION_TABLE_SQL}, false) ORDER BY 1", (schema,)).fetchall()
    return [r[0] for r in rows if r[0] not in exclude]


def _columns(conn: psycopg.Connection[Any], table: str, schema: str) -> list[_Column]:
    rows = conn.execute(
        "SELECT a.attname, bt.typname, btn.nspname, a.attnotnull, spn.nspname, sp.proname "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
        "JOIN pg_namespace btn ON btn.oid = bt.typnamespace "
        "LEFT JOIN pg_proc sp ON sp.oid = bt.typsend LEFT JOIN pg_namespace spn ON spn.oid = sp.pronamespace "
        "WHERE a.attrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attname", (schema, table)).fetchall()
    return [_Column(r[0], r[1], r[2], bool(r[3]), (r[4], r[5]) if r[5] else None) for r in rows]


def _seed(name: str) -> int:
    """A per-column hash seed from the column's name (so column order does not matter); 1..2**31."""
    return (zlib.crc32(name.encode()) >> 1) + 1


def probe_vector(dim: int) -> str:
    """A fixed pseudo-random vector in pgvector's text form (same for every run and database): the
    under-load plan's k-NN query vector."""
    state, values = 2463534242, []
    for _ in range(dim):
        state = (state * 1103515245 + 12345) % 2**31
        values.append(f"{state / 2**31 - 0.5:.6f}")
    return "[" + ",".join(values) + "]"


_AVAILABLE: dict[int, frozenset[str]] = {}


def _available(conn: psycopg.Connection[Any]) -> frozenset[str]:
    """Which of the hash functions (and crc32c) this server version has (timestamptz's came in 17); "reverse"
    when it can reverse a bytea and an array (18)."""
    version = conn.info.server_version
    if version not in _AVAILABLE:
        names = [*set(_HASHED_TYPES.values()), "crc32c", "hashbyteaextended"]
        rows = conn.execute("SELECT DISTINCT proname FROM pg_proc WHERE proname = ANY(%s) "
                            "AND pronamespace = 'pg_catalog'::regnamespace", (names,)).fetchall()
        reversible = conn.execute("SELECT to_regprocedure('pg_catalog.reverse(bytea)') IS NOT NULL AND "
                                  "to_regprocedure('pg_catalog.array_reverse(anyarray)') IS NOT NULL").fetchone()
        _AVAILABLE[version] = frozenset([r[0] for r in rows] + (["reverse"] if reversible and reversible[0] else []))
    return _AVAILABLE[version]


def _column_hash(col: _Column, available: frozenset[str], cast: bool) -> sql.Composable:
    ident, seed = sql.Identifier(col.name), sql.Literal(_seed(col.name))
    func = _HASHED_TYPES.get(col.typname, "") if col.type_schema == "pg_catalog" else ""
    if func and func not in available:
        func = ""
    if "crc32c" in available and func == "hashtextextended":
        # PostgreSQL 18's crc32c runs on the CPU's CRC instruction: text is hashed at memory speed.
        # The 32-bit CRC times an odd per-column constant (< 2**31: no int8 overflow) keeps columns apart.
        expr = sql.SQL("crc32c(textsend({}::text)) * {}").format(ident, sql.Literal(_seed(col.name) | 1))
    elif _is_vector(col, available) and col.send:
        expr = _bytes_hash(_vector_bytes(col, col.send, cast, available), col.name, available)
    elif col.typname in ("date", "bool"):
        expr = sql.SQL("hashint4extended({}::int4, {})").format(
            sql.SQL("({} - DATE '2000-01-01')").format(ident) if col.typname == "date" else ident, seed)
    elif func:
        expr = sql.SQL("{}({}, {})").format(sql.Identifier(func), ident, seed)
    elif col.typname == "timestamptz" and col.type_schema == "pg_catalog":  # before 17; text would follow TimeZone
        expr = sql.SQL("hash_numeric_extended(extract(epoch FROM {}), {})").format(ident, seed)
    else:
        expr = sql.SQL("hashtextextended({}::text, {})").format(ident, seed)
    if col.not_null:
        return expr
    return sql.SQL("coalesce({}, {})").format(expr, sql.Literal(-_seed(col.name)))


def _is_vector(col: _Column, available: frozenset[str]) -> bool:
    """A pgvector column hashed through its bytes (the server has a bytea hash; else its exact text form)."""
    return (col.typname in _VECTOR_TYPES and col.type_schema != "pg_catalog"
            and bool({"crc32c", "hashbyteaextended"} & available))


def _vector_bytes(col: _Column, send: tuple[str, str], cast: bool, available: frozenset[str]) -> sql.Composable:
    """Every bit of a pgvector value as bytea. A `vector` is hashed in its in-memory form (int16 dimension,
    int16 zero, float32s, all little-endian as on every server we run): read through the binary-coercible
    cast of `vector_cast`, free; without it, rebuilt from the send form (the same fields big-endian): on 18
    the elements reversed, sent and the bytes reversed (~10 us a 384-dim row), before that each field's bytes
    swapped by a regular expression (~400 us). halfvec and sparsevec are hashed in their send form."""
    ident = sql.Identifier(col.name)
    if col.typname != "vector":
        return sql.SQL("{}({})").format(sql.Identifier(*send), ident)
    if cast:
        return sql.SQL("{}::bytea").format(ident)
    if "reverse" in available:
        dims = sql.SQL("{}({})").format(sql.Identifier(col.type_schema, "vector_dims"), ident)
        flipped = sql.SQL("{}(array_reverse({}::real[])::{})").format(
            sql.Identifier(*send), ident, sql.Identifier(col.type_schema, "vector"))
        return sql.SQL("reverse(int2send({}::int2)) || '\\x0000'::bytea || substring(reverse({}) FROM 1 FOR 4 * {})"
                       ).format(dims, flipped, dims)
    sent = sql.SQL("{}({})").format(sql.Identifier(*send), ident)
    return sql.SQL("decode(regexp_replace(encode(substring({} FROM 1 FOR 4), 'hex'), '(..)(..)(..)(..)', "
                   "'\\2\\1\\4\\3') || regexp_replace(encode(substring({} FROM 5), 'hex'), "
                   "'(..)(..)(..)(..)', '\\4\\3\\2\\1', 'g'), 'hex')").format(sent, sent)


def _bytes_hash(data: sql.Composable, name: str, available: frozenset[str]) -> sql.Composed:
    if "crc32c" in available:  # a CRC detects every change confined to 32 consecutive bits, e.g. one float
        return sql.SQL("crc32c({}) * {}").format(data, sql.Literal(_seed(name) | 1))
    return sql.SQL("hashbyteaextended({}, {})").format(data, sql.Literal(_seed(name)))


def _query(cols: list[_Column], available: frozenset[str], table: str, schema: str, cast: bool) -> sql.Composed:
    row_hash: sql.Composable = (sql.SQL("hashint8extended({}, 0)").format(
        sql.SQL(" # ").join(_column_hash(c, available, cast) for c in cols)) if cols else sql.SQL("0::int8"))
    return sql.SQL("SELECT count(*), coalesce(sum({}), 0)::text FROM {}.{}").format(
        row_hash, sql.Identifier(schema), sql.Identifier(table))


def checksum_query(conn: psycopg.Connection[Any], table: str, schema: str = "public") -> sql.Composed:
    """The one-pass query: count(*) and the sum of row hashes (as numeric text) of `schema.table`. It runs in
    any session, read-only too; `table_checksum` gives the same result, faster on vector columns."""
    return _query(_columns(conn, table, schema), _available(conn), table, schema, cast=False)


@contextmanager
def vector_cast(conn: psycopg.Connection[Any], type_schemas: set[str]) -> Iterator[bool]:
    """Inside a savepoint that is always rolled back: a binary-coercible cast from pgvector's `vector` to bytea,
    so a vector's bytes are hashed where they lie (0.2 us a 384-dim row against 2 us through vector_send).
    Yields whether the cast exists; it cannot be made in a read-only transaction, without ownership of the
    type, on a standby or when some cast vector -> bytea exists already: then the caller rebuilds the same bytes
    from the send form, to the same checksum. Nothing is left in the catalog."""
    with conn.transaction(force_rollback=True):
        made = True
        for type_schema in sorted(type_schemas):
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("CREATE CAST ({} AS bytea) WITHOUT FUNCTION").format(
                        sql.Identifier(type_schema, "vector")))
            except psycopg.Error:
                made = False
        yield made


def table_checksum(conn: psycopg.Connection[Any], table: str, schema: str = "public",
                   cast: bool = False) -> TableChecksum:
    """`cast=True` only in a disposable database: it may create (and roll back) a cast there."""
    return _Plan.of(conn, table, schema).run(conn, cast)


@dataclass(frozen=True)
class _Plan:
    """What a table's checksum needs from the catalog, looked up once (and outside timed runs)."""

    table: str
    schema: str
    cols: list[_Column]
    available: frozenset[str]

    @classmethod
    def of(cls, conn: psycopg.Connection[Any], table: str, schema: str) -> _Plan:
        return cls(table, schema, _columns(conn, table, schema), _available(conn))

    def run(self, conn: psycopg.Connection[Any], cast: bool) -> TableChecksum:
        vectors = {c.type_schema for c in self.cols if c.typname == "vector" and _is_vector(c, self.available)}
        if not vectors or not cast:
            return self._fetch(conn, cast=False)
        with vector_cast(conn, vectors) as cast:
            return self._fetch(conn, cast)

    def _fetch(self, conn: psycopg.Connection[Any], cast: bool) -> TableChecksum:
        query = _query(self.cols, self.available, self.table, self.schema, cast)
        rows, checksum = conn.execute(query).fetchone()  # type: ignore[misc]
        return TableChecksum(self.table, int(rows), str(checksum))


def database_checksums(conn: psycopg.Connection[Any], schema: str = "public",
                       tables: list[str] | None = None) -> dict[str, TableChecksum]:
    """Checksums of `tables` (default: every user table in `schema`), keyed by table name."""
    names = tables if tables is not None else user_tables(conn, schema)
    return {t: table_checksum(conn, t, schema) for t in names}


PAIRS = 3  # timed (count(*), checksum) pairs per table: the medians are compared


@dataclass(frozen=True)
class TimedChecksums:
    """Checksums and what they cost: per table the median checksum time and the median time of a
    count(*) of the same table, measured in alternation in the same run."""

    checksums: dict[str, TableChecksum]
    checksum_s: dict[str, float]
    count_s: dict[str, float]

    @property
    def ratio(self) -> float | None:
        """All tables' checksum time over their count(*) time (None when count(*) took no measurable time)."""
        count = sum(self.count_s.values())
        return sum(self.checksum_s.values()) / count if count > 0 else None


def timed_checksums(conn: psycopg.Connection[Any], tables: list[str], schema: str = "public",
                    pairs: int = PAIRS, cast: bool = False) -> TimedChecksums:
    """Checksums of `tables`, each timed against count(*) of the same table: one untimed count(*) first (so
    neither side alone pays for reading the table into memory), then `pairs` alternating count(*)/checksum
    pairs, medians kept. Catalog lookups happen before the clock starts; the cast's savepoint is timed."""
    sums: dict[str, TableChecksum] = {}
    checksum_s: dict[str, float] = {}
    count_s: dict[str, float] = {}
    for table in tables:
        plan = _Plan.of(conn, table, schema)
        count = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        conn.execute(count).fetchone()
        checksums, counts = [], []
        for _ in range(max(1, pairs)):
            start = time.perf_counter()
            conn.execute(count).fetchone()
            middle = time.perf_counter()
            sums[table] = plan.run(conn, cast)
            checksums.append(time.perf_counter() - middle)
            counts.append(middle - start)
        checksum_s[table], count_s[table] = statistics.median(checksums), statistics.median(counts)
    return TimedChecksums(sums, checksum_s, count_s)
