"""The verifier's walks: head -> base -> head on an empty database; then the stairway (seed, checksum, up,
down, checksum, up again) for every revision; then head -> base -> head with data.

Every step's record says how long the upgrade took, whether the round trip kept every row
(lossless), whether the downgrade could run at all (irreversible when it raises), which tables the
upgrade rewrote and which locks it took; with --under-load, what the step did to concurrent reads.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from alembic.config import Config
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, create_engine, pool

from harness import alembic_project
from harness.db import Database
from harness.errors import UsageError, WardbenchError
from harness.results.migrations import (
    ChecksumThroughput,
    Finding,
    FindingKind,
    LockTimeout,
    MigrationsSection,
    PlainWalk,
    RoundTripVerdict,
    StepVerdict,
    Structure,
    Summary,
    UnderLoad,
    VerifiedWith,
    VerifyDifference,
    VerifyRoundTrip,
    VerifySeeding,
    VerifyStep,
    WalkVerdict,
)
from harness.verify import accept, diff, envpy, failures, locks, loss, migrate, schema, seed, underload
from harness.verify.chain import Chain
from harness.verify.checksums import TableChecksum, timed_checksums, user_tables

SCHEMA = "public"


@dataclass(frozen=True)
class VerifyOptions:
    under_load: bool = False
    rows_per_table: int = 12
    seed: int = 42
    baseline_s: float = 0.5  # read workload before each step, for the p95 it is compared against
    strict_locks: bool = False  # lock hazards fail the gate instead of warning
    acceptances: tuple[accept.Acceptance, ...] = ()  # [tool.wardbench.verify.accept]


@dataclass
class _Timing:
    checksum_s: float = 0.0
    count_s: float = 0.0
    rows: int = 0


def verify_chain(db: Database, chain: Chain, options: VerifyOptions,
                 console: Console | None = None) -> MigrationsSection:
    """Walk `chain` in the (empty, disposable) database `db`; return the migrations section.

    First the plain walk (head, base, head on an empty database of its own), then the stairway with data;
    a revision that fails only because of the seeded rows is recorded and the stairway goes on without them.
    """
    console = console or Console(stderr=True)
    cfg = alembic_project.load_config(chain.ini)
    cfg.set_main_option("sqlalchemy.url", alembic_project.sqlalchemy_url(db.dsn).replace("%", "%%"))
    engine = create_engine(alembic_project.sqlalchemy_url(db.dsn), poolclass=pool.NullPool)
    seeder = seed.Seeder(options.seed, options.rows_per_table)
    timing = _Timing()
    steps: list[VerifyStep] = []
    revisions: list[str | None] = [None] + [r.revision for r in chain.revisions]
    docs = {r.revision: r.doc.splitlines()[0] if r.doc else r.path.name for r in chain.revisions}
    started = time.perf_counter()
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        conn = stack.enter_context(db.connect())
        progress = stack.enter_context(Progress(TextColumn("[bold]stairway"), BarColumn(),
                                                TextColumn("{task.completed}/{task.total} {task.description}"),
                                                TimeElapsedColumn(), console=console, transient=True))
        task = progress.add_task("", total=len(revisions) + 1)  # the plain walk, every step, the round trip
        at = _current(conn, cfg)
        leftovers = user_tables(conn, SCHEMA)
        conn.rollback()
        if at is not None or leftovers:
            raise UsageError(f"the database {db.name} is not empty (revision {at or 'none'}, tables: "
                             f"{', '.join(leftovers[:5]) or 'none'}): the stairway starts from base")
        envpy.probe(cfg, db.dsn, engine)  # env.py must reach this database before anything is migrated
        progress.update(task, description="plain walk: head -> base -> head, empty")
        walk, walk_findings = _plain_walk(conn, engine, db.dsn, cfg, chain)
        progress.advance(task)
        for prev, nxt in zip(revisions, revisions[1:], strict=False):
            assert nxt is not None
            progress.update(task, description=f"{prev or 'base'} -> {nxt}")
            if at != prev:  # an earlier step left the database elsewhere (its upgrade failed on empty tables)
                steps.append(VerifyStep(nxt, prev or "base", StepVerdict.NOT_RUN, name=docs[nxt],
                                  detail=f"not run: the database is at {at or 'base'}, not {prev or 'base'}"))
                progress.advance(task)
                continue
            step = _checked_step(db, conn, engine, cfg, seeder, timing, prev, nxt, options)
            steps.append(replace(step, name=docs[nxt]))
            at = _current(conn, cfg)
            progress.advance(task)
        progress.update(task, description="head -> base -> head")
        round_trip = (_round_trip(db.dsn, conn, engine, cfg, seeder, chain.head) if at == chain.head else
                      VerifyRoundTrip(RoundTripVerdict.NOT_RUN, f"the walk stopped at {at or 'base'}, not head"))
        progress.advance(task)
    steps, warnings = _finish_steps(steps, chain, walk_findings, options)
    timeout = _lock_timeout(steps)
    if timeout.missing:
        warnings.append(timeout.detail)
    ratio = timing.checksum_s / timing.count_s if timing.count_s else None
    return MigrationsSection(
        chain=str(chain.ini), head=chain.head, revisions=tuple(r.revision for r in chain.revisions),
        structure=Structure(tuple(chain.findings), not chain.findings), plain_walk=walk, steps=tuple(steps),
        round_trip=round_trip, warnings=tuple(warnings), lock_timeout=timeout, summary=_summary(steps),
        checksum_throughput=ChecksumThroughput(
            timing.rows, round(timing.checksum_s, 4), round(timing.count_s, 4),
            round(ratio, 2) if ratio is not None else None,
            "seeded rows only (small tables); the 200k-row comparison is "
            "tests/benchmarks/test_checksum_throughput.py"),
        options=VerifiedWith(options.under_load, options.rows_per_table, options.seed, options.strict_locks),
        duration_s=round(time.perf_counter() - started, 3))


def _summary(steps: list[VerifyStep]) -> Summary:
    """Steps per verdict, lock hazards and accepted findings."""
    findings = [f for s in steps for f in s.findings]
    return Summary(**Counter(s.verdict.value for s in steps),
                   lock_hazards=sum(1 for f in findings if f.kind == FindingKind.LOCK_HAZARD),
                   accepted_findings=sum(1 for f in findings if f.accepted))


def _lock_timeout(steps: list[VerifyStep]) -> LockTimeout:
    """Once per chain: did the migrations that took blocking locks on tables with rows set lock_timeout?

    Without it, a migration waiting for its lock behind one long query queues every other query behind itself.
    Reported once for the chain (not as a hazard on every step); a gate only with --strict-locks."""
    exposed = [s for s in steps if s.blocking_locks and s.lock_timeout == "0"]
    if not exposed:
        return LockTimeout(missing=False)
    first = exposed[0]
    detail = (f"no lock_timeout in the migration sessions: {len(exposed)} of {len(steps)} upgrades took SHARE or "
              f"stronger locks on tables with rows (first {first.revision}: {', '.join(first.blocking_locks)});"
              " one waiting behind a long query queues every query behind itself. Set it in env.py, e.g. "
              "connection.execute(text(\"SET lock_timeout = '5s'\")) before run_migrations(), and retry on timeout")
    return LockTimeout(True, tuple(s.revision for s in exposed), detail)


def _finish_steps(steps: list[VerifyStep], chain: Chain, walk_findings: dict[str, list[Finding]],
                  options: VerifyOptions) -> tuple[list[VerifyStep], list[str]]:
    """Add the plain walk's and the structure's findings to their steps, apply acceptances, set the verdicts."""
    empty_downgrades = {r.revision for r in chain.revisions if r.empty_downgrade}
    found = []
    for step in steps:
        findings = [*step.findings, *walk_findings.get(step.revision, [])]
        if step.revision in empty_downgrades and step.verdict != StepVerdict.NOT_RUN:
            findings.append(failures.finding(FindingKind.EMPTY_DOWNGRADE, "downgrade",
                                             f"downgrade() of {step.revision} does nothing while its upgrade "
                                             "changes the schema"))
        found.append(replace(step, findings=tuple(findings)))
    judged, warnings = accept.apply(found, options.acceptances, options.strict_locks)
    # the detail line says every finding, accepted ones with their reason
    return [replace(s, detail="; ".join(accept.finding_text(f) for f in s.findings))
            if s.findings and s.verdict.judged else s for s in judged], warnings


def _checked_step(db: Database, conn: psycopg.Connection[Any], engine: Engine, cfg: Config, seeder: seed.Seeder,
                  timing: _Timing, prev: str | None, nxt: str, options: VerifyOptions) -> VerifyStep:
    """One stairway step; an upgrade that fails only on the seeded rows is retried on empty tables.

    A failure of wardbench itself while checking is the step's `error` (not a finding about the chain).
    """
    try:
        step = _step(db, conn, engine, cfg, seeder, timing, prev, nxt, options)
        failed = step.upgrade_failure
        if failed is not None and failures.missing_extension(failed):  # the server's shortcoming, not the chain's
            return replace(step, verdict=StepVerdict.ERROR, findings=(),
                           detail=f"not evaluated: {failures.missing_extension(failed)}")
        if failed is None or prev is None or not step.rows_checked:
            return step
        _remove_rows(conn)
        retry = _step(db, conn, engine, cfg, seeder, timing, prev, nxt, options, seeded=False)
    except (WardbenchError, psycopg.OperationalError):
        raise
    except Exception as exc:  # noqa: BLE001 - reported as the step's error, the walk stops after it
        conn.rollback()
        return VerifyStep(nxt, prev or "base", StepVerdict.ERROR,
                    detail=f"wardbench failed while checking this step: {envpy.describe(exc)}")
    if retry.upgrade_failure is not None:
        return retry  # it fails on empty tables too: not the data's fault, and the walk stops here
    statement = (f" on {failures.failure_object(failed)}" if failed.get("column")
                 else f" in {failed['statement'][:160]}" if failed.get("statement") else "")
    found = failures.finding(FindingKind.FAILS_ON_EXISTING_DATA, "upgrade",
                             f"upgrade {nxt} fails with the {step.rows_checked} seeded rows present "
                             f"({step.detail.removeprefix(f'upgrade to {nxt} failed: ')}{statement}) and passes "
                             "on empty tables", failed)
    return replace(retry, findings=(found, *retry.findings), seeding=step.seeding,
                   rows_checked_on_failure=step.rows_checked, failed_with_data_s=step.duration_s)


def _remove_rows(conn: psycopg.Connection[Any]) -> None:
    """Empty every table (the failed upgrade rolled back: the database is still at the previous revision)."""
    tables = user_tables(conn, SCHEMA)
    if tables:
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(SCHEMA, t) for t in tables)))
    conn.commit()


def _plain_walk(conn: psycopg.Connection[Any], engine: Engine, dsn: str, cfg: Config,
                chain: Chain) -> tuple[PlainWalk, dict[str, list[Finding]]]:
    """upgrade head, downgrade base, upgrade head on the empty scratch database, each timed; then empty it again.

    Catches downgrades that cannot run even without data (a column added twice, an extension dropped before
    the default that uses it) for every revision, whatever the stairway reaches. It runs in the scratch
    database itself because env.py files often fix their URL at first import (a settings object).
    Returns the record and the findings per revision.
    """
    verdict, detail, seconds = WalkVerdict.PASS, "", dict[str, float]()
    found: dict[str, list[Finding]] = {}
    order = [r.revision for r in chain.revisions]
    extensions = _extensions(conn)  # a template database may bring some: they come back after the walk
    for key, action, target, kind in (
            ("upgrade_s", migrate.upgrade, chain.head, FindingKind.UPGRADE_FAILED),
            ("downgrade_s", migrate.downgrade, "base", FindingKind.DOWNGRADE_FAILED_ON_EMPTY),
            ("reupgrade_s", migrate.upgrade, chain.head, FindingKind.UPGRADE_FAILED)):
        ran = migrate.run(dsn, engine, cfg, action, target)
        seconds[key] = ran.duration_s
        if not ran.error:
            continue
        info = ran.failure
        if failures.missing_extension(info):  # the stairway reports it as not evaluated on its step
            verdict, detail = WalkVerdict.ERROR, f"not evaluated: {failures.missing_extension(info)}"
            break
        revision = info.get("revision") or _failed_at(order, _current(conn, cfg), key == "downgrade_s")
        what = {"upgrade_s": f"upgrade head fails at {revision} on an empty database",
                "downgrade_s": f"downgrade base fails at {revision} on an empty database",
                "reupgrade_s": f"upgrade head after downgrade base fails at {revision} (a downgrade "
                               "left something behind)"}[key]
        found.setdefault(revision, []).append(failures.finding(kind, "walk", f"{what}: {ran.error}", info))
        verdict, detail = WalkVerdict.FAIL, f"{what}: {ran.error}"
        break
    _empty(conn, extensions)
    return PlainWalk(verdict, detail, seconds.get("upgrade_s"), seconds.get("downgrade_s"),
                     seconds.get("reupgrade_s")), found


def _extensions(conn: psycopg.Connection[Any]) -> list[str]:
    names = [str(r[0]) for r in conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")]
    conn.rollback()
    return names


def _empty(conn: psycopg.Connection[Any], extensions: list[str]) -> None:
    """Drop every schema and extension the chain made and recreate `public` (and `extensions`, which were there
    before): the stairway starts from nothing."""
    conn.rollback()
    schemas = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                           "AND nspname <> 'information_schema'").fetchall()
    for (name,) in schemas:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
    for (name,) in conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'").fetchall():
        conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
    conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
    for name in extensions:
        conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
    conn.commit()


def _failed_at(order: list[str], at: str | None, downgrading: bool) -> str:
    """The revision a failed command stopped on when the traceback does not say (one transaction per revision)."""
    if downgrading:
        return at or order[0]
    position = order.index(at) + 1 if at in order else 0
    return order[min(position, len(order) - 1)]


def _current(conn: psycopg.Connection[Any], cfg: Config | None = None) -> str | None:
    """The revision now, read in a transaction of its own (the caller's snapshot may predate a migration)."""
    schema, table = cfg.attributes.get(envpy.VERSION_TABLE, (None, None)) if cfg is not None else (None, None)
    conn.rollback()
    revision = alembic_project.revision_of(conn, table or "alembic_version", schema)
    conn.rollback()
    return revision


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table)))
    return int(row.fetchone()[0])  # type: ignore[index]


