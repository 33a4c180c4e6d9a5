"""Dataset records without a server: names, the generator digest, what counts as a mismatch and what the
refusal tells the user to run; --dataset refused before any server starts where no dataset can live."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import load_profile
from harness.datasets.record import (
    GENERATOR_SOURCES,
    DatasetRecord,
    Expected,
    check_fresh,
    check_name,
    generator_digest,
    mismatches,
)
from harness.errors import UsageError

RECORD = DatasetRecord(name="ci", profile="ci", seed=42, scale_factor=1.0, head_revision="009",
                       generator_digest="abc", dataset_digest="d1", rows={"posts": 10})
EXPECTED = Expected("ci", 42, 1.0, "009", "abc")


def test_record_round_trips_through_its_comment_json() -> None:
    assert DatasetRecord.from_json(RECORD.to_json()) == RECORD
    assert RECORD.database == "wardbench_ds_ci"


@pytest.mark.parametrize("name", ["", "Upper", "-lead", "a" * 41, "with space", "semi;colon"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="a dataset name is 1-40 lowercase"):
        check_name(name, "--dataset")


def test_generator_digest_follows_the_data_keys_not_the_rest() -> None:
    ci = load_profile("ci")
    assert generator_digest(ci) == generator_digest(dict(ci))
    assert generator_digest({**ci, "posts": 1}) != generator_digest(ci)
    assert generator_digest({**ci, "description": "other", "embeddings": "model"}) == generator_digest(ci)
    assert generator_digest({**ci, "load": {"users": 1}}) == generator_digest(ci)  # run settings, not data


def test_generator_digest_follows_the_chain_revisions(tmp_path: Path) -> None:
    """An index option edited in a revision (013's ef_construction) changes what generate builds: the digest."""
    ci = load_profile("ci")
    datagen, versions = (tmp_path / "datagen", tmp_path / "versions")
    for copy, source in zip((datagen, versions), GENERATOR_SOURCES, strict=True):
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert generator_digest(ci, (datagen, versions)) == generator_digest(ci)
    revision = next(versions.glob("013_*.py"))
    revision.write_text(revision.read_text().replace("ef_construction = ", "ef_construction = 1"))
    assert generator_digest(ci, (datagen, versions)) != generator_digest(ci)


def test_a_fresh_record_matches() -> None:
    assert mismatches(RECORD, EXPECTED) == []
    check_fresh(RECORD, EXPECTED)


def test_stale_record_names_each_difference_and_the_rebuild_command() -> None:
    expected = Expected("ci", 42, 1.0, "010", "fff")
    assert mismatches(RECORD, expected) == [
        "built at revision 009, the chain's head is now 010",
        "generator digest abc, now fff "
        "(harness/datagen, a revision of the reference chain or the profile's data changed)"]
    with pytest.raises(UsageError) as err:
        check_fresh(RECORD, expected)
    assert err.value.message.endswith("rebuild it with `wardbench generate --profile ci --seed 42 --keep-dataset ci`")


def test_other_settings_offer_the_flags_that_use_it_first() -> None:
    with pytest.raises(UsageError) as err:
        check_fresh(RECORD, Expected("release", 7, 0.5, "009", "abc"))
    message = err.value.message
    assert "profile ci, this run release; seed 42, this run 7; scale factor 1, this run 0.5" in message
    assert "run with `--profile ci --seed 42` to use it as it is, or rebuild it with `wardbench generate " \
           "--profile release --seed 7 --scale-factor 0.5 --keep-dataset ci` (replacing it)" in message


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI run in `home` (its working directory, so default reports/ land there, and WARDBENCH_HOME)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDBENCH_")}
    env["WARDBENCH_HOME"] = str(home)
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False, env=env, cwd=home)


@pytest.mark.parametrize("args, says", [
    (["bench", "--dataset", "ci"], "datasets live on the long-lived embedded server (PostgreSQL 18), which is "
                                   "not running: start it with `wardbench db start` first"),
    (["generate", "--keep-dataset", "ci"], "--keep-dataset ci: datasets live on the long-lived"),
    (["gate", "--dataset", "ci", "--backend", "container"], "the container backend's server lives only as long"),
    (["load", "--dataset", "ci", "--in-place", "--dsn", "postgresql://u@127.0.0.1:1/x"], "and --in-place"),
    (["gate", "--dataset", "Bad Name"], "a dataset name is 1-40"),
    (["migrate", "rehearse", "--dataset", "ci", "--alembic-ini", "x.ini"], "--alembic-ini chains are seeded"),
])
def test_refused_before_any_server_starts(tmp_path: Path, args: list[str], says: str) -> None:
    proc = _cli(tmp_path, *args)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr
    assert not list(tmp_path.glob("run-*")) and not (tmp_path / "reports").exists()  # no server, no reports


def test_locust_web_ui_host_defaults_to_wardbench_dsn() -> None:
    code = ("import runpy; ns = runpy.run_path('scenarios/locustfile.py'); "
            "print(ns['ReaderUser'].host, ns['WriterUser'].host)")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "WARDBENCH_DSN": "postgresql://postgres@127.0.0.1:5/wardbench_serve_ci"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                          cwd=root, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [env["WARDBENCH_DSN"]] * 2
