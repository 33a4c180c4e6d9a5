"""Reflected seeding: rows for every table of any schema, in foreign-key order, typed from the catalog.

The schema at a revision is reflected with SQLAlchemy (tables, keys, CHECKs, FK order) and the
catalog (exact types: numeric scale, varchar length, vector dimension from atttypmod, enum labels).
Values are passed as text of unknown type, so PostgreSQL's own input functions parse them for any
column type. Each row is inserted in its own savepoint and retried with simpler values when a
constraint rejects it; what still cannot be inserted is reported, never hidden. The first two rows of every
table are the fixed edge rows of harness.verify.edges, the same for every seed.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import pgvector.sqlalchemy  # noqa: F401  - registers `vector` so reflection knows the type
import psycopg
import sqlalchemy as sa
from psycopg import sql

from harness.errors import first_line
from harness.results.migrations import Shortfall, VerifySeeding
from harness.verify import edges
from harness.verify.checksums import VERSION_TABLES_QUERY

WORDS = ["ward", "Zürich", "Łódź", "São Paulo", "東京", "Ελλάδα", "naïve", "café", "Straße", "Ærøskøbing",
         "O'Brien", 'the "quoted"', "back\\slash", "🗳️", "Montréal", "Kraków", "Dún Laoghaire", "İzmir",
         "election", "turnout", "council", "महाराष्ट्र", "München", "comma, here", "{brace}", "NULL"]
SIMPLE_WORDS = ["alpha", "bravo", "Zürich", "charlie", "Łódź", "delta", "echo", "東京"]
ATTEMPTS = 12
_NUM = r"\(*'?(-?\d+(?:\.\d+)?)'?\)*(?:::[a-z ]+\)*)*"
_BOUND = re.compile(r'"?(\w+)"?\)?(?:::[a-z ]+)?\s*(>=|>|<=|<)\s*' + _NUM)
_ANY = re.compile(r'"?(\w+)"?\)?(?:::[a-z ]+)?\s*=\s*ANY\s*\(\(?ARRAY\[(.*?)\]', re.S)
_EQ = re.compile(r"\(\"?(\w+)\"?(?:::[a-z ]+)?\s*=\s*'((?:[^']|'')*)'")
_REGEX = re.compile(r"\"?(\w+)\"?(?:::[a-z ]+)?\s*~\s*'((?:[^']|'')*)'")


@dataclass
class ColumnSpec:
    name: str
    typname: str
    category: str
    typmod: int
    nullable: bool
    elem_typname: str | None = None
    elem_category: str | None = None
    labels: list[str] = field(default_factory=list)
    unique: bool = False


@dataclass
class ForeignKey:
    columns: list[str]
    ref_table: str
    ref_columns: list[str]


@dataclass
class Hints:
    """What the CHECK constraints say about one column, as far as simple patterns can tell."""

    low: float | None = None
    high: float | None = None
    choices: list[str] = field(default_factory=list)
    regex: str | None = None


@dataclass
class TableSpec:
    name: str
    columns: list[ColumnSpec]
    fks: list[ForeignKey]
    hints: dict[str, Hints]
    sequences: list[tuple[str, str]] = field(default_factory=list)  # (column, type) of serial/identity keys


@dataclass(frozen=True)
class _CatalogType:
    """A column's type as the catalog has it (exact where SQLAlchemy's reflection is not)."""

    typname: str
    category: str
    typmod: int
    elem_typname: str | None
    elem_category: str | None
    labels: list[str]
    domain_checks: list[str]


def reflect(engine: sa.Engine, schema: str = "public",
            exclude: tuple[str, ...] = ("alembic_version",)) -> list[TableSpec]:
    """Every table of `schema` in foreign-key order (parents first), with seeding-relevant details."""
    insp = sa.inspect(engine)
    with engine.connect() as conn:
        catalog = _catalog_types(conn, schema)
        exclude = (*exclude, *conn.exec_driver_sql(VERSION_TABLES_QUERY, {"schema": schema}).scalars())
    order = [t for t, _ in insp.get_sorted_table_and_fkc_names(schema) if t and t not in exclude]
    # One catalog query per kind for all tables (not one per table: the verifier reflects at every step).
    multi: dict[str, dict[Any, Any]] = {
        "columns": insp.get_multi_columns(schema, filter_names=order),
        "pk": insp.get_multi_pk_constraint(schema, filter_names=order),
        "unique": insp.get_multi_unique_constraints(schema, filter_names=order),
        "indexes": insp.get_multi_indexes(schema, filter_names=order),
        "checks": insp.get_multi_check_constraints(schema, filter_names=order),
        "fks": insp.get_multi_foreign_keys(schema, filter_names=order),
    }
    specs = []
    for table in order:
        of: dict[str, Any] = {kind: found.get((schema, table)) or [] for kind, found in multi.items()}
        columns = of["columns"]
        unique_sets = [list((of["pk"] or {}).get("constrained_columns") or [])]
        unique_sets += [list(u["column_names"]) for u in of["unique"]]
        unique_sets += [[str(c) for c in i["column_names"]] for i in of["indexes"]
                        if i["unique"] and None not in i["column_names"]]
        single_unique = {s[0] for s in unique_sets if len(s) == 1}
        checks = [str(c["sqltext"]) for c in of["checks"]]
        cols, sequences = [], []
        for col in columns:
            default = str(col.get("default") or "")
            info = catalog.get((table, col["name"]))
            if col.get("identity") or col.get("computed") or "nextval(" in default:
                if info is not None and not col.get("computed"):
                    sequences.append((col["name"], info.typname))
                continue  # the database fills these; explicit values would desynchronise sequences
            if info is None:
                continue
            spec = ColumnSpec(col["name"], info.typname, info.category, info.typmod, bool(col["nullable"]),
                              info.elem_typname, info.elem_category, list(info.labels), col["name"] in single_unique)
            checks += [c.replace("VALUE", f'"{col["name"]}"') for c in info.domain_checks]
            cols.append(spec)
        fks = [ForeignKey(list(fk["constrained_columns"]), fk["referred_table"], list(fk["referred_columns"]))
               for fk in of["fks"]]
        fks.sort(key=lambda fk: -len(fk.columns))  # composite keys first: they pin shared columns
        specs.append(TableSpec(table, cols, fks, parse_hints(checks), sequences))
    return specs


def _catalog_types(conn: sa.Connection, schema: str) -> dict[tuple[str, str], _CatalogType]:
    rows = conn.execute(sa.text("""
        SELECT c.relname, a.attname, bt.typname, bt.typcategory,
               CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
               et.typname, et.typcategory,
               ARRAY(SELECT e.enumlabel FROM pg_enum e
                     WHERE e.enumtypid = CASE WHEN bt.typcategory = 'A' THEN et.oid ELSE bt.oid END
                     ORDER BY e.enumsortorder),
               ARRAY(SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k WHERE k.contypid = t.oid)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
        LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
        WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attgenerated = ''"""), {"schema": schema}).fetchall()
    return {(r[0], r[1]): _CatalogType(str(r[2]), str(r[3]), int(r[4]), r[5], r[6], list(r[7]), list(r[8]))
            for r in rows}


def parse_hints(checks: list[str]) -> dict[str, Hints]:
    """Bounds, allowed literals and regexes per column from CHECK texts (simple patterns only)."""
    hints: dict[str, Hints] = {}
    for text in checks:
        for col, op, num in _BOUND.findall(text):
            h = hints.setdefault(col, Hints())
            value = float(num)
            if op in (">=", ">"):
                h.low = max(h.low, value) if h.low is not None else value
                h.low += 1e-3 if op == ">" else 0
            else:
                h.high = min(h.high, value) if h.high is not None else value
                h.high -= 1e-3 if op == "<" else 0
        for col, items in _ANY.findall(text):
            hints.setdefault(col, Hints()).choices += [v.replace("''", "'")
                                                       for v in re.findall(r"'((?:[^']|'')*)'", items)]
        for col, literal in _EQ.findall(text):
            h = hints.setdefault(col, Hints())
            if literal not in h.choices and literal != "":
                h.choices.append(literal.replace("''", "'"))
        for col, pattern in _REGEX.findall(text):
            hints.setdefault(col, Hints()).regex = pattern.replace("''", "'")
    return hints


class Seeder:
    """Generates and inserts rows; one instance per verify run keeps unique values unique across rounds."""

    def __init__(self, seed: int = 42, rows_per_table: int = 12) -> None:
        self.rng = random.Random(seed)
        self.rows_per_table = rows_per_table
        self.counter = 0
        self._edge: edges.Edge | None = None  # set while an edge row is built

    def seed(self, conn: psycopg.Connection[Any], specs: list[TableSpec], schema: str = "public") -> VerifySeeding:
        """Insert up to rows_per_table rows into every table; commit; report shortfalls."""
        inserted: dict[str, int] = {}
        shortfalls: list[Shortfall] = []
        for spec in specs:
            count, error = self._seed_table(conn, spec, schema)
            conn.commit()
            inserted[spec.name] = count
            if count < self.rows_per_table:
                shortfalls.append(Shortfall(spec.name, self.rows_per_table, count, error))
        return VerifySeeding(inserted, tuple(shortfalls))

    def _seed_table(self, conn: psycopg.Connection[Any], spec: TableSpec, schema: str) -> tuple[int, str]:
        parents = {fk.ref_table + ":" + ",".join(fk.ref_columns): _parent_keys(conn, schema, fk)
                   for fk in spec.fks}
        inserted, last_error = 0, ""
        for i in range(self.rows_per_table):
            if i == 0:
                _advance_sequences(conn, schema, spec)
            for attempt in range(ATTEMPTS):
                row = self._edge_row(spec, parents, i, attempt)
                if row is None:
                    last_error = "a non-null foreign key has no parent rows to point at"
                    break
                query = sql.SQL("INSERT INTO {}.{} ({}) VALUES ({})").format(
                    sql.Identifier(schema), sql.Identifier(spec.name),
                    sql.SQL(", ").join(map(sql.Identifier, row)), sql.SQL(", ").join(sql.Placeholder() * len(row)))
                if not row:
                    query = sql.SQL("INSERT INTO {}.{} DEFAULT VALUES").format(
                        sql.Identifier(schema), sql.Identifier(spec.name))
                try:
                    with conn.transaction():
                        conn.execute(query, list(row.values()))
                    inserted += 1
                    break
                except psycopg.Error as exc:
                    last_error = first_line(exc)
        return inserted, last_error

    def _edge_row(self, spec: TableSpec, parents: dict[str, list[tuple[Any, ...]]], i: int,
                  attempt: int) -> dict[str, str | None] | None:
        """Rows 0 and 1 (first two attempts): the edge rows, from a generator fixed by table and row, not --seed."""
        if i >= len(edges.EDGES) or attempt >= 2:
            return self._row(spec, parents, i, attempt)
        rng, self.rng = self.rng, random.Random(f"{spec.name}:{i}:{attempt}")
        self._edge = edges.EDGES[i]
        try:
            return self._row(spec, parents, i, attempt)
        finally:
            self.rng, self._edge = rng, None

    def _row(self, spec: TableSpec, parents: dict[str, list[tuple[Any, ...]]], i: int,
             attempt: int) -> dict[str, str | None] | None:
        row: dict[str, str | None] = {}
        names = {c.name for c in spec.columns}
        for fk in spec.fks:
            if not set(fk.columns) <= names:
                continue
            keys = parents[fk.ref_table + ":" + ",".join(fk.ref_columns)]
            pinned = {j: row[c] for j, c in enumerate(fk.columns) if c in row}
            keys = [k for k in keys if all(str(k[j]) == v for j, v in pinned.items() if v is not None)]
            nullable = all(c.nullable for c in spec.columns if c.name in fk.columns)
            if not keys or (nullable and self._null(i, attempt)):
                if not nullable:
                    return None
                row.update({c: None for c in fk.columns if c not in row})
                continue
            choice = self.rng.choice(keys)
            row.update({c: (None if v is None else str(v)) for c, v in zip(fk.columns, choice, strict=True)})
        for col in spec.columns:
            if col.name in row:
                continue
            if col.nullable and self._null(i, attempt):
                row[col.name] = None
                continue
            self.counter += 1
            row[col.name] = self.value(col, spec.hints.get(col.name, Hints()), attempt >= 4)
        return row

    def _null(self, i: int, attempt: int) -> bool:
        """NULL in about a quarter of rows at first; retries try all-NULL and no-NULL variants.

        The low edge row has NULL in every nullable column, the high one none (swapped on their retry)."""
        if self._edge is not None:
            return (self._edge == "low") == (attempt == 0)
        if attempt == 0:
            return i % 4 == 3
        return self.rng.random() < (0.0, 0.5, 0.9)[attempt % 3]

    def value(self, col: ColumnSpec, hints: Hints, simple: bool) -> str | None:
        """One value for `col` as PostgreSQL input text."""
        if hints.choices:
            return hints.choices[-1 if self._edge == "high" else 0] if self._edge else self.rng.choice(hints.choices)
        if self._edge is not None and not hints.regex:
            fixed = self._edge_value(col, hints)
            if fixed is not None:
                return fixed
        if hints.regex:
            generated = regex_sample(hints.regex, self.rng)
            if generated is not None:
                return generated
        if col.labels and col.category == "E":
            return self.rng.choice(col.labels)
        if col.category == "A":
            elem = ColumnSpec(col.name, col.elem_typname or "text", col.elem_category or "S", -1, False,
                              labels=col.labels)
            items = [self.value(elem, Hints(), True) for _ in range(self.rng.randint(0, 3))]
            return "{" + ",".join(_array_item(v) for v in items) + "}"
        maker = _GENERATORS.get(col.typname)
        if maker is not None:
            return maker(self, col, hints, simple)
        if col.category == "S":
            return self._text(col, simple)
        if col.category == "N":
            return str(self._int(col, hints, 1000))
        return None

    def _edge_value(self, col: ColumnSpec, hints: Hints) -> str | None:
        """The edge row's value for `col`, or None where the ordinary generator (with the fixed rng) will do."""
        assert self._edge is not None
        unique = self.counter if col.unique else None
        if col.labels and col.category == "E":
            return col.labels[-1 if self._edge == "high" else 0]
        if col.category == "A":
            return "{}" if self._edge == "low" else None
        if col.typname in ("int2", "int4", "int8"):
            return edges.integer(col, hints, self._edge, unique)
        if col.typname == "numeric":
            return edges.numeric(col, hints, self._edge, unique)
        if col.typname in ("float4", "float8"):
            return edges.floating(col, hints, self._edge)
        if col.typname in ("json", "jsonb"):
            return edges.document(self._edge, self.counter)
        if col.typname in ("timestamp", "timestamptz", "date", "time", "timetz"):
            return edges.moment(col, self._edge, unique)
        if col.typname == "bool":
            return "true" if self._edge == "high" else "false"
        if col.typname == "bytea" and self._edge == "low":
            return "\\x"
        if col.category == "S" and col.typname in ("text", "varchar", "bpchar"):
            return edges.text(col, self._edge, str(self.counter) if col.unique else "")
        return None

    def _int(self, col: ColumnSpec, hints: Hints, default_high: int) -> int:
        limit = {"int2": 32767, "int4": 2**31 - 1}.get(col.typname, 2**62)
        if col.unique:
            return min(limit, 1000 + self.counter)
        low = int(hints.low) if hints.low is not None else 0
        high = int(hints.high) if hints.high is not None else max(low + default_high, low)
        return self.rng.randint(low, min(high, limit))

    def _text(self, col: ColumnSpec, simple: bool) -> str:
        if simple:  # one token: satisfies checks such as "no space in this column"
            text = self.rng.choice(SIMPLE_WORDS)
        else:
            count = self.rng.choice([1, 2, 3, 6, 12, 40])
            text = " ".join(self.rng.choice(WORDS) for _ in range(count))
        if col.unique:
            text = f"{text}-{self.counter}" if not simple else f"{text}{self.counter}"
        max_len = col.typmod - 4 if col.typmod > 4 and col.typname in ("varchar", "bpchar") else None
        if max_len is not None and len(text) > max_len:
            suffix = str(self.counter) if col.unique else ""
            text = text[: max(max_len - len(suffix), 0)] + suffix
            text = text[-max_len:] if len(text) > max_len else text
        return text


