"""The live workload beside a rehearsed step: primary-key (or ward/vector) reads and inserts on a fixed schedule.

On the reference schema the workload is the load stage's own (harness.load.workload): ward readers, vector
readers and AI writers running the scenarios' SQL with parameters drawn from the data; on any other chain
the reads are the ones --under-load plans (harness.verify.underload.plan_reads); the inserts add rows to
every seeded table with a single-column primary key, with values from the verifier's generators and
foreign keys drawn from rows that exist. Every worker issues its requests at fixed intended times (open
model) and each latency runs from the intended start, so a request stalled behind a migration lock, and
the ones queued behind it, are timed as a user would feel them. The keys of inserted rows are kept so the
zero-loss check can leave them out.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import sqlalchemy as sa
from pgvector.psycopg import register_vector
from psycopg import sql

from harness.alembic_project import sqlalchemy_url
from harness.bench.session import apply_settings, pgoptions
from harness.bench.timing import percentile
from harness.errors import EnvironmentFailure, first_line
from harness.load.workload import Job
from harness.results.rehearsal import KindStats, LiveStats
from harness.verify import seed as reflected
from harness.verify.underload import Read, Sample, plan_reads, start_sessions

INSERT_PREFIX = "insert "


@dataclass(frozen=True)
class Insert:
    """INSERT of one generated row into `table`, returning its primary key as text."""

    name: str
    table: str
    query: sql.Composed
    values: Callable[[reflected.Seeder], list[str | None]]


@dataclass(frozen=True)
class Plan:
    reads: list[Read]
    inserts: list[Insert]
    jobs: list[Job] = field(default_factory=list)  # scenario jobs (reference schema): replace reads and inserts

    @property
    def names(self) -> list[str]:
        return sorted({r.name for r in self.reads} | {i.name for i in self.inserts} | {j.name for j in self.jobs})

    @property
    def kinds(self) -> dict[str, str]:
        """Query kind per request name: ward/vector/write for scenario jobs, read/insert otherwise."""
        out = {r.name: "read" for r in self.reads} | {i.name: "insert" for i in self.inserts}
        return out | {j.name: j.kind for j in self.jobs}

    def __bool__(self) -> bool:
        return bool(self.reads or self.inserts or self.jobs)


@dataclass(frozen=True)
class ScenarioPlanner:
    """Builds scenario_plan in the live workload's own process (a plan's inserts are closures: not picklable)."""

    seed: int
    applied: frozenset[str]

    def __call__(self, conn: psycopg.Connection[Any], dsn: str) -> Plan:
        return scenario_plan(conn, self.seed, set(self.applied))


@dataclass(frozen=True)
class KeysPlanner:
    """Builds plan (primary-key reads and inserts of any chain) in the live workload's own process."""

    schema: str = "public"

    def __call__(self, conn: psycopg.Connection[Any], dsn: str) -> Plan:
        engine = sa.create_engine(sqlalchemy_url(dsn), poolclass=sa.pool.NullPool)
        try:
            return plan(conn, engine, self.schema)
        finally:
            engine.dispose()


@dataclass(frozen=True)
class FixedPlanner:
    """A plan given whole (scenario jobs only: those pickle)."""

    plan: Plan

    def __call__(self, conn: psycopg.Connection[Any], dsn: str) -> Plan:
        return self.plan


Planner = ScenarioPlanner | KeysPlanner | FixedPlanner


def scenario_plan(conn: psycopg.Connection[Any], seed: int, applied: set[str]) -> Plan:
    """The load stage's reference scenarios (ward and vector readers, AI writers) with drawn parameters: those
    whose SQL the older schema of the step supports (`applied`: its revisions). The application running during a
    step is the one both schemas serve; a query that needs a column the step adds (or its downgrade removes)
    belongs to the next release of the application, not to the one live while the migration runs."""
    from harness.load.workload import load_workload

    register_vector(conn)
    workload = load_workload(conn, [], [], None, seed,
                             keep=lambda s: s.requires_revision is None or s.requires_revision in applied)
    conn.rollback()
    return Plan([], [], list(workload.jobs))