def _checksums(conn: psycopg.Connection[Any], timing: _Timing) -> dict[str, TableChecksum]:
    """Checksum every table, and time a plain count(*) of the same tables for the throughput ratio."""
    timed = timed_checksums(conn, user_tables(conn, SCHEMA), SCHEMA, pairs=1, cast=True)  # seeded rows: 1 pair
    timing.checksum_s += sum(timed.checksum_s.values())
    timing.count_s += sum(timed.count_s.values())
    timing.rows += sum(s.rows for s in timed.checksums.values())
    conn.rollback()
    return timed.checksums


def _monitored(dsn: str, engine: Engine, cfg: Config, action: Callable[..., None], target: str,
               exclude: set[int], workload: underload.ReadWorkload | None = None,
               ) -> tuple[migrate.Run, locks.LockMonitor]:
    """One Alembic command with the lock monitor on (and the readers' lock waits watched)."""
    monitor = locks.LockMonitor(dsn, exclude_pids=set(exclude),
                                watch_pids=set(workload.pids) if workload else set())
    monitor.start()
    try:
        ran = migrate.run(dsn, engine, cfg, action, target, monitor)
    finally:
        monitor.stop()
    return ran, monitor


def _step(db: Database, conn: psycopg.Connection[Any], engine: Engine, cfg: Config, seeder: seed.Seeder,
          timing: _Timing, prev: str | None, nxt: str, options: VerifyOptions, seeded: bool = True) -> VerifyStep:
    down_target = prev or "base"
    seeding = (seeder.seed(conn, seed.reflect(engine, SCHEMA), SCHEMA) if prev is not None and seeded
               else VerifySeeding())
    before = _checksums(conn, timing)
    shape_before = schema.snapshot(conn, SCHEMA)
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
        up, monitor = _monitored(db.dsn, engine, cfg, migrate.upgrade, nxt, own, workload)
    finally:
        if workload is not None:
            workload.stop()
    if workload is not None:
        load_report = underload.summarize(workload, monitor.waits, up.start, up.end)
    elif options.under_load:
        load_report = UnderLoad(detail="no readable table with rows at this revision")
    held = monitor.report(conn)
    step = VerifyStep(nxt, down_target, StepVerdict.LOSSLESS, duration_s=up.duration_s, tables=len(before),
                rows_checked=sum(c.rows for c in before.values()), seeding=seeding,
                empty_tables=tuple(sorted(t for t, c in before.items() if c.rows == 0)), locks=held,
                lock_polls=monitor.polls, lock_poll_interval_ms=monitor.interval_s * 1000, under_load=load_report)
    conn.rollback()
    if up.error:
        diff.drop_snapshot(conn)
        detail = f"upgrade to {nxt} failed: {up.error}"
        return replace(step, verdict=StepVerdict.UPGRADE_FAILED, detail=detail, upgrade_failure=up.failure,
                       findings=(failures.finding(FindingKind.UPGRADE_FAILED, "upgrade", detail, up.failure),))
    rewritten = locks.rewritten_tables(conn, files_before, locks.relfilenodes(conn, SCHEMA), SCHEMA)
    step = replace(step, rewritten=rewritten, lock_timeout=monitor.lock_timeout,
                   blocking_locks=tuple(sorted(t for t, lock in held.items()
                                               if lock["mode"] in locks.BLOCKING and t in before and before[t].rows)))
    up_state = _after_upgrade(conn, timing, before, shape_before)
    hazards = locks.hazards({t: c.rows for t, c in before.items()}, shape_before, up_state.shape, held, rewritten,
                            [(s.statement, s.rows) for s in up.statements])
    conn.rollback()
    down, down_monitor = _monitored(db.dsn, engine, cfg, migrate.downgrade, down_target, own)
    step = replace(step, downgrade_s=down.duration_s, downgrade_locks=down_monitor.report(conn))
    conn.rollback()
    if down.error:
        diff.drop_snapshot(conn)
        detail = f"downgrade {nxt} -> {down_target} raised {down.error}"
        return replace(step, verdict=StepVerdict.IRREVERSIBLE, reversible=False, detail=detail,
                       findings=(failures.finding(FindingKind.IRREVERSIBLE, "downgrade", detail, down.failure),
                                 *hazards))
    after = _checksums(conn, timing)
    differences = _compare(conn, before, after)
    shape_after = schema.snapshot(conn, SCHEMA)
    drift = schema.differences(shape_before, shape_after)
    findings = loss.findings(nxt, differences, before, up_state, shape_after)
    findings += [Finding(FindingKind.SCHEMA_DRIFT, "downgrade", d.object,
                         f"after upgrade {nxt} and its downgrade, {schema.describe(d)}", "error") for d in drift]
    diff.drop_snapshot(conn)
    again = migrate.run(db.dsn, engine, cfg, migrate.upgrade, nxt)
    conn.rollback()
    detail = "; ".join(f.detail for f in findings)
    if again.error:
        detail = (detail + "; " if detail else "") + f"upgrade after the downgrade failed: {again.error}"
        findings.append(failures.finding(FindingKind.UPGRADE_FAILED, "upgrade", f"upgrade {nxt} after its "
                                         f"downgrade failed: {again.error}", again.failure))
    verdict = (StepVerdict.UPGRADE_FAILED if again.error else StepVerdict.LOSSY if differences
               else StepVerdict.SCHEMA_DRIFT if drift else StepVerdict.LOSSLESS)
    return replace(step, reupgrade_s=again.duration_s, verdict=verdict, lossless=not differences, reversible=True,
                   differences=tuple(differences), schema_drift=tuple(drift), detail=detail,
                   findings=(*findings, *hazards))