def _numeric(seeder: Seeder, col: ColumnSpec, hints: Hints, simple: bool) -> str:
    """Numerics always carry fractional digits when the scale allows (so a lossy cast shows)."""
    if col.typmod > 4:
        precision, scale = ((col.typmod - 4) >> 16) & 0xFFFF, (col.typmod - 4) & 0xFFFF
    else:
        precision, scale = 12, 3
    top = 10 ** min(max(precision - scale, 0), 7) - 1
    low = max(int(hints.low) if hints.low is not None else 0, -top)
    high = min(int(hints.high) - 1 if hints.high is not None else top, top)
    whole = seeder.counter % (top + 1) if col.unique else seeder.rng.randint(low, max(low, high))
    if scale == 0:
        return str(whole)
    frac = "".join(str(seeder.rng.randint(0, 9)) for _ in range(scale - 1)) + str(seeder.rng.randint(1, 9))
    return f"{whole}.{frac}"


def _float(seeder: Seeder, col: ColumnSpec, hints: Hints, simple: bool) -> str:
    low = hints.low if hints.low is not None else 0.0
    high = hints.high if hints.high is not None else low + 1000.0
    return repr(round(seeder.rng.uniform(low, high), 4))


def _integer(seeder: Seeder, col: ColumnSpec, hints: Hints, simple: bool) -> str:
    return str(seeder._int(col, hints, 100 if simple else 10000))


