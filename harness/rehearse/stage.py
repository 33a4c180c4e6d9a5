"""The rehearsal of a window of revisions: upgrade to the revision before it, seed, then each step under load.

Tables that are empty before a step (all of them at first, then the ones a step created) are seeded with
N rows in bulk, so every step of the window meets production volume. Gates per step: lossless, no live
request blocked longer than max_blocked_ms, live error rate at most max_error_rate.
"""

from __future__ import annotations

import time
from typing import Any

from alembic import command
from rich.console import Console
from sqlalchemy import create_engine, pool

from harness import alembic_project
from harness.db import Database
from harness.errors import UsageError
from harness.gates import evaluate, not_evaluated
from harness.rehearse import seed_bulk, upgrade
from harness.rehearse.step import SCHEMA, RehearseOptions, rehearse_upgrade
from harness.results import Gate, Results
from harness.verify import envpy
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
                  console: Console | None = None) -> dict[str, Any]:
    """Rehearse `revisions` (consecutive, ending at head) in the empty disposable `db`; section and gates."""
    console = console or Console(stderr=True)
    cfg = alembic_project.load_config(chain.ini)
    cfg.set_main_option("sqlalchemy.url", alembic_project.sqlalchemy_url(db.dsn).replace("%", "%%"))
    engine = create_engine(alembic_project.sqlalchemy_url(db.dsn), poolclass=pool.NullPool)
    order = [r.revision for r in chain.revisions]
    docs = {r.revision: r.doc.splitlines()[0] if r.doc else r.path.name for r in chain.revisions}
    first = order.index(revisions[0])
    start_at = order[first - 1] if first else None
    started = time.perf_counter()
    steps: list[dict[str, Any]] = []
    section: dict[str, Any] = {"chain": str(chain.ini), "window": revisions, "from": start_at or "base",
                               "options": {"rows": options.rows, "seed": options.seed,
                                           "baseline_s": options.baseline_s, "rate_per_s": options.rate,
                                           "workers": options.workers, "write_share": options.write_share,
                                           "max_blocked_ms": options.max_blocked_ms,
                                           "max_error_rate": options.max_error_rate},
                               "steps": steps}
    try:
        with db.connect() as conn:
            if user_tables(conn, SCHEMA):
                raise UsageError(f"the database {db.name} is not empty: the rehearsal starts from base")
            conn.rollback()
            envpy.probe(cfg, db.dsn, engine)
            if start_at is not None:
                console.print(f"upgrading the empty database to {start_at}, the revision before the window")
                ran = upgrade.run(db.dsn, engine, cfg, command.upgrade, start_at)
                if ran.error:
                    section["error"] = f"upgrade to {start_at} failed on an empty database: {ran.error}"
                    results.rehearsal = section
                    results.gates.append(not_evaluated("rehearsal", STAGE, section["error"]))
                    return section
            previous = start_at or "base"
            for revision in revisions:
                seeding = seed_bulk.seed_tables(conn, engine, options.rows, options.seed, SCHEMA)
                if seeding.rows:
                    console.print(f"seeded {seeding.total_rows:,} rows into {len(seeding.rows)} table(s) in "
                                  f"{seeding.total_s:.1f} s")
                console.print(f"rehearsing {previous} -> {revision} under the live workload "
                              f"({options.baseline_s:g} s baseline first)")
                step = {"revision": revision, "from": previous, "name": docs[revision],
                        "seeding": seeding.to_dict(), **rehearse_upgrade(db.dsn, conn, engine, cfg, revision, options)}
                steps.append(step)
                if step.get("verdict") == "upgrade_failed":
                    break
                previous = revision
    finally:
        engine.dispose()
    for step in steps:
        step.setdefault("verdict", "pass")
    gates = step_gates(steps, options)
    for step in steps:
        if step["verdict"] == "pass" and any(g.verdict == "fail" for g in gates if step["revision"] in g.name):
            step["verdict"] = "fail"
    section["duration_s"] = round(time.perf_counter() - started, 3)
    section["checksum_vs_count"] = _throughput(steps)
    section["seeding_rows_per_s"] = _seeding_rate(steps)
    results.rehearsal = section
    results.gates.extend(gates)
    return section


