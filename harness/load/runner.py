"""Run Locust headless in a subprocess (never imported here: it monkey-patches with gevent) and collect results."""

from __future__ import annotations

import csv
import ctypes
import math
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from harness.bench.session import pgoptions
from harness.db import Database, redact_dsn
from harness.errors import EnvironmentFailure
from harness.load.summary import MergedLoad, merge_payloads, read_payloads
from harness.load.workload import APPLICATION_NAME

LOCUSTFILE = Path(__file__).resolve().parents[2] / "scenarios" / "locustfile.py"
WARMUP_S = 1.0  # run before the measured duration: fresh sessions and cold caches are not the steady state
# Locust runs longer than the measured window (which each process opens when its first user starts):
# worker processes draw their parameters while the master's clock already runs.
SLACK_S = {True: 3.0, False: 1.0}
WORKER_WAIT_S = 120  # how long a master waits for its remote workers to connect
STARTUP_ALLOWANCE_S = 120  # Locust start, parameter sampling and worker hand-shakes, beyond the run time
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


@dataclass(frozen=True)
class LocustRun:
    """One headless Locust run: who runs, for how long, closed (think time) or open (rate) model."""

    label: str
    users: int
    duration_s: float
    classes: tuple[str, ...] = ("ReaderUser", "WriterUser")
    writers: int = 0
    think_time_s: float = 0.0
    rate_per_s: float = 0.0
    processes: int = 1
    expect_workers: int = 0  # > 0: a master for workers started elsewhere (`wardbench load --worker`)
    master_port: int = 5557
    only: tuple[str, ...] = ()
    scenario_dirs: tuple[Path, ...] = ()
    sql_file: Path | None = None
    sql_kind: str = "ward"
    seed: int = 42


@dataclass(frozen=True)
class LocustOutcome:
    """Merged measurements of a run plus Locust's own (rounded) p95 per scenario, for comparison."""

    run: LocustRun
    merged: MergedLoad
    locust_p95_ms: dict[str, float]
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _locust_run_time_s(run: LocustRun) -> float:
    """Locust's `-t`: a master's clock starts once its workers are ready, so the wait for them is not in it."""
    distributed = run.processes > 1 or run.expect_workers > 0
    return WARMUP_S + run.duration_s + SLACK_S[distributed]


def locust_command(run: LocustRun, out_dir: Path) -> list[str]:
    """The `locust` command line for `run`, writing its per-process results into `out_dir`."""
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(run.users),
           "-r", str(run.users), "-t", f"{math.ceil(_locust_run_time_s(run))}s", "--loglevel", "WARNING",
           "--only-summary", "--csv", str(out_dir / "locust"), "--wb-out", str(out_dir),
           "--wb-think-time", str(run.think_time_s), "--wb-rate", str(run.rate_per_s),
           "--wb-writers", str(run.writers), "--wb-warmup", str(WARMUP_S),
           "--wb-duration", str(run.duration_s), "--wb-seed", str(run.seed),
           "--wb-sql-kind", run.sql_kind]
    if run.only:
        cmd += ["--wb-only", ",".join(run.only)]
    if run.scenario_dirs:
        cmd += ["--wb-scenarios", os.pathsep.join(str(d) for d in run.scenario_dirs)]
    if run.sql_file is not None:
        cmd += ["--wb-sql-file", str(run.sql_file)]
    if run.expect_workers > 0:
        cmd += ["--master", "--expect-workers", str(run.expect_workers), "--expect-workers-max-wait",
                str(WORKER_WAIT_S), "--master-bind-port", str(run.master_port)]
    elif run.processes > 1:
        port = str(_free_port())  # not Locust's fixed 5557: runs by others may be using it
        cmd += ["--processes", str(run.processes), "--master-bind-port", port, "--master-port", port]
    return [*cmd, *run.classes]


def worker_command(master_host: str, master_port: int) -> list[str]:
    """`locust --worker` for a master on another host: scenarios, DSN and settings come from the master."""
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", master_host,
            "--master-port", str(master_port), "--loglevel", "WARNING"]


def session_env(db: Database, settings: dict[str, str], label: str) -> dict[str, str]:
    """Environment for load clients: the DSN (kept out of argv), session settings, and an application
    name per run (`wardbench-load/<label>` in pg_stat_activity)."""
    options = pgoptions(settings)
    env = {**os.environ, "WARDBENCH_DSN": db.dsn, "PGAPPNAME": f"{APPLICATION_NAME}/{label}",
           "PYTHONUNBUFFERED": "1"}
    if options:
        env["PGOPTIONS"] = options
    return env


def locust_percentiles(stats_csv: Path) -> dict[str, float]:
    """Locust's own p95 per scenario from its stats CSV (rounded to about two significant digits)."""
    if not stats_csv.is_file():
        return {}
    with stats_csv.open() as fh:
        return {row["Name"]: float(row["95%"]) for row in csv.DictReader(fh)
                if row["Name"] != "Aggregated" and row["95%"] not in ("", "N/A")}


def run_locust(db: Database, run: LocustRun, out_root: Path, settings: dict[str, str],
               console: Console | None = None, env: dict[str, str] | None = None) -> LocustOutcome:
    """Run Locust headless for `run` and merge what its processes recorded; no results is EnvironmentFailure.

    `env` adds environment variables for the Locust processes (e.g. PSYCOPG_WAIT_FUNC to force a wait).
    """
    out_dir = out_root / run.label
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("worker-*.json"):
        old.unlink()
    log = out_dir / "locust.log"
    with log.open("w") as log_fh:
        proc = subprocess.Popen(locust_command(run, out_dir), stdout=log_fh, stderr=subprocess.STDOUT,
                                env={**session_env(db, settings, run.label), **(env or {})},
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        try:
            _wait_with_progress(proc, run, console or Console(stderr=True))
        except BaseException:  # Ctrl-C or an overrun: Locust must not outlive the run that started it
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    payloads = read_payloads(out_dir)
    merged = merge_payloads(payloads)
    if merged.count + merged.warmup_requests == 0:  # no process ran a single request: say why
        lines = log.read_text(errors="replace").strip().splitlines()
        cause = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "no output")
        raise EnvironmentFailure(f"locust run {run.label!r} sent no requests (exit {proc.returncode}): "
                                 f"{redact_dsn(cause.strip())}; log: {log}")
    return LocustOutcome(run, merged, locust_percentiles(out_dir / "locust_stats.csv"), log)


def _die_with_parent() -> None:
    """In the Locust child before exec: ask Linux for SIGTERM when the harness dies, even by a signal
    it cannot catch (Locust then stops its own workers)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_with_progress(proc: subprocess.Popen[bytes], run: LocustRun, console: Console) -> None:
    """Show a bar over the run time while Locust works; kill it if it overruns by far."""
    total_s = _locust_run_time_s(run)
    allowance_s = STARTUP_ALLOWANCE_S + (WORKER_WAIT_S if run.expect_workers else 0)
    deadline = time.monotonic() + total_s + allowance_s
    start = time.monotonic()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"load {run.label}: {run.users} users", total=total_s)
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise EnvironmentFailure(f"locust run {run.label!r} did not finish within "
                                         f"{total_s + allowance_s:.0f} s")
            progress.update(task, completed=min(time.monotonic() - start, total_s))
            time.sleep(0.2)