def _when(seeder: Seeder, col: ColumnSpec, hints: Hints, simple: bool) -> str:
    moment = datetime(2019, 1, 1, tzinfo=UTC) + timedelta(seconds=seeder.rng.randint(0, 6 * 365 * 86400),
                                                          microseconds=seeder.rng.randint(0, 999999))
    if col.unique:
        moment += timedelta(seconds=seeder.counter)
    if col.typname == "date":
        return (date(2019, 1, 1) + timedelta(days=seeder.rng.randint(0, 3000) + (
            seeder.counter if col.unique else 0))).isoformat()
    if col.typname == "timestamptz":
        return moment.isoformat()
    if col.typname in ("time", "timetz"):
        return moment.time().isoformat() + ("+02" if col.typname == "timetz" else "")
    return moment.replace(tzinfo=None).isoformat()


def _json(seeder: Seeder, col: ColumnSpec, hints: Hints, simple: bool) -> str:
    doc: dict[str, object] = {"n": seeder.counter, "ratio": round(seeder.rng.random(), 5),
                           "label": seeder.rng.choice(WORDS), "tags": [seeder.rng.choice(SIMPLE_WORDS)],
                           "nested": {"ok": seeder.rng.random() < 0.5, "none": None}}
    return json.dumps(doc, ensure_ascii=False)