def _after_upgrade(conn: psycopg.Connection[Any], timing: _Timing, before: dict[str, TableChecksum],
                   shape_before: schema.Snapshot) -> loss.AfterUpgrade:
    """Checksums, catalog and per-column changes right after the upgrade, and the values new objects hold."""
    state = loss.AfterUpgrade(_checksums(conn, timing), schema.snapshot(conn, SCHEMA))
    kept = sorted(before.keys() & state.sums.keys())
    diff.take_snapshot(conn, kept, SCHEMA, diff.UPGRADED)
    state.changed = {t: diff.column_changes(conn, t, t + diff.UPGRADED) for t in kept if before[t].rows}
    old_tables = schema.tables(shape_before)
    for table in sorted(state.sums.keys() - before.keys()):
        state.new_values[table] = state.sums[table].rows
    for table in kept:
        new_columns = schema.columns(state.shape, table).keys() - schema.columns(shape_before, table).keys()
        for column in sorted(new_columns) if table in old_tables else []:
            state.new_values[f"{table}.{column}"] = int(conn.execute(sql.SQL("SELECT count({}) FROM {}.{}").format(
                sql.Identifier(column), sql.Identifier(SCHEMA), sql.Identifier(table))).fetchone()[0])  # type: ignore[index]
    conn.rollback()
    return state


