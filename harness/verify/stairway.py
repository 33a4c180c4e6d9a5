"""The stairway: seed, checksum, up, down, checksum, up again, for every revision; then head -> base -> head.

Every step's record says how long the upgrade took, whether the round trip kept every row
(lossless), whether the downgrade could run at all (irreversible when it raises), which tables the
upgrade rewrote and which locks it took; with --under-load, what the step did to concurrent reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import psycopg
from alembic import command
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, create_engine, event, pool

from harness import alembic_project
from harness.db import Database, redact_dsn
from harness.errors import UsageError
from harness.verify import diff, locks, seed, underload
from harness.verify.chain import Chain
from harness.verify.checksums import TableChecksum, checksum_query, user_tables

SCHEMA = "public"
LOSSLESS, LOSSY, IRREVERSIBLE, UPGRADE_FAILED = "lossless", "lossy", "irreversible", "upgrade_failed"


@dataclass(frozen=True)
class VerifyOptions:
    under_load: bool = False
    rows_per_table: int = 12
    seed: int = 42
    baseline_s: float = 0.5  # read workload before each step, for the p95 it is compared against


@dataclass
class _Timing:
    checksum_s: float = 0.0
    count_s: float = 0.0
    rows: int = 0


def verify_chain(db: Database, chain: Chain, options: VerifyOptions,
                 console: Console | None = None) -> dict[str, Any]:
    """Walk `chain` in the (empty, disposable) database `db`; return the migrations section."""
    console = console or Console(stderr=True)
    cfg = alembic_project.load_config(chain.ini)
    cfg.set_main_option("sqlalchemy.url", alembic_project.sqlalchemy_url(db.dsn).replace("%", "%%"))
    engine = create_engine(alembic_project.sqlalchemy_url(db.dsn), poolclass=pool.NullPool)
    seeder = seed.Seeder(options.seed, options.rows_per_table)
    timing = _Timing()
    steps: list[dict[str, Any]] = []
    revisions: list[str | None] = [None] + [r.revision for r in chain.revisions]
    docs = {r.revision: r.doc.splitlines()[0] if r.doc else r.path.name for r in chain.revisions}
    started = time.perf_counter()
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        conn = stack.enter_context(db.connect())
        progress = stack.enter_context(Progress(TextColumn("[bold]stairway"), BarColumn(),
                                                TextColumn("{task.completed}/{task.total} {task.description}"),
                                                TimeElapsedColumn(), console=console, transient=True))
        task = progress.add_task("", total=len(revisions))  # every step, then the round trip
        at = _current(conn)
        leftovers = user_tables(conn, SCHEMA)
        conn.rollback()
        if at is not None or leftovers:
            raise UsageError(f"the database {db.name} is not empty (revision {at or 'none'}, tables: "
                             f"{', '.join(leftovers[:5]) or 'none'}): the stairway starts from base")
        for prev, nxt in zip(revisions, revisions[1:], strict=False):
            assert nxt is not None
            progress.update(task, description=f"{prev or 'base'} -> {nxt}")
            if at != prev:  # an earlier step left the database elsewhere (its upgrade failed)
                steps.append({"revision": nxt, "from": prev or "base", "name": docs[nxt], "verdict": "not_run",
                              "lossless": None, "reversible": None,
                              "detail": f"not run: the database is at {at or 'base'}, not {prev or 'base'}"})
                progress.advance(task)
                continue
            step = _step(db, conn, engine, cfg, seeder, timing, prev, nxt, options)
            step["name"] = docs[nxt]
            steps.append(step)
            at = _current(conn)
            progress.advance(task)
        progress.update(task, description="head -> base -> head")
        round_trip = (_round_trip(db.dsn, conn, engine, cfg, seeder, chain.head) if at == chain.head else
                      {"verdict": "not_run", "detail": f"the walk stopped at {at or 'base'}, not head"})
        progress.advance(task)
    ratio = timing.checksum_s / timing.count_s if timing.count_s else None
    return {
        "chain": str(chain.ini), "head": chain.head, "revisions": [r.revision for r in chain.revisions],
        "structure": {"findings": chain.findings, "ok": not chain.findings},
        "steps": steps, "round_trip": round_trip,
        "summary": {verdict: sum(1 for s in steps if s.get("verdict") == verdict)
                    for verdict in (LOSSLESS, LOSSY, IRREVERSIBLE, UPGRADE_FAILED, "not_run")},
        "checksum_throughput": {"rows": timing.rows, "checksum_s": round(timing.checksum_s, 4),
                                "count_s": round(timing.count_s, 4),
                                "ratio_vs_count": round(ratio, 2) if ratio is not None else None,
                                "note": "seeded rows only (small tables); the 200k-row comparison is "
                                        "tests/benchmarks/test_checksum_throughput.py"},
        "options": {"under_load": options.under_load, "rows_per_table": options.rows_per_table,
                    "seed": options.seed},
        "duration_s": round(time.perf_counter() - started, 3),
    }


def _current(conn: psycopg.Connection[Any]) -> str | None:
    """The revision now, read in a transaction of its own (the caller's snapshot may predate a migration)."""
    conn.rollback()
    revision = alembic_project.revision_of(conn)
    conn.rollback()
    return revision


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table)))
    return int(row.fetchone()[0])  # type: ignore[index]