def _vector(seeder: Seeder, col: ColumnSpec, hints: Hints, simple: bool) -> str | None:
    dim = col.typmod if col.typmod > 0 else 3
    values = [seeder.rng.uniform(-1, 1) for _ in range(dim)]
    if col.typname == "sparsevec":
        return "{" + ",".join(f"{j + 1}:{v:.5f}" for j, v in enumerate(values[:8])) + f"}}/{dim}"
    return "[" + ",".join(f"{v:.5f}" for v in values) + "]"


def _bits(seeder: Seeder, col: ColumnSpec, hints: Hints, simple: bool) -> str:
    length = col.typmod if col.typmod > 0 else 16
    return "".join(seeder.rng.choice("01") for _ in range(length))


_Generator = Callable[[Seeder, ColumnSpec, Hints, bool], "str | None"]
_GENERATORS: dict[str, _Generator] = {
    "int2": _integer, "int4": _integer, "int8": _integer, "numeric": _numeric,
    "float4": _float, "float8": _float, "date": _when, "timestamp": _when, "timestamptz": _when,
    "time": _when, "timetz": _when, "json": _json, "jsonb": _json,
    "vector": _vector, "halfvec": _vector, "sparsevec": _vector, "bit": _bits, "varbit": _bits,
    "bool": lambda s, c, h, simple: s.rng.choice(["true", "false"]),
    "uuid": lambda s, c, h, simple: str(uuid.UUID(int=s.rng.getrandbits(128), version=4)),
    "bytea": lambda s, c, h, simple: "\\x" + s.rng.randbytes(s.rng.randint(0, 24)).hex(),
    "interval": lambda s, c, h, simple: f"{s.rng.randint(0, 40)} days {s.rng.randint(0, 23)}:17:05.25",
    "inet": lambda s, c, h, simple: f"10.{s.counter % 250}.{s.rng.randint(0, 255)}.{s.rng.randint(1, 254)}",
    "money": lambda s, c, h, simple: f"{s.rng.randint(0, 9999)}.{s.rng.randint(10, 99)}",
}


