"""The migration's statements as the server counted them: calls, time and rows per statement shape.

pg_stat_statements where the server has it loaded (shared_preload_libraries, e.g. `--set
shared_preload_libraries=pg_stat_statements`): its counters are read before and after the step, and the
entries whose shape matches a statement the migration sent are kept (created in its own schema of the
disposable database when the server preloads it but the database lacks it). Otherwise the server log,
when it is the log of the server the harness started: the migrating session alone logs every statement's
duration (log_min_duration_statement = 0 on that session), which has no rows. A shape is the text with its
literals and parameters as `?`, whitespace folded, so a backfill run in many batches is one line with
its calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, event

from harness.errors import first_line
from harness.results.rehearsal import ServerStatement, ServerStatements, StatementSource

CLIENT_TEXT_CHARS = 500  # harness.rehearse.upgrade keeps this much of each statement: a longer one matches by its start
PGSS_SCHEMA = "wardbench_pgss"  # where the extension goes when the disposable database lacks it
_LITERAL = re.compile(r"'(?:[^']|'')*'|\$\d+|%\(\w+\)s|%s|-?\b\d+(?:\.\d+)?\b|\b(?:true|false|null)\b", re.I)
_ENTRY = re.compile(r"^.*?\[(\d+)\] LOG:  duration: ([0-9.]+) ms  (?:(parse|bind|execute) [^:]*|statement): ",
                    re.S)
_LOG_ON = ("SET log_min_duration_statement = 0", "SET log_parameter_max_length = 0")
_CHECK = """
SELECT 'pg_stat_statements' = ANY(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')),
       (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements')
"""
_COUNTERS = """
SELECT userid::int8, queryid, query, calls, total_exec_time, rows, wal_bytes::int8 FROM {}.pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel
"""
_Counters = dict[tuple[int, int], tuple[str, int, float, int, int]]  # (userid, queryid) -> text and counters


def shape(text: str) -> str:
    """The statement with literals and parameters as `?`, whitespace folded, lower case."""
    return " ".join(_LITERAL.sub("?", text).split()).lower()


@dataclass
class StatementCounter:
    """Opened before the live workload starts, marked right before the step, read after it."""

    source: StatementSource | None
    detail: str
    schema: str = ""  # pg_stat_statements' schema
    before: _Counters = field(default_factory=dict)
    log: Path | None = None
    offset: int = 0
    pids: set[int] = field(default_factory=set)  # the migrating sessions (server log)

    @classmethod
    def open(cls, conn: psycopg.Connection[Any], server_log: Path | None, disposable: bool) -> StatementCounter:
        preloaded, schema = conn.execute(_CHECK).fetchone() or (False, None)
        conn.rollback()
        if preloaded and schema is None and disposable:
            try:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {0}; CREATE EXTENSION pg_stat_statements "
                                     "SCHEMA {0}").format(sql.Identifier(PGSS_SCHEMA)))
                conn.commit()
                schema = PGSS_SCHEMA
            except psycopg.Error as exc:
                conn.rollback()
                why = f"pg_stat_statements could not be created: {first_line(exc)}"
                return cls._log_or_none(conn, server_log, why)
        if preloaded and schema is not None:
            return cls(StatementSource.PG_STAT_STATEMENTS,
                       "pg_stat_statements: its counters over the step for the shapes the migration sent "
                       "(another session's statements of the same shape in that time are counted too)", str(schema))
        why = "pg_stat_statements is not in shared_preload_libraries" if not preloaded else \
            "pg_stat_statements is not created in this database, which is not disposable"
        return cls._log_or_none(conn, server_log, why)

    @classmethod
    def _log_or_none(cls, conn: psycopg.Connection[Any], server_log: Path | None, why: str) -> StatementCounter:
        if server_log is None or not server_log.is_file():
            return cls(None, f"{why}, and the server log is not ours to read (a server the harness did not start)")
        try:
            for statement in _LOG_ON:
                conn.execute(statement)
        except psycopg.Error as exc:
            return cls(None, f"{why}, and this session cannot log statement durations: {first_line(exc)}")
        finally:
            conn.rollback()
        return cls(StatementSource.SERVER_LOG, f"the server log ({why}): the migrating session's statement "
                                               "durations; rows are not logged", log=server_log)

    def mark(self, conn: psycopg.Connection[Any]) -> None:
        """Right before the step: the counters, or where the log ends, now."""
        if self.source == StatementSource.PG_STAT_STATEMENTS:
            self.before = self._counters(conn)
        elif self.log is not None:
            self.offset = self.log.stat().st_size

    def _counters(self, conn: psycopg.Connection[Any]) -> _Counters:
        rows = conn.execute(sql.SQL(_COUNTERS).format(sql.Identifier(self.schema))).fetchall()
        conn.rollback()
        return {(int(r[0]), int(r[1])): (str(r[2]), int(r[3]), float(r[4]), int(r[5]), int(r[6] or 0))
                for r in rows if r[1] is not None}

    @contextmanager
    def watching(self, engine: Engine) -> Iterator[None]:
        """While the migration runs on `engine`: its sessions log their statements (server log source)."""
        if self.source != StatementSource.SERVER_LOG:
            yield
            return

        def on_connect(dbapi_conn: Any, record: Any) -> None:
            for statement in _LOG_ON:
                dbapi_conn.execute(statement)
            dbapi_conn.commit()
            self.pids.add(int(dbapi_conn.info.backend_pid))

        event.listen(engine, "connect", on_connect)
        try:
            yield
        finally:
            event.remove(engine, "connect", on_connect)

    def read(self, conn: psycopg.Connection[Any], sent: list[str]) -> ServerStatements:
        """The statements of `sent`'s shapes as the server counted them, in the order the migration sent them."""
        if self.source is None:
            return ServerStatements(None, self.detail, [])
        wanted = list(dict.fromkeys((shape(s), len(s) >= CLIENT_TEXT_CHARS) for s in sent))
        found = self._from_counters(conn) if self.source == StatementSource.PG_STAT_STATEMENTS else self._from_log()
        out = []
        for key, cut in wanted:
            match = next((k for k in found if k == key or (cut and k.startswith(key[:-20]))), None)
            if match is not None:
                out.append(found.pop(match))
        detail = self.detail
        if not out and sent and self.source == StatementSource.SERVER_LOG:
            detail += "; no logged statement of the migrating session was found (a log_line_prefix without [%p]?)"
        return ServerStatements(self.source, detail, out)

    def _from_counters(self, conn: psycopg.Connection[Any]) -> dict[str, ServerStatement]:
        after = self._counters(conn)
        grouped: dict[str, list[tuple[str, int, float, int, int]]] = {}
        for key, (text, calls, total, rows, wal) in after.items():
            _, calls0, total0, rows0, wal0 = self.before.get(key, (text, 0, 0.0, 0, 0))
            if calls > calls0:
                grouped.setdefault(shape(text), []).append((text, calls - calls0, total - total0, rows - rows0,
                                                            wal - wal0))
        return {k: _statement(v[0][0], sum(c for _, c, _, _, _ in v), sum(t for _, _, t, _, _ in v),
                              sum(r for _, _, _, r, _ in v), sum(w for _, _, _, _, w in v))
                for k, v in grouped.items()}

    def _from_log(self) -> dict[str, ServerStatement]:
        assert self.log is not None
        with open(self.log, "rb") as fh:
            fh.seek(self.offset)
            text = fh.read().decode(errors="replace")
        grouped: dict[str, tuple[str, int, float]] = {}
        pending: dict[int, float] = {}  # pid -> parse + bind ms of the statement being executed
        for entry in re.split(r"\n(?!\t)", text):
            match = _ENTRY.match(entry)
            if match is None or int(match.group(1)) not in self.pids:
                continue
            pid, ms, phase = int(match.group(1)), float(match.group(2)), match.group(3)
            if phase in ("parse", "bind"):
                pending[pid] = pending.get(pid, 0.0) + ms
                continue
            ms += pending.pop(pid, 0.0)
            statement = " ".join(entry[match.end():].split())
            first, calls, total = grouped.get(shape(statement), (statement, 0, 0.0))
            grouped[shape(statement)] = (first, calls + 1, total + ms)
        return {k: _statement(first, calls, total, None, None) for k, (first, calls, total) in grouped.items()}


def _statement(text: str, calls: int, total_ms: float, rows: int | None, wal: int | None) -> ServerStatement:
    return ServerStatement(" ".join(text.split())[:500], calls, round(total_ms, 3),
                           round(total_ms / calls, 3) if calls else 0.0, rows, wal)
