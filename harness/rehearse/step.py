"""One rehearsed step (an upgrade or a downgrade): on the populated database, with the live workload beside it.

Before: checksums of every table (timed against a count(*) of the same tables), sizes, storage files, and
each integer primary key's highest value (rows above it are the live writers'). During: the live workload's
baseline, then the step with the lock monitor (locks on tables that existed before, and how long they were
held) and the wait sampler (which live request waited on which statement); WAL written. After: every value
that existed before is still there (checksums over the columns that existed before, leaving out the rows
the live workload inserted), sizes, rewrites. A downgrade's removal of what its revision added is listed,
not counted as loss; the round trip (harness.rehearse.stage) checks that the upgrade brings it back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
import sqlalchemy as sa
from alembic.config import Config
from psycopg import sql

from harness.bench.timing import percentile
from harness.db import Database
from harness.rehearse import live, server_stats, waits
from harness.rehearse.live_process import LiveProcess, Schedule
from harness.results.rehearsal import (
    ChecksumTiming,
    Difference,
    Direction,
    Hold,
    LiveRun,
    LiveSkipped,
    LockHold,
    LockMode,
    Loss,
    Seeding,
    Series,
    SizeChange,
    Sizes,
    Statement,
    Step,
    StepOutcome,
)
from harness.verify import locks, migrate
from harness.verify.checksums import TableChecksum, table_checksum, timed_checksums, user_tables
from harness.verify.underload import Sample

Action = Callable[..., None]

SCHEMA = "public"
LIVE_TABLE = "wb_live_rows"


SESSION_GAP_S = 0.25
SERIES_BUCKET_S = 0.1  # the report's timeline: live p95 per query kind per bucket of this width at least
SERIES_MAX_BUCKETS = 300  # wider buckets on a long step, so the record stays a few thousand numbers at most
SERIES_LEAD_S = 5.0  # baseline shown before the step starts (at least; as long as the step when it is longer)


@dataclass(frozen=True)
class RehearseOptions:
    rows: int = 100_000
    seed: int = 42
    baseline_s: float = 30.0  # live workload before the step: what "during" is compared with
    # "during" is the step and the settle_s after it: a step of milliseconds still meets enough live requests
    # of every kind, and the ones queued behind its last lock drain inside the window
    settle_s: float = 1.0
    rate: float = 200.0  # live requests per second, all workers together
    workers: int = 0  # 0: enough sessions that each has SESSION_GAP_S between its requests (see sessions())
    write_share: float = 0.2
    max_blocked_ms: float = 1000.0
    max_error_rate: float = 0.001
    p95_targets: dict[str, float] = field(default_factory=dict)  # query kind -> live p95 target (ms) per step
    scenarios: bool = False  # the live workload is the load stage's scenarios (reference schema)
    session: dict[str, str] = field(default_factory=dict)  # every live session starts with these (the profile's)

    def sessions(self) -> int:
        """Sessions for the live workload. Each one runs its own fixed schedule, so with too few a slow moment
        queues every later request of that session behind it and the harness, not the database, sets the
        tail (4 sessions at 100/s gave 1.2 s waits on a busy runner with no lock held). An application
        has a connection pool for this: give each session SESSION_GAP_S between requests."""
        return self.workers or max(4, math.ceil(self.rate * SESSION_GAP_S))

    @property
    def targets(self) -> dict[str, float]:
        """The gated values by registry key (harness.targets), for harness.gates.gate_for."""
        return {"max_blocked_ms": self.max_blocked_ms, "rehearse_error_rate": self.max_error_rate,
                **{f"{kind}_p95_ms": target for kind, target in self.p95_targets.items()}}


@dataclass
class Before:
    tables: list[str]
    columns: dict[str, list[str]]
    checksums: dict[str, TableChecksum]
    checksum_s: float
    count_s: float
    sizes: dict[str, tuple[str, int]]
    files: dict[str, int]
    high_water: dict[str, int]  # table -> highest integer primary key: rows above it were added later


def measure_before(conn: psycopg.Connection[Any]) -> Before:
    """Checksums (each timed against count(*) of the same table), columns, sizes and storage files now."""
    tables = user_tables(conn, SCHEMA)
    # the same comparison as tests/benchmarks' checksum benchmark
    timed = timed_checksums(conn, tables, SCHEMA, cast=True)
    sums, checksum_s, count_s = timed.checksums, sum(timed.checksum_s.values()), sum(timed.count_s.values())
    high_water = {}
    for table, key in _integer_keys(conn).items():
        top = conn.execute(sql.SQL("SELECT max({}) FROM {}").format(
            sql.Identifier(key), sql.Identifier(SCHEMA, table))).fetchone()
        high_water[table] = int(top[0]) if top and top[0] is not None else 0
    before = Before(tables, _columns(conn, tables), sums, checksum_s, count_s, _sizes(conn),
                    locks.relfilenodes(conn, SCHEMA), high_water)
    conn.rollback()
    return before


def _keys(conn: psycopg.Connection[Any], integer: bool = False) -> dict[str, str]:
    """table -> its single-column primary key (only integer ones with `integer`)."""
    rows = conn.execute(
        "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        "WHERE c.relnamespace = %s::regnamespace AND i.indisprimary AND i.indnatts = 1 "
        "AND (NOT %s OR a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype))",
        (SCHEMA, integer)).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _integer_keys(conn: psycopg.Connection[Any]) -> dict[str, str]:
    return _keys(conn, integer=True)


def _columns(conn: psycopg.Connection[Any], tables: list[str]) -> dict[str, list[str]]:
    rows = conn.execute(
        "SELECT c.relname, array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped GROUP BY 1",
        (SCHEMA, tables)).fetchall()
    return {r[0]: list(r[1]) for r in rows}


def _sizes(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, int]]:
    """Bytes of every table (with its TOAST) and index in the schema."""
    rows = conn.execute(
        "SELECT c.relname, CASE c.relkind WHEN 'i' THEN 'index' ELSE 'table' END, "
        "CASE c.relkind WHEN 'i' THEN pg_relation_size(c.oid) ELSE pg_table_size(c.oid) END "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'i', 'm')", (SCHEMA,)).fetchall()
    return {r[0]: (r[1], int(r[2])) for r in rows}


def _lsn(conn: psycopg.Connection[Any]) -> str:
    return str(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])  # type: ignore[index]


def live_workload(dsn: str, planner: live.Planner, options: RehearseOptions) -> LiveProcess:
    """The live workload beside a step, in its own process: the plan `planner` builds, at the options' rate and
    sessions, under their session settings."""
    return LiveProcess(dsn, planner, Schedule(options.rate, options.sessions(), options.write_share, options.seed,
                                              dict(options.session)))


@dataclass(frozen=True)
class Move:
    """Which step: the revision rehearsed, the revisions it goes from and to, its docstring's first line."""

    revision: str
    source: str
    target: str
    name: str
    downgrade: bool


