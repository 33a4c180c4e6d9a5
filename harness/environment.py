"""The environment block of results.json: enough to tell whether two runs are comparable."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

from harness import REPO_ROOT, __version__
from harness.db import Database

# Server settings that change query and load timings; recorded so comparisons are honest.
SETTINGS = ("shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size", "max_connections",
            "max_parallel_workers_per_gather", "max_parallel_maintenance_workers", "synchronous_commit",
            "fsync", "jit", "random_page_cost", "hnsw.ef_search", "hnsw.iterative_scan", "ivfflat.probes",
            "ivfflat.iterative_scan")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except OSError:
        return None
    return out.stdout.strip() or None


def git_dirty() -> bool | None:
    """Whether tracked files differ from the commit: then the commit alone does not describe the code run."""
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True, timeout=5, check=False)
    except OSError:
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect_environment(db: Database | None) -> dict[str, Any]:
    """Machine, harness and (when a database is given) server facts."""
    env: dict[str, Any] = {
        "harness_version": __version__, "git_commit": git_commit(), "git_dirty": git_dirty(),
        "python": platform.python_version(),
        "platform": platform.platform(), "cpu_model": _cpu_model(), "cpu_count": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        # Other work on the machine when the run started: a busy shared runner explains noisy timings.
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    if db is None:
        return env
    with db.connect(autocommit=True) as conn:
        env["backend"] = db.server.backend
        env["database"] = db.name
        env["dsn"] = db.display_dsn
        env["postgres_version"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        if row is None:
            row = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
                               ).fetchone()
        env["pgvector_version"] = row[0] if row else None
        rows = conn.execute("SELECT s, current_setting(s, true) FROM unnest(%s::text[]) WITH ORDINALITY AS u(s, i) "
                            "ORDER BY i", (list(SETTINGS),)).fetchall()
        env["server_settings"] = dict(rows)  # one round trip; an unknown setting gives None
    return env
