"""Embedded PostgreSQL + pgvector from a bundled build (see `builds`), listening on 127.0.0.1 and a unix socket.

The wheels' `get_server()` start postgres with `-h ""` (no TCP), so we only borrow their initdb (which also
creates and uses the `pgserver` system user when run as root) and run `pg_ctl` ourselves.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from harness.db.base import ServerHandle
from harness.db.builds import DEFAULTS, SUPPORTED_VERSIONS, SYSTEM_USER, Build, build_for
from harness.errors import EnvironmentFailure, UsageError

if TYPE_CHECKING:
    from harness.config import RunConfig

def home_dir() -> Path:
    """Where embedded servers live: `WARDBENCH_HOME`, else a per-user folder in the temp dir.

    The temp dir (not ~) because as root the server runs as `pgserver`, which must reach pgdata.
    """
    default = Path(tempfile.gettempdir()) / f"wardbench-{os.getuid()}"
    path = Path(os.environ.get("WARDBENCH_HOME", default))
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def bin_dir(version: int) -> Path:
    """Directory of the bundled binaries (postgres, pg_ctl, pg_dump, pg_restore, pgbench) serving `version`."""
    return build_for(version).bin_dir


PORT_ATTEMPTS = 3  # starts on a newly chosen port when the one found free was taken meanwhile


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_user() -> str | None:
    """The user postgres (and tools writing its files) run as: `pgserver` when we are root, else ourselves."""
    return SYSTEM_USER if os.geteuid() == 0 else None


def _run_as_server_user(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    user = server_user()
    return subprocess.run(args, user=user, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class EmbeddedServer:
    """One postgres cluster in `pgdata` of `build`, started with TCP on 127.0.0.1:`port` and `settings` as -c."""

    pgdata: Path
    build: Build
    port: int = 0
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.build.version

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"

    def handle(self) -> ServerHandle:
        return ServerHandle(self.admin_dsn, "embedded", self.build.bin_dir, self.log_file)

    def start(self) -> None:
        """Start the server; on failure nothing is left running and the log's reason is reported."""
        self.build.initdb(self.pgdata)
        chosen = not self.port
        for attempt in range(PORT_ATTEMPTS if chosen else 1):
            self.port = _free_port() if chosen else self.port
            detail = self._pg_ctl_start()
            if detail is None:
                break
            # A port found free can be taken before postgres binds it (another client's ephemeral port).
            if not (chosen and "could not bind" in detail and attempt + 1 < PORT_ATTEMPTS):
                raise EnvironmentFailure(f"embedded PostgreSQL {self.version} ({self.build.package}) did not "
                                         f"start: {detail}")
        self._wait_ready()

    def _pg_ctl_start(self) -> str | None:
        """`pg_ctl start`; None when it started, else why not: the log's bind failure, else its first FATAL or
        PANIC line (the last line only says the server shut down again), else its last line."""
        # TCP only: a Unix socket's path must fit 107 bytes (sun_path); a deep WARDBENCH_HOME (a CI tmp) is longer.
        opts = [f"-h 127.0.0.1 -p {self.port} -k ''"]
        opts += [f"-c {k}={v}" for k, v in sorted(self.settings.items())]
        log = self.log_file
        offset = log.stat().st_size if log.exists() else 0
        proc = _run_as_server_user([str(self.build.bin_dir / "pg_ctl"), "-w", "-t", "60", "-D",
                                    str(self.pgdata), "-l", str(log), "-o", " ".join(opts), "start"])
        if proc.returncode == 0:
            return None
        self.stop()
        lines = (log.read_bytes()[offset:] if log.exists() else b"").decode(errors="replace").strip().splitlines()
        fatal = [ln for ln in lines if "FATAL:" in ln or "PANIC:" in ln]
        bind = [ln for ln in lines if "could not bind" in ln]
        return (bind or fatal or lines[-1:] or [proc.stderr.strip()])[0]

    def _wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.admin_dsn, connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise EnvironmentFailure(f"embedded server on port {self.port} never accepted "
                                             f"connections: {exc}") from exc
                time.sleep(0.1)

    def postmaster_pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def stop(self) -> None:
        """Stop fast; kill the postmaster if pg_ctl cannot, so no server outlives its owner."""
        if self.postmaster_pid() is None:
            return
        _run_as_server_user([str(self.build.bin_dir / "pg_ctl"), "-D", str(self.pgdata),
                             "-m", "fast", "-w", "-t", "30", "stop"])
        pid = self.postmaster_pid()
        if pid is not None:
            os.kill(pid, signal.SIGQUIT)
            time.sleep(0.5)


