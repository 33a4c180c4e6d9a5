"""Faults: a migration killed mid-step leaves the previous revision intact; crashed or interrupted runs
leave no database, server process or scratch directory behind; `wardbench faults` records the figures."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import alembic_project
from harness.config import RunConfig, new_run_id
from harness.db import Database, ServerHandle, open_database
from harness.db.base import scratch_database
from harness.db.embedded import EmbeddedServer, scratch_server
from harness.faults.cleanup import command_line, descendants, harness_databases, signal_run
from harness.faults.migration import BEFORE, SEED_ROWS, interrupted_migration, terminate_backend
from harness.pipeline import STAGES, run_stages
from harness.results import Results
from harness.results.faults import DroppedConnectionDetails

REPO = Path(__file__).resolve().parents[2]
ZEROED_BY_SEED = len([g for g in range(1, SEED_ROWS + 1) if g % 9973 == 0])  # amounts the seed makes 0


def _assert_previous_revision_intact(db: Database) -> None:
    """Checked here independently of the fault's own verdict."""
    assert alembic_project.current_revision(db) == BEFORE
    with db.connect() as conn:
        zero = conn.execute("SELECT count(*) FROM ledger WHERE amount = 0").fetchone()
        column = conn.execute("SELECT count(*) FROM information_schema.columns "
                              "WHERE table_name = 'ledger' AND column_name = 'amount_pence'").fetchone()
    assert zero == (ZEROED_BY_SEED,), "the interrupted step's UPDATE survived"
    assert column == (0,), "the interrupted step's ADD COLUMN survived"


def test_migration_step_killed_from_another_connection(fresh_db: Database) -> None:
    outcome = interrupted_migration(fresh_db)
    assert outcome.injected and outcome.survived, outcome.message
    assert "terminated with pg_terminate_backend" in outcome.message
    assert "database still at revision 001_create_ledger" in outcome.message
    assert "AdminShutdown" in outcome.message
    _assert_previous_revision_intact(fresh_db)


def test_the_fault_verdict_reports_damage_when_data_changed(fresh_db: Database) -> None:
    def kill_and_damage(db: Database, pid: int) -> str:
        how = terminate_backend(db, pid)
        with db.connect(autocommit=True) as conn:
            conn.execute("UPDATE ledger SET amount = amount + 1 WHERE id = 1")
        return how

    outcome = interrupted_migration(fresh_db, kill=kill_and_damage)
    assert outcome.injected and not outcome.survived
    assert "DAMAGED" in outcome.message and "checksums equal: False" in outcome.message


