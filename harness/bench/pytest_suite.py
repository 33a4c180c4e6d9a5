"""The pytest-benchmark module `wardbench bench` runs in a subprocess: one benchmark per scenario of a plan.

The plan (a harness.bench.handoff.BenchPlan pickled by the runner, path in WARDBENCH_BENCH_PLAN) holds
each scenario's SQL, settings and pre-drawn parameters. pytest-benchmark times every round (raw timings
in its JSON): each round is one libpq round trip, its parameters encoded in the untimed setup
(harness.bench.wire). Beside that, each test writes what the timed queries returned, the executed plan's
summary and server-side timings (harness.bench.handoff.Observation).
"""
from __future__ import annotations

import os
import pickle
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq

from harness.bench import plans, wire
from harness.bench.handoff import Answer, BenchPlan, Observation, ScenarioSpec
from harness.bench.sampling import Params
from harness.bench.session import connect

PLAN_ENV = "WARDBENCH_BENCH_PLAN"


def _load_plan() -> BenchPlan | None:
    path = os.environ.get(PLAN_ENV)
    if not path:
        return None
    with open(path, "rb") as fh:
        plan: BenchPlan = pickle.load(fh)  # written by our own runner a moment ago
    return plan


PLAN = _load_plan()


def _answers(spec: ScenarioSpec, res: pq.abc.PGresult) -> Answer:
    """What a round returned: its row count, and for vector scenarios the ids and distances in order."""
    if spec.kind != "vector":
        return Answer(res.ntuples)
    if not {"id", "distance"} <= set(wire.column_names(res)):
        raise ValueError(f"vector scenario {spec.name} must select columns named id and distance")
    ids, distances = wire.column(res, "id"), wire.column(res, "distance")
    return Answer(res.ntuples, [v.decode() if v is not None else None for v in ids],
                  [float(v) if v is not None else float("nan") for v in distances])


