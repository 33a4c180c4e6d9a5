"""Config parsing at the edge: typed values out, one clear UsageError for anything else."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.bench.scenarios import KINDS
from harness.config import (
    build_config,
    load_profile,
    parse_count,
    parse_duration,
    parse_list,
)
from harness.db import redact_dsn
from harness.errors import UsageError
from harness.footprint import check_fits, estimate
from harness.gates import not_evaluated
from harness.targets import REGISTRY, defaults


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


# --- typed configuration: [tool.wardbench], WARDBENCH_* and the CLI through one strict settings model ---

def _pyproject(tmp_path: Path, body: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.wardbench]\n" + body)
    return tmp_path


def test_a_string_false_is_refused_not_truthy(tmp_path: Path) -> None:
    """`in_place = "false"` used to turn in-place mode on (any non-empty string is true)."""
    with pytest.raises(UsageError) as info:
        build_config(cwd=_pyproject(tmp_path, 'in_place = "false"\n'))
    message = info.value.message
    assert "in_place" in message and "'false'" in message and "pyproject.toml" in message
    assert "true or false, without quotes" in message and "\n" not in message
    assert build_config(cwd=_pyproject(tmp_path, "in_place = false\n")).in_place is False
    assert build_config(cwd=_pyproject(tmp_path, "in_place = true\n")).in_place is True


@pytest.mark.parametrize(("typo", "meant"), [("profle", "profile"), ("scale_factr", "scale_factor"),
                                             ("inplace", "in_place"), ("keep_databse", "keep_database")])
def test_unknown_key_names_the_closest_valid_one(tmp_path: Path, typo: str, meant: str) -> None:
    with pytest.raises(UsageError, match=f"unknown setting '{typo}' in \\[tool.wardbench\\].*did you mean '{meant}'"):
        build_config(cwd=_pyproject(tmp_path, f"{typo} = 1\n"))


@pytest.mark.parametrize(("line", "needle"), [
    ("seed = 1.7", "seed = 1.7 .*a whole number"),  # refused, not truncated to 1
    ("seed = -5", "bad seed -5"),
    ("seed = 9223372036854775808", "bad seed"),
    ('seed = "42"', "seed = '42' .*a whole number"),
    ("scale_factor = inf", "bad scale factor inf"),
    ("scale_factor = nan", "bad scale factor nan"),
    ('scale_factor = "2"', "scale_factor = '2' .*a number"),
    ("pg_version = 16.0", "pg_version = 16.0"),
    ("port = 70000", "bad port 70000"),
    ("profile = 3", "profile = 3 .*a string"),
    ('profile = "relase"', "did you mean 'release'"),
    ("[tool.wardbench.targets]\nward_p95_ms = -5", "bad target ward_p95_ms=-5"),
    ("[tool.wardbench.targets]\nward_p59_ms = 5", "unknown target 'ward_p59_ms'.*valid keys are ward_p95_ms"),
    ("[tool.wardbench.verify]\naccepts = {}", "unknown setting 'verify.accepts'.*did you mean 'accept'"),
])
def test_bad_values_are_one_line_usage_errors(tmp_path: Path, line: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle) as info:
        build_config(cwd=_pyproject(tmp_path, line + "\n"))
    assert "\n" not in info.value.message


def test_verify_accept_table_is_allowed(tmp_path: Path) -> None:
    """The migration verifier's acknowledged findings live in [tool.wardbench.verify.accept]."""
    cfg = build_config(cwd=_pyproject(tmp_path, 'profile = "ci"\n[tool.wardbench.verify.accept."003_drop_x"]\n'
                                                 'kinds = ["lossy"]\nreason = "table retired in 2025"\n'))
    assert cfg.profile == "ci"


def test_environment_values_are_typed_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WARDBENCH_IN_PLACE", "true")
    monkeypatch.setenv("WARDBENCH_SEED", "7")
    monkeypatch.setenv("WARDBENCH_REPORTS", str(tmp_path / "r"))
    cfg = build_config(cwd=tmp_path)
    assert (cfg.in_place, cfg.seed, cfg.reports_dir) == (True, 7, tmp_path / "r")
    monkeypatch.setenv("WARDBENCH_IN_PLACE", "no")  # environment values are strings: the usual spellings count
    assert build_config(cwd=tmp_path).in_place is False
    monkeypatch.setenv("WARDBENCH_IN_PLACE", "flase")
    with pytest.raises(UsageError, match="in_place = 'flase' in WARDBENCH_IN_PLACE: must be a boolean"):
        build_config(cwd=tmp_path)
    monkeypatch.delenv("WARDBENCH_IN_PLACE")
    monkeypatch.setenv("WARDBENCH_SEED", "1.7")
    with pytest.raises(UsageError, match="seed = '1.7' in WARDBENCH_SEED: must be a whole number"):
        build_config(cwd=tmp_path)


