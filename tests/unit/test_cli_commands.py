"""The command line is built from one explicit list, and a stage that declares a command gets one with the
shared options and nothing else to write (no database: only --help and the registry are exercised)."""

from __future__ import annotations

import psycopg
import psycopg.errors
import pytest
from typer.testing import CliRunner

from harness import pipeline
from harness.cli import COMMANDS, build_app
from harness.pipeline import Lazy

SHARED_FLAGS = ("--profile", "--backend", "--dsn", "--in-place", "--pg-version", "--seed", "--scale-factor", "--json",
                "--reports-dir", "--keep-database", "--dataset", "--target")


def _help(*args: str) -> str:
    result = CliRunner().invoke(build_app(), [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_wardbench_lists_every_registered_command_and_group() -> None:
    text = _help()
    for group, name, _ in COMMANDS:
        assert (group or name) in text


@pytest.mark.parametrize("command", [("gate",), ("bench",), ("load",), ("backup", "verify")])
def test_commands_that_run_stages_take_the_shared_options_declared_once(command: tuple[str, ...]) -> None:
    text = _help(*command)
    assert all(flag in text for flag in ("--profile", "--backend", "--dsn", "--seed", "--json", "--reports-dir"))


def test_a_stage_that_declares_a_command_gets_one_from_its_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(pipeline.STAGES, "vacuum", Lazy("harness.vacuum", "vacuum_stage", reads_tables=True,
                                                        command="Vacuum every table; exit 1 on bloat."))
    assert "vacuum" in _help()
    text = _help("vacuum")
    assert "Vacuum every table; exit 1 on bloat." in text
    assert all(flag in text for flag in SHARED_FLAGS)
    monkeypatch.delitem(pipeline.STAGES, "vacuum")
    assert "vacuum" not in _help()


@pytest.mark.parametrize(("error", "code", "first"), [
    (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), 1, "database error: canceling"),
    (psycopg.OperationalError("connection refused"), 3, "database connection failed: connection refused")])
def test_a_database_error_ends_in_one_line_and_its_family_code(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str],
                                                                error: Exception, code: int, first: str) -> None:
    import harness.cli as cli

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(cli, "app", fail)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == code and len(err.splitlines()) == 1 and first in err, err
