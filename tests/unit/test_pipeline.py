"""The stage pipeline: order, --skip/--only, and what a stage that raises becomes (no database: the stages
here are stand-ins that never touch the one they are given)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import psycopg
import pytest
import typer
from rich.console import Console

from harness import pipeline
from harness.cli.run import finish
from harness.config import RunConfig
from harness.db import Database
from harness.errors import EnvironmentFailure, ErrorFamily, UsageError, family_of
from harness.pipeline import Stage, run_stages, select_stages
from harness.report.junit import render_junit
from harness.results import Gate, Results, Verdict

NO_DATABASE = cast(Database, None)  # the stand-in stages below never use it


def _passing(name: str, ran: list[str]) -> Stage:
    def stage(cfg: RunConfig, db: Database, results: Results) -> None:
        ran.append(name)
        results.gates.append(Gate(f"{name} gate", name, 1.0, 0.5, "ms", "<=", Verdict.PASS))

    return stage


def _raising(exc: Exception) -> Stage:
    def stage(cfg: RunConfig, db: Database, results: Results) -> None:
        raise exc

    return stage


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A registry of three stand-in stages, a, b, c in that order; yields the names in the order they ran."""
    names: list[str] = []
    monkeypatch.setattr(pipeline, "STAGES", {n: _passing(n, names) for n in ("a", "b", "c")})
    yield names


def _run(names: list[str], tmp_path: Path) -> tuple[Results, RunConfig]:
    cfg = RunConfig(reports_dir=tmp_path)
    results = Results(run_id=cfg.run_id, command="gate")
    run_stages(cfg, NO_DATABASE, results, names, Console(stderr=True, quiet=True))
    return results, cfg


def test_selection_keeps_registry_order_whatever_order_the_flags_name() -> None:
    assert select_stages(None, None) == list(pipeline.STAGES)
    assert select_stages(["load", "schema"], None) == ["schema", "load"]
    assert select_stages(None, ["bench", "schema"]) == [s for s in pipeline.STAGES if s not in ("bench", "schema")]


@pytest.mark.parametrize(("only", "skip"), [(["lod"], None), (None, ["nope"]), (["load"], ["benchh"])])
def test_an_unknown_stage_name_is_a_usage_error_listing_the_stages(only: list[str] | None,
                                                                   skip: list[str] | None) -> None:
    with pytest.raises(UsageError, match="unknown stage") as caught:
        select_stages(only, skip)
    assert caught.value.exit_code == 2 and all(name in caught.value.message for name in pipeline.STAGES)


def test_stages_run_in_order_and_record_themselves(ran: list[str], tmp_path: Path) -> None:
    results, _ = _run(select_stages(None, ["b"]), tmp_path)
    assert ran == ["a", "c"]
    assert [(s.name, s.status, s.family) for s in results.stages] == [("a", "ok", None), ("c", "ok", None)]
    assert results.verdict == Verdict.PASS and results.exit_code == 0


def test_a_raising_stage_is_an_error_record_and_a_failing_gate_and_the_run_goes_on(
        ran: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(pipeline.STAGES, "b", _raising(RuntimeError("boom at postgresql://u:secret@h/db")))
    results, _ = _run(["a", "b", "c"], tmp_path)
    assert ran == ["a", "c"]
    b = results.stages[1]
    assert (b.status, b.family) == ("error", ErrorFamily.HARNESS) and "RuntimeError: boom" in b.detail
    assert "secret" not in b.detail  # a DSN in the error is redacted
    gate = next(g for g in results.gates if g.stage == "b")
    assert (gate.name, gate.verdict) == ("stage b completed", Verdict.FAIL)
    assert results.exit_code == 1


@pytest.mark.parametrize(("exc", "family", "code"), [
    (EnvironmentFailure("pg_dump is missing"), ErrorFamily.ENVIRONMENT, 3),
    (psycopg.OperationalError("connection lost"), ErrorFamily.ENVIRONMENT, 3),
    (UsageError("bad scenario file"), ErrorFamily.USAGE, 2),
    (psycopg.errors.QueryCanceled("statement timeout"), ErrorFamily.HARNESS, 1),
])
def test_a_stage_error_exits_with_its_familys_code(ran: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   exc: Exception, family: ErrorFamily, code: int) -> None:
    assert family_of(exc) is family
    monkeypatch.setitem(pipeline.STAGES, "b", _raising(exc))
    results, cfg = _run(["a", "b", "c"], tmp_path)
    assert results.stages[1].family is family and results.exit_code == code
    with pytest.raises(typer.Exit) as ended:  # every command ends through finish
        finish(cfg, results, tmp_path / "copy.json", Console(stderr=True, quiet=True))
    assert ended.value.exit_code == code
    assert Results.read(tmp_path / "copy.json").exit_code == code  # `wardbench report` exits the same


def test_junit_keeps_a_broken_stage_apart_from_a_failed_gate(ran: list[str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    junitparser = pytest.importorskip("junitparser")
    monkeypatch.setitem(pipeline.STAGES, "b", _raising(EnvironmentFailure("the server went away")))
    results, _ = _run(["a", "b", "c"], tmp_path)
    results.gates.append(Gate("c p95", "c", 10.0, 12.0, "ms", "<=", Verdict.FAIL))
    results.gates.append(Gate("c recall", "c", 0.9, None, "", ">=", Verdict.NOT_EVALUATED, "no exact baseline"))
    path = tmp_path / "junit.xml"
    path.write_text(render_junit(results))
    xml = junitparser.JUnitXml.fromfile(str(path))
    suite = next(iter(xml))
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (5, 1, 1, 1)
    outcomes = {case.name: [type(r).__name__ for r in case.result] for case in suite}
    assert outcomes == {"a gate": [], "stage b completed": ["Error"], "c gate": [], "c p95": ["Failure"],
                        "c recall": ["Skipped"]}
    broken = next(case for case in suite if case.name == "stage b completed").result[0]
    assert broken.type == "environment_error" and "the server went away" in broken.message
    skipped = next(case for case in suite if case.name == "c recall").result[0]
    assert "no exact baseline" in skipped.message
