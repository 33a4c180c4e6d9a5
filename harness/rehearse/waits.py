"""Which live request waits on a lock, for how long, and which statement of which session it waits behind.

Polls pg_stat_activity for the live workload's sessions in a Lock wait and, only when there is one, asks
pg_blocking_pids and pg_locks what they wait for: relation and mode, and the blocking session's current
statement (the migration's, when the migration is what blocks; a live session queued ahead is named only
when nothing else blocks). One wait is one (session, query_start) episode.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from harness.errors import first_line
from harness.results.rehearsal import LongestWait
from harness.verify.underload import Sample

_DETAIL = """
SELECT w.pid, w.query_start, l.locktype, l.relation::regclass::text, l.mode,
       array_agg(b.pid ORDER BY b.pid), array_agg(b.query ORDER BY b.pid)
FROM pg_stat_activity w
JOIN pg_locks l ON l.pid = w.pid AND NOT l.granted
LEFT JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid) ON true
LEFT JOIN pg_stat_activity b ON b.pid = bp.pid
WHERE w.pid = ANY(%s) AND w.wait_event_type = 'Lock'
GROUP BY 1, 2, 3, 4, 5
"""


@dataclass
class Episode:
    pid: int
    first: float
    last: float
    locktype: str
    relation: str | None
    mode: str
    blocker_pid: int | None
    blocker_statement: str


@dataclass
class Hold:
    """One lock hold as polling saw it: from the first poll that saw it to the last before a poll did not."""

    table: str
    mode: str
    first: float
    last: float


COMMIT_PROBE = "SELECT l.relation::int8, c.relname, l.mode FROM pg_locks l"  # LockMonitor.record_commit
_HELD = """
SELECT l.relation::regclass::text, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.locktype = 'relation' AND l.granted AND l.pid <> ALL(%s) AND c.relkind IN ('r', 'p')
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
"""


@dataclass
class WaitSampler:
    """Samples lock waits of `watch_pids` every `interval_s` between start() and stop(); and, per table and
    mode, each stretch of polls in which sessions other than `watch_pids` and `exclude_pids` (the migration's)
    were seen holding it (a lock released and taken again, as by batches in their own transactions, is two)."""

    dsn: str
    watch_pids: set[int]
    exclude_pids: set[int] = field(default_factory=set)
    holds: list[Hold] = field(default_factory=list)  # in the order they started
    interval_s: float = 0.005
    episodes: dict[tuple[int, datetime], Episode] = field(default_factory=dict)  # by (pid, query_start)
    polls: int = 0
    error: str = ""
    pid: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _conn: psycopg.Connection[Any] | None = None
    _open: dict[tuple[str, str], Hold] = field(default_factory=dict)  # holds seen by the last poll

    @property
    def held(self) -> dict[tuple[str, str], tuple[float, float]]:
        """(table, mode) -> first and last sighting over all its holds."""
        out: dict[tuple[str, str], tuple[float, float]] = {}
        for hold in self.holds:
            first, last = out.get((hold.table, hold.mode), (hold.first, hold.last))
            out[(hold.table, hold.mode)] = (min(first, hold.first), max(last, hold.last))
        return out

    def start(self) -> None:
        self._conn = psycopg.connect(self.dsn, autocommit=True)
        self.pid = self._conn.info.backend_pid
        self._thread = threading.Thread(target=self._run, name="wait-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._poll()
                self._stop.wait(self.interval_s)
        except psycopg.Error as exc:
            self.error = first_line(exc)

    def _poll(self) -> None:
        assert self._conn is not None
        watched = list(self.watch_pids)
        self.polls += 1
        now = time.perf_counter()
        seen = {(str(table), str(mode)) for table, mode in
                self._conn.execute(_HELD, (watched + list(self.exclude_pids) + [self.pid],)).fetchall()}
        for key in sorted(seen):
            hold = self._open.get(key)
            if hold is None:
                hold = self._open[key] = Hold(key[0], key[1], now, now)
                self.holds.append(hold)
            hold.last = now
        self._open = {key: hold for key, hold in self._open.items() if key in seen}
        if not self._conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s) AND wait_event_type = 'Lock' "
                                  "LIMIT 1", (watched,)).fetchone():
            return
        now = time.perf_counter()  # after the check: a request seen waiting has started before this moment
        for pid, query_start, locktype, relation, mode, blockers, statements in self._conn.execute(
                _DETAIL, (watched,)).fetchall():
            episode = self.episodes.get((pid, query_start))
            if episode is None:
                pairs = [(b, s) for b, s in zip(blockers, statements, strict=True) if b is not None]
                outside = [p for p in pairs if p[0] not in self.watch_pids] or pairs
                blocker, statement = outside[0] if outside else (None, "")
                self.episodes[(pid, query_start)] = Episode(int(pid), now, now, str(locktype), relation, str(mode),
                                                            blocker, " ".join(str(statement or "").split()))
            else:
                episode.last = now

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._conn is not None:
            self._conn.close()


def longest(episodes: list[Episode], samples: list[Sample], interval_s: float) -> LongestWait | None:
    """The longest wait of any live request: its wait (the request's own time from its actual start, which
    covers the wait; else the sampled span), what it waited for, and the statement it waited behind."""
    best: tuple[float, Episode, Sample | None] | None = None
    for ep in episodes:
        sample = next((s for s in samples if s.pid == ep.pid and s.started <= ep.first <= s.ended), None)
        wait_ms = ((sample.ended - sample.started) if sample else (ep.last - ep.first + interval_s)) * 1000
        if best is None or wait_ms > best[0]:
            best = (wait_ms, ep, sample)
    if best is None:
        return None
    wait_ms, ep, sample = best
    statement = ep.blocker_statement
    if statement.startswith(COMMIT_PROBE):
        statement = "COMMIT (the migration's transaction, reading its own locks at commit)"
    return LongestWait(wait_ms=round(wait_ms, 1), live_request=sample.name if sample else None,
                       latency_ms=round(sample.latency_ms, 1) if sample else None, lock=ep.mode,
                       locktype=ep.locktype, table=ep.relation, blocked_by_pid=ep.blocker_pid,
                       blocked_by_statement=statement[:500])