def _checksums(conn: psycopg.Connection[Any], timing: _Timing) -> dict[str, TableChecksum]:
    """Checksum every table, and time a plain count(*) of the same tables for the throughput ratio."""
    sums: dict[str, TableChecksum] = {}
    for table in user_tables(conn, SCHEMA):
        query = checksum_query(conn, table, SCHEMA)  # catalog lookup: not part of the timed pass
        start = time.perf_counter()
        rows, checksum = conn.execute(query).fetchone()  # type: ignore[misc]
        middle = time.perf_counter()
        _count(conn, table)
        timing.checksum_s += middle - start
        timing.count_s += time.perf_counter() - middle
        sums[table] = TableChecksum(table, int(rows), str(checksum))
    timing.rows += sum(s.rows for s in sums.values())
    conn.rollback()
    return sums


def _migrate(dsn: str, engine: Engine, cfg: Any, action: Callable[..., None], target: str,
             exclude: set[int], workload: underload.ReadWorkload | None = None) -> dict[str, Any]:
    """Run one Alembic command with the lock monitor on; return timing, locks, and the error if it raised."""
    monitor = locks.LockMonitor(dsn, exclude_pids=set(exclude),
                                watch_pids=set(workload.pids) if workload else set())
    monitor.start()
    error = ""
    start = time.perf_counter()
    try:
        with engine.connect() as sa_conn:
            event.listen(sa_conn, "commit", lambda c: monitor.record_commit(c.connection.dbapi_connection))
            cfg.attributes["connection"] = sa_conn
            try:
                action(cfg, target)
                sa_conn.commit()
            finally:
                cfg.attributes.pop("connection", None)
    except Exception as exc:  # noqa: BLE001 - any failure of the chain's own code is the finding
        error = f"{type(exc).__name__}: {redact_dsn(str(exc).strip().splitlines()[0] if str(exc).strip() else '')}"
    end = time.perf_counter()
    monitor.stop()
    return {"start": start, "end": end, "duration_s": round(end - start, 4), "error": error, "monitor": monitor}


def _step(db: Database, conn: psycopg.Connection[Any], engine: Engine, cfg: Any, seeder: seed.Seeder,
          timing: _Timing, prev: str | None, nxt: str, options: VerifyOptions) -> dict[str, Any]:
    down_target = prev or "base"
    seeding = seeder.seed(conn, seed.reflect(engine, SCHEMA), SCHEMA) if prev is not None else seed.SeedReport()
    before = _checksums(conn, timing)
    diff.take_snapshot(conn, list(before), SCHEMA)
    files_before = locks.relfilenodes(conn, SCHEMA)
    conn.rollback()
    own = {conn.info.backend_pid}
    workload, load_report = None, None
    if options.under_load:
        reads = underload.plan_reads(conn, SCHEMA)
        conn.rollback()
        if reads:
            workload = underload.ReadWorkload(db.dsn, reads)
            workload.start()
            time.sleep(options.baseline_s)
    try:
        up = _migrate(db.dsn, engine, cfg, command.upgrade, nxt, own, workload)
    finally:
        if workload is not None:
            workload.stop()
    if workload is not None:
        load_report = underload.summarize(workload.samples, up["monitor"].waits, up["start"], up["end"])
        load_report["reads"] = sorted({r.name for r in workload.reads})
        load_report["errors"] = workload.errors
    elif options.under_load:
        load_report = {"reads_during": 0, "detail": "no readable table with rows at this revision"}
    step: dict[str, Any] = {
        "revision": nxt, "from": down_target, "direction": "up+down", "duration_s": up["duration_s"],
        "tables": len(before), "rows_checked": sum(c.rows for c in before.values()),
        "seeding": seeding.to_dict(), "empty_tables": sorted(t for t, c in before.items() if c.rows == 0),
        "locks": up["monitor"].report(conn), "lock_polls": up["monitor"].polls,
        "lock_poll_interval_ms": up["monitor"].interval_s * 1000,
    }
    conn.rollback()
    if load_report is not None:
        step["under_load"] = load_report
    if up["error"]:
        diff.drop_snapshot(conn)
        return {**step, "verdict": UPGRADE_FAILED, "lossless": None, "reversible": None,
                "detail": f"upgrade to {nxt} failed: {up['error']}"}
    step["rewritten"] = locks.rewritten_tables(conn, files_before, locks.relfilenodes(conn, SCHEMA), SCHEMA)
    conn.rollback()
    down = _migrate(db.dsn, engine, cfg, command.downgrade, down_target, own)
    step["downgrade_s"] = down["duration_s"]
    step["downgrade_locks"] = down["monitor"].report(conn)
    conn.rollback()
    if down["error"]:
        diff.drop_snapshot(conn)
        return {**step, "verdict": IRREVERSIBLE, "lossless": None, "reversible": False,
                "detail": f"downgrade {nxt} -> {down_target} raised {down['error']}"}
    after = _checksums(conn, timing)
    differences = _compare(conn, before, after)
    diff.drop_snapshot(conn)
    again = _migrate(db.dsn, engine, cfg, command.upgrade, nxt, own)
    step["reupgrade_s"] = again["duration_s"]
    conn.rollback()
    verdict = LOSSY if differences else LOSSLESS
    detail = "; ".join(_describe(d) for d in differences)
    if again["error"]:
        detail = (detail + "; " if detail else "") + f"upgrade after the downgrade failed: {again['error']}"
    return {**step, "verdict": verdict if not again["error"] else UPGRADE_FAILED,
            "lossless": not differences, "reversible": True, "differences": differences, "detail": detail}


