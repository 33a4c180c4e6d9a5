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

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql

from harness.results.migrations import Finding, FindingKind, Lock
from harness.verify.schema import Snapshot

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
    lock_timeout: str | None = None  # the migrating session's setting at its last commit ("0": none)

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
        self.lock_timeout = str(dbapi_conn.execute("SHOW lock_timeout").fetchone()[0])
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

    def report(self, conn: psycopg.Connection[Any]) -> dict[str, Lock]:
        """Tables (not indexes) that were locked, by name: strongest mode and milliseconds held.

        held_ms is None when the lock was only seen at commit (held for less than one poll interval).
        """
        names = dict(conn.execute(
            "SELECT c.oid::int8, c.relname FROM pg_class c WHERE c.oid = ANY(%s) AND c.relkind IN ('r', 'p', 'm') "
            "AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)",
            (list(self.seen),)).fetchall()) if self.seen else {}
        names.update({oid: name for oid, (name, _) in self.at_commit.items()})
        out: dict[str, Lock] = {}
        for oid in self.seen.keys() | self.at_commit.keys():
            name = names.get(oid)
            if name is None or name == "alembic_version":
                continue  # dropped in the step, an index, a catalog, or Alembic's own bookkeeping
            seen, committed = self.seen.get(oid), self.at_commit.get(oid)
            modes = [m for m in (seen.mode if seen else None, committed[1] if committed else None) if m]
            held = round((seen.last - seen.first) * 1000, 1) if seen else None
            out[name] = Lock(mode=max(modes, key=LOCK_ORDER.index), held_ms=held)
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


# Lock modes that block writers (SHARE and up) or everyone (ACCESS EXCLUSIVE) while held.
BLOCKING = LOCK_ORDER[LOCK_ORDER.index("ShareLock"):]
LONG_LOCK_MS = 300.0  # a blocking lock held longer than this on a table with rows is a hazard by itself
_SAFE = {
    "create-index-not-concurrently": "CREATE INDEX CONCURRENTLY (in op.get_context().autocommit_block()); for a "
                                     "unique constraint, then ADD CONSTRAINT ... USING INDEX",
    "set-not-null-scans-table": "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a "
                                "later transaction, then SET NOT NULL (no scan on PostgreSQL 12+) and drop the CHECK",
    "constraint-without-not-valid": "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later transaction "
                                    "(it takes only SHARE UPDATE EXCLUSIVE)",
    "alter-type-rewrites-table": "add a new column of the new type, backfill it in batches, switch reads and "
                                 "writes, then drop the old column",
    "alter-type-narrows": "add a CHECK (length/range) NOT VALID and VALIDATE it first, or migrate through a new "
                          "column backfilled in batches",
    "table-rewrite": "avoid the rewrite (no volatile DEFAULT on ADD COLUMN; add nullable, backfill in batches, "
                     "then constrain)",
    "update-reinserts-hnsw": "leave the vector table's rows alone: backfill a new table (INSERT ... SELECT in "
                             "batches), build its HNSW index once, keep it in step with a trigger and swap the "
                             "names under a brief lock; or keep the new columns in a table without the vector",
    "long-exclusive-lock": "keep the locking transaction short: do backfills in batches outside it, and set "
                           "lock_timeout so a waiting migration does not queue every reader behind it",
}


def _hazard(rule: str, table: str, lock: Lock | None, what: str) -> Finding:
    mode, held = (lock["mode"], lock["held_ms"]) if lock else (None, None)
    held_text = f" for {held:.0f} ms" if held is not None else ""
    lock_text = f" under {mode}{held_text}" if mode else ""
    return Finding(FindingKind.LOCK_HAZARD, "upgrade", table, f"{what}{lock_text}; instead: {_SAFE[rule]}", "warning",
                   rule=rule, table=table, lock=mode, held_ms=held, safe_pattern=_SAFE[rule])


_UPDATE = re.compile(r'^\s*UPDATE\s+(?:ONLY\s+)?(?:"?\w+"?\.)?"?(\w+)"?', re.I)


def _updated_rows(statements: Sequence[tuple[str, int | None]]) -> dict[str, int]:
    """Rows each table's UPDATE statements reported (statement text, row count), summed per table."""
    out: dict[str, int] = {}
    for text, rows in statements:
        match = _UPDATE.match(text)
        if match and rows:
            out[match[1]] = out.get(match[1], 0) + rows
    return out


def _hnsw_indexes(snap: Snapshot, table: str) -> list[str]:
    """Names of `table`'s HNSW indexes in a catalog snapshot."""
    prefix = f"index {table}."
    return sorted(key.removeprefix(prefix) for key, fields in snap.items()
                  if key.startswith(prefix) and "USING hnsw" in fields.get("definition", ""))


_CONCURRENT_INDEX = re.compile(r'CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"?(\w+)', re.I)
_VALIDATED = re.compile(r'VALIDATE\s+CONSTRAINT\s+"?(\w+)', re.I)


def safe_by_statement(statements: Sequence[str]) -> tuple[set[str], set[str]]:
    """Indexes the migration built CONCURRENTLY and constraints it validated in a statement of their own
    (so they were added NOT VALID), read from its statements: then a blocking lock the same upgrade held on
    the table (a brief ADD COLUMN, say) was not what built or checked them."""
    text = "\n".join(statements)
    return set(_CONCURRENT_INDEX.findall(text)), set(_VALIDATED.findall(text))