def _array_item(value: str | None) -> str:
    if value is None:
        return "NULL"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _advance_sequences(conn: psycopg.Connection[Any], schema: str, spec: TableSpec) -> None:
    """Serial and identity keys jump before the high row: gaps in the keys, bigint keys past 2**31."""
    for column, typname in spec.sequences:
        name = conn.execute("SELECT pg_get_serial_sequence(%s, %s)",
                            (sql.Identifier(schema, spec.name).as_string(conn), column)).fetchone()
        if name is None or name[0] is None:
            continue
        last = conn.execute(sql.SQL("SELECT last_value FROM {}").format(sql.SQL(name[0]))).fetchone()
        start = edges.sequence_start(typname, int(last[0]) if last else 0)
        conn.execute("SELECT setval(%s, %s)", (name[0], start))


def _parent_keys(conn: psycopg.Connection[Any], schema: str, fk: ForeignKey) -> list[tuple[Any, ...]]:
    query = sql.SQL("SELECT DISTINCT {} FROM {}.{} WHERE {} LIMIT 2000").format(
        sql.SQL(", ").join(map(sql.Identifier, fk.ref_columns)), sql.Identifier(schema),
        sql.Identifier(fk.ref_table),
        sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in fk.ref_columns))
    return [tuple(r) for r in conn.execute(query).fetchall()]