def _compare(conn: psycopg.Connection[Any], before: dict[str, TableChecksum],
             after: dict[str, TableChecksum]) -> list[dict[str, Any]]:
    """Tables whose checksum or row count changed (or that vanished), each with its row-level diff."""
    out = []
    for table in sorted(before):
        old, new = before[table], after.get(table)
        if new is None:
            out.append({"table": table, "rows_differing": old.rows, "missing": old.rows, "added": 0,
                        "changed": 0, "samples": [], "reason": "table missing after the downgrade"})
        elif (old.rows, old.checksum) != (new.rows, new.checksum):
            found = diff.diff_table(conn, table, SCHEMA)
            found.update({"rows_before": old.rows, "rows_after": new.rows})
            out.append(found)
    for table in sorted(after.keys() - before.keys()):
        if after[table].rows:
            out.append({"table": table, "rows_differing": after[table].rows, "missing": 0,
                        "added": after[table].rows, "changed": 0, "samples": [],
                        "reason": "table left behind by the downgrade, with rows"})
    conn.rollback()
    return out


def _describe(d: dict[str, Any]) -> str:
    if d.get("reason"):
        return f"{d['table']}: {d['reason']}"
    parts = [f"{d[k]} {k}" for k in ("changed", "missing", "added") if d.get(k)]
    text = f"{d['table']}: {d['rows_differing']} rows differ ({', '.join(parts) or 'same values as jsonb'})"
    if d.get("samples"):
        s = d["samples"][0]
        text += f", e.g. key {s['key']}: {s['old']} -> {s['new']}"
    return text


def _schema_fingerprint(conn: psycopg.Connection[Any]) -> set[str]:
    """Columns (with types, nullability, defaults), constraints and indexes of the schema, as text lines."""
    rows = conn.execute(
        "SELECT format('column %%s.%%s %%s %%s %%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
        "a.attnotnull, pg_get_expr(d.adbin, d.adrelid)) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped "
        "UNION ALL SELECT format('constraint %%s %%s %%s', k.conrelid::regclass, k.conname, "
        "pg_get_constraintdef(k.oid)) "
        "FROM pg_constraint k WHERE k.connamespace = %s::regnamespace "
        "UNION ALL SELECT format('index %%s', indexdef) FROM pg_indexes WHERE schemaname = %s",
        (SCHEMA, SCHEMA, SCHEMA)).fetchall()
    conn.rollback()
    return {r[0] for r in rows}


def _round_trip(dsn: str, conn: psycopg.Connection[Any], engine: Engine, cfg: Any, seeder: seed.Seeder,
                head: str) -> dict[str, Any]:
    """head -> base -> head with data at head: every downgrade runs, base is empty, head comes back alike."""
    seeder.seed(conn, seed.reflect(engine, SCHEMA), SCHEMA)
    shape = _schema_fingerprint(conn)
    rows = sum(_count(conn, table) for table in user_tables(conn, SCHEMA))
    conn.rollback()
    own = {conn.info.backend_pid}
    down = _migrate(dsn, engine, cfg, command.downgrade, "base", own)
    record: dict[str, Any] = {"rows_at_head": rows, "downgrade_s": down["duration_s"]}
    if down["error"]:
        return {**record, "verdict": IRREVERSIBLE, "detail": f"head -> base raised {down['error']}"}
    leftovers = user_tables(conn, SCHEMA)
    conn.rollback()
    up = _migrate(dsn, engine, cfg, command.upgrade, head, own)
    record.update({"upgrade_s": up["duration_s"], "left_at_base": leftovers})
    if up["error"]:
        return {**record, "verdict": UPGRADE_FAILED, "detail": f"base -> head raised {up['error']}"}
    now = _schema_fingerprint(conn)
    changed = sorted((shape - now) | (now - shape))
    record["schema_differences"] = changed[:20]
    if changed:
        return {**record, "verdict": "schema_changed",
                "detail": f"{len(changed)} schema lines differ after head -> base -> head, e.g. {changed[0]}"}
    detail = f"tables left at base: {', '.join(leftovers)}" if leftovers else ""
    return {**record, "verdict": "pass", "detail": detail}