def hazards(rows_before: dict[str, int], before: Snapshot, after: Snapshot, observed: dict[str, Lock],
            rewritten: dict[str, int], statements: Sequence[tuple[str, int | None]] = ()) -> list[Finding]:
    """Lock hazards of one upgrade, on tables that existed before it and held rows (new tables never count).

    `before`/`after` are catalog snapshots (harness.verify.schema), `observed` the lock report, `rewritten`
    the tables whose storage changed, `statements` the migration's own with the rows each reported (empty when
    env.py ran them on an engine of its own: then the strongest lock on the table is taken as the one that
    built each object).
    A blocking lock held long with no rule to explain it is a hazard too. So is an UPDATE of every row of a
    table with an HNSW index: it blocks no one, but each row not updated in place (no HOT update: the page is
    full, as after a bulk load) is inserted into the graph again. At 10^6 rows on 2 cores that ran at ~130
    rows/s, two hours for one backfill (the reference chain's revision 014).
    """
    populated = {t for t, n in rows_before.items() if n > 0}
    concurrent, validated = safe_by_statement([text for text, _ in statements])
    found: list[Finding] = []
    def on(key: str) -> tuple[str, str, str] | None:
        kind, name = key.split(" ", 1)
        table, _, rest = name.partition(".")
        return (kind, table, rest) if table in populated else None

    typed: set[str] = set()
    for key in sorted(after):
        where = on(key)
        if where is None:
            continue
        kind, table, name = where
        old, new, lock = before.get(key), after[key], observed.get(table)
        weak = lock is not None and lock["mode"] not in BLOCKING
        if kind == "index" and old is None and not weak and name not in concurrent:
            found.append(_hazard("create-index-not-concurrently", table, lock,
                                 f"index {name} built on {table} ({rows_before[table]} rows) without CONCURRENTLY"))
        elif kind == "constraint" and old is None and new["validation"] == "validated" and name not in validated \
                and new["definition"].startswith(("CHECK", "FOREIGN KEY")):
            found.append(_hazard("constraint-without-not-valid", table, lock,
                                 f"{new['definition'].split(' ', 1)[0].lower()} constraint {name} on {table} "
                                 f"validated while added (no NOT VALID): every row checked"))
        elif kind == "column" and old is not None and old["type"] != new["type"]:
            typed.add(table)
            rule, what = (("alter-type-rewrites-table", "rewrites the table") if table in rewritten else
                          ("alter-type-narrows", "checks every row") if narrows(old["type"], new["type"]) else
                          ("", ""))
            if rule:
                found.append(_hazard(rule, table, lock, f"type of {table}.{name} changed from {old['type']} to "
                                                        f"{new['type']}: {what}"))
        elif kind == "column" and old is not None and (old["nullability"], new["nullability"]) == (
                "null", "not null") and not _not_null_check(before, table, name):
            found.append(_hazard("set-not-null-scans-table", table, lock,
                                 f"SET NOT NULL on {table}.{name} scans {rows_before[table]} rows (no validated "
                                 "CHECK proves it first)"))
    for table, rows in sorted(_updated_rows(statements).items()):
        graphs = _hnsw_indexes(before, table)
        if table in populated and graphs and rows >= rows_before[table]:
            found.append(_hazard("update-reinserts-hnsw", table, None,  # slow, not blocking: no lock to name
                                 f"every row of {table} updated ({rows} row updates, {rows_before[table]} rows); "
                                 f"each one not updated in place is inserted again into HNSW index "
                                 f"{', '.join(graphs)} (~130 rows/s at 10^6 x 384 on 2 cores)"))
    for table in sorted(rewritten.keys() & populated - typed):
        found.append(_hazard("table-rewrite", table, observed.get(table), f"{table} rewritten "
                                                                          f"({rewritten[table]} rows)"))
    found = _grouped(found)
    flagged = {f.table for f in found}
    for table, lock in sorted(observed.items()):
        held = lock["held_ms"]
        if (table in populated and table not in flagged and lock["mode"] in BLOCKING
                and held is not None and held >= LONG_LOCK_MS):
            found.append(_hazard("long-exclusive-lock", table, lock, f"{table} ({rows_before[table]} rows) "
                                                                     "blocked"))
    return found


def _grouped(found: list[Finding]) -> list[Finding]:
    """One hazard per rule and table: five indexes built on one table are one finding naming all five."""
    out: dict[tuple[str | None, str | None], Finding] = {}
    for f in found:
        key = (f.rule, f.table)
        if key in out:
            also = f"; also {f.detail.split(' under ')[0]}; instead:"
            out[key] = replace(out[key], detail=out[key].detail.replace("; instead:", also, 1))
        else:
            out[key] = f
    return list(out.values())


def _not_null_check(before: Snapshot, table: str, column: str) -> bool:
    """A validated CHECK (column IS NOT NULL) existed before the step (PostgreSQL 12+ then skips the scan)."""
    return any(key.startswith(f"constraint {table}.") and value["validation"] == "validated"
               and f"{column} IS NOT NULL" in value["definition"].replace('"', "") for key, value in before.items())


def narrows(old: str, new: str) -> bool:
    """A type change that can reject or round existing values: shorter varchar/char, fewer numeric digits,
    a smaller integer."""
    ints = ["smallint", "integer", "bigint"]
    if old in ints and new in ints:
        return ints.index(new) < ints.index(old)

    def parts(text: str) -> tuple[str, list[int]]:
        base, _, args = text.partition("(")
        return base, [int(a) for a in args.rstrip(")").split(",") if a.strip().isdigit()]

    (old_base, old_args), (new_base, new_args) = parts(old), parts(new)
    if old_base != new_base or not new_args:
        return False
    if not old_args:
        return True  # unconstrained to constrained
    if old_base == "numeric":
        old_whole, new_whole = old_args[0] - (old_args[1:] or [0])[0], new_args[0] - (new_args[1:] or [0])[0]
        return new_whole < old_whole or (new_args[1:] or [0])[0] < (old_args[1:] or [0])[0]
    return new_args[0] < old_args[0]
