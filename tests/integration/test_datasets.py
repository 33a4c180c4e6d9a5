"""Prepared datasets on a real server: kept by generate, reused by copy (identical data), mismatches and unknown
names refused with exit 2 before any work, the dataset untouched by what a run does to its copy."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from harness.datagen.benchmark import SPEED_KEYS
from harness.datagen.loader import TABLES
from harness.datasets import store
from harness.datasets.record import DatasetRecord
from harness.db import Database, ServerHandle
from harness.verify.checksums import database_checksums

SCALE = "0.03"  # ci x 0.03: 72 wards, 1,800 posts and embeddings
SEED = "5"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = "from harness.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600,
                          check=False, env={**os.environ, **(env or {})})


def checksums(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, str]]:
    return {t: (c.rows, c.checksum) for t, c in database_checksums(conn, tables=list(TABLES)).items()}


@pytest.fixture(scope="module")
def dataset(pg_server: ServerHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetRecord]:
    """`wardbench generate --keep-dataset` at ci x 0.03 on the session's server (reached with --dsn)."""
    name = f"t-{secrets.token_hex(3)}"
    out = tmp_path_factory.mktemp("keep")
    proc = run_cli("generate", "--profile", "ci", "--seed", SEED, "--scale-factor", SCALE, "--keep-dataset", name,
                   "--dsn", pg_server.admin_dsn, "--json", str(out / "gen.json"), "--reports-dir", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = store.find(pg_server.admin_dsn, name)
    try:
        yield record
    finally:
        store.drop(pg_server.admin_dsn, record.database)


def common(pg_server: ServerHandle, out: Path) -> list[str]:
    return ["--profile", "ci", "--seed", SEED, "--scale-factor", SCALE, "--dsn", pg_server.admin_dsn,
            "--reports-dir", str(out)]


def test_keep_records_how_it_was_made_and_freezes_it(dataset: DatasetRecord, pg_server: ServerHandle) -> None:
    from harness import alembic_project

    assert (dataset.profile, dataset.seed, dataset.scale_factor) == ("ci", int(SEED), float(SCALE))
    assert dataset.head_revision == alembic_project.head_revision()
    assert dataset.generate is not None and dataset.generate.benchmark is None
    assert dataset.rows["posts"] == dataset.generate.planned_rows["posts"] > 0
    with psycopg.connect(pg_server.admin_dsn) as conn:
        row = conn.execute("SELECT datistemplate, datallowconn FROM pg_database WHERE datname = %s",
                           (dataset.database,)).fetchone()
    assert row == (True, False)  # a template nobody connects to: no accidental write, no blocked copy
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_server.database_dsn(dataset.database)).close()


def test_a_failed_speed_gate_fails_generate_and_keeps_the_dataset(pg_server: ServerHandle, tmp_path: Path) -> None:
    """generate_vs_floor at 1.0001 cannot be met (the floor is part of generate): exit 1, the dataset kept."""
    name = f"t-speed-{secrets.token_hex(3)}"
    proc = run_cli("generate", *common(pg_server, tmp_path), "--benchmark", "--target", "generate_vs_floor=1.0001",
                   "--keep-dataset", name, "--json", str(tmp_path / "gen.json"))
    try:
        assert proc.returncode == 1, proc.stderr[-2000:]
        gates = json.loads((tmp_path / "gen.json").read_text())["gates"]
        failed = {g["key"] for g in gates if g["verdict"] != "pass"}
        assert "generate_vs_floor" in failed and failed <= SPEED_KEYS  # at this size others may miss too
        assert store.find(pg_server.admin_dsn, name).rows["posts"] > 0
    finally:
        store.drop(pg_server.admin_dsn, f"wardbench_ds_{name}")


def test_copy_holds_exactly_the_datasets_data(dataset: DatasetRecord, pg_server: ServerHandle) -> None:
    target = f"t_copy_{secrets.token_hex(3)}"
    made = store.copy_dataset(pg_server, dataset, target)
    try:
        with store.opened(pg_server.admin_dsn, dataset) as conn:
            original = checksums(conn)
        with psycopg.connect(pg_server.database_dsn(target)) as conn:
            copied = checksums(conn)
    finally:
        pg_server.drop_database(target)
    assert made.method in ("clone", "copy")
    assert copied == original
    assert {t: r for t, (r, _) in original.items()} == dataset.rows
    assert dataset.generate is not None
    assert {t: c for t, (_, c) in original.items()} == {t: c.checksum for t, c in dataset.generate.checksums.items()}


