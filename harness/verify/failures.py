"""A migration's failure as evidence: the PostgreSQL error fields, the statement and the revision it came from."""

from __future__ import annotations

import re
import traceback
from pathlib import Path
from typing import Any

import psycopg

from harness.db import redact_dsn

_NAME = r'(?:"[^"]+"|[\w$]+)'
_ALTER_TABLE = re.compile(rf"ALTER\s+TABLE\s+(?:ONLY\s+)?(?:IF\s+EXISTS\s+)?(?:{_NAME}\.)?({_NAME})", re.I)
_ALTER_TYPE = re.compile(rf"ALTER\s+(?:COLUMN\s+)?({_NAME})\s+(?:SET\s+DATA\s+)?TYPE\b", re.I)


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return seen


def failure_info(exc: BaseException, revision_paths: dict[Path, str]) -> dict[str, Any]:
    """statement, schema, table, column, constraint, sqlstate and message (psycopg's diag), and the revision
    whose file the exception came through (`revision_paths`: resolved file path -> revision id)."""
    info: dict[str, Any] = {}
    pg = next((e for e in _causes(exc) if isinstance(e, psycopg.Error)), None)
    if pg is not None:
        diag = pg.diag
        info = {"sqlstate": pg.sqlstate, "message": diag.message_primary, "schema": diag.schema_name,
                "table": diag.table_name, "column": diag.column_name, "constraint": diag.constraint_name,
                "datatype": diag.datatype_name}
    statement = next((getattr(e, "statement", None) for e in _causes(exc) if getattr(e, "statement", None)), None)
    if statement:
        info["statement"] = redact_dsn(" ".join(str(statement).split()))[:500]
        if not info.get("table"):
            info.update(_altered_column(str(statement)))
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        revision = revision_paths.get(Path(frame.filename).resolve())
        if revision is not None:
            info["revision"] = revision
            break
    return {k: v for k, v in info.items() if v is not None}


def _altered_column(statement: str) -> dict[str, str]:
    """Table and column of an `ALTER TABLE t ALTER COLUMN c TYPE ...` (PostgreSQL's error names neither)."""
    table, types = _ALTER_TABLE.search(statement), _ALTER_TYPE.findall(statement)
    if table is None:
        return {}
    found = {"table": table.group(1).strip('"')}
    if len(types) == 1:
        found["column"] = types[0].strip('"')
    return found


def failure_object(info: dict[str, Any]) -> str:
    """`table.column`, `table`, the constraint, or ""."""
    if info.get("table") and info.get("column"):
        return f"{info['table']}.{info['column']}"
    return str(info.get("table") or info.get("constraint") or "")


def finding(kind: str, direction: str, detail: str, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """An error finding in the shared shape, with the failure's fields (statement, sqlstate, ...) as extras."""
    info = {k: v for k, v in (info or {}).items() if k != "revision"}
    return {"kind": kind, "direction": direction, "object": failure_object(info), "detail": detail,
            "severity": "error", **info}


def missing_extension(info: dict[str, Any]) -> str:
    """'extension "x" is not available on this server: ...' when that is why it failed, else ""."""
    message = str(info.get("message", ""))
    if info.get("sqlstate") in ("0A000", "58P01") and message.startswith("extension") and "not available" in message:
        return (f"{message} on this server: verify against a PostgreSQL that has it (--backend dsn --dsn URI)")
    return ""