def _fidelity_pairs(conn: psycopg.Connection[Any], ex: wire.Executor, spec: ScenarioSpec,
                    sample: list[Params], server_log: Path | None, record: Observation) -> None:
    """Client time and server time of the same query, back to back, for each parameter set.

    Server time is measured two ways. Portable: planning + execution from EXPLAIN ANALYZE (TIMING OFF),
    which leaves out parse, analysis and sending the rows, so it overstates the overhead. Where the
    server's log file is ours to read (the embedded backend): the parse + bind + execute durations the
    server logs for one more run of the query. An untimed run first, and every measure right after the
    timed one, keep them in the same cache state (a vector search runs ~2x slower after other queries
    have evicted its index pages from the CPU caches). Also counts the plan shapes chosen (plans can
    differ by parameter value), the shared buffers each execution touched, and times a `SELECT 1` round trip,
    the client floor.
    """
    log = ServerLog.open(conn, server_log) if server_log else None
    client: list[float] = []
    explained: list[float] = []
    touched: list[int] = []
    shapes: dict[str, int] = {}
    for params in sample:
        enc = wire.encode(conn, spec.sql, params)
        ex.execute(enc)
        start = time.perf_counter()
        ex.execute(enc)
        client.append((time.perf_counter() - start) * 1e3)
        if log:
            log.run(ex, enc)
        doc = plans.explain(conn, spec.sql, params, analyze=True)
        explained.append(float(doc.get("Planning Time", 0.0)) + float(doc["Execution Time"]))
        pages = plans.blocks(doc)
        if pages is not None:
            touched.append(pages)
        shape = plans.shape(doc)
        shapes[shape] = shapes.get(shape, 0) + 1
    select1 = wire.encode(conn, "SELECT 1", {})
    floor: list[float] = []
    for _ in range(len(sample)):
        start = time.perf_counter()
        ex.execute(select1)
        floor.append((time.perf_counter() - start) * 1e3)
    record.client_ms, record.server_explain_ms, record.plan_shapes = client, explained, shapes
    record.server_blocks = touched
    record.server_log_ms = log.durations(len(sample)) if log else None
    record.roundtrip_floor_ms = sorted(floor)[len(floor) // 2] if floor else None


_DURATION = re.compile(r"\[(\d+)\][^\n]*?LOG:  duration: ([0-9.]+) ms  (parse|bind|execute) ")
# Parameter logging off: formatting a binary vector parameter for the log (vector_out of 384 floats)
# happens inside bind and would be counted as server time.
_LOG_ON = b"SET log_parameter_max_length = 0; SET log_min_duration_statement = 0"
_LOG_OFF = b"RESET log_min_duration_statement; RESET log_parameter_max_length"


@dataclass
class ServerLog:
    """One session's statement durations, as the server writes them to the log file it was started with.

    Needs a superuser session (the settings are SUSET), the default log_line_prefix's [pid] and English
    messages; `open` gives None otherwise, and `durations` None when the lines did not all appear.
    """

    conn: psycopg.Connection[Any]
    path: Path
    offset: int

    @classmethod
    def open(cls, conn: psycopg.Connection[Any], path: Path) -> ServerLog | None:
        try:
            offset = path.stat().st_size
        except OSError:
            return None
        if conn.pgconn.exec_(_LOG_ON).status != pq.ExecStatus.COMMAND_OK:
            return None
        conn.pgconn.exec_(_LOG_OFF)
        return cls(conn, path, offset)

    def run(self, ex: wire.Executor, enc: wire.Encoded) -> None:
        """Execute once with every statement duration logged."""
        self.conn.pgconn.exec_(_LOG_ON)
        try:
            ex.execute(enc)
        finally:
            self.conn.pgconn.exec_(_LOG_OFF)

    def durations(self, expected: int, wait_s: float = 3.0) -> list[float] | None:
        """Per logged run, parse + bind + execute ms (a prepared statement logs no parse)."""
        deadline = time.monotonic() + wait_s
        while True:
            found = self._read()
            if len(found) >= expected:
                return found[:expected]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def _read(self) -> list[float]:
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            text = fh.read().decode(errors="replace")
        pid, out, pending = self.conn.pgconn.backend_pid, [], 0.0
        for m in _DURATION.finditer(text):
            if int(m.group(1)) == pid:
                pending += float(m.group(2))
                if m.group(3) == "execute":
                    out.append(pending)
                    pending = 0.0
        return out


@pytest.mark.parametrize("name", sorted(PLAN.scenarios) if PLAN else [])
def test_scenario(benchmark: Any, name: str) -> None:
    assert PLAN is not None
    spec = PLAN.scenarios[name]
    warmup, rounds = PLAN.warmup_rounds, PLAN.rounds
    params = iter(spec.params)
    results: list[pq.abc.PGresult] = []
    record = Observation(name)
    try:
        with connect(PLAN.dsn, spec.settings, PLAN.prepare_threshold, spec.read_only) as conn:
            ex = wire.Executor(conn, PLAN.prepare_threshold)

            def next_params() -> tuple[tuple[wire.Encoded], dict[str, object]]:
                return (wire.encode(conn, spec.sql, next(params)),), {}  # before the clock starts

            def run(enc: wire.Encoded) -> None:
                results.append(ex.execute(enc))

            benchmark.pedantic(run, setup=next_params, rounds=rounds, warmup_rounds=warmup, iterations=1)
            timed = spec.params[warmup:warmup + rounds]
            record.returned = [_answers(spec, res) for res in results[warmup:]]
            plan = plans.explain(conn, spec.sql, timed[0])
            record.plan_summary = plans.summarize(conn, plan, PLAN.large_table_rows)
            _fidelity_pairs(conn, ex, spec, timed[:PLAN.explain_samples], PLAN.server_log, record)
            # Whether the statement that was timed ended up prepared (psycopg's own catalog queries aside).
            row = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement = %s",
                               (wire.to_dollar(spec.sql)[0],)).fetchone()
            record.timed_statement_prepared = bool(row and row[0])
    except Exception as exc:
        record.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        raise
    finally:
        record.write(PLAN.observations_dir / f"{name}.json")