def _applied(cfg: Config, revision: str) -> set[str]:
    """The revisions a database at `revision` has applied (none at base)."""
    if revision in ("base", ""):
        return set()
    return {r.revision for r in migrate.script_of(cfg).iterate_revisions(revision, "base")}


def rehearse_step(db: Database, conn: psycopg.Connection[Any], engine: sa.Engine, cfg: Config, move: Move,
                  options: RehearseOptions, seeding: Seeding) -> tuple[Step, Before, list[tuple[str, str]]]:
    """Upgrade (or downgrade) to `move.target` under the live workload: the step's record (see the module
    docstring), what was measured before it, and the rows the live workload inserted."""
    dsn = db.dsn
    before = measure_before(conn)
    counter = server_stats.StatementCounter.open(conn, db.server_log, db.disposable)
    applied = frozenset(_applied(cfg, move.target if move.downgrade else move.source))
    planner = live.ScenarioPlanner(options.seed, applied) if options.scenarios else live.KeysPlanner(SCHEMA)
    conn.rollback()
    workload = live_workload(dsn, planner, options)
    workload.start()
    has_live = workload.active
    try:
        baseline_start = time.perf_counter()
        if has_live:
            time.sleep(options.baseline_s)
        sampler = waits.WaitSampler(dsn, set(workload.pids), {conn.info.backend_pid})
        sampler.start()
        monitor = locks.LockMonitor(dsn, exclude_pids={conn.info.backend_pid, sampler.pid},
                                    watch_pids=set(workload.pids))
        monitor.start()
        counter.mark(conn)
        lsn_before = _lsn(conn)
        conn.rollback()
        try:
            with counter.watching(engine):
                ran = migrate.run(dsn, engine, cfg, migrate.downgrade if move.downgrade else migrate.upgrade,
                                  move.target, monitor)
            if has_live:
                time.sleep(options.settle_s)
        finally:
            monitor.stop()
            sampler.stop()
    finally:
        workload.stop()
    wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::int8", (lsn_before,)).fetchone()
    direction = Direction.DOWNGRADE if move.downgrade else Direction.UPGRADE
    statements = [Statement(s.statement, s.start_s, s.duration_s, s.rows) for s in ran.statements]
    step = Step(revision=move.revision, source=move.source, to=move.target, name=move.name, direction=direction,
                verdict=StepOutcome.PASS, seeding=seeding, duration_s=ran.duration_s,
                wal_bytes=int(wal[0]) if wal else None,
                locks=_locks(monitor.report(conn), sampler, ran, before.tables), lock_polls=monitor.polls,
                statements=statements, server_statements=counter.read(conn, [s.statement for s in statements]),
                live=_live_record(workload, sampler, options, baseline_start, ran, has_live),
                loss=Loss(None, f"the {direction} failed (rolled back)"), checksum_timing=_timing(before))
    conn.rollback()
    if ran.error:
        failed = StepOutcome.DOWNGRADE_FAILED if move.downgrade else StepOutcome.UPGRADE_FAILED
        return replace(step, verdict=failed, error=ran.error,
                       failure={k: str(v) for k, v in ran.failure.items()}), before, workload.inserted
    step = replace(step, rewritten=locks.rewritten_tables(conn, before.files, locks.relfilenodes(conn, SCHEMA),
                                                          SCHEMA),
                   sizes=_size_changes(before.sizes, _sizes(conn)),
                   loss=loss(conn, before, workload.inserted, removal_expected=move.downgrade))
    conn.rollback()
    return step, before, workload.inserted


