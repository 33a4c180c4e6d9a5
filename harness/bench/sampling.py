"""Scenario parameters drawn from the generated data: seeded pool queries, picks, and perturbed vectors."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg

from harness.bench.scenarios import ParamSpec, Scenario
from harness.errors import UsageError

Params = dict[str, object]  # one drawn parameter set: SQL parameter name -> value (ints, text, vectors, ...)


def _seed_fraction(seed: int) -> float:
    """PostgreSQL's setseed takes a value in [-1, 1]; map any integer seed into it deterministically."""
    return (seed % 1_000_003) / 1_000_003


def fetch_pool(conn: psycopg.Connection[Any], scenario: Scenario, spec: ParamSpec, seed: int) -> list[tuple[Any, ...]]:
    """The candidate rows a parameter is drawn from (random() in the pool query is seeded, so repeatable)."""
    if spec.sql is None:
        return [(spec.value,)]
    conn.execute("SELECT setseed(%s)", (_seed_fraction(seed),))
    try:
        cur = conn.execute(spec.sql)
        rows = cur.fetchmany(spec.pool)
    except psycopg.Error as exc:
        raise UsageError(f"{scenario.source}: field 'params.{spec.label}.sql': query failed: "
                         f"{str(exc).strip().splitlines()[0]}") from exc
    width = len(cur.description or [])
    if width != len(spec.provides):
        raise UsageError(f"{scenario.source}: field 'params.{spec.label}.provides': the query returns {width} "
                         f"column(s) but provides names {len(spec.provides)}")
    if not rows:
        raise UsageError(f"scenario {scenario.name}: parameter {spec.label!r} drew no rows from the database "
                         "(generate data first: wardbench generate)")
    return [tuple(r) for r in rows]


def perturb_vector(vector: Any, scale: float, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """A unit vector near `vector`: its direction plus Gaussian noise of relative norm `scale`."""
    v = np.asarray(vector, dtype=np.float64)
    v = v / (np.linalg.norm(v) or 1.0)
    noise = rng.standard_normal(v.shape[0])
    q = v + scale * noise / np.linalg.norm(noise)
    unit: np.ndarray[Any, Any] = (q / np.linalg.norm(q)).astype(np.float32)
    return unit


def draw_params(conn: psycopg.Connection[Any], scenario: Scenario, n: int, seed: int) -> list[Params]:
    """`n` parameter sets for `scenario`; the same seed and data give the same draws."""
    rng = np.random.default_rng(seed)
    draws: list[Params] = [{} for _ in range(n)]
    if scenario.k is not None:
        for d in draws:
            d["k"] = scenario.k
    for i, spec in enumerate(scenario.params):
        pool = fetch_pool(conn, scenario, spec, seed + i)
        picks = rng.integers(0, len(pool), size=n)
        for d, pick in zip(draws, picks, strict=True):
            row = pool[int(pick)]
            for name, value in zip(spec.provides, row, strict=True):
                if hasattr(value, "to_numpy"):  # pgvector's loader returns Vector objects
                    value = value.to_numpy()
                if spec.perturb:
                    if not isinstance(value, np.ndarray):
                        raise UsageError(f"{scenario.source}: field 'params.{spec.label}.perturb': "
                                         f"{name} is not a vector")
                    value = perturb_vector(value, spec.perturb, rng)
                d[name] = value
    return draws
