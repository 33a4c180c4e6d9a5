"""The `wardbench` command: a thin shell that parses, builds a RunConfig, calls stages, sets the exit code.

Each command group lives in its own module and registers itself on `app`; errors from the
WardbenchError family become one line on stderr and their exit code here, in one place.
"""

from __future__ import annotations

import signal
import sys

import psycopg
import typer

try:  # recent typer vendors click; older ones depend on it
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors  # type: ignore[no-redef]

from harness.db import redact_dsn
from harness.errors import WardbenchError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Prove a PostgreSQL + pgvector application's migrations are safe and its queries fast.")

# Importing the command modules registers their commands on `app`.
from harness.cli import commands_backup, commands_bench, commands_capacity, commands_compare, commands_db, commands_faults, commands_gate, commands_generate, commands_load, commands_migrate, commands_report  # noqa: E402,F401,I001,E501


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
        sys.exit(2)
    except click_errors.UsageError as exc:
        hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx else ""
        _fail(exc.format_message().replace("\n", " ") + hint, 2)
    except click_errors.ClickException as exc:  # e.g. an unreadable file argument: bad input, not a gate
        _fail(exc.format_message().replace("\n", " "), 2)
    except typer.Abort:
        _fail("aborted", 130)
    except WardbenchError as exc:
        _fail(exc.message, exc.exit_code)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _fail(f"database connection failed: {first}", 3)
    sys.exit(code if isinstance(code, int) else 0)
