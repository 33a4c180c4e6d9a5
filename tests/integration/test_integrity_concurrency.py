"""Many writers at once on the audited tables: no orphans, no constraint violations, and exactly one audit
row per inserted, updated or deleted row, checked after the run (counts and a replay of the trail)."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from typing import Any

import psycopg
from psycopg import errors, sql

from harness import alembic_project
from harness.db import Database

WRITERS = 4
TRANSACTIONS_PER_WRITER = 120
# Errors a writer may meet by design (racing keys, a result still pointing at a candidate, a bad value on
# purpose, lock cycles); anything else fails the test.
EXPECTED_ERRORS = (errors.UniqueViolation, errors.ForeignKeyViolation, errors.RestrictViolation,
                   errors.CheckViolation, errors.DeadlockDetected)

# (table, op, statement, parameter maker); each statement's rowcount is the number of rows it changed.
Statement = tuple[str, str, str, Any]
STATEMENTS: list[Statement] = [
    ("ward_results", "INSERT",
     "INSERT INTO ward_results (election_id, ward_id, candidate_id, votes) SELECT %s, ward_id, id, %s "
     "FROM candidates WHERE ward_id = %s ORDER BY random() LIMIT 1",
     lambda r: (r.randint(1, 2), r.randint(0, 500), r.randint(1, 3))),
    ("ward_results", "INSERT",
     "INSERT INTO ward_results (election_id, ward_id, candidate_id, votes) SELECT %s, ward_id, id, %s "
     "FROM candidates WHERE ward_id = %s ON CONFLICT DO NOTHING",
     lambda r: (r.randint(1, 2), r.randint(0, 500), r.randint(1, 3))),
    ("ward_results", "UPDATE", "UPDATE ward_results SET votes = votes + %s WHERE ward_id = %s",
     lambda r: (r.randint(0, 9), r.randint(1, 3))),
    ("ward_results", "DELETE",
     "DELETE FROM ward_results WHERE id IN (SELECT id FROM ward_results WHERE ward_id = %s "
     "ORDER BY random() LIMIT 2)", lambda r: (r.randint(1, 3),)),
    ("ward_turnout", "INSERT",
     "INSERT INTO ward_turnout (election_id, ward_id, registered, ballots_cast) VALUES (%s, %s, 1000, %s)",
     lambda r: (r.randint(1, 2), r.randint(1, 3), r.randint(0, 1000))),
    ("ward_turnout", "UPDATE",  # sometimes above registered: refused by the CHECK, rolled back
     "UPDATE ward_turnout SET ballots_cast = %s WHERE ward_id = %s", lambda r: (r.randint(0, 1050), r.randint(1, 3))),
    ("ward_turnout", "DELETE", "DELETE FROM ward_turnout WHERE election_id = %s AND ward_id = %s",
     lambda r: (r.randint(1, 2), r.randint(1, 3))),
    ("ai_reports", "INSERT",
     "INSERT INTO ai_reports (ward_id, ai_model_id, title, body) VALUES (%s, 1, %s, 'body')",
     lambda r: (r.randint(1, 3), f"report {r.random():.6f}")),
    ("ai_reports", "UPDATE", "UPDATE ai_reports SET title = title || '+' WHERE ward_id = %s",
     lambda r: (r.randint(1, 3),)),
    ("ai_reports", "DELETE",
     "DELETE FROM ai_reports WHERE id = (SELECT min(id) FROM ai_reports WHERE ward_id = %s)",
     lambda r: (r.randint(1, 3),)),
    ("candidates", "INSERT",
     "INSERT INTO candidates (party_id, ward_id, given_name, family_name) VALUES (1, %s, %s, 'Writer')",
     lambda r: (r.randint(1, 3), f"Cand{r.randint(0, 10**6)}")),
    ("candidates", "UPDATE", "UPDATE candidates SET family_name = %s WHERE ward_id = %s",
     lambda r: (f"Renamed{r.randint(0, 99)}", r.randint(1, 3))),
    ("candidates", "DELETE",  # refused while a result still points at the candidate
     "DELETE FROM candidates WHERE id = (SELECT max(id) FROM candidates WHERE ward_id = %s)",
     lambda r: (r.randint(1, 3),)),
]


def _seed(conn: psycopg.Connection[Any]) -> None:
    conn.execute("INSERT INTO constituencies (code, name, region) VALUES ('C1', 'Central', 'North')")
    for w in (1, 2, 3):
        conn.execute("INSERT INTO wards (constituency_id, code, name, population, electorate, area_km2) "
                     "VALUES (1, %s, %s, 5000, 4000, 2.5)", (f"W{w}", f"Ward {w}"))
    conn.execute("INSERT INTO parties (code, name) VALUES ('IND', 'Independent')")
    conn.execute("INSERT INTO elections (name, election_date, kind) VALUES ('E1', '2022-05-05', 'local'), "
                 "('E2', '2024-05-02', 'local')")
    conn.execute("INSERT INTO candidates (party_id, ward_id, given_name, family_name) "
                 "SELECT 1, w, 'Seed', 'C' || w || k FROM generate_series(1, 3) w, generate_series(1, 2) k")
    conn.execute("INSERT INTO ai_models (provider, name, version) VALUES ('local', 'summariser', '1')")
    conn.commit()


def _writer(dsn: str, seed: int, tally: Counter[tuple[str, str]], failures: Counter[str],
            lock: threading.Lock, start: threading.Barrier, crashed: list[BaseException]) -> None:
    """Run transactions of 1-3 random statements; count changed rows only for those that commit."""
    try:
        _write(dsn, random.Random(seed), tally, failures, lock, start)
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which fails on it
        crashed.append(exc)
        start.abort()


def _write(dsn: str, rng: random.Random, tally: Counter[tuple[str, str]], failures: Counter[str],
           lock: threading.Lock, start: threading.Barrier) -> None:
    with psycopg.connect(dsn) as conn:
        start.wait()
        for _ in range(TRANSACTIONS_PER_WRITER):
            local: Counter[tuple[str, str]] = Counter()
            try:
                for table, op, query, params in rng.sample(STATEMENTS, rng.randint(1, 3)):
                    cur = conn.execute(query, params(rng))
                    local[(table, op)] += max(cur.rowcount, 0)
                if rng.random() < 0.1:  # abandoned on purpose: must leave no audit row
                    conn.rollback()
                    with lock:
                        failures["rolled back"] += 1
                    continue
                conn.commit()
            except EXPECTED_ERRORS as exc:
                conn.rollback()
                with lock:
                    failures[type(exc).__name__] += 1
                continue
            with lock:
                tally.update(local)


def _violations(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Rows breaking any CHECK, foreign key or unique key of the public schema, re-checked by query."""
    found: dict[str, int] = {}
    checks = conn.execute(
        "SELECT conname, conrelid::regclass::text, pg_get_expr(conbin, conrelid) FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace AND contype = 'c'").fetchall()
    for name, table, expr in checks:
        # expr is PostgreSQL's own rendering of a constraint from the catalog, not outside input.
        query = sql.SQL("SELECT count(*) FROM {} WHERE NOT ({})").format(sql.Identifier(table), sql.SQL(expr))
        found[name] = conn.execute(query).fetchone()[0]  # type: ignore[index]
    keys = conn.execute(
        "SELECT c.conname, c.contype, c.conrelid::regclass::text, c.confrelid::regclass::text, "
        "ARRAY(SELECT attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        "      ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY i), "
        "ARRAY(SELECT attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        "      ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY i) "
        "FROM pg_constraint c WHERE c.connamespace = 'public'::regnamespace AND c.contype IN ('f', 'u', 'p') "
        "AND c.conrelid <> 'alembic_version'::regclass").fetchall()
    for name, kind, table, parent, cols, parent_cols in keys:
        if kind == "f":
            match = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(sql.Identifier(pc), sql.Identifier(cc))
                                          for cc, pc in zip(cols, parent_cols, strict=True))
            present = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(cc)) for cc in cols)
            query = sql.SQL("SELECT count(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(
                sql.Identifier(table), present, sql.Identifier(parent), match)
        else:
            query = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} GROUP BY {} HAVING count(*) > 1) d").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols)))
        found[name] = conn.execute(query).fetchone()[0]  # type: ignore[index]
    return found


