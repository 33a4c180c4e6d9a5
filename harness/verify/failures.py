"""A migration's failure as evidence: the PostgreSQL error fields, the statement and the revision it came from."""

from __future__ import annotations

import re
import traceback
from pathlib import Path
from typing import cast

import psycopg

from harness.db import redact_dsn
from harness.results.migrations import Direction, FailureInfo, Finding, FindingKind

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


def failure_info(exc: BaseException, revision_paths: dict[Path, str]) -> FailureInfo:
    """statement, schema, table, column, constraint, sqlstate and message (psycopg's diag), and the revision
    whose file the exception came through (`revision_paths`: resolved file path -> revision id)."""
    info = FailureInfo()
    pg = next((e for e in _causes(exc) if isinstance(e, psycopg.Error)), None)
    if pg is not None:
        diag = pg.diag
        fields = {"sqlstate": pg.sqlstate, "message": diag.message_primary, "schema": diag.schema_name,
                  "table": diag.table_name, "column": diag.column_name, "constraint": diag.constraint_name,
                  "datatype": diag.datatype_name}
        info = cast(FailureInfo, {k: v for k, v in fields.items() if v is not None})
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
    return info


def _altered_column(statement: str) -> FailureInfo:
    """Table and column of an `ALTER TABLE t ALTER COLUMN c TYPE ...` (PostgreSQL's error names neither)."""
    table, types = _ALTER_TABLE.search(statement), _ALTER_TYPE.findall(statement)
    if table is None:
        return FailureInfo()
    found = FailureInfo(table=table.group(1).strip('"'))
    if len(types) == 1:
        found["column"] = types[0].strip('"')
    return found


def failure_object(info: FailureInfo) -> str:
    """`table.column`, `table`, the constraint, or ""."""
    if info.get("table") and info.get("column"):
        return f"{info['table']}.{info['column']}"
    return str(info.get("table") or info.get("constraint") or "")


def finding(kind: FindingKind, direction: Direction, detail: str, info: FailureInfo | None = None) -> Finding:
    """An error finding with the failure's fields (statement, sqlstate, ...)."""
    info = info or FailureInfo()
    return Finding(kind, direction, failure_object(info), detail, "error", sqlstate=info.get("sqlstate"),
                   message=info.get("message"), schema=info.get("schema"), table=info.get("table"),
                   column=info.get("column"), constraint=info.get("constraint"), datatype=info.get("datatype"),
                   statement=info.get("statement"))


def missing_extension(info: FailureInfo) -> str:
    """'extension "x" is not available on this server: ...' when that is why it failed, else ""."""
    message = str(info.get("message", ""))
    if info.get("sqlstate") in ("0A000", "58P01") and message.startswith("extension") and "not available" in message:
        return (f"{message} on this server: verify against a PostgreSQL that has it (the embedded --pg-version 18 "
                "has the contrib modules, not pgcrypto or uuid-ossp; otherwise --backend dsn --dsn URI)")
    return ""
