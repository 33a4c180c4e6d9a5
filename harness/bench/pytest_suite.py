"""The pytest-benchmark module `wardbench bench` runs in a subprocess: one benchmark per scenario of a plan.

The plan (pickled by harness.bench.runner, path in WARDBENCH_BENCH_PLAN) holds each scenario's SQL,
settings and pre-drawn parameters. pytest-benchmark times every round (raw timings in its JSON); beside
that, each test writes what the timed queries returned, the executed plan and server-side timings.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

import pytest

from harness.bench import plans
from harness.bench.session import connect

PLAN_ENV = "WARDBENCH_BENCH_PLAN"


def _load_plan() -> dict[str, Any]:
    path = os.environ.get(PLAN_ENV)
    if not path:
        return {"scenarios": {}}
    with open(path, "rb") as fh:
        plan: dict[str, Any] = pickle.load(fh)  # written by our own runner a moment ago
    return plan


PLAN = _load_plan()


def _answers(spec: dict[str, Any], columns: list[str], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """What a round returned: its row count, and for vector scenarios the ids and distances in order."""
    if spec["kind"] != "vector":
        return {"rows": len(rows)}
    if "id" not in columns or "distance" not in columns:
        raise ValueError(f"vector scenario {spec['name']} must select columns named id and distance")
    i, d = columns.index("id"), columns.index("distance")
    return {"rows": len(rows), "ids": [r[i] for r in rows], "distances": [float(r[d]) for r in rows]}


def _fidelity_pairs(conn: Any, spec: dict[str, Any], sample: list[dict[str, Any]]) -> dict[str, Any]:
    """Client time and server time of the same query, back to back, for each parameter set.

    Server time is planning + execution from EXPLAIN ANALYZE (TIMING OFF), run right after the client-timed
    execution so both see the same machine load; an untimed run first puts both in the same buffer-cache
    state (otherwise the first run's page reads count as harness overhead). Also counts the plan shapes
    chosen (indexes used, else scan types): plans can differ by parameter value. A `SELECT 1` round trip
    gives the client floor.
    """
    client: list[float] = []
    server: list[float] = []
    shapes: dict[str, int] = {}
    cur = conn.cursor()
    for params in sample:
        cur.execute(spec["sql"], params)
        cur.fetchall()
        start = time.perf_counter()
        cur.execute(spec["sql"], params)
        cur.fetchall()
        client.append((time.perf_counter() - start) * 1e3)
        doc = plans.explain(conn, spec["sql"], params, analyze=True)
        server.append(float(doc.get("Planning Time", 0.0)) + float(doc["Execution Time"]))
        shape = plans.shape(doc)
        shapes[shape] = shapes.get(shape, 0) + 1
    floor: list[float] = []
    for _ in range(len(sample)):
        start = time.perf_counter()
        cur.execute("SELECT 1")
        cur.fetchall()
        floor.append((time.perf_counter() - start) * 1e3)
    return {"client_ms": client, "server_ms": server, "plan_shapes": shapes,
            "roundtrip_floor_ms": sorted(floor)[len(floor) // 2] if floor else None}


@pytest.mark.parametrize("name", sorted(PLAN["scenarios"]))
def test_scenario(benchmark: Any, name: str) -> None:
    spec = PLAN["scenarios"][name]
    warmup, rounds = PLAN["warmup_rounds"], PLAN["rounds"]
    params = iter(spec["params"])
    returned: list[dict[str, Any]] = []
    record: dict[str, Any] = {"name": name, "error": None}
    out = Path(PLAN["observations_dir"]) / f"{name}.json"
    try:
        with connect(PLAN["dsn"], spec["settings"], PLAN["prepare_threshold"]) as conn:
            cur = conn.cursor()

            def next_params() -> tuple[tuple[dict[str, Any]], dict[str, Any]]:
                return (next(params),), {}

            def run(p: dict[str, Any]) -> None:
                cur.execute(spec["sql"], p)
                rows = cur.fetchall()
                returned.append(_answers(spec, [c.name for c in cur.description or []], rows))

            benchmark.pedantic(run, setup=next_params, rounds=rounds, warmup_rounds=warmup, iterations=1)
            timed = spec["params"][warmup:warmup + rounds]
            record["returned"] = returned[warmup:]
            record["plan"] = plans.explain(conn, spec["sql"], timed[0])
            record["plan_summary"] = plans.summarize(conn, record["plan"], PLAN["large_table_rows"])
            record.update(_fidelity_pairs(conn, spec, timed[:PLAN["explain_samples"]]))
            row = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
            record["prepared_statements"] = int(row[0]) if row else None
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        raise
    finally:
        out.write_text(json.dumps(record, default=str))