# --- long-lived server for `wardbench db start|stop|status` -------------------------------------

def _state_file() -> Path:
    return home_dir() / "server.json"


def running_persistent() -> EmbeddedServer | None:
    """The long-lived server recorded by `db start`, if it is still running."""
    try:
        state = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return None
    version = int(state["version"])
    server = EmbeddedServer(Path(state["pgdata"]), Build(state.get("package", DEFAULTS[version]), version),
                            int(state["port"]))
    return server if server.postmaster_pid() is not None else None


def start_persistent(version: int, port: int, settings: dict[str, str]) -> EmbeddedServer:
    """Start (or find) the long-lived server and record it for later commands."""
    build = build_for(version)
    existing = running_persistent()
    if existing is not None:
        if existing.build != build:
            raise UsageError(f"an embedded PostgreSQL {existing.version} server ({existing.build.package}) is already "
                             "running: run `wardbench db stop` first")
        return existing
    # The default build keeps the plain name; another build of the same version gets a cluster of its own.
    name = f"pg{version}" if build.package == DEFAULTS[version] else f"pg{version}-{build.package}"
    server = EmbeddedServer(home_dir() / name / "pgdata", build, port, settings)
    server.start()
    _state_file().write_text(json.dumps({"pgdata": str(server.pgdata), "version": version,
                                         "package": build.package, "port": server.port}))
    return server


def stop_persistent() -> bool:
    """Stop the long-lived server; return whether one was running."""
    server = running_persistent()
    _state_file().unlink(missing_ok=True)
    if server is None:
        return False
    server.stop()
    return True


OWNER_FILE = "owner.pid"  # in each throwaway server's scratch directory: the harness process that owns it


def _owner_alive(scratch: Path) -> bool:
    try:
        os.kill(int((scratch / OWNER_FILE).read_text()), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError):
        return True  # no owner file yet (being created) or not ours to judge: leave it
    return True


def reap_orphans() -> list[Path]:
    """Stop and delete throwaway servers whose owning process died without cleaning up (kill -9).

    Returns the scratch directories removed.
    """
    reaped = []
    for scratch in sorted(home_dir().glob("run-*")):
        if _owner_alive(scratch):
            continue
        pgdata = scratch / "pgdata"
        try:
            version = int((pgdata / "PG_VERSION").read_text().strip())
        except (OSError, ValueError):
            version = 0
        if version in SUPPORTED_VERSIONS:
            EmbeddedServer(pgdata, build_for(version)).stop()  # any build of that major version stops it
        shutil.rmtree(scratch, ignore_errors=True)
        reaped.append(scratch)
    return reaped


@contextmanager
def scratch_server(version: int, settings: dict[str, str] | None = None, port: int = 0,
                   prefix: str = "run-", prepare: Callable[[Path], None] | None = None) -> Iterator[EmbeddedServer]:
    """A throwaway server in a new directory under home_dir(), stopped and deleted on exit whatever happens.

    Only `run-*` directories are reaped by `reap_orphans()`: other prefixes (tests') are left to their owner.
    `prepare(pgdata)` runs before the start: it may fill the (not yet existing) data directory, e.g. with a
    restored base backup, which the server then starts from instead of a fresh initdb.
    """
    scratch = Path(tempfile.mkdtemp(prefix=prefix, dir=home_dir()))
    (scratch / OWNER_FILE).write_text(str(os.getpid()))
    scratch.chmod(0o755)
    server = EmbeddedServer(scratch / "pgdata", build_for(version), port, dict(settings or {}))
    try:
        if prepare is not None:
            prepare(server.pgdata)
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def open_server(cfg: RunConfig) -> Iterator[ServerHandle]:
    """Use the long-lived server when `db start` left one; else a throwaway one, stopped and deleted after."""
    build = build_for(cfg.pg_version)  # validate the version and build before anything starts
    persistent = running_persistent()
    if persistent is not None and persistent.build == build:
        yield persistent.handle()
        return
    reap_orphans()
    with scratch_server(cfg.pg_version, cfg.server_settings, cfg.port) as server:
        yield server.handle()
