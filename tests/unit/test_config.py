"""Config parsing at the edge: typed values out, one clear UsageError for anything else."""

from __future__ import annotations

import pytest

from harness.config import build_config, load_profile, parse_count, parse_duration, parse_list
from harness.db import redact_dsn
from harness.errors import UsageError


@pytest.mark.parametrize(("text", "seconds"), [("60", 60), ("60s", 60), ("5m", 300), ("1m30s", 90),
                                               ("1h", 3600), ("0.5s", 0.5)])
def test_parse_duration_accepts_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "-5s", "0s", "5 minutes"])
def test_parse_duration_rejects_with_one_line(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_duration(text)
    assert "\n" not in info.value.message and "duration" in info.value.message


def test_parse_count_and_list() -> None:
    assert parse_list("10k,100k,1m") == [10_000, 100_000, 1_000_000]
    for bad in ("-1", "0", "1g", "ten"):
        with pytest.raises(UsageError):
            parse_count(bad)


def test_unknown_profile_lists_choices() -> None:
    with pytest.raises(UsageError, match="choose one of capacity, ci, release"):
        load_profile("nightly")


def test_precedence_cli_over_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text("[tool.wardbench]\nseed = 5\nprofile = 'release'\n")
    monkeypatch.setenv("WARDBENCH_PROFILE", "capacity")
    cfg = build_config(cwd=tmp_path, seed=None)
    assert (cfg.seed, cfg.profile) == (5, "capacity")
    assert build_config(cwd=tmp_path, profile="ci", seed=9).profile == "ci"


def test_dsn_selects_dsn_backend_and_bad_inputs_are_usage_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert build_config(cwd=tmp_path, dsn="postgresql://u@localhost/db").backend == "dsn"
    for bad in ({"pg_version": 15}, {"scale_factor": -1.0}, {"backend": "sqlite"},
                {"dsn": "postgresql://u@h:notaport/db"}, {"backend": "dsn"}):
        with pytest.raises(UsageError):
            build_config(cwd=tmp_path, **bad)


@pytest.mark.parametrize("text", [
    "postgresql://alice:s3cr3t@db.example:5432/app",
    "postgres://alice:s3cr3t@db/app?sslmode=require",
    "postgresql+psycopg://alice:s3cr3t@db/app",
    "host=db user=alice password=s3cr3t dbname=app",
    "host=db password='s3 cr3t' dbname=app",
])
def test_redact_dsn_hides_password(text: str) -> None:
    out = redact_dsn(f"error connecting to {text}: refused")
    assert "s3cr3t" not in out and "s3 cr3t" not in out and "***" in out
