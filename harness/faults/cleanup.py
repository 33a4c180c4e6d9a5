"""Interrupt whole runs (a crash, Ctrl-C, `kill`) and prove no disposable database or server is left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from harness.config import RunConfig, new_run_id
from harness.db import Database, open_database
from harness.db.embedded import home_dir
from harness.faults.outcome import FaultOutcome

# The child run: a command that creates its disposable database, then works in it for a while.
CHILD_ARGS = ("backup", "verify")


def wardbench_argv() -> list[str]:
    """How to start the harness's own command line in a child process."""
    return [sys.executable, "-m", "harness"]


def harness_databases(admin_dsn: str) -> set[str]:
    """Names of the databases on the server that the harness creates (wardbench_<run id>...)."""
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'wardbench\\_%'").fetchall()
    return {str(r[0]) for r in rows}


def crash_inside_run(db: Database) -> FaultOutcome:
    """An exception escapes while a run's disposable database is open: the database must be dropped."""
    start = time.perf_counter()
    cfg = RunConfig(backend="dsn", dsn=db.server.admin_dsn, run_id=f"{new_run_id()}_crash")
    name = f"wardbench_{cfg.run_id}"
    created = False
    try:
        with open_database(cfg) as inner:
            created = inner.name in harness_databases(db.server.admin_dsn)
            raise RuntimeError("injected crash")
    except RuntimeError:
        pass
    left = name in harness_databases(db.server.admin_dsn)
    message = (f"RuntimeError raised inside run {cfg.run_id}; its database {name} "
               + ("was LEFT BEHIND" if left else "was dropped"))
    return FaultOutcome("crash inside a run", created, created and not left, message,
                        round(time.perf_counter() - start, 3))


@dataclass
class ChildRun:
    """A `wardbench` child process and how to see what it created."""

    proc: subprocess.Popen[bytes]
    home: Path


