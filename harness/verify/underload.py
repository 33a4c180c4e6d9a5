"""--under-load: a background read workload against the database while an upgrade step runs.

Reads are issued on a fixed schedule (open model) and each latency is measured from the query's
*intended* start, so a read stalled behind a migration lock is not under-sampled (coordinated
omission). Ward and vector queries are used where the schema has them, primary-key reads otherwise.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from harness.bench.timing import percentile
from harness.errors import EnvironmentFailure, first_line
from harness.results.migrations import UnderLoad
from harness.verify.checksums import probe_vector


@dataclass(frozen=True)
class Read:
    name: str
    query: sql.Composed
    keys: list[Any]  # parameter values sampled from the data
    keyed: bool = False  # a keyed read with no keys (empty table) cannot run


@dataclass(frozen=True)
class Sample:
    name: str
    pid: int
    intended: float
    started: float
    ended: float
    ok: bool

    @property
    def latency_ms(self) -> float:
        return (self.ended - self.intended) * 1000


def plan_reads(conn: psycopg.Connection[Any], schema: str = "public") -> list[Read]:
    """The reads this schema supports now: ward lookups, vector k-NN, else primary-key reads."""
    reads: list[Read] = []
    tables = {r[0] for r in conn.execute(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND relkind IN ('r', 'p')", (schema,)).fetchall()}
    pks = {r[0]: r[1] for r in conn.execute(
        "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        "WHERE n.nspname = %s AND i.indisprimary AND i.indnatts = 1", (schema,)).fetchall()}
    if "wards" in tables and pks.get("wards"):
        ward = _keyed(conn, schema, "ward by id", "wards", pks["wards"])
        reads.append(ward)
        # ward-centric reads of every table that points at wards (results, candidates, posts, ...)
        for table, column in conn.execute(
                "SELECT c.relname, a.attname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
                "WHERE k.contype = 'f' AND n.nspname = %s AND k.confrelid = %s::regclass "
                "AND cardinality(k.conkey) = 1 ORDER BY 1",
                (schema, sql.Identifier(schema, "wards").as_string(conn))).fetchall():
            query = sql.SQL("SELECT * FROM {}.{} WHERE {} = %s LIMIT 50").format(
                sql.Identifier(schema), sql.Identifier(table), sql.Identifier(column))
            reads.append(Read(f"{table} of a ward", query, ward.keys, keyed=True))
    vectors = conn.execute(
        "SELECT c.relname, a.attname, a.atttypmod, tn.nspname FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'r' AND t.typname = 'vector' AND a.atttypmod > 0 "
        "AND NOT a.attisdropped", (schema,)).fetchall()
    for table, column, dim, type_schema in vectors:
        query = sql.SQL("SELECT 1 FROM {}.{} ORDER BY {} OPERATOR({}.<=>) {}::{} LIMIT 10").format(
            sql.Identifier(schema), sql.Identifier(table), sql.Identifier(column), sql.Identifier(type_schema),
            sql.Literal(probe_vector(dim)), sql.Identifier(type_schema, "vector"))
        reads.append(Read(f"vector k-NN {table}.{column}", query, []))
    if not reads:
        reads += [_keyed(conn, schema, f"{t} by key", t, pks[t]) for t in sorted(tables & pks.keys())
                  if t != "alembic_version"]
    return [r for r in reads if r.keys or not r.keyed]


def _keyed(conn: psycopg.Connection[Any], schema: str, name: str, table: str, column: str) -> Read:
    keys = [r[0] for r in conn.execute(sql.SQL("SELECT {} FROM {}.{} LIMIT 500").format(
        sql.Identifier(column), sql.Identifier(schema), sql.Identifier(table))).fetchall()]
    query = sql.SQL("SELECT * FROM {}.{} WHERE {} = %s").format(
        sql.Identifier(schema), sql.Identifier(table), sql.Identifier(column))
    return Read(name, query, keys, keyed=True)


def start_sessions(count: int, run: Callable[[int, threading.Barrier], None], name: str,
                   threads: list[threading.Thread]) -> bool:
    """Start `count` threads running run(index, ready) into `threads`; True once every one has connected and
    reached `ready`, False when one aborted it (it could not connect): the caller stops the rest."""
    ready = threading.Barrier(count + 1, timeout=60)
    for i in range(count):
        thread = threading.Thread(target=run, args=(i, ready), name=f"{name}-{i}", daemon=True)
        thread.start()
        threads.append(thread)
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        return False
    return True


@dataclass
class ReadWorkload:
    """`workers` threads, each issuing reads every 1/rate_per_worker seconds on its own connection."""

    dsn: str
    reads: list[Read]
    workers: int = 2
    rate_per_worker: float = 100.0
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    pids: set[int] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        if not start_sessions(self.workers, self._run, "read", self._threads):
            self.stop()
            raise EnvironmentFailure(f"the --under-load readers could not connect: {self.errors}")

    def _run(self, index: int, ready: threading.Barrier) -> None:
        rng = random.Random(index)
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, prepare_threshold=None)  # plans die with ALTERs
            conn.execute("SET statement_timeout = '60s'")
        except psycopg.Error as exc:
            with self._lock:
                self.errors[f"connect: {first_line(exc)}"] = 1
            ready.abort()
            return
        pid = conn.info.backend_pid
        with self._lock:
            self.pids.add(pid)
        ready.wait()
        interval, next_at = 1.0 / self.rate_per_worker, time.perf_counter()
        try:
            while not self._stop.is_set():
                pause = next_at - time.perf_counter()
                if pause > 0:
                    self._stop.wait(pause)
                read = rng.choice(self.reads)
                started = time.perf_counter()
                ok = True
                try:
                    conn.execute(read.query, [rng.choice(read.keys)] if read.keys else None).fetchall()
                except psycopg.Error as exc:
                    ok = False
                    with self._lock:
                        key = f"{read.name}: {first_line(exc)}"
                        self.errors[key] = self.errors.get(key, 0) + 1
                with self._lock:
                    self.samples.append(Sample(read.name, pid, next_at, started, time.perf_counter(), ok))
                next_at += interval
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def p95(values: list[float]) -> float | None:
    """Nearest-rank p95 (bench.timing's); None for no values."""
    return percentile(values, 95) if values else None


def summarize(workload: ReadWorkload, waits: list[tuple[int, float]], step_start: float,
              step_end: float) -> UnderLoad:
    """p95 before vs during the step, reads blocked on a lock, and the longest such read."""
    samples = workload.samples
    before = [s.latency_ms for s in samples if s.intended < step_start and s.ok]
    during_samples = [s for s in samples if step_start <= s.intended <= step_end or
                      (s.intended < step_start < s.ended)]
    blocked = [s for s in during_samples
               if any(pid == s.pid and s.started <= t <= s.ended for pid, t in waits)]
    p95_before, p95_during = p95(before), p95([s.latency_ms for s in during_samples])
    return UnderLoad(
        reads_during=len(during_samples), reads_before=len(before), p95_before_ms=_round(p95_before),
        p95_during_ms=_round(p95_during),
        p95_ratio=_round(p95_during / p95_before) if p95_before and p95_during is not None else None,
        blocked_reads=len(blocked),
        longest_lock_wait_ms=_round(max(((s.ended - s.started) * 1000 for s in blocked), default=0.0)),
        failed_reads=sum(1 for s in during_samples if not s.ok), reads=tuple(sorted({r.name for r in workload.reads})),
        errors=dict(workload.errors))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
