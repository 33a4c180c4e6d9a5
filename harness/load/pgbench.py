"""The bundled pgbench running one fixed statement: the peer our load generator's throughput is judged by."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.bench.session import pgoptions
from harness.db import Database, redact_dsn
from harness.errors import EnvironmentFailure

_TPS = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.MULTILINE)
_DONE = re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([\d.]+) ms", re.MULTILINE)


@dataclass(frozen=True)
class PgbenchRun:
    """What pgbench reported: throughput, transactions, failures and mean latency (it gives no percentiles)."""

    tps: float
    transactions: int
    failed: int
    latency_avg_ms: float | None
    clients: int
    duration_s: int


def run_pgbench(db: Database, statement: str, clients: int, duration_s: int, threads: int = 1,
                settings: dict[str, str] | None = None) -> PgbenchRun:
    """Run `statement` (literal SQL, no parameters) from `clients` connections on `threads` threads, with
    the session `settings` in force (through PGOPTIONS, as the Locust processes get them).

    `-M extended` matches our sessions: parameters bound per execution, never prepared (bench.session).
    """
    with tempfile.TemporaryDirectory(prefix="wardbench-pgbench-") as tmp:
        script = Path(tmp) / "statement.sql"
        script.write_text(statement.strip().rstrip(";") + ";\n")
        args = [str(db.bin_dir / "pgbench"), "-n", "-M", "extended", "-f", str(script), "-T", str(duration_s),
                "-c", str(clients), "-j", str(min(clients, threads))]
        env = {**os.environ, **db.libpq_env()}
        if settings:
            env["PGOPTIONS"] = pgoptions(settings)
        try:
            proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=duration_s + 120,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EnvironmentFailure(f"pgbench could not run: {exc}") from exc
    tps = _TPS.search(proc.stdout)
    if proc.returncode != 0 or tps is None:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise EnvironmentFailure(f"pgbench failed (exit {proc.returncode}): {redact_dsn(tail[0])}")
    done, failed, latency = _DONE.search(proc.stdout), _FAILED.search(proc.stdout), _LATENCY.search(proc.stdout)
    return PgbenchRun(float(tps.group(1)), int(done.group(1)) if done else 0, int(failed.group(1)) if failed else 0,
                      float(latency.group(1)) if latency else None, clients, duration_s)