def test_gate_starts_from_a_copy_instead_of_generating(dataset: DatasetRecord, pg_server: ServerHandle,
                                                       tmp_path: Path) -> None:
    proc = run_cli("gate", "--only", "schema", "--only", "generate", "--dataset", dataset.name,
                   "--json", str(tmp_path / "r.json"), *common(pg_server, tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["generate"]["from_dataset"]["name"] == dataset.name
    assert results["generate"]["copy_rows"] == dataset.rows
    assert results["dataset"]["dataset_digest"] == dataset.dataset_digest
    assert [g["verdict"] for g in results["gates"]] == ["pass"] * len(results["gates"])
    with psycopg.connect(pg_server.admin_dsn) as conn:  # the copy was the run's disposable database
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                            (f"wardbench_{results['run_id']}",)).fetchone()
    assert left == (0,)


def test_unknown_dataset_is_refused_listing_the_known_ones(dataset: DatasetRecord, pg_server: ServerHandle,
                                                           tmp_path: Path) -> None:
    proc = run_cli("bench", "--dataset", "no-such-set", *common(pg_server, tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert "unknown dataset 'no-such-set'" in proc.stderr and dataset.name in proc.stderr
    assert "--keep-dataset no-such-set" in proc.stderr
    assert not (tmp_path / "results.json").exists() and not list(tmp_path.glob("*/results.json"))


def _rewrite_record(pg_server: ServerHandle, record: DatasetRecord, **changes: Any) -> None:
    changed = DatasetRecord.from_json(json.dumps({**json.loads(record.to_json()), **changes}))
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(record.database), sql.Literal(store.COMMENT_PREFIX + changed.to_json())))


@pytest.mark.parametrize("changes, says", [
    ({"head_revision": "007"}, "built at revision 007, the chain's head is now"),
    ({"generator_digest": "0000000000000000"}, "generator digest 0000000000000000, now"),
])
def test_stale_dataset_is_refused_with_the_command_that_rebuilds_it(
        dataset: DatasetRecord, pg_server: ServerHandle, tmp_path: Path, changes: dict[str, str], says: str) -> None:
    _rewrite_record(pg_server, dataset, **changes)
    try:
        proc = run_cli("gate", "--dataset", dataset.name, *common(pg_server, tmp_path))
    finally:
        _rewrite_record(pg_server, dataset)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr
    assert (f"rebuild it with `wardbench generate --profile ci --seed {SEED} --scale-factor {SCALE} --dsn "
            f"'{pg_server.admin_dsn}' --keep-dataset {dataset.name}`") in proc.stderr
    assert proc.stderr.count("\n") == 1  # one line


def test_other_seed_is_refused_naming_the_flags_that_use_it_as_it_is(dataset: DatasetRecord,
                                                                    pg_server: ServerHandle, tmp_path: Path) -> None:
    args = common(pg_server, tmp_path)
    args[args.index("--seed") + 1] = "6"
    proc = run_cli("load", "--dataset", dataset.name, *args)
    assert proc.returncode == 2, proc.stderr
    assert f"seed {SEED}, this run 6" in proc.stderr
    assert f"run with `--profile ci --seed {SEED} --scale-factor {SCALE}` to use it as it is" in proc.stderr


def test_dataset_untouched_when_a_run_writes_to_its_copy(dataset: DatasetRecord, pg_server: ServerHandle,
                                                         tmp_path: Path) -> None:
    """`load` (AI writers insert reports while readers run) on a kept copy: the copy changed, the dataset
    did not (checksums before and after)."""
    with store.opened(pg_server.admin_dsn, dataset) as conn:
        before = checksums(conn)
    proc = run_cli("load", "--dataset", dataset.name, "--keep-database", "--users", "4", "--duration", "3s",
                   "--proof-duration", "1s", "--fidelity-duration", "1s", "--json", str(tmp_path / "r.json"),
                   *common(pg_server, tmp_path))
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # a missed latency target here is not the point
    run_db = f"wardbench_{json.loads((tmp_path / 'r.json').read_text())['run_id']}"
    try:
        with psycopg.connect(pg_server.database_dsn(run_db)) as conn:
            after_copy = checksums(conn)
    finally:
        pg_server.drop_database(run_db)
    with store.opened(pg_server.admin_dsn, dataset) as conn:
        after = checksums(conn)
    assert after_copy["ai_reports"][0] > before["ai_reports"][0]  # the writers wrote into the copy
    assert after == before


def test_destructive_change_to_a_copy_leaves_the_dataset_as_it_was(dataset: DatasetRecord,
                                                                   pg_server: ServerHandle) -> None:
    with store.opened(pg_server.admin_dsn, dataset) as conn:
        before = checksums(conn)
    target = f"t_wreck_{secrets.token_hex(3)}"
    store.copy_dataset(pg_server, dataset, target)
    try:
        with psycopg.connect(pg_server.database_dsn(target), autocommit=True) as conn:
            conn.execute("TRUNCATE posts CASCADE")
            conn.execute("UPDATE wards SET name = 'x'")
            conn.execute("ALTER TABLE ward_results DROP COLUMN votes")
    finally:
        pg_server.drop_database(target)
    with store.opened(pg_server.admin_dsn, dataset) as conn:
        assert checksums(conn) == before


def test_served_copy_replaces_the_previous_one(dataset: DatasetRecord, pg_server: ServerHandle) -> None:
    first = store.serve(pg_server, dataset)
    try:
        with psycopg.connect(first.dsn, autocommit=True) as conn:
            conn.execute("DELETE FROM ai_reports")
        second = store.serve(pg_server, dataset)
        assert second.name == first.name == f"wardbench_serve_{dataset.name}"
        with psycopg.connect(second.dsn) as conn:
            assert checksums(conn)["ai_reports"][0] == dataset.rows["ai_reports"]
    finally:
        pg_server.drop_database(first.name)


def test_keep_replaces_a_dataset_only_once_the_new_one_is_in_place(dataset: DatasetRecord,
                                                                    pg_server: ServerHandle) -> None:
    """Replacing dataset NAME: a run database that cannot take the name leaves the old dataset whole; one that
    can takes its place, and nothing is left aside."""
    name = f"t-re-{secrets.token_hex(3)}"
    record = replace(dataset, name=name)
    store.copy_database(pg_server.admin_dsn, dataset.database, record.database)
    try:
        with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
                sql.Identifier(record.database)))
        with store.opened(pg_server.admin_dsn, record) as conn:
            before = checksums(conn)
        gone = Database(dsn=pg_server.database_dsn("t_missing"), name="t_missing", server=pg_server,
                        disposable=True)
        with pytest.raises(psycopg.errors.InvalidCatalogName):
            store.keep(gone, record)
        with store.opened(pg_server.admin_dsn, record) as conn:
            assert checksums(conn) == before
        run = f"t_new_{secrets.token_hex(3)}"
        store.copy_database(pg_server.admin_dsn, dataset.database, run)
        with psycopg.connect(pg_server.database_dsn(run), autocommit=True) as conn:
            conn.execute("DELETE FROM ai_reports")
        store.keep(Database(dsn=pg_server.database_dsn(run), name=run, server=pg_server, disposable=True), record)
        with store.opened(pg_server.admin_dsn, record) as conn:
            assert checksums(conn)["ai_reports"][0] == 0
        with psycopg.connect(pg_server.admin_dsn) as conn:
            left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                (record.database + "%",)).fetchall()
        assert left == [(record.database,)]
    finally:
        store.drop(pg_server.admin_dsn, record.database)


