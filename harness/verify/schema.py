"""A catalog snapshot of one schema, and what differs between two snapshots.

Checksums compare data; this compares everything a downgrade has to put back besides the data: columns (type,
nullability, default, identity, the sequence they own), constraints (and whether they are validated), indexes
(and whether they are valid), triggers, enum labels and installed extensions. Objects are keyed by name (not by
position or OID), so a column re-added at the end of its table is the same column.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from harness.results.migrations import SchemaDifference
from harness.verify.checksums import version_tables

Snapshot = dict[str, dict[str, str]]  # "column accounts.balance" -> {"type": "numeric(12,2)", ...}

_QUERIES = {
    "column": """
        SELECT c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod),
               CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END,
               coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
               CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' ELSE '' END
                 || CASE WHEN a.attgenerated = 's' THEN 'generated' ELSE '' END,
               coalesce((SELECT string_agg(s.relname, ',' ORDER BY s.relname) FROM pg_depend dep
                         JOIN pg_class s ON s.oid = dep.objid AND s.relkind = 'S'
                         WHERE dep.refobjid = c.oid AND dep.refobjsubid = a.attnum
                           AND dep.classid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')), '')
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0
          AND NOT a.attisdropped AND c.relname <> ALL(%(exclude)s)""",
    "constraint": """
        SELECT c.relname || '.' || k.conname, pg_get_constraintdef(k.oid),
               CASE WHEN k.convalidated THEN 'validated' ELSE 'not valid' END
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND c.relname <> ALL(%(exclude)s)""",
    "index": """
        SELECT t.relname || '.' || i.relname, pg_get_indexdef(x.indexrelid),
               CASE WHEN x.indisvalid THEN 'valid' ELSE 'invalid' END
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = %(schema)s AND t.relname <> ALL(%(exclude)s)""",
    "trigger": """
        SELECT c.relname || '.' || g.tgname, pg_get_triggerdef(g.oid),
               CASE g.tgenabled WHEN 'D' THEN 'disabled' ELSE 'enabled' END
        FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND NOT g.tgisinternal AND c.relname <> ALL(%(exclude)s)""",
    "enum": """
        SELECT t.typname, string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = %(schema)s GROUP BY t.typname""",
    "extension": "SELECT extname, 'installed' FROM pg_extension WHERE extname <> 'plpgsql'",
}
_CAST = re.compile(r"::[a-z_ ]+(?:\(\d+(?:,\d+)?\))?(?:\[\])?")
_NORMALISED = ("definition", "default")  # expressions PostgreSQL may re-deparse with other casts and parentheses
_FIELDS = {"column": ("type", "nullability", "default", "identity", "owned sequence"),
           "constraint": ("definition", "validation"), "index": ("definition", "validity"),
           "trigger": ("definition", "state"), "enum": ("labels",), "extension": ("state",)}


def snapshot(conn: psycopg.Connection[Any], schema: str = "public",
             exclude: tuple[str, ...] = ("alembic_version",)) -> Snapshot:
    """Every column, constraint, index, trigger and enum of `schema`, and the installed extensions."""
    out: Snapshot = {}
    exclude = (*exclude, *version_tables(conn, schema))
    for kind, query in _QUERIES.items():
        for name, *values in conn.execute(query, {"schema": schema, "exclude": list(exclude)}).fetchall():
            out[f"{kind} {name}"] = dict(zip(_FIELDS[kind], (str(v) for v in values), strict=True))
    conn.rollback()
    return out


def differences(before: Snapshot, after: Snapshot) -> list[SchemaDifference]:
    """Objects that are missing, new or changed in `after`: kind, object name, and what changed in words.

    Extensions count only when missing: leaving one installed on downgrade is common and harmless."""
    out = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if _normal(old) == _normal(new):
            continue
        kind, name = key.split(" ", 1)
        if kind == "extension" and old is None:
            continue  # an extension a downgrade leaves installed is deliberate as often as not; one it drops is not
        if new is None:
            change = "is missing"
        elif old is None:
            change = "was not there before"
        else:
            change = "; ".join(f"{field} {_shown(old.get(field))} -> {_shown(new.get(field))}"
                               for field in _FIELDS[kind] if old.get(field) != new.get(field))
        out.append(SchemaDifference(kind, name, change, old, new))
    return out


def _normal(fields: dict[str, str] | None) -> dict[str, str] | None:
    """Expressions without casts and parentheses: a CHECK re-deparsed after a type change round trip,
    `(balance >= (0)::numeric)` vs `((balance)::numeric >= (0)::numeric)`, is the same CHECK."""
    if fields is None:
        return None
    return {k: re.sub(r"[()\s]", "", _CAST.sub("", v)) if k in _NORMALISED else v for k, v in fields.items()}


def describe(difference: SchemaDifference) -> str:
    """'column tickets.id: default nextval(...) -> none'."""
    return f"{difference.kind} {difference.object}: {difference.change}"


def _shown(value: str | None) -> str:
    return value if value else "none"


def tables(snap: Snapshot) -> set[str]:
    """Tables (and views) that have columns in the snapshot."""
    return {key.split(" ", 1)[1].split(".", 1)[0] for key in snap if key.startswith("column ")}


def columns(snap: Snapshot, table: str) -> dict[str, dict[str, str]]:
    """Columns of `table` in the snapshot: name -> fields."""
    prefix = f"column {table}."
    return {key.removeprefix(prefix): value for key, value in snap.items() if key.startswith(prefix)}
