"""AI writers for the disaster-recovery checks: threads inserting ai_reports rows (with an embedding), each
logging the ids the server acknowledged as committed, and pausable so a recovery target falls between commits.

An autocommit INSERT ... RETURNING that returns is a commit the server acknowledged: the id is logged only
then, so a write cut off by a crash is never counted as acknowledged.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import psycopg

INSERT = ("INSERT INTO ai_reports (ward_id, ai_model_id, title, body, embedding) "
          "VALUES (%s, %s, 'wardbench dr report', 'Written by the wardbench disaster-recovery writer.', "
          "%s::vector) RETURNING id")


def writer_targets(conn: psycopg.Connection[Any], limit: int = 200) -> tuple[list[tuple[int, int]], int]:
    """(ward_id, ai_model_id) pairs to write against and the embedding dimension of ai_reports.

    Raises LookupError when the database has no ai_reports table or no ward/model to refer to.
    """
    row = conn.execute("SELECT a.atttypmod FROM pg_attribute a WHERE a.attrelid = to_regclass('public.ai_reports') "
                       "AND a.attname = 'embedding' AND NOT a.attisdropped").fetchone()
    if row is None:
        raise LookupError("no ai_reports table with an embedding column (no schema at head)")
    pairs = conn.execute("SELECT w.id, m.id FROM (SELECT id FROM wards ORDER BY id LIMIT 20) w "
                         "CROSS JOIN (SELECT id FROM ai_models ORDER BY id LIMIT 10) m LIMIT %s", (limit,)).fetchall()
    if not pairs:
        raise LookupError("no wards or ai_models rows for the AI writers to refer to")
    return [(int(w), int(m)) for w, m in pairs], int(row[0])


def seed_writer_parents(conn: psycopg.Connection[Any]) -> None:
    """One constituency, ward and AI model, so writers can run on a freshly migrated, empty database."""
    conn.execute("INSERT INTO constituencies (id, code, name, region) VALUES (1, 'DR1', 'Recovery', 'Test')")
    conn.execute("INSERT INTO wards (id, constituency_id, code, name, population, electorate, area_km2) "
                 "VALUES (1, 1, 'DRW1', 'Recovery ward', 1000, 800, 1.5)")
    conn.execute("INSERT INTO ai_models (id, provider, name, version) VALUES (1, 'local', 'dr-writer', '1')")


class AiWriters:
    """`count` threads writing ai_reports rows on `dsn` until stopped; `acknowledged` holds every id committed."""

    def __init__(self, dsn: str, pairs: list[tuple[int, int]], dim: int, count: int = 2, seed: int = 42) -> None:
        rng = random.Random(seed)
        self._dsn, self._pairs = dsn, pairs
        # A few fixed vectors: writing is what is measured, not formatting 384 floats per row.
        self._vectors = ["[" + ",".join(f"{rng.uniform(-1, 1):.5f}" for _ in range(dim)) + "]" for _ in range(8)]
        self._cond = threading.Condition()
        self._paused = self._stopping = False
        self._idle = 0
        self._alive = count
        self._acknowledged: list[int] = []
        self.errors: list[str] = []
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True, name=f"ai-writer-{i}")
                         for i in range(count)]

    @property
    def acknowledged(self) -> list[int]:
        with self._cond:
            return list(self._acknowledged)

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def _run(self, index: int) -> None:
        try:
            with psycopg.connect(self._dsn, autocommit=True, application_name="wardbench/dr-writer") as conn:
                n = index
                while self._wait_unpaused():
                    ward, model = self._pairs[n % len(self._pairs)]
                    row = conn.execute(INSERT, (ward, model, self._vectors[n % len(self._vectors)])).fetchone()
                    with self._cond:
                        self._acknowledged.append(int(row[0]))  # type: ignore[index]
                        self._cond.notify_all()
                    n += 1
        except psycopg.Error as exc:
            with self._cond:
                self.errors.append(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}")
        finally:
            with self._cond:
                self._alive -= 1
                self._cond.notify_all()

    def _wait_unpaused(self) -> bool:
        """Block while paused (counted idle); False once stopping."""
        with self._cond:
            if self._paused and not self._stopping:
                self._idle += 1
                self._cond.notify_all()
                self._cond.wait_for(lambda: not self._paused or self._stopping)
                self._idle -= 1
            return not self._stopping

    def wait_for(self, acknowledged: int, timeout_s: float) -> bool:
        """Wait until at least `acknowledged` commits were acknowledged (or every writer died, or timeout)."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._acknowledged) >= acknowledged or self._alive == 0,
                                       timeout_s) and len(self._acknowledged) >= acknowledged

    def pause(self) -> None:
        """Return once every live writer sits between two commits (none in flight)."""
        with self._cond:
            self._paused = True
            self._cond.wait_for(lambda: self._idle >= self._alive)

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def stop(self, timeout_s: float = 30) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout_s)
