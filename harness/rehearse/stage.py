"""The rehearsal of a window of revisions, every step under the live workload, downgrades too.

The reference chain starts at head with the profile's generated dataset: the window is downgraded revision
by revision, then upgraded again; a round trip (down, then up) must bring back every value of the tables
that survived the downgrade. Any other chain starts empty at the revision before the window, every empty
table seeded with N rows in bulk before each upgrade (the ones a step created too); the window is upgraded,
then downgraded, and, as in the stairway, each round trip (up, then down) must bring back every value
that existed before the upgrade. (Down first would meet seeded values at head that no upgrade derives,
e.g. a backfilled column, and report their recomputation as loss.) Gates per step: lossless, no live request
blocked longer than max_blocked_ms, live error rate at most rehearse_error_rate, and (scenario workload) live
p95 per query kind within its target; per revision: the round trip.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import psycopg
from alembic.config import Config
from rich.console import Console
from sqlalchemy import Engine, create_engine, pool

from harness import alembic_project
from harness.bench.prewarm import prewarm
from harness.db import Database
from harness.errors import UsageError
from harness.gates import evaluate, gate_for, not_evaluated
from harness.rehearse import seed_bulk
from harness.rehearse import step as rehearse_step
from harness.rehearse.step import SCHEMA, Before, Move, RehearseOptions
from harness.results import Gate, Results, Verdict
from harness.results.rehearsal import (
    ChecksumVsCount,
    Difference,
    LiveSkipped,
    LockHold,
    LongestWait,
    Options,
    Rehearsal,
    RoundTrip,
    Step,
    StepOutcome,
)
from harness.verify import envpy, migrate
from harness.verify.chain import Chain
from harness.verify.checksums import user_tables

STAGE = "rehearse"


def window(chain: Chain, since: str | None, every: bool) -> list[str]:
    """Revisions to rehearse: the newest by default, those after `since`, or all of them."""
    order = [r.revision for r in chain.revisions]
    if every:
        return order
    if since is None:
        return order[-1:]
    matches = [r for r in order if r == since or r.startswith(since)]
    if len(matches) != 1:
        what = "matches no revision" if not matches else f"is ambiguous ({', '.join(matches[:3])})"
        raise UsageError(f"--since {since} {what} of {chain.ini}: give a revision id of the chain")
    after = order[order.index(matches[0]) + 1:]
    if not after:
        raise UsageError(f"--since {since}: it is the head, so there is nothing after it to rehearse")
    return after


def run_rehearsal(db: Database, results: Results, chain: Chain, revisions: list[str], options: RehearseOptions,
                  console: Console | None = None, prepared: bool = False) -> Rehearsal:
    """Rehearse `revisions` (consecutive, ending at head) both ways, each step under the live workload, with
    a round trip per revision (see the module docstring). `db` is empty (any chain, seeded here) or, with
    `prepared`, at head with its data (the profile's generated dataset on the reference chain)."""
    console = console or Console(stderr=True)
    cfg = alembic_project.load_config(chain.ini)
    cfg.set_main_option("sqlalchemy.url", alembic_project.sqlalchemy_url(db.dsn).replace("%", "%%"))
    engine = create_engine(alembic_project.sqlalchemy_url(db.dsn), poolclass=pool.NullPool)
    order = [r.revision for r in chain.revisions]
    docs = {r.revision: r.doc.splitlines()[0] if r.doc else r.path.name for r in chain.revisions}
    below = {rev: (order[i - 1] if i else "base") for i, rev in enumerate(order)}
    started = time.perf_counter()
    steps: list[Step] = []
    trips: list[RoundTrip] = []
    section = Rehearsal(
        chain=str(chain.ini), window=revisions, source=below[revisions[0]],
        dataset="prepared" if prepared else "seeded",
        order=("downgrade the window from head, then upgrade it" if prepared else
               "upgrade the window, then downgrade it") + ", revision by revision",
        options=Options(rows=options.rows, seed=options.seed, baseline_s=options.baseline_s,
                        rate_per_s=options.rate, workers=options.sessions(), write_share=options.write_share,
                        max_blocked_ms=options.max_blocked_ms, max_error_rate=options.max_error_rate,
                        p95_targets_ms=dict(options.p95_targets),
                        live_workload="scenarios" if options.scenarios else "keys"))

    def fail(error: str) -> Rehearsal:
        results.rehearsal = replace(section, error=error)
        results.gates.append(not_evaluated("rehearsal", STAGE, error))
        return results.rehearsal

    try:
        with db.connect() as conn:
            envpy.probe(cfg, db.dsn, engine)
            if prepared:
                current = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                conn.rollback()
                if current is None or current[0] != order[-1]:
                    return fail(f"the prepared database is at {current[0] if current else 'base'}, "
                                f"not at the head {order[-1]}")
                # A fresh copy of a dataset is cold: at 10^6 posts the first step's 30 s baseline measured a
                # live p95 of 4.6 s (p50 634 ms) against 50-66 ms during the steps once the pages were in.
                warm = prewarm(db)
                section = replace(section, prewarm=warm)
                console.print(f"prewarmed {warm.relations} relations, {warm.mb:,.0f} MB in {warm.seconds:.1f} s")
            else:
                if user_tables(conn, SCHEMA):
                    raise UsageError(f"the database {db.name} is not empty: the rehearsal starts from base")
                conn.rollback()
                start_at = below[revisions[0]]
                if start_at != "base":
                    console.print(f"upgrading the empty database to {start_at}, the revision before the window")
                    ran = migrate.run(db.dsn, engine, cfg, migrate.upgrade, start_at)
                    if ran.error:
                        return fail(f"upgrade to {start_at} failed on an empty database: {ran.error}")
            # Phase one measures each revision's state before its step; phase two's step for the same revision
            # brings that state back (the round trip), which is compared with it.
            phases = [(True, revisions[::-1]), (False, revisions)] if prepared else \
                [(False, revisions), (True, revisions[::-1])]
            befores: dict[str, Before] = {}
            inserted: list[list[tuple[str, str]]] = []  # per step, in order
            dropped: list[set[str]] = []  # per step: the tables it removed
            first_at: dict[str, int] = {}
            for phase, (downgrade, walk) in enumerate(phases):
                for revision in walk:
                    seed = set() if downgrade else set().union(*dropped) if prepared else None
                    source, target = (revision, below[revision]) if downgrade else (below[revision], revision)
                    move = Move(revision, source, target, docs[revision], downgrade)
                    record, before, rows = _step(db, conn, engine, cfg, move, options, console, seed)
                    steps.append(record)
                    if phase == 0:
                        befores[revision], first_at[revision] = before, len(inserted)
                    inserted.append(rows)
                    dropped.append(set(before.tables) - set(user_tables(conn, SCHEMA)) if downgrade else set())
                    conn.rollback()
                    if record.verdict in (StepOutcome.UPGRADE_FAILED, StepOutcome.DOWNGRADE_FAILED):
                        break
                    if phase == 1:
                        since = first_at[revision]
                        gone = frozenset(set().union(*dropped[since:])) if prepared else frozenset()
                        trips.append(_round_trip(conn, befores[revision], record, gone,
                                                 [r for rows_ in inserted[since:] for r in rows_]))
                else:
                    continue
                break
    finally:
        engine.dispose()
    gates = step_gates(steps, options) + trip_gates(trips)
    for i, step in enumerate(steps):
        label = step_label(step)
        if step.verdict == StepOutcome.PASS and any(g.verdict == Verdict.FAIL for g in gates
                                                     if g.name.startswith(label + " ")):
            steps[i] = replace(step, verdict=StepOutcome.FAIL)
    results.rehearsal = replace(section, steps=steps, round_trips=trips,
                                duration_s=round(time.perf_counter() - started, 3),
                                checksum_vs_count=_throughput(steps), seeding_rows_per_s=_seeding_rate(steps))
    results.gates.extend(gates)
    return results.rehearsal


def _round_trip(conn: psycopg.Connection[Any], before: Before, record: Step, gone: frozenset[str],
                inserted: list[tuple[str, str]]) -> RoundTrip:
    """The state before the revision's first step against the state after its second. A table the downgrade
    dropped is compared too: one derived from the others (revision 016's bits) comes back whole with the upgrade
    and is then checked like the rest; one whose rows did not come back is named as not compared, not as a loss
    of the round trip (the downgrade step reports what it removed)."""
    trip = rehearse_step.loss(conn, before, inserted)
    unrestored = sorted({d.table for d in trip.differences if d.table in gone})
    return RoundTrip(revision=record.revision, via=record.source, at=record.to,
                     lossless=not any(d.table not in gone for d in trip.differences),
                     tables=trip.tables - len(unrestored),
                     rows_checked=trip.rows_checked - sum(before.checksums[t].rows for t in unrestored),
                     live_rows_left_out=trip.live_rows_left_out, removed=trip.removed,
                     differences=[d for d in trip.differences if d.table not in gone], not_compared=unrestored)


def _step(db: Database, conn: psycopg.Connection[Any], engine: Engine, cfg: Config, move: Move,
          options: RehearseOptions, console: Console,
          seed: set[str] | None) -> tuple[Step, Before, list[tuple[str, str]]]:
    """One step under the live workload; first the empty tables in `seed` are seeded (a table a downgrade
    dropped meets its upgrade at full volume again); none when `seed` is empty."""
    seeding = seed_bulk.seed_tables(conn, engine, options.rows, options.seed, SCHEMA, only=seed) \
        if seed is None or seed else seed_bulk.BulkReport()
    if seeding.rows:
        console.print(f"seeded {seeding.total_rows:,} rows into {len(seeding.rows)} table(s) in "
                      f"{seeding.total_s:.1f} s")
    console.print(f"rehearsing {'downgrade' if move.downgrade else 'upgrade'} {move.source} -> {move.target} under "
                  f"the live workload ({options.baseline_s:g} s baseline first)")
    return rehearse_step.rehearse_step(db, conn, engine, cfg, move, options, seeding.record())


def step_label(step: Step) -> str:
    return f"rehearsal {step.direction} {step.source} -> {step.to}"


def _reason(differences: list[Difference]) -> str:
    return "; ".join(f"{d.table}: {d.reason}" for d in differences)


def trip_gates(trips: list[RoundTrip]) -> list[Gate]:
    """Per revision: its two steps (down then up, or up then down) brought back every value compared."""
    out = []
    for trip in trips:
        gate = evaluate(f"rehearsal round trip {trip.at} -> {trip.via} -> {trip.at} "
                        "restored every value", STAGE, 1.0 if trip.lossless else 0.0, 1.0, "bool", "==")
        gate.reason = _reason(trip.differences)
        if trip.not_compared:
            gate.reason = "; ".join(filter(None, [gate.reason, "not compared (dropped by the downgrade, their "
                                                               "rows did not come back): "
                                                               + ", ".join(trip.not_compared)]))
        out.append(gate)
    return out


def _throughput(steps: list[Step]) -> ChecksumVsCount:
    timings = [s.checksum_timing for s in steps]
    checksum_s, count_s = sum(t.checksum_s for t in timings), sum(t.count_s for t in timings)
    return ChecksumVsCount(rows=sum(t.rows for t in timings), checksum_s=round(checksum_s, 4),
                           count_s=round(count_s, 4), ratio=round(checksum_s / count_s, 2) if count_s else None)


def _seeding_rate(steps: list[Step]) -> int | None:
    rows = sum(s.seeding.total_rows for s in steps)
    seconds = sum(s.seeding.total_s for s in steps)
    return round(rows / seconds) if seconds else None


def step_gates(steps: list[Step], options: RehearseOptions) -> list[Gate]:
    """Three gates per step: lossless, longest live wait on a lock, live error rate."""
    out: list[Gate] = []
    for step in steps:
        label = step_label(step)
        loss = step.loss
        if loss.lossless is None:
            gate = evaluate(f"{label} ran and lost nothing", STAGE, 0.0, 1.0, "bool", "==")
            gate.reason = f"{step.direction} failed: {step.error}"
        else:
            gate = evaluate(f"{label} ran and lost nothing", STAGE, 1.0 if loss.lossless else 0.0, 1.0,
                            "bool", "==")
            gate.reason = _reason(loss.differences)
            if loss.removed:
                gate.reason = "; ".join(filter(None, [gate.reason, "removed by the downgrade (its revision "
                                                                   "added them): " + ", ".join(loss.removed)]))
        out.append(gate)
        record, targets = step.live, options.targets
        if isinstance(record, LiveSkipped):
            out.append(gate_for("max_blocked_ms", f"{label} longest live wait on a lock", STAGE, None, targets,
                                record.detail))
            out.append(gate_for("rehearse_error_rate", f"{label} live error rate", STAGE, None, targets,
                                record.detail))
            out += [gate_for(f"{kind}_p95_ms", f"{label} live {kind} p95 during the step", STAGE, None, targets,
                             record.detail) for kind in sorted(options.p95_targets)]
            continue
        longest = record.longest_wait
        observed = longest.wait_ms if longest else 0.0
        gate = gate_for("max_blocked_ms", f"{label} longest live wait on a lock", STAGE, observed, targets)
        gate.reason = wait_text(longest, step.locks) if longest else \
            f"no live request waited on a lock ({record.wait_polls} polls)"
        out.append(gate)
        during = record.during
        why = "no live request was due during the step" if not during.count else ""
        gate = gate_for("rehearse_error_rate", f"{label} live error rate", STAGE, during.error_rate, targets, why)
        if during.errors:
            gate.reason = f"{during.errors} of {during.count} live requests failed: " + "; ".join(
                f"{k} (x{v})" for k, v in list(record.errors_seen.items())[:3])
        out.append(gate)
        for kind in sorted(options.p95_targets):
            figures = record.kinds.get(kind)
            out.append(gate_for(f"{kind}_p95_ms", f"{label} live {kind} p95 during the step", STAGE,
                                figures.during.p95_ms if figures else None, targets,
                                f"no live {kind} request was due during the step"))
    return out


def wait_text(longest: LongestWait, held: dict[str, LockHold]) -> str:
    """'<request> waited N ms for <mode> on <table> behind: <statement> (the step held ... for ... ms)'."""
    table = longest.table or longest.locktype
    text = (f"{longest.live_request or 'a live request'} waited {longest.wait_ms:g} ms for "
            f"{longest.lock} on {table} behind: {longest.blocked_by_statement or 'an unknown statement'}")
    lock = held.get(str(longest.table))
    if lock:
        mode = lock.modes.get(lock.mode)
        span = f"{mode.held_ms} ms" if mode else "less than one poll"
        text += f"; the step held {lock.mode} on {longest.table} for {span}"
        text += f", first seen during: {mode.first_seen_during}" if mode and mode.first_seen_during else ""
    return text
