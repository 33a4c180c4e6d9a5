"""A comparable snapshot of a database's schema, read from the catalogs (definitions as PostgreSQL prints them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

# Schemas that belong to PostgreSQL itself; everything else is the application's.
_USER_NS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
            "AND n.nspname NOT LIKE 'pg\\_temp%'")
# Objects created by an extension (pgvector's hundreds of functions) are compared as the extension's version.
_NOT_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"

QUERIES: dict[str, str] = {
    "tables": f"""
        SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text || ' ' || c.relpersistence::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_USER_NS}
          AND {_NOT_EXTENSION.format(oid='c.oid')}""",
    "columns": f"""
        SELECT format('%s.%I', a.attrelid::regclass,  a.attname),
               concat_ws(' ', row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
                         format_type(a.atttypid, a.atttypmod),
                         CASE WHEN a.attnotnull THEN 'not null' END,
                         'default ' || pg_get_expr(ad.adbin, ad.adrelid),
                         NULLIF('identity ' || a.attidentity::text, 'identity '),
                         NULLIF('generated ' || a.attgenerated::text, 'generated '),
                         'collate ' || NULLIF(a.attcollation, 0)::regcollation::text)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND {_USER_NS} AND {_NOT_EXTENSION.format(oid='c.oid')}""",
    "constraints": f"""
        SELECT format('%s.%I', con.conrelid::regclass, con.conname), pg_get_constraintdef(con.oid)
        FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
        WHERE con.conrelid <> 0 AND {_USER_NS}""",
    "indexes": f"""
        SELECT format('%I.%I', n.nspname, ic.relname),
               pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = ic.relnamespace
        WHERE {_USER_NS}""",
    "triggers": f"""
        SELECT format('%s.%I', t.tgrelid::regclass, t.tgname), pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND {_USER_NS}""",
    "functions": f"""
        SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
               concat_ws(' ', p.prokind, pg_get_function_result(p.oid), p.provolatile, p.prosecdef,
                         l.lanname, md5(coalesce(p.prosrc, '')))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
        WHERE {_USER_NS} AND {_NOT_EXTENSION.format(oid='p.oid')}""",
    "views": f"""
        SELECT format('%I.%I', n.nspname, c.relname), pg_get_viewdef(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND {_USER_NS} AND {_NOT_EXTENSION.format(oid='c.oid')}""",
    # A restored sequence must continue where the original stood, or the next insert collides.
    "sequences": """
        SELECT format('%I.%I', schemaname, sequencename),
               concat_ws(' ', data_type, start_value, increment_by, max_value, cycle,
                         'last ' || coalesce(last_value::text, 'unused'))
        FROM pg_sequences""",
    "types": f"""
        SELECT format('%I.%I', n.nspname, t.typname),
               t.typtype::text || ' ' || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                                  FROM pg_enum e WHERE e.enumtypid = t.oid), '')
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typtype IN ('e', 'd') AND {_USER_NS} AND {_NOT_EXTENSION.format(oid='t.oid')}""",
    "extensions": "SELECT extname, extversion FROM pg_extension",
}


@dataclass(frozen=True)
class SchemaSnapshot:
    """Every schema object by kind: qualified name -> definition text."""

    objects: dict[str, dict[str, str]] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(v) for v in self.objects.values())


def snapshot_schema(conn: psycopg.Connection[Any]) -> SchemaSnapshot:
    """Read every kind in QUERIES from the catalogs of the connected database."""
    return SchemaSnapshot({kind: {str(k): str(v) for k, v in conn.execute(q).fetchall()}
                           for kind, q in QUERIES.items()})


def _normalized(definition: str) -> str:
    # PostgreSQL's deparser is not idempotent about grouping: a CHECK written `(a OR b) OR c` prints
    # with nested parentheses, and once restored from that text prints as `a OR b OR c`. Same meaning.
    return " ".join(definition.replace("(", " ").replace(")", " ").split())


def diff_schema(expected: SchemaSnapshot, actual: SchemaSnapshot) -> list[str]:
    """One line per difference: an object missing, extra, or defined differently in `actual`.

    Definitions are compared without grouping parentheses (see `_normalized`).
    """
    lines: list[str] = []
    for kind, want in expected.objects.items():
        have = actual.objects.get(kind, {})
        lines += [f"{kind}: {name} missing" for name in sorted(want.keys() - have.keys())]
        lines += [f"{kind}: {name} unexpected" for name in sorted(have.keys() - want.keys())]
        lines += [f"{kind}: {name} differs: {want[name]!r} vs {have[name]!r}"
                  for name in sorted(want.keys() & have.keys()) if _normalized(want[name]) != _normalized(have[name])]
    return lines
