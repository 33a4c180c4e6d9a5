"""What a migration step locked and rewrote, observed from outside the step.

A monitor thread with its own connection polls pg_locks for every other backend of the (disposable)
database while the step runs, so it works whatever connection the chain's env.py opens: per
relation, the strongest mode seen and how long it stayed held (first to last sighting). A lock
taken just before commit can escape polling, so locks are also read on the migrating connection
itself right before it commits, when the chain uses the connection the harness hands over.
The same poll samples which other backends wait on a lock (for --under-load). Rewrites are read
from pg_class: a table whose relfilenode changed across the step was rewritten.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

LOCK_ORDER = ["AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
              "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]


@dataclass
class _Seen:
    mode: str
    first: float
    last: float


@dataclass
class LockMonitor:
    """Polls pg_locks of the database's backends but `exclude_pids` between start() and stop()."""

    dsn: str
    exclude_pids: set[int] = field(default_factory=set)
    interval_s: float = 0.002
    watch_pids: set[int] = field(default_factory=set)
    seen: dict[int, _Seen] = field(default_factory=dict)
    waits: list[tuple[int, float]] = field(default_factory=list)  # (pid, time) of lock-waiting samples
    polls: int = 0
    at_commit: dict[int, tuple[str, str]] = field(default_factory=dict)  # oid -> (table, mode)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _conn: psycopg.Connection[Any] | None = None
    _own_pid: int = 0
    _error: str = ""

    def start(self) -> None:
        self._conn = psycopg.connect(self.dsn, autocommit=True)
        self._own_pid = self._conn.info.backend_pid
        self._thread = threading.Thread(target=self._run, name="lock-monitor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._poll()
                self._stop.wait(self.interval_s)
            self._poll()
        except psycopg.Error as exc:
            self._error = str(exc).strip().splitlines()[0]

    def _poll(self) -> None:
        assert self._conn is not None
        now = time.perf_counter()
        rows = self._conn.execute(
            "SELECT relation::int8, mode FROM pg_locks WHERE locktype = 'relation' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND pid <> ALL(%s)", (list(self.exclude_pids | self.watch_pids | {self._own_pid}),)).fetchall()
        for oid, mode in rows:
            prev = self.seen.get(oid)
            if prev is None:
                self.seen[oid] = _Seen(mode, now, now)
            else:
                prev.last = now
                if LOCK_ORDER.index(mode) > LOCK_ORDER.index(prev.mode):
                    prev.mode = mode
        if self.watch_pids:
            waiting = self._conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s) AND wait_event_type = 'Lock'",
                (list(self.watch_pids),)).fetchall()
            self.waits += [(int(r[0]), now) for r in waiting]
        self.polls += 1

    def record_commit(self, dbapi_conn: Any) -> None:
        """Called on the migrating connection just before it commits: every lock it took is still held.

        Polling can miss a lock taken just before commit; this cannot, for chains whose env.py uses
        the connection the harness hands over (config.attributes['connection']).
        """
        rows = dbapi_conn.execute(
            "SELECT l.relation::int8, c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relkind IN ('r', 'p', 'm') "
            "AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)"
        ).fetchall()
        for oid, name, mode in rows:
            prev = self.at_commit.get(oid)
            if prev is None or LOCK_ORDER.index(mode) > LOCK_ORDER.index(prev[1]):
                self.at_commit[oid] = (name, mode)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._conn is not None:
            self._conn.close()

    def report(self, conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
        """Tables (not indexes) that were locked, by name: strongest mode and milliseconds held.

        held_ms is None when the lock was only seen at commit (held for less than one poll interval).
        """
        names = dict(conn.execute(
            "SELECT c.oid::int8, c.relname FROM pg_class c WHERE c.oid = ANY(%s) AND c.relkind IN ('r', 'p', 'm') "
            "AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)",
            (list(self.seen),)).fetchall()) if self.seen else {}
        names.update({oid: name for oid, (name, _) in self.at_commit.items()})
        out: dict[str, dict[str, Any]] = {}
        for oid in self.seen.keys() | self.at_commit.keys():
            name = names.get(oid)
            if name is None or name == "alembic_version":
                continue  # dropped in the step, an index, a catalog, or Alembic's own bookkeeping
            seen, committed = self.seen.get(oid), self.at_commit.get(oid)
            modes = [m for m in (seen.mode if seen else None, committed[1] if committed else None) if m]
            held = round((seen.last - seen.first) * 1000, 1) if seen else None
            out[name] = {"mode": max(modes, key=LOCK_ORDER.index), "held_ms": held}
        return dict(sorted(out.items()))

    @property
    def error(self) -> str:
        return self._error


def relfilenodes(conn: psycopg.Connection[Any], schema: str = "public") -> dict[str, int]:
    """Storage file number of every table in `schema` (changes when a table is rewritten)."""
    rows = conn.execute("SELECT c.relname, c.relfilenode::int8 FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'", (schema,)).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def rewritten_tables(conn: psycopg.Connection[Any], before: dict[str, int], after: dict[str, int],
                     schema: str = "public") -> dict[str, int]:
    """Tables present before and after whose storage changed, with their row counts now."""
    names = sorted(t for t in before.keys() & after.keys() if before[t] != after[t])
    return {t: int(conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
        sql.Identifier(schema), sql.Identifier(t))).fetchone()[0])  # type: ignore[index]
        for t in names}