def start_child(env_extra: dict[str, str], home: Path, reports: Path,
                args: Sequence[str] = CHILD_ARGS) -> ChildRun:
    """Start `wardbench args` in its own session (so a group signal reaches only it and its children)."""
    env = {**os.environ, **env_extra, "WARDBENCH_HOME": str(home), "WARDBENCH_REPORTS": str(reports)}
    proc = subprocess.Popen([*wardbench_argv(), *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    return ChildRun(proc, home)


def _poll(condition: Callable[[], bool], proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if condition():
                return True
        except (OSError, ValueError, psycopg.Error):
            pass  # the child is still setting up: its server or pid file is not there yet
        time.sleep(0.02)
    return False


def _pgdata_of(home: Path) -> Path | None:
    """The child's pgdata once its postmaster is up (initdb's bootstrap writes a pid file too: skip it)."""
    for pidfile in sorted(home.glob("run-*/pgdata/postmaster.pid")):
        lines = pidfile.read_text().splitlines()
        if len(lines) >= 8 and lines[7].strip() == "ready":
            return pidfile.parent
    return None


def _embedded_admin_dsn(pgdata: Path) -> str:
    port = int((pgdata / "postmaster.pid").read_text().splitlines()[3])
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its reaper does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (a Locust run, pg_dump, a pg_ctl still starting...)."""
    parents = {int(p.name): _ppid(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent and process_alive(child)]
        found += kids
        frontier += kids
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains `text` (a pgdata path: a postmaster serving it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and process_alive(int(entry.name)):
                pids.append(int(entry.name))
    return pids


def _scratch_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="fault-home-", dir=home_dir()))
    home.chmod(0o755)  # as root the server runs as `pgserver`, which must reach pgdata
    return home


def signal_run(sig: signal.Signals, backend: str, admin_dsn: str | None = None, group: bool = True,
               timeout_s: float = 60, args: Sequence[str] = CHILD_ARGS,
               ready: Callable[[int], bool] | None = None) -> FaultOutcome:
    """Send `sig` to a `wardbench args` child mid-run and check nothing it owned survives.

    backend "dsn": the child works on `admin_dsn`'s server; its databases must all be dropped.
    backend "embedded": the child starts its own server; no postgres for its pgdata may remain and its
    scratch directory must be gone. In both, no process the child started may outlive it. `group` sends
    to the whole process group, as Ctrl-C in a terminal does; `ready(child pid)` delays the signal until
    the run reached the point to interrupt (e.g. its Locust subprocess runs).
    """
    start = time.perf_counter()
    name = (f"{sig.name} to {'the process group of ' if group else ''}`wardbench {' '.join(args)}` "
            f"on the {backend} backend")
    home = _scratch_home()
    try:
        with tempfile.TemporaryDirectory(prefix="fault-reports-") as reports:
            env = {"WARDBENCH_DSN": admin_dsn, "WARDBENCH_BACKEND": "dsn"} if backend == "dsn" and admin_dsn \
                else {"WARDBENCH_BACKEND": "embedded"}
            before = harness_databases(admin_dsn) if admin_dsn and backend == "dsn" else set()
            child = start_child(env, home, Path(reports), args)
            return _judge_signal(child, sig, backend, admin_dsn, before, group, name, start, timeout_s, ready)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _judge_signal(child: ChildRun, sig: signal.Signals, backend: str, admin_dsn: str | None,
                  before: set[str], group: bool, name: str, start: float, timeout_s: float,
                  ready: Callable[[int], bool] | None) -> FaultOutcome:
    proc, pgdata = child.proc, None
    if backend == "embedded":
        if _poll(lambda: _pgdata_of(child.home) is not None, proc, timeout_s):
            pgdata = _pgdata_of(child.home)
        admin_dsn = _embedded_admin_dsn(pgdata) if pgdata else None
    server_pid = _postmaster_pid(pgdata) if pgdata else None
    seen = _poll(lambda: bool(admin_dsn and harness_databases(admin_dsn) - before), proc, timeout_s)
    if seen and ready is not None:
        seen = _poll(lambda: ready(proc.pid), proc, timeout_s)
    ours = (harness_databases(admin_dsn) - before) if seen and admin_dsn else set()
    started = {p: command_line(p) for p in descendants(proc.pid)}
    if not seen or proc.poll() is not None:
        proc.kill()
        proc.wait()
        return FaultOutcome(name, False, False, "the child run ended before the fault could be injected")
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    try:
        code = proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return FaultOutcome(name, True, False, f"the run did not exit within {timeout_s:.0f} s of {sig.name}")
    return _leftovers(name, sig, code, backend, admin_dsn, before, ours, pgdata, server_pid, started, start)


def _leftovers(name: str, sig: signal.Signals, code: int, backend: str, admin_dsn: str | None,
               before: set[str], ours: set[str], pgdata: Path | None, server_pid: int | None,
               started: dict[int, str], start: float) -> FaultOutcome:
    deadline = time.monotonic() + 5  # a child told to stop gets a moment to go
    while any(process_alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    problems = [f"process {p} ({cmd[:80]}) outlived the run" for p, cmd in started.items() if process_alive(p)]
    if backend == "dsn" and admin_dsn:
        left = harness_databases(admin_dsn) - before
        problems += [f"database {d} left behind" for d in sorted(left)]
    if pgdata is not None:
        if server_pid is not None and process_alive(server_pid):
            problems.append(f"postgres pid {server_pid} still running")
        problems += [f"process {p} still serves {pgdata}" for p in processes_mentioning(str(pgdata))]
        if pgdata.parent.exists():
            problems.append(f"scratch directory {pgdata.parent} left behind")
    expected_code = 128 + int(sig)
    if code != expected_code:
        problems.append(f"exit status {code}, expected {expected_code}")
    what = f"{sig.name} while database(s) {', '.join(sorted(ours))} existed; exit status {code}; "
    what += ("; ".join(problems) if problems else
             "no database left" + (f", server pid {server_pid} stopped and its scratch directory removed"
                                   if pgdata else "") + f", none of its {len(started)} child processes left")
    return FaultOutcome(name, True, not problems, what, round(time.perf_counter() - start, 3))

