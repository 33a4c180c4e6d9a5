"""The `wardbench` command: a thin shell that parses, builds a RunConfig, calls stages, sets the exit code.

Each command group lives in its own module and registers itself on `app`; errors from the
WardbenchError family become one line on stderr and their exit code here, in one place.
"""

from __future__ import annotations

import sys

import psycopg
import typer

from harness.db import redact_dsn
from harness.errors import WardbenchError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Prove a PostgreSQL + pgvector application's migrations are safe and its queries fast.")

# Importing the command modules registers their commands on `app`.
from harness.cli import commands_backup, commands_db, commands_gate  # noqa: E402,F401


def _fail(message: str, code: int) -> None:
    print(f"wardbench: error: {redact_dsn(message)}", file=sys.stderr)
    sys.exit(code)


def main() -> None:
    """Console entry point: run the app and map library errors to one line and an exit code."""
    try:
        app()
    except WardbenchError as exc:
        _fail(exc.message, exc.exit_code)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _fail(f"database connection failed: {first}", 3)
