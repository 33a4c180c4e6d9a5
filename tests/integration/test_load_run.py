"""Real Locust runs at tiny scale: concurrency proven (and its absence detected), open-model shortfall
gated, a killed connection counted as errors while the run still ends with a verdict."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness import alembic_project
from harness.config import build_config, load_profile
from harness.datagen.loader import load_dataset
from harness.db import Database, ServerHandle
from harness.db.embedded import scratch_server
from harness.errors import EnvironmentFailure
from harness.load.histograms import merge_encoded
from harness.load.pgbench import run_pgbench
from harness.load.runner import LocustOutcome, LocustRun, run_locust
from harness.load.stage import load_gates
from harness.load.summary import summarize_ms

SCALE = 0.02  # ci profile x 0.02: ~1,200 posts with embeddings


@pytest.fixture(scope="module")
def load_server() -> Iterator[ServerHandle]:
    """A server of our own with fsync on (the shared test server turns it off), so writers pay real commits."""
    with scratch_server(18, {"max_connections": "100", "shared_buffers": "256MB"}, prefix="tests-load-") as server:
        yield server.handle()


@pytest.fixture(scope="module")
def tiny_db(load_server: ServerHandle) -> Iterator[Database]:
    name = "t_load"
    load_server.create_database(name)
    db = Database(load_server.database_dsn(name), name, load_server, disposable=True)
    alembic_project.upgrade(db, "head")
    load_dataset(db, load_profile("ci"), SCALE, seed=5)
    yield db


def _run(db: Database, tmp_path: Path, label: str, users: int, classes: tuple[str, ...], seconds: float = 3,
         env: dict[str, str] | None = None, **kw: object) -> LocustOutcome:
    run = LocustRun(label=label, users=users, duration_s=seconds, classes=classes, **kw)  # type: ignore[arg-type]
    return run_locust(db, run, tmp_path, {"hnsw.ef_search": "100"}, env=env)


def test_twenty_users_out_run_one_and_a_blocking_wait_is_caught(tiny_db: Database, tmp_path: Path) -> None:
    # A statement that waits on the server without using CPU: throughput then measures only whether one
    # user's wait lets the others run, whatever the machine's cores or disk (fsync can be nearly free).
    sleepy = tmp_path / "sleepy.sql"
    sleepy.write_text("SELECT pg_sleep(0.01)")
    kw = {"sql_file": sleepy, "classes": ("ReaderUser",)}
    one = _run(tiny_db, tmp_path, "s1", 1, **kw).merged  # type: ignore[arg-type]
    many = _run(tiny_db, tmp_path, "s20", 20, **kw).merged  # type: ignore[arg-type]
    assert many.errors == 0 and one.errors == 0
    assert set(many.wait_functions) != {"wait_c"}  # Locust imported first: psycopg chose a cooperative wait
    assert many.qps / one.qps > 5.0, (one.qps, many.qps)
    assert many.in_flight > 5 and one.in_flight <= 1.05
    # The same run with psycopg forced onto its C wait (what importing psycopg before Locust selects):
    # one greenlet's query blocks all the others, and both measures collapse to one user's.
    blocked = _run(tiny_db, tmp_path, "s20_blocking", 20, env={"PSYCOPG_WAIT_FUNC": "wait_c"},
                   **kw).merged  # type: ignore[arg-type]
    assert blocked.wait_functions == ["wait_c"]
    assert blocked.in_flight <= 1.05 and blocked.qps < 0.5 * many.qps, (blocked.qps, many.qps)


def test_readers_overlap_and_are_reported_apart_from_writers(tiny_db: Database, tmp_path: Path) -> None:
    outcome = _run(tiny_db, tmp_path, "mixed", 10, ("ReaderUser", "WriterUser"), writers=3, think_time_s=0.01)
    merged = outcome.merged
    kinds = {s.kind for s in merged.scenarios.values()}
    assert kinds == {"ward", "vector", "write"}
    assert merged.users == 10 and merged.errors == 0
    # Our percentiles come from our histograms; Locust's are its own rounded ones, kept for comparison.
    assert set(outcome.locust_p95_ms) == set(merged.scenarios)
    cfg = build_config(profile="ci")
    gates = {g.name: g for g in load_gates(cfg, outcome)}
    assert {"load p95 ward (readers, from intended start)", "load p95 vector (readers, from intended start)",
            "load p95 write (writers, from intended start)", "load error rate"} <= set(gates)
    assert all(g.verdict == "pass" for g in gates.values()), [g for g in gates.values() if g.verdict != "pass"]


def test_open_model_reports_intended_start_latency_and_gates_a_rate_shortfall(tiny_db: Database,
                                                                              tmp_path: Path) -> None:
    cfg = build_config(profile="ci")
    # 5 requests/s per user: a user falls behind only if a request takes over 200 ms.
    feasible = _run(tiny_db, tmp_path, "open_ok", 8, ("ReaderUser",), seconds=4, rate_per_s=40.0)
    gate = next(g for g in load_gates(cfg, feasible) if g.name.startswith("load achieved rate"))
    assert gate.verdict == "pass" and gate.observed is not None and gate.observed >= 0.95, gate
    # Two users cannot deliver 5,000 requests/s: the gate fails, and only latency timed from each request's
    # intended start shows the queue that built up.
    short = _run(tiny_db, tmp_path, "open_short", 2, ("ReaderUser",), rate_per_s=5000.0)
    gate = next(g for g in load_gates(cfg, short) if g.name.startswith("load achieved rate"))
    assert gate.verdict == "fail" and gate.observed is not None and gate.observed < 0.5
    corrected = merge_encoded([])
    uncorrected = merge_encoded([])
    for s in short.merged.scenarios.values():
        corrected.add(s.corrected)
        uncorrected.add(s.uncorrected)
    corrected_p95, uncorrected_p95 = summarize_ms(corrected).p95_ms, summarize_ms(uncorrected).p95_ms
    assert corrected_p95 is not None and uncorrected_p95 is not None and corrected_p95 > 10 * uncorrected_p95


def _terminate_when_running(dsn: str, app: str, after_s: float, timeout_s: float = 90) -> int:
    """Wait for sessions named `app`, let them work `after_s`, then terminate them all; how many were killed."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                            (app,)).fetchone()[0]:  # type: ignore[index]
                time.sleep(after_s)
                row = conn.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE application_name = %s", (app,)).fetchone()
                return int(row[0]) if row else 0
            time.sleep(0.1)
    return 0


