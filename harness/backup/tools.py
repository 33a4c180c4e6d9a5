"""Run the bundled pg_dump and pg_restore with credentials in the environment, never in argv."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.db import Database, redact_dsn
from harness.errors import EnvironmentFailure

# Vectors dump as text and compress slowly: -Fc on 100k vectors takes 32 s compressed, 2.8 s with -Z0.
DUMP_COMPRESSION = 0
# Restore is dominated by rebuilding indexes (HNSW above all): two jobs build two indexes at once.
RESTORE_JOBS = max(1, min(2, os.cpu_count() or 1))


def dump_command(db: Database, path: Path, compression: int = DUMP_COMPRESSION) -> list[str]:
    """pg_dump argv for a custom-format dump of `db` to `path`; the target comes from PG* variables."""
    return [str(db.bin_dir / "pg_dump"), "--format=custom", f"--compress={compression}", "--no-sync",
            f"--file={path}"]


def restore_command(db: Database, path: Path) -> list[str]:
    """pg_restore argv loading `path` into `db` (which must exist and be empty)."""
    return [str(db.bin_dir / "pg_restore"), "--exit-on-error", "--no-owner", "--no-acl",
            f"--jobs={RESTORE_JOBS}", f"--dbname={db.name}", str(path)]


def run_client(argv: list[str], db: Database, what: str) -> None:
    """Run a client tool against `db`; a failure raises EnvironmentFailure with its last error line."""
    env = {**os.environ, **db.libpq_env()}
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise EnvironmentFailure(f"{what} could not run ({argv[0]}): {exc}") from exc
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit status {proc.returncode}"
        raise EnvironmentFailure(f"{what} failed on database {db.name}: {redact_dsn(detail)}")


def dump(db: Database, path: Path, compression: int = DUMP_COMPRESSION) -> None:
    run_client(dump_command(db, path, compression), db, "pg_dump")


def restore(db: Database, path: Path) -> None:
    run_client(restore_command(db, path), db, "pg_restore")
