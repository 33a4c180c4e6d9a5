"""Fidelity: the load generator's throughput against pgbench on the same statement, in the same run."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import psycopg

from harness.bench.sampling import draw_params
from harness.bench.scenarios import reads_only
from harness.bench.session import READ_ONLY, connect
from harness.db import Database
from harness.load.pgbench import run_pgbench
from harness.load.runner import LocustRun, run_locust
from harness.load.workload import select_scenarios
from harness.results.load import Fidelity, FidelityRound


def render_statement(db: Database, scenario_dirs: list[Path], name: str, seed: int) -> tuple[str, str, dict[str, str]]:
    """The scenario's SQL with one drawn parameter set inlined as literals, its kind and its settings.

    Both pgbench and Locust then run byte-for-byte the same text, so only the clients differ.
    """
    scenario = select_scenarios(scenario_dirs, [name])[0]  # an unknown name is a UsageError there
    with connect(db.dsn, read_only=True) as conn:
        params = draw_params(conn, scenario, 1, seed)[0]
        text = psycopg.ClientCursor(conn).mogrify(scenario.sql, params)
    return text, scenario.kind, dict(scenario.settings)


def measure_fidelity(db: Database, out_dir: Path, scenario_dirs: list[Path], name: str, clients: int,
                     duration_s: float, processes: int, settings: dict[str, str], seed: int, rounds: int = 3,
                     console: Any = None) -> Fidelity:
    """Throughput of `clients` Locust users and of `clients` pgbench clients on one statement; their ratio.

    Locust and pgbench alternate for `rounds` rounds and the median ratio is kept: on a machine shared
    with other work, both then see the same background load rather than whatever each run happened on.
    """
    statement, kind, scenario_settings = render_statement(db, scenario_dirs, name, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    sql_file = out_dir / "fidelity_statement.sql"
    sql_file.write_text(statement)
    session = {**settings, **scenario_settings, **(READ_ONLY if reads_only(kind) else {})}
    pairs = []
    for i in range(rounds):
        run = LocustRun(label=f"fidelity_{i + 1}", users=clients, duration_s=duration_s, classes=("ReaderUser",),
                        processes=processes, sql_file=sql_file, sql_kind=kind, seed=seed)
        locust = run_locust(db, run, out_dir, session, console).merged
        # Equal client resources: pgbench gets as many threads as Locust has processes.
        bench = run_pgbench(db, statement, clients, max(int(round(duration_s)), 1), processes, session)
        pairs.append(FidelityRound(locust_qps=round(locust.qps, 2), locust_errors=locust.errors,
                                   pgbench_tps=round(bench.tps, 2), pgbench_failed=bench.failed,
                                   pgbench_latency_avg_ms=bench.latency_avg_ms,
                                   ratio=round(locust.qps / bench.tps, 3) if bench.tps > 0 else None))
    ratios = [p.ratio for p in pairs if p.ratio is not None]
    return Fidelity(scenario=name, clients=clients, duration_s=duration_s, processes=processes,
                    pgbench_threads=min(clients, processes), statement_file=str(sql_file), rounds=pairs,
                    ratio=statistics.median(ratios) if ratios else None)