# How each audited table's primary key reads in a jsonb row image.
AUDIT_KEYS = {
    "ward_results": "r->>'id'",
    "ai_reports": "r->>'id'",
    "candidates": "r->>'id'",
    "ward_turnout": "(r->>'election_id') || ':' || (r->>'ward_id')",
}


def _replay_mismatch(conn: psycopg.Connection[Any], table: str) -> tuple[list[str], list[str]]:
    """The table's rows as the audit trail says they are now (latest image per key) vs as they are."""
    key = sql.SQL(AUDIT_KEYS[table])
    latest = sql.SQL(
        "SELECT new_row FROM (SELECT DISTINCT ON (k) op, new_row FROM ("
        "  SELECT id, op, new_row, (SELECT {key} FROM (SELECT coalesce(new_row, old_row) AS r) x) AS k "
        "  FROM audit_log WHERE table_name = %s) a ORDER BY k, id DESC) l WHERE op <> 'DELETE'").format(key=key)
    replayed = sorted(json.dumps(r[0], sort_keys=True) for r in conn.execute(latest, (table,)))
    actual = sorted(json.dumps(r[0], sort_keys=True) for r in conn.execute(  # 015: embeddings are not audited
        sql.SQL("SELECT to_jsonb(t) - 'embedding' FROM {} t").format(sql.Identifier(table))))
    return replayed, actual


def test_concurrent_writers_keep_integrity_and_audit(fresh_db: Database) -> None:
    alembic_project.upgrade(fresh_db, "head")
    with fresh_db.connect() as conn:
        _seed(conn)
        baseline = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]  # type: ignore[index]
    tally: Counter[tuple[str, str]] = Counter()
    failures: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)
    crashed: list[BaseException] = []
    threads = [threading.Thread(target=_writer, args=(fresh_db.dsn, seed, tally, failures, lock, start, crashed))
               for seed in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert crashed == []
    print(f"changed rows {dict(tally)}; failed or abandoned transactions {dict(failures)}")

    with fresh_db.connect() as conn:
        audited = Counter({(t, o): n for t, o, n in conn.execute(
            "SELECT table_name, op, count(*) FROM audit_log WHERE id > %s GROUP BY 1, 2", (baseline,))})
        violations = _violations(conn)
        replays = {table: _replay_mismatch(conn, table) for table in AUDIT_KEYS}

    assert +tally == audited, f"audit rows {dict(audited)} != changed rows {dict(tally)} (failures {dict(failures)})"
    assert {k for k, n in tally.items() if n > 0} == {(t, o) for t, o, _, _ in STATEMENTS}, "an operation never ran"
    assert failures["rolled back"] > 0 and sum(failures.values()) < WRITERS * TRANSACTIONS_PER_WRITER
    assert {name: n for name, n in violations.items() if n} == {}
    assert len(violations) > 40  # every key and check was actually re-checked
    for table, (replayed, actual) in replays.items():
        assert replayed == actual, f"{table}: audit trail replay differs from the table"