def _locks(held: Mapping[str, Mapping[str, object]], sampler: waits.WaitSampler, ran: migrate.Run,
           tables: list[str]) -> dict[str, LockHold]:
    """Per table that existed before: the strongest mode and the span of any lock (LockMonitor), and per mode
    how long it was seen held, each hold in seconds from the step's start, and the migration statement running
    when it was first seen (polling cannot tell whether that statement or a quicker one just before it took
    the lock)."""
    modes: dict[str, dict[str, LockMode]] = {}
    first_mode: dict[str, str] = {}
    for (table, mode), (first, last) in sorted(sampler.held.items()):
        if table in tables:
            first_mode.setdefault(table, mode)
            holds = [Hold(round(h.first - ran.start, 4), round(h.last - ran.start, 4)) for h in sampler.holds
                     if (h.table, h.mode) == (table, mode)]
            modes.setdefault(table, {})[mode] = LockMode(round((last - first) * 1000, 1), ran.running_at(first),
                                                         holds)
    out = {}
    for table in [t for t in held if t in tables] + [t for t in first_mode if t not in held]:
        lock = held.get(table)
        held_ms = lock["held_ms"] if lock else None
        out[table] = LockHold(str(lock["mode"]) if lock else first_mode[table],
                              float(held_ms) if isinstance(held_ms, int | float) else None, modes.get(table, {}))
    return out


def _timing(before: Before) -> ChecksumTiming:
    rows = sum(c.rows for c in before.checksums.values())
    ratio = before.checksum_s / before.count_s if before.count_s else None
    return ChecksumTiming(rows, round(before.checksum_s, 4), round(before.count_s, 4),
                          round(ratio, 2) if ratio is not None else None)


def _live_record(workload: LiveProcess, sampler: waits.WaitSampler, options: RehearseOptions,
                 baseline_start: float, ran: migrate.Run, has_live: bool) -> LiveRun | LiveSkipped:
    if not has_live:
        return LiveSkipped("no table with rows and a single-column primary key to read or insert")
    end = ran.end + options.settle_s
    before, during, kinds = live.compare(workload.samples, baseline_start, ran.start, end, workload.kinds)
    episodes = list(sampler.episodes.values())
    return LiveRun(
        before=before, during=during, kinds=kinds, requests=workload.names, rate_per_s=options.rate,
        workers=options.sessions(), during_s=round(ran.end - ran.start + options.settle_s, 3),
        settle_s=options.settle_s, baseline_s=options.baseline_s, errors_seen=dict(workload.errors),
        blocked_requests=len(episodes), longest_wait=waits.longest(episodes, workload.samples, sampler.interval_s),
        wait_polls=sampler.polls, sampler_error=sampler.error or None, rows_inserted=len(workload.inserted),
        series=series(workload.samples, workload.kinds, baseline_start, ran.start, end))


def series(samples: list[Sample], kinds: dict[str, str], baseline_start: float, start: float,
           end: float) -> Series:
    """Live p95 (ms) per query kind per time bucket, by intended start (open model: a request stalled behind a
    lock counts where it was due), for the report's timeline; times in seconds from the step's start, as the
    statements' start_s. Only the last stretch of the baseline is kept (`before` summarises all of it);
    an empty bucket is None. Failed requests are left out (they are counted under `errors`)."""
    first = max(baseline_start, start - max(SERIES_LEAD_S, end - start))
    width = round(max(SERIES_BUCKET_S, (end - first) / SERIES_MAX_BUCKETS), 3)
    count = max(1, math.ceil(round((end - first) / width, 6)))  # 5.4 / 0.1 is 54.000000001
    buckets: dict[str, list[list[float]]] = {}
    for sample in samples:
        if sample.ok and first <= sample.intended < end:
            slot = min(int((sample.intended - first) / width), count - 1)
            buckets.setdefault(live.kind(sample, kinds), [[] for _ in range(count)])[slot].append(sample.latency_ms)
    kinds_p95 = {k: [round(percentile(v, 95), 1) if v else None for v in b] for k, b in sorted(buckets.items())}
    return Series(start_s=round(first - start, 3), bucket_s=width, stat="p95_ms", kinds=kinds_p95)