def _throughput(steps: list[dict[str, Any]]) -> dict[str, Any]:
    timings = [s["checksum_timing"] for s in steps if s.get("checksum_timing")]
    checksum_s, count_s = sum(t["checksum_s"] for t in timings), sum(t["count_s"] for t in timings)
    return {"rows": sum(t["rows"] for t in timings), "checksum_s": round(checksum_s, 4), "count_s": round(count_s, 4),
            "ratio": round(checksum_s / count_s, 2) if count_s else None}


def _seeding_rate(steps: list[dict[str, Any]]) -> float | None:
    rows = sum(s["seeding"]["total_rows"] for s in steps)
    seconds = sum(s["seeding"]["total_s"] for s in steps)
    return round(rows / seconds) if seconds else None


def step_gates(steps: list[dict[str, Any]], options: RehearseOptions) -> list[Gate]:
    """Three gates per step: lossless, longest live wait on a lock, live error rate."""
    out: list[Gate] = []
    for step in steps:
        label = f"rehearsal {step['from']} -> {step['revision']}"
        loss = step["loss"]
        if loss.get("lossless") is None:
            gate = evaluate(f"{label} upgrade ran and lost nothing", STAGE, 0.0, 1.0, "bool", "==")
            gate.reason = f"upgrade failed: {step.get('error', '')}"
        else:
            gate = evaluate(f"{label} upgrade ran and lost nothing", STAGE, 1.0 if loss["lossless"] else 0.0, 1.0,
                            "bool", "==")
            gate.reason = "; ".join(f"{d['table']}: {d['reason']}" for d in loss.get("differences", []))
        out.append(gate)
        record = step["live"]
        if not record.get("ran"):
            out.append(not_evaluated(f"{label} longest live wait on a lock", STAGE, record.get("detail", ""),
                                     options.max_blocked_ms, "ms", "<="))
            out.append(not_evaluated(f"{label} live error rate", STAGE, record.get("detail", ""),
                                     options.max_error_rate, "ratio", "<="))
            continue
        longest = record.get("longest_wait")
        observed = longest["wait_ms"] if longest else 0.0
        gate = evaluate(f"{label} longest live wait on a lock", STAGE, observed, options.max_blocked_ms, "ms", "<=")
        gate.reason = wait_text(longest, step.get("locks", {})) if longest else \
            f"no live request waited on a lock ({record['wait_polls']} polls)"
        out.append(gate)
        during = record["during"]
        why = "no live request was due during the step" if not during["count"] else ""
        gate = evaluate(f"{label} live error rate", STAGE, during["error_rate"], options.max_error_rate, "ratio",
                        "<=", why)
        if during["errors"]:
            gate.reason = f"{during['errors']} of {during['count']} live requests failed: " + "; ".join(
                f"{k} (x{v})" for k, v in list(record["errors_seen"].items())[:3])
        out.append(gate)
    return out


def wait_text(longest: dict[str, Any], held: dict[str, dict[str, Any]]) -> str:
    """'<request> waited N ms for <mode> on <table> behind: <statement> (the step held ... for ... ms)'."""
    table = longest.get("table") or longest.get("locktype")
    text = (f"{longest.get('live_request') or 'a live request'} waited {longest['wait_ms']:g} ms for "
            f"{longest['lock']} on {table} behind: {longest['blocked_by_statement'] or 'an unknown statement'}")
    lock = held.get(str(longest.get("table")))
    if lock:
        mode = lock.get("modes", {}).get(lock["mode"], {})
        span = f"{mode['held_ms']} ms" if "held_ms" in mode else "less than one poll"
        text += f"; the step held {lock['mode']} on {longest['table']} for {span}"
        text += f", first seen during: {mode['first_seen_during']}" if mode.get("first_seen_during") else ""
    return text