def plan(conn: psycopg.Connection[Any], engine: sa.Engine, schema: str = "public") -> Plan:
    """Reads this schema supports and one insert per table with a single-column primary key."""
    reads = plan_reads(conn, schema)
    conn.rollback()
    pks = dict(conn.execute(
        "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        "WHERE n.nspname = %s AND i.indisprimary AND i.indnatts = 1", (schema,)).fetchall())
    inserts = [_insert(conn, spec, pks[spec.name], schema) for spec in reflected.reflect(engine, schema)
               if spec.name in pks]
    conn.rollback()
    return Plan(reads, [i for i in inserts if i is not None])


def _insert(conn: psycopg.Connection[Any], spec: reflected.TableSpec, key: str, schema: str) -> Insert | None:
    """The insert for `spec`: foreign keys from existing parent rows, required columns generated, unique ones new."""
    parents: dict[str, list[tuple[str, ...]]] = {}
    for fk in spec.fks:
        query = sql.SQL("SELECT {} FROM {} WHERE {} LIMIT 500").format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in fk.ref_columns),
            sql.Identifier(schema, fk.ref_table),
            sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in fk.ref_columns))
        rows = [tuple(r) for r in conn.execute(query).fetchall()]
        if not rows and not all(c.nullable for c in spec.columns if c.name in fk.columns):
            return None  # a required parent with no rows: this table cannot take a live insert
        parents[",".join(fk.columns)] = rows
    fk_columns = {c for fk in spec.fks for c in fk.columns}
    wanted = [c for c in spec.columns if c.name not in fk_columns and (not c.nullable or c.unique)]
    counters = {}
    for col in wanted:
        if col.unique and col.typname in ("int2", "int4", "int8"):
            top = conn.execute(sql.SQL("SELECT coalesce(max({}), 0) FROM {}").format(
                sql.Identifier(col.name), sql.Identifier(schema, spec.name))).fetchone()
            counters[col.name] = itertools.count(int(top[0]) + 1 if top else 1)
    names = [c for fk in spec.fks for c in fk.columns if ",".join(fk.columns) in parents] + [c.name for c in wanted]
    hints = spec.hints

    def values(seeder: reflected.Seeder) -> list[str | None]:
        out: list[str | None] = []
        for fk in spec.fks:
            rows = parents.get(",".join(fk.columns))
            if rows is None:
                continue
            out += list(seeder.rng.choice(rows)) if rows else [None] * len(fk.columns)
        for col in wanted:
            seeder.counter += 1
            if col.name in counters:
                out.append(str(next(counters[col.name])))
            elif col.unique and col.category == "S":
                out.append(f"live-{seeder.counter}-{seeder.rng.getrandbits(40):x}")
            else:
                out.append(seeder.value(col, hints.get(col.name, reflected.Hints()), False))
        return out

    if names:
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}::text").format(
            sql.Identifier(schema, spec.name), sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(sql.Placeholder() * len(names)), sql.Identifier(key))
    else:
        query = sql.SQL("INSERT INTO {} DEFAULT VALUES RETURNING {}::text").format(
            sql.Identifier(schema, spec.name), sql.Identifier(key))
    return Insert(INSERT_PREFIX + spec.name, spec.name, query, values)