def test_precedence_cli_environment_pyproject_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _pyproject(tmp_path, "seed = 5\nscale_factor = 0.5\n[tool.wardbench.targets]\nward_p95_ms = 80\n"
                         "recall_at_10 = 0.9\n[tool.wardbench.server_settings]\nwork_mem = '64MB'\njit = false\n")
    monkeypatch.setenv("WARDBENCH_SEED", "6")
    cfg = build_config(cwd=tmp_path, targets={"ward_p95_ms": 70.0})
    assert (cfg.seed, cfg.scale_factor) == (6, 0.5)
    assert cfg.targets["ward_p95_ms"] == 70.0 and cfg.targets["recall_at_10"] == 0.9  # CLI and pyproject merge
    assert cfg.targets["vector_p95_ms"] == 200.0  # default kept
    assert cfg.server_settings["work_mem"] == "64MB" and cfg.server_settings["jit"] == "off"
    assert cfg.server_settings["shared_buffers"] == "1GB"  # from the ci profile
    assert build_config(cwd=tmp_path, seed=9).seed == 9


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("ward_p95_ms", -5.0, "bad target ward_p95_ms=-5.0 \\(--target\\): must be a finite number above 0"),
    ("ward_p95_ms", math.inf, "bad target ward_p95_ms=inf"),
    ("recall_at_10", math.nan, "bad target recall_at_10=nan"),
    ("recall_at_10", 1.5, "above 0 up to 1"),
    ("load_error_rate", -0.1, "from 0 up to 1"),
    ("recal_at_10", 0.9, "unknown target 'recal_at_10' \\(--target\\): valid keys are recall_at_10, "),
])
def test_targets_are_bounded_and_keys_known(tmp_path: Path, key: str, value: float, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        build_config(cwd=tmp_path, targets={key: value})


def test_every_kind_has_a_p95_target_and_every_run_holds_every_target() -> None:
    assert {f"{kind}_p95_ms" for kind in KINDS} <= set(REGISTRY)
    assert build_config(profile="ci").targets == defaults()


def test_not_evaluated_recall_gate_keeps_its_comparator() -> None:
    """A recall target is a minimum: a missing measurement must not render as 'target <= 0.95'."""
    from harness.bench.handoff import Observation
    from harness.bench.runner import Measured, _vector_gates
    from harness.bench.scenarios import load_scenarios

    scenario = next(s for s in load_scenarios(kinds=("vector",)))
    _, gates = _vector_gates(build_config(profile="ci"), None, Measured(scenario, [], Observation(scenario.name)),  # type: ignore[arg-type]
                             [], None, "no rows measured")  # type: ignore[arg-type]
    recall = next(g for g in gates if "recall" in g.name)
    assert (recall.verdict, recall.comparator, recall.reason) == ("not_evaluated", ">=", "no rows measured")
    assert not_evaluated("x", "s", "why", 0.95, "recall", ">=").comparator == ">="


def test_a_scale_that_cannot_fit_is_refused_before_anything_starts(tmp_path: Path) -> None:
    profile = load_profile("ci")
    check_fits(profile, 0.01, tmp_path, "--scale-factor 0.01")
    with pytest.raises(UsageError, match=r"--scale-factor 1e\+09: the dataset would take about .* GiB on disk"):
        check_fits(profile, 1e9, tmp_path, "--scale-factor 1e+09")
    with pytest.raises(UsageError, match="of memory"):
        check_fits(profile, 1e9, None, "--scale-factor 1e+09")  # a remote server's disk is not visible: memory still is
    disk, _ = estimate(profile, 0.25)
    assert 80e6 < disk < 120e6  # measured: 101 MB for the ci profile at 0.25


# --- passwords: one parser for every scheme and for key=value DSNs ---

@pytest.mark.parametrize(("text", "secret"), [
    ("mysql://bob:Sup3rS3cret@db.example/app", "Sup3rS3cret"),
    ("postgresql://bob:p@ss:w0rd@db.example:5432/app", "ss:w0rd"),  # unencoded '@' and ':'
    ("postgresql://bob:p%40ss%3Aw0rd@db/app", "p%40ss"),
    ("redis://:Sup3rS3cret@cache:6379/0", "Sup3rS3cret"),
    ("postgresql://db/app?sslmode=require&password=Sup3rS3cret", "Sup3rS3cret"),
    ("host=db user=bob password=p@ss:w0rd dbname=app", "w0rd"),
    ("host=db password = 'p@ss w0rd' dbname=app", "w0rd"),
    ('connecting to "postgresql://bob:Sup3r@S3cret@db/app" failed', "S3cret"),
])
def test_redaction_hides_the_whole_password(text: str, secret: str) -> None:
    out = redact_dsn(text)
    assert secret not in out and "***" in out
    assert "db" in out or "cache" in out  # the host is still shown


@pytest.mark.parametrize(("dsn", "needle"), [
    ("postgresql://u:Sup3rS3cret@localhost/db?sslmode=bogus", "sslmode='bogus' is not one of disable"),
    ("host=localhost password=Sup3rS3cret sslmode=bogus", "sslmode='bogus'"),
    ("postgresql://u@localhost/db?target_session_attrs=primry", "target_session_attrs='primry'"),
    ("mysql://bob:Sup3rS3cret@localhost/db", "scheme 'mysql' is not PostgreSQL's"),
    ("postgresql://bob:Sup3r@S3cret@localhost:5432/db", "unencoded '@': percent-encode it as %40"),
    ("host=localhost password=Sup3rS3cret port=notaport", "port 'notaport' is not a number"),
    ("host=localhost password=Sup3rS3cret nosuchkey=1", "malformed DSN"),
])
def test_bad_dsns_are_usage_errors_that_never_show_the_password(tmp_path: Path, dsn: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle) as info:
        build_config(cwd=tmp_path, dsn=dsn)
    assert "Sup3r" not in info.value.message and "S3cret" not in info.value.message