def _kill_server(server: EmbeddedServer) -> str:
    """kill -9 the postmaster and every backend: a server crash, recovered from WAL at the next start."""
    postmaster = server.postmaster_pid()
    assert postmaster is not None
    children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(p) == postmaster]
    for pid in [postmaster, *children]:  # the postmaster first, so it cannot start a crash recovery cycle
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    # Wait until reaped, not just dead: a zombie postmaster still owns the pid in postmaster.pid.
    while any(Path(f"/proc/{p}").exists() for p in [*children, postmaster]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"postmaster {postmaster} and {len(children)} server processes killed with SIGKILL"


def _ppid(proc_dir: Path) -> int | None:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@pytest.fixture
def own_server() -> Iterator[EmbeddedServer]:
    with scratch_server(18, {"shared_buffers": "64MB"}, prefix="tests-crash-") as server:
        yield server


def test_migration_step_survives_a_server_crash_and_restart(own_server: EmbeddedServer) -> None:
    with scratch_database(own_server.handle(), "crashme") as db:
        outcome = interrupted_migration(db, kill=lambda _db, _pid: _kill_server(own_server),
                                        after_kill=own_server.start)
        assert outcome.injected and outcome.survived, outcome.message
        assert "killed with SIGKILL" in outcome.message
        _assert_previous_revision_intact(db)
        log = (own_server.pgdata / "server.log").read_text()
        assert "database system was interrupted" in log or "not properly shut down" in log


def _dsn_config(server: ServerHandle) -> RunConfig:
    return RunConfig(backend="dsn", dsn=server.admin_dsn, run_id=new_run_id())


def test_a_stage_that_raises_leaves_no_database(pg_server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(cfg: RunConfig, db: Database, results: Results) -> None:
        raise RuntimeError("stage blew up")

    monkeypatch.setitem(STAGES, "crash", crash)
    cfg = _dsn_config(pg_server)
    results = Results(cfg.run_id, "test")
    with open_database(cfg) as db:
        run_stages(cfg, db, results, ["crash"])
        assert db.name in harness_databases(pg_server.admin_dsn)
    assert db.name not in harness_databases(pg_server.admin_dsn)
    assert [(g.name, g.verdict) for g in results.gates] == [("stage crash completed", "fail")]
    assert results.exit_code == 1 and "stage blew up" in results.gates[0].reason


def test_an_interrupt_inside_a_stage_still_drops_the_database(pg_server: ServerHandle,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(cfg: RunConfig, db: Database, results: Results) -> None:
        raise KeyboardInterrupt

    monkeypatch.setitem(STAGES, "interrupted", interrupted)
    cfg = _dsn_config(pg_server)
    with pytest.raises(KeyboardInterrupt), open_database(cfg) as db:
        run_stages(cfg, db, Results(cfg.run_id, "test"), ["interrupted"])
    assert f"wardbench_{cfg.run_id}" not in harness_databases(pg_server.admin_dsn)


def test_ctrl_c_to_an_embedded_run_stops_its_server_and_removes_its_files() -> None:
    outcome = signal_run(signal.SIGINT, "embedded", group=True)
    assert outcome.injected and outcome.survived, outcome.message
    assert "exit status 130" in outcome.message and "scratch directory removed" in outcome.message


def test_faults_command_records_injected_and_survived(pg_server: ServerHandle, tmp_path: Path) -> None:
    before = harness_databases(pg_server.admin_dsn)
    out = tmp_path / "faults.json"
    proc = subprocess.run([str(REPO / ".venv/bin/wardbench"), "faults", "--dsn", pg_server.admin_dsn,
                           "--reports-dir", str(tmp_path), "--json", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    faults = {f["name"]: f for f in data["faults"]["faults"]}
    assert len(faults) == 6 and data["faults"]["injected"] == 5 and data["faults"]["survived"] == 5
    killed = faults["server killed under AI writers"]  # never on a server the user named
    assert not killed["injected"] and killed["message"].startswith("not evaluated: ")
    gate = next(g for g in data["gates"] if g["name"] == "faults survived")
    assert gate["verdict"] == "pass" and gate["observed"] == 5
    assert harness_databases(pg_server.admin_dsn) == before


def _locust_running(pid: int) -> bool:
    return any("locust" in command_line(p) for p in descendants(pid))


def test_a_killed_load_run_leaves_no_database_and_no_locust(pg_server: ServerHandle) -> None:
    """`kill` (SIGTERM) while Locust runs: the disposable database and every child process must go."""
    outcome = signal_run(signal.SIGTERM, "dsn", pg_server.admin_dsn, group=False, timeout_s=180,
                         args=["load", "--scale-factor", "0.01", "--users", "4", "--duration", "60s",
                               "--proof-duration", "60s"], ready=_locust_running)
    assert outcome.injected and outcome.survived, outcome.message
    assert "exit status 143" in outcome.message and "none of its" in outcome.message


def test_a_killed_in_place_load_run_leaves_no_locust(fresh_db: Database) -> None:
    """With --in-place no database is dropped under Locust's feet: only the harness can end it."""
    from harness.config import load_profile
    from harness.datagen.loader import load_dataset
    from harness.faults.cleanup import process_alive, wardbench_argv

    alembic_project.upgrade(fresh_db, "head")
    load_dataset(fresh_db, load_profile("ci"), 0.01, seed=3)
    proc = subprocess.Popen([*wardbench_argv(), "load", "--dsn", fresh_db.dsn, "--in-place", "--users", "2",
                             "--duration", "60s", "--proof-duration", "60s", "--reports-dir",
                             tempfile.mkdtemp(prefix="wb-load-")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    locust: list[int] = []
    while not locust and time.monotonic() < deadline and proc.poll() is None:
        locust = [p for p in descendants(proc.pid) if "locust" in command_line(p)]
        time.sleep(0.1)
    assert locust, "Locust never started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 143
    deadline = time.monotonic() + 5
    while any(process_alive(p) for p in locust) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in locust if process_alive(p)]
    for pid in alive:  # clean up what the harness left, so the test run itself leaves nothing
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"Locust {alive} outlived the killed run"


def test_a_server_orphaned_by_kill_9_is_reaped_by_the_next_run(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    """SIGKILL cannot be cleaned up by its victim; the next embedded run stops and deletes what it left."""
    from harness.db.embedded import reap_orphans
    from harness.faults.cleanup import _pgdata_of, _postmaster_pid, _scratch_home, process_alive, start_child

    home = _scratch_home()
    monkeypatch.setenv("WARDBENCH_HOME", str(home))
    child = start_child({"WARDBENCH_BACKEND": "embedded"}, home, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while _pgdata_of(home) is None and time.monotonic() < deadline and child.proc.poll() is None:
            time.sleep(0.05)
        pgdata = _pgdata_of(home)
        assert pgdata is not None, "the child's server never came up"
        server_pid = _postmaster_pid(pgdata)
        assert reap_orphans() == []  # its owner is alive: not an orphan
        child.proc.kill()
        child.proc.wait()
        assert process_alive(server_pid) and pgdata.exists()  # what kill -9 leaves behind
        assert reap_orphans() == [pgdata.parent]
        assert not process_alive(server_pid) and not pgdata.parent.exists()
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
        shutil.rmtree(home, ignore_errors=True)


def test_a_connection_dropped_under_load_is_counted_request_for_request(fresh_db: Database, tmp_path: Path) -> None:
    """Exactly the sessions whose probe was in flight are terminated; each is one counted error, no more."""
    from harness.config import load_profile
    from harness.datagen.loader import load_dataset
    from harness.faults.load import dropped_connection_under_load

    alembic_project.upgrade(fresh_db, "head")
    load_dataset(fresh_db, load_profile("ci"), 0.01, seed=3)
    outcome = dropped_connection_under_load(fresh_db, tmp_path, seed=5)
    assert outcome.injected and outcome.survived, outcome.message
    details = outcome.details
    assert isinstance(details, DroppedConnectionDetails)
    assert details.terminated >= 1 and details.errors_counted == details.terminated, details
    assert sum(details.error_kinds.values()) + details.warmup_errors == details.terminated, details


def _ignores_sigint(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


def test_a_run_started_with_sigint_ignored_still_stops_on_ctrl_c(pg_server: ServerHandle, tmp_path: Path) -> None:
    """`wardbench load &` from a script starts with SIGINT ignored (inherited by every child): the CLI takes
    default handling back for itself and its children, so Ctrl-C (SIGINT to the job's group) stops the run."""
    from harness.faults.cleanup import process_alive, wardbench_argv

    before = harness_databases(pg_server.admin_dsn)
    reports = tmp_path / "reports"
    proc = subprocess.Popen([*wardbench_argv(), "load", "--dsn", pg_server.admin_dsn, "--scale-factor", "0.01",
                             "--users", "2", "--duration", "60s", "--proof-duration", "60s",
                             "--reports-dir", str(reports)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 180
        locust: list[int] = []
        while not locust and time.monotonic() < deadline and proc.poll() is None:
            locust = [p for p in descendants(proc.pid) if "locust" in command_line(p)]
            time.sleep(0.1)
        assert locust, "Locust never started"
        assert not _ignores_sigint(proc.pid) and not any(_ignores_sigint(p) for p in locust if process_alive(p))
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does to the job
        assert proc.wait(60) == 130, proc.stderr.read().decode()[-1500:] if proc.stderr else ""
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + 10
    while any(process_alive(p) for p in locust) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(process_alive(p) for p in locust), "Locust outlived the interrupted run"
    assert harness_databases(pg_server.admin_dsn) == before
    written = [p.name for p in reports.rglob("*") if p.name.startswith(".") or p.name.startswith("results")]
    assert not written, f"the interrupted run left {written}"