def test_copy_is_a_database_of_the_run(dataset: DatasetRecord, pg_server: ServerHandle) -> None:
    with store.dataset_copy(pg_server, dataset, f"t_run_{secrets.token_hex(3)}") as db:
        assert isinstance(db, Database) and db.disposable and db.dataset is not None
        assert db.dataset.record == dataset
        name = db.name
    with psycopg.connect(pg_server.admin_dsn) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None


def test_capacity_sweeps_prepared_datasets_as_its_sizes(pg_server: ServerHandle, tmp_path: Path) -> None:
    names = [f"t-cap{i}-{secrets.token_hex(2)}" for i in range(3)]
    try:
        for name, scale in zip(names, ("0.1", "0.2", "0.4"), strict=True):  # capacity x: 1k, 2k, 4k posts
            proc = run_cli("generate", "--profile", "capacity", "--scale-factor", scale, "--keep-dataset", name,
                           "--dsn", pg_server.admin_dsn, "--reports-dir", str(tmp_path))
            assert proc.returncode == 0, proc.stderr[-2000:]
        proc = run_cli("capacity", *[a for n in names for a in ("--dataset", n)], "--scenario", "ward_dashboard",
                       "--rounds", "10", "--dsn", pg_server.admin_dsn, "--reports-dir", str(tmp_path),
                       "--json", str(tmp_path / "cap.json"))
        assert proc.returncode in (0, 1), proc.stderr[-3000:]
        cap = json.loads((tmp_path / "cap.json").read_text())["capacity"]
        assert [(load["dataset"], load["posts"]) for load in cap["loads"]] == \
            [(n, p) for n, p in zip(names, (1000, 2000, 4000), strict=True)]
        assert sorted({p["posts"] for p in cap["points"]}) == [1000, 2000, 4000]
        assert cap["fits"] and cap["fits"][0]["n_points"] == 3
    finally:
        for name in names:
            store.drop(pg_server.admin_dsn, f"wardbench_ds_{name}")


def test_rehearsal_downgrades_its_copy_and_leaves_the_dataset_as_it_was(
        dataset: DatasetRecord, pg_server: ServerHandle, tmp_path: Path) -> None:
    """`migrate rehearse --dataset` (the newest revision downgraded and upgraded again, under live load) works
    on a copy: the rehearsal ran on the dataset's data, the dataset's checksums are as before."""
    with store.opened(pg_server.admin_dsn, dataset) as conn:
        before = checksums(conn)
    args = common(pg_server, tmp_path)[:-2]  # migrate rehearse has no --reports-dir: the environment names it
    proc = run_cli("migrate", "rehearse", "--dataset", dataset.name, "--baseline", "1s", "--live-rate", "20",
                   "--json", str(tmp_path / "r.json"), *args, env={"WARDBENCH_REPORTS_DIR": str(tmp_path)})
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["generate"]["from_dataset"]["name"] == dataset.name
    assert [s["direction"] for s in results["rehearsal"]["steps"]][:1] == ["downgrade"]
    with store.opened(pg_server.admin_dsn, dataset) as conn:
        assert checksums(conn) == before