def regex_sample(pattern: str, rng: random.Random) -> str | None:
    """A string matching a simple regex (literals, classes, repeats, groups, alternation); else None."""
    try:
        parsed = sre_parse.parse(pattern)
        return "".join(_emit(parsed, rng))
    except (sre_constants.error, _Unsupported, re.error):
        return None


class _Unsupported(Exception):
    pass


def _emit(items: Any, rng: random.Random) -> list[str]:
    out: list[str] = []
    for op, arg in items:
        if op is sre_constants.LITERAL:
            out.append(chr(arg))
        elif op is sre_constants.AT:
            continue
        elif op is sre_constants.ANY:
            out.append(rng.choice("abcxyz"))
        elif op is sre_constants.IN:
            out.append(_pick_class(arg, rng))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, sub = arg
            high = min(high, low + 3) if high != sre_constants.MAXREPEAT else low + 3
            for _ in range(rng.randint(low, high)):
                out += _emit(sub, rng)
        elif op is sre_constants.SUBPATTERN:
            out += _emit(arg[-1], rng)
        elif op is sre_constants.BRANCH:
            out += _emit(rng.choice(arg[1]), rng)
        else:
            raise _Unsupported(str(op))
    return out


def _pick_class(arg: Any, rng: random.Random) -> str:
    options: list[str] = []
    for op, val in arg:
        if op is sre_constants.LITERAL:
            options.append(chr(val))
        elif op is sre_constants.RANGE:
            options += [chr(c) for c in range(val[0], val[1] + 1)]
        elif op is sre_constants.CATEGORY and val is sre_constants.CATEGORY_DIGIT:
            options += list("0123456789")
        elif op is sre_constants.CATEGORY and val is sre_constants.CATEGORY_WORD:
            options += list("abcXYZ019_")
        else:
            raise _Unsupported(str(op))
    if not options:
        raise _Unsupported("empty class")
    return rng.choice(options)