@dataclass
class LiveWorkload:
    """`workers` threads, together issuing `rate` requests/s; a share `write_share` of them inserts."""

    dsn: str
    plan: Plan
    rate: float = 200.0
    workers: int = 4
    write_share: float = 0.2
    seed: int = 42
    settings: dict[str, str] = field(default_factory=dict)  # every session starts with these (libpq options)
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    pids: set[int] = field(default_factory=set)
    inserted: list[tuple[str, str]] = field(default_factory=list)  # (table, primary key as text)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _conns: list[psycopg.Connection[Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        if not start_sessions(self.workers, self._run, "live", self._threads):
            self.stop()
            raise EnvironmentFailure(f"the live workload could not connect: {self.errors}")

    def _run(self, index: int, ready: threading.Barrier) -> None:
        rng = random.Random(self.seed * 1000 + index)
        seeder = reflected.Seeder(self.seed * 1000 + index, 1)
        try:  # statements are not prepared: the migration's ALTERs would invalidate the plans
            conn = psycopg.connect(self.dsn, autocommit=True, prepare_threshold=None,
                                   options=pgoptions(self.settings) or None)  # None: no options
            conn.execute("SET statement_timeout = '120s'")
            if self.plan.jobs:
                register_vector(conn)
        except psycopg.Error as exc:
            with self._lock:
                self.errors[f"connect: {first_line(exc)}"] = 1
            ready.abort()
            return
        pid = conn.info.backend_pid
        with self._lock:
            self.pids.add(pid)
            self._conns.append(conn)
        applied = self._prime(conn, rng)
        ready.wait()
        interval = self.workers / self.rate
        next_at = time.perf_counter() + interval * index / self.workers  # workers interleave
        while not self._stop.is_set():
            pause = next_at - time.perf_counter()
            if pause > 0:
                self._stop.wait(pause)
                if self._stop.is_set():
                    break
            if self.plan.jobs:
                applied = self._job(conn, pid, rng, next_at, applied)
            else:
                self._one(conn, pid, rng, seeder, next_at)
            next_at += interval

    def _prime(self, conn: psycopg.Connection[Any], rng: random.Random) -> dict[str, str]:
        """Run every read once, untimed, before the schedule starts: a new session loads its catalog caches on
        its first queries, and 50 sessions doing that at once on 2 cores queued a release baseline's first
        seconds (p95 0.4-1.3 s, against 30 ms once settled). Writes are not primed: their rows would have to be
        left out of the zero-loss check like the timed ones. A failing read is left to the timed run to report.
        Returns the session settings the last read left applied (as _job does)."""
        applied: dict[str, str] = {}
        for job in (j for j in self.plan.jobs if j.role != "writer"):
            try:
                applied = _switch_settings(conn, applied, job.settings)
                conn.execute(job.sql, job.sample(rng))
            except psycopg.Error:
                applied = {}
        for read in self.plan.reads:
            try:
                conn.execute(read.query, [rng.choice(read.keys)] if read.keys else None).fetchall()
            except psycopg.Error:
                pass
        return applied

    def _one(self, conn: psycopg.Connection[Any], pid: int, rng: random.Random, seeder: reflected.Seeder,
             intended: float) -> None:
        insert = self.plan.inserts and (not self.plan.reads or rng.random() < self.write_share)
        started, ok, key = time.perf_counter(), True, None
        if insert:
            op = rng.choice(self.plan.inserts)
            name = op.name
            try:
                row = conn.execute(op.query, op.values(seeder)).fetchone()
                key = str(row[0]) if row else None
            except psycopg.Error as exc:
                ok = False
                self._error(name, exc)
        else:
            read = rng.choice(self.plan.reads)
            name = read.name
            try:
                conn.execute(read.query, [rng.choice(read.keys)] if read.keys else None).fetchall()
            except psycopg.Error as exc:
                ok = False
                self._error(name, exc)
        ended = time.perf_counter()
        with self._lock:
            self.samples.append(Sample(name, pid, intended, started, ended, ok))
            if key is not None and insert:
                self.inserted.append((op.table, key))

    def _job(self, conn: psycopg.Connection[Any], pid: int, rng: random.Random, intended: float,
             applied: dict[str, str]) -> dict[str, str]:
        """One scenario request: a writer's with probability write_share, else a reader's; the settings the
        scenario needs are applied first (outside the timed part only when nothing is queued behind)."""
        writers = [j for j in self.plan.jobs if j.role == "writer"]
        readers = [j for j in self.plan.jobs if j.role != "writer"]
        pool = writers if writers and (not readers or rng.random() < self.write_share) else readers
        job = rng.choice(pool)
        started, ok = time.perf_counter(), True
        try:
            applied = _switch_settings(conn, applied, job.settings)
            conn.execute(job.sql, job.sample(rng))
        except psycopg.Error as exc:
            ok = False
            applied = {}  # unknown after a failure: applied again next time
            self._error(job.name, exc)
        with self._lock:
            self.samples.append(Sample(job.name, pid, intended, started, time.perf_counter(), ok))
        return applied

    def _error(self, name: str, exc: psycopg.Error) -> None:
        with self._lock:
            text = f"{name}: {first_line(exc)}"
            self.errors[text] = self.errors.get(text, 0) + 1

    def stop(self) -> None:
        """Let every request in flight finish, then close the sessions: closed while others still ran, 50
        backends exiting at once on 2 cores slowed the window's last requests (vector p95 up to 390 ms in the
        last 0.1 s of a 1-s step, 30-70 ms before it)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for conn in self._conns:
            conn.close()


def _switch_settings(conn: psycopg.Connection[Any], applied: dict[str, str], wanted: dict[str, str]
                     ) -> dict[str, str]:
    """Move the session from the scenario settings `applied` to `wanted`: those no longer wanted back to their
    session values, the wanted ones set; nothing when they are the same. Returns what is now applied."""
    if wanted != applied:
        for name in set(applied) - set(wanted):
            conn.execute("SELECT set_config(name, reset_val, false) FROM pg_settings WHERE name = %s", (name,))
        apply_settings(conn, wanted)
    return dict(wanted)


def kind(sample: Sample, kinds: dict[str, str] | None = None) -> str:
    """The request's query kind: from `kinds` (Plan.kinds) when it names it, else read or insert."""
    if kinds and sample.name in kinds:
        return kinds[sample.name]
    return "insert" if sample.name.startswith(INSERT_PREFIX) else "read"


def window(samples: list[Sample], start: float, end: float) -> list[Sample]:
    """Requests meant to start in [start, end], and those in flight at `start`."""
    return [s for s in samples if start <= s.intended <= end or s.intended < start < s.ended]


def stats(samples: list[Sample]) -> LiveStats:
    """Count, errors, error rate and p50/p95/p99/max latency (ms from the intended start) of `samples`."""
    latencies = [s.latency_ms for s in samples if s.ok]
    errors = sum(1 for s in samples if not s.ok)

    def pct(q: float) -> float | None:
        return round(percentile(latencies, q), 2) if latencies else None

    return LiveStats(count=len(samples), errors=errors,
                     error_rate=round(errors / len(samples), 6) if samples else None,
                     p50_ms=pct(50), p95_ms=pct(95), p99_ms=pct(99),
                     max_ms=round(max(latencies), 2) if latencies else None)


def compare(samples: list[Sample], baseline_start: float, start: float, end: float,
            kinds: dict[str, str] | None = None) -> tuple[LiveStats, LiveStats, dict[str, KindStats]]:
    """Live figures before the step (the baseline) and during it, for all requests and per kind."""
    before = [s for s in samples if baseline_start <= s.intended < start and s.ended <= start]
    during = window(samples, start, end)
    per_kind = {name: KindStats(stats([s for s in before if kind(s, kinds) == name]),
                                stats([s for s in during if kind(s, kinds) == name]))
                for name in sorted({kind(s, kinds) for s in before + during})}
    return stats(before), stats(during), per_kind