def _compare(conn: psycopg.Connection[Any], before: dict[str, TableChecksum],
             after: dict[str, TableChecksum]) -> list[VerifyDifference]:
    """Tables whose checksum or row count changed (or that vanished), each with its row-level diff."""
    out = []
    for table in sorted(before):
        old, new = before[table], after.get(table)
        if new is None:
            out.append(VerifyDifference(table, old.rows, old.rows, 0, 0, reason="table missing after the downgrade"))
        elif (old.rows, old.checksum) != (new.rows, new.checksum):
            out.append(replace(diff.diff_table(conn, table, SCHEMA), rows_before=old.rows, rows_after=new.rows))
    for table in sorted(after.keys() - before.keys()):
        if after[table].rows:
            out.append(VerifyDifference(table, after[table].rows, 0, after[table].rows, 0,
                                  reason="table left behind by the downgrade, with rows"))
    conn.rollback()
    return out


def _round_trip(dsn: str, conn: psycopg.Connection[Any], engine: Engine, cfg: Config, seeder: seed.Seeder,
                head: str) -> VerifyRoundTrip:
    """head -> base -> head with data at head: every downgrade runs, base is empty, head comes back alike."""
    seeder.seed(conn, seed.reflect(engine, SCHEMA), SCHEMA)
    shape = schema.snapshot(conn, SCHEMA)
    rows = sum(_count(conn, table) for table in user_tables(conn, SCHEMA))
    conn.rollback()
    down = migrate.run(dsn, engine, cfg, migrate.downgrade, "base")
    if down.error:
        return VerifyRoundTrip(RoundTripVerdict.IRREVERSIBLE, f"head -> base raised {down.error}", rows,
                               down.duration_s)
    leftovers = tuple(user_tables(conn, SCHEMA))
    conn.rollback()
    up = migrate.run(dsn, engine, cfg, migrate.upgrade, head)
    if up.error:
        return VerifyRoundTrip(RoundTripVerdict.UPGRADE_FAILED, f"base -> head raised {up.error}", rows,
                               down.duration_s, up.duration_s, leftovers)
    changed = [schema.describe(d) for d in schema.differences(shape, schema.snapshot(conn, SCHEMA))]
    if changed:
        return VerifyRoundTrip(RoundTripVerdict.SCHEMA_CHANGED, f"{len(changed)} schema objects differ after head -> "
                         f"base -> head, e.g. {changed[0]}", rows, down.duration_s, up.duration_s, leftovers,
                         tuple(changed[:20]))
    detail = f"tables left at base: {', '.join(leftovers)}" if leftovers else ""
    return VerifyRoundTrip(RoundTripVerdict.PASS, detail, rows, down.duration_s, up.duration_s, leftovers)
