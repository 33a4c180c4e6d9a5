"""The `wardbench` command: a thin shell that parses, builds a RunConfig, calls stages, sets the exit code.

Commands are typed functions in one module per command group, registered here explicitly (COMMANDS);
errors become one line on stderr and their family's exit code (harness.errors.EXIT_CODES), in one place.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

import psycopg
import typer

try:  # recent typer vendors click; older ones depend on it
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors  # type: ignore[no-redef]

from harness.cli import (
    commands_backup,
    commands_bench,
    commands_capacity,
    commands_compare,
    commands_db,
    commands_faults,
    commands_gate,
    commands_generate,
    commands_load,
    commands_migrate,
    commands_report,
)
from harness.cli.run import stage_command
from harness.db import redact_dsn
from harness.errors import EXIT_CODES, ErrorFamily, WardbenchError, family_of, first_line
from harness.pipeline import stage_commands

GROUPS = {"backup": "Prove a pg_dump backup restores exactly.",
          "db": "Manage the long-lived embedded PostgreSQL server.",
          "migrate": "Verify or rehearse an Alembic migration chain."}

# (group or None for a top-level command, name, function); --help lists top-level commands, then groups.
COMMANDS: list[tuple[str | None, str, Callable[..., Any]]] = [
    (None, "bench", commands_bench.bench),
    (None, "capacity", commands_capacity.capacity),
    (None, "compare", commands_compare.compare),
    (None, "faults", commands_faults.faults),
    (None, "gate", commands_gate.gate),
    (None, "generate", commands_generate.generate),
    (None, "load", commands_load.load),
    (None, "report", commands_report.report),
    ("backup", "verify", commands_backup.verify),
    ("db", "start", commands_db.start),
    ("db", "stop", commands_db.stop),
    ("db", "status", commands_db.status),
    ("db", "datasets", commands_db.datasets),
    ("migrate", "verify", commands_migrate.verify),
    ("migrate", "rehearse", commands_migrate.rehearse),
]


def build_app() -> typer.Typer:
    """The Typer application of COMMANDS, and of the stages that declare a command (pipeline.STAGES)."""
    root = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                       help="Prove a PostgreSQL + pgvector application's migrations are safe and its queries fast.")
    groups = {name: typer.Typer(no_args_is_help=True, help=text) for name, text in GROUPS.items()}
    stages = [(None, name, stage_command(name, text)) for name, text in stage_commands().items()]
    for group, name, function in [*COMMANDS, *stages]:
        (root if group is None else groups[group]).command(name)(function)
    for name, sub in groups.items():
        root.add_typer(sub, name=name)
    return root


app = build_app()


def _fail(message: str, code: int) -> None:
    one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())  # libpq adds newlines
    print(f"wardbench: error: {redact_dsn(one_line)}", file=sys.stderr)
    sys.exit(code)


def restore_interrupts() -> None:
    """Take Ctrl-C back when the run was started with SIGINT ignored.

    A non-interactive shell starts `wardbench gate &` with SIGINT set to SIG_IGN, and exec keeps an ignored
    signal ignored, for this process and every child it starts (Locust, pg_ctl, a faulted run): Ctrl-C and
    the SIGINT fault would do nothing. Python's handler is a caught signal, which exec resets to the default,
    so the children get default handling too.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main() -> None:
    """Console entry point: run the app and map library errors to one line and an exit code."""
    restore_interrupts()
    try:
        code = app(standalone_mode=False, prog_name="wardbench")  # click prints several lines; we print one
    except click_errors.NoArgsIsHelpError as exc:
        text = exc.ctx.get_help() if exc.ctx else ""  # typer's rich help prints itself and returns ""
        if text:
            typer.echo(text)
        sys.exit(EXIT_CODES[ErrorFamily.USAGE])
    except click_errors.UsageError as exc:
        hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx else ""
        _fail(exc.format_message().replace("\n", " ") + hint, EXIT_CODES[ErrorFamily.USAGE])
    except click_errors.ClickException as exc:  # e.g. an unreadable file argument: bad input, not a gate
        _fail(exc.format_message().replace("\n", " "), EXIT_CODES[ErrorFamily.USAGE])
    except typer.Abort:
        _fail("aborted", EXIT_CODES[ErrorFamily.INTERRUPTED])
    except WardbenchError as exc:
        _fail(exc.message, exc.exit_code)
    except Exception as exc:
        if family_of(exc) is ErrorFamily.ENVIRONMENT:
            _fail(f"database connection failed: {first_line(exc)}", EXIT_CODES[ErrorFamily.ENVIRONMENT])
        if isinstance(exc, psycopg.OperationalError):
            # a statement the server stopped (timeout, deadlock, cancel): one line, not a traceback
            _fail(f"database error: {first_line(exc)}", EXIT_CODES[ErrorFamily.HARNESS])
        raise  # a bug in wardbench: its traceback is what a report of it needs
    sys.exit(code if isinstance(code, int) else 0)