def _size_changes(old: dict[str, tuple[str, int]], new: dict[str, tuple[str, int]]) -> Sizes:
    changed = {}
    for name in sorted(old.keys() | new.keys()):
        kind = (new.get(name) or old[name])[0]
        a, b = old[name][1] if name in old else None, new[name][1] if name in new else None
        if a != b:
            changed[name] = SizeChange("index" if kind == "index" else "table", a, b, (b or 0) - (a or 0))
    return Sizes(changed, sum(v[1] for v in old.values()), sum(v[1] for v in new.values()))


def loss(conn: psycopg.Connection[Any], before: Before, inserted: list[tuple[str, str]],
         removal_expected: bool = False) -> Loss:
    """Every row and value of the tables and columns that existed before, live rows left out, still there.

    Live rows are those whose key the workload recorded and, on tables with an integer primary key, those
    above its highest value before (the scenario writers' rows and what their triggers add). With
    `removal_expected` (a downgrade) a table or column that is gone is listed under `removed`, not as loss.
    """
    conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (tbl text, key text)").format(
        sql.Identifier(LIVE_TABLE)))
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(LIVE_TABLE)))
    with conn.cursor().copy(sql.SQL("COPY {} (tbl, key) FROM STDIN").format(sql.Identifier(LIVE_TABLE))) as copy:
        for row in inserted:
            copy.write_row(row)
    temp_schema = str(conn.execute("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()")
                      .fetchone()[0])  # type: ignore[index]
    now = _columns(conn, before.tables)
    keys = _keys(conn)
    differences: list[Difference] = []
    removed: list[str] = []
    for table in before.tables:
        old = before.checksums[table]
        if table not in now:
            if removal_expected:
                removed.append(f"table {table} ({old.rows} rows)")
            else:
                differences.append(Difference(table, f"table dropped with its {old.rows} rows"))
            continue
        gone = [c for c in before.columns[table] if c not in now[table]]
        if gone and removal_expected:
            removed.append(f"{table}.{', '.join(gone)} ({old.rows} rows)")
        elif gone:
            differences.append(Difference(table, f"column(s) {', '.join(gone)} dropped with the values of "
                                                 f"{old.rows} rows"))
            continue
        view = f"wb_before_{table}"[:63]
        where: list[sql.Composable] = []
        if table in keys:
            where.append(sql.SQL("NOT EXISTS (SELECT 1 FROM {} l WHERE l.tbl = {} AND l.key = t.{}::text)").format(
                sql.Identifier(LIVE_TABLE), sql.Literal(table), sql.Identifier(keys[table])))
        if table in before.high_water and table in keys:
            where.append(sql.SQL("t.{} <= {}").format(sql.Identifier(keys[table]),
                                                      sql.Literal(before.high_water[table])))
        kept = [c for c in before.columns[table] if c in now[table]]
        conn.execute(sql.SQL("CREATE OR REPLACE TEMP VIEW {} AS SELECT {} FROM {} t{}").format(
            sql.Identifier(view), sql.SQL(", ").join(map(sql.Identifier, kept)), sql.Identifier(SCHEMA, table),
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")))
        after = table_checksum(conn, view, temp_schema, cast=True)
        rows, checksum = after.rows, after.checksum
        if gone:  # the values of the columns kept cannot be compared with a checksum over all of them
            conn.execute(sql.SQL("DROP VIEW {}").format(sql.Identifier(view)))
            if int(rows) != old.rows:
                differences.append(Difference(table, f"{old.rows} rows before, {rows} after", old.rows, int(rows)))
            continue
        if (int(rows), str(checksum)) != (old.rows, old.checksum):
            what = f"{old.rows} rows before, {rows} after" if int(rows) != old.rows else \
                "same row count, values of existing columns changed"
            differences.append(Difference(table, what, old.rows, int(rows)))
        conn.execute(sql.SQL("DROP VIEW {}").format(sql.Identifier(view)))
    conn.rollback()
    return Loss(lossless=not differences, tables=len(before.tables),
                rows_checked=sum(before.checksums[t].rows for t in before.tables), live_rows_left_out=len(inserted),
                removed=removed, differences=differences)