def test_killed_connections_count_as_errors_and_the_run_ends_with_a_verdict(tiny_db: Database,
                                                                             tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = subprocess.Popen([sys.executable, "-c", "from harness.cli import main; main()", "load", "--dsn",
                             tiny_db.dsn, "--in-place", "--users", "6", "--duration", "5s", "--proof-duration", "1s",
                             "--fidelity-duration", "1s", "--reports-dir", str(tmp_path / "reports"),
                             "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = _terminate_when_running(tiny_db.dsn, "wardbench-load/mixed", after_s=3.0)  # after the warm-up
    _, stderr = proc.communicate(timeout=300)
    assert killed >= 1
    assert proc.returncode == 1, stderr[-3000:]
    data = json.loads(out.read_text())
    load = data["load"]
    assert load["summary"]["errors"] >= 1 and load["summary"]["count"] > load["summary"]["errors"]
    error_kinds = {k for s in load["scenarios"] for k in s["error_kinds"]}
    assert error_kinds and error_kinds <= {"AdminShutdown", "OperationalError"}, error_kinds
    gates = {g["name"]: g for g in data["gates"]}
    assert gates["load error rate"]["verdict"] == "fail"
    assert data["verdict"] == "fail"
    # Everything else was still measured and judged.
    assert load["concurrency"]["readers"]["throughput_ratio"] and load["fidelity"]["rounds"][0]["pgbench_tps"] > 0
    assert load["timeline"] and {"readers_p95_ms", "writers_p95_ms"} <= set(load["timeline"][1])
    assert "verdict: fail" in stderr


def test_distributed_mode_merges_every_worker_process(tiny_db: Database, tmp_path: Path) -> None:
    outcome = _run(tiny_db, tmp_path, "distributed", 4, ("ReaderUser",), processes=2, think_time_s=0.01)
    merged = outcome.merged
    assert merged.processes == 2 and merged.users == 4 and merged.errors == 0
    per_process = [json.loads(p.read_text())["scenarios"] for p in (tmp_path / "distributed").glob("worker-*.json")]
    counts = [sum(s["count"] for s in scenarios.values()) for scenarios in per_process]
    assert len(counts) == 2 and all(counts) and sum(counts) == merged.count


def test_pgbench_runs_under_the_session_settings(fresh_db: Database) -> None:
    """The fidelity peer must run the statement as Locust does: with the scenario's settings in force."""
    statement = "SELECT 1 / (current_setting('work_mem') = '7MB')::int"  # division by zero unless set
    run = run_pgbench(fresh_db, statement, clients=1, duration_s=1, settings={"work_mem": "7MB"})
    assert run.tps > 0 and run.failed == 0
    with pytest.raises(EnvironmentFailure, match="pgbench failed"):
        run_pgbench(fresh_db, statement, clients=1, duration_s=1)


def test_remote_workers_hand_their_histograms_to_the_master_over_locust_messages(tiny_db: Database,
                                                                                 tmp_path: Path) -> None:
    """A master and two workers as separate commands in separate working directories (nothing shared but the
    master's port): the merged histograms hold exactly the requests the workers say they recorded."""
    from harness.load.histograms import decode

    port = str(_free_port())
    dirs = [tmp_path / d for d in ("master", "worker_a", "worker_b")]
    for d in dirs:
        d.mkdir()
    cli = [sys.executable, "-c", "from harness.cli import main; main()", "load"]
    master = subprocess.Popen([*cli, "--dsn", tiny_db.dsn, "--in-place", "--master", "--expect-workers", "2",
                               "--master-port", port, "--users", "4", "--duration", "3s", "--proof-duration", "1s",
                               "--fidelity-duration", "1s", "--reports-dir", "reports", "--json", "load.json"],
                              cwd=dirs[0], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = [subprocess.Popen([*cli, "--worker", "--master-host", "127.0.0.1", "--master-port", port], cwd=d,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for d in dirs[1:]]
    _, master_err = master.communicate(timeout=600)
    worker_err = [w.communicate(timeout=60)[1] for w in workers]
    assert master.returncode in (0, 1), master_err[-3000:]
    assert all(w.returncode == 0 for w in workers), worker_err
    sent = [int(line.split(": sent ")[1].split()[0]) for err in worker_err for line in err.splitlines()
            if ": sent " in line]
    assert len(sent) == 2 and all(sent), worker_err
    load = json.loads((dirs[0] / "load.json").read_text())["load"]
    assert load is not None, master_err[-3000:]
    assert load["distributed"] == {"expected_workers": 2, "workers_reported": 2, "master_port": int(port)}
    assert load["summary"]["count"] == sum(sent)
    payloads = list((dirs[0] / "reports").glob("*/load/mixed/worker-*.json"))
    assert len(payloads) == 2
    # One uncorrected sample per request; the corrected histogram adds back-filled ones (a request slower than
    # the think time on a busy runner), so it may hold more.
    hist_total = sum(decode(s["uncorrected"]).get_total_count() for p in payloads
                     for s in json.loads(p.read_text())["scenarios"].values())
    assert hist_total == sum(sent)
    assert not list(dirs[1].rglob("*.json")) and not list(dirs[2].rglob("*.json"))  # nothing written by workers


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
