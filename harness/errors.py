"""One error family for the harness, and the one mapping from a family to the process's exit code.

Exit codes follow the product contract (README): 0 = every gate passed, 1 = a gate failed (or could not be
evaluated), 2 = bad usage/config/input, 3 = environment failure (database could not start or be reached,
a required tool is missing), 130 = interrupted. A failure inside a stage maps the same way as one outside it.
"""

from __future__ import annotations

from enum import StrEnum

import psycopg


def first_line(exc: BaseException) -> str:
    """An error's first line, or its type's name when it has no text: what a one-line report shows."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class ErrorFamily(StrEnum):
    """Why a run ended badly; each family has one exit code (EXIT_CODES)."""

    GATE = "gate"  # a verification found what it exists to find
    USAGE = "usage"  # bad usage, configuration or input
    ENVIRONMENT = "environment"  # the database or a tool the run needs broke
    HARNESS = "harness"  # an unexpected exception: a bug in wardbench, shown as a failing gate
    INTERRUPTED = "interrupted"  # Ctrl-C


EXIT_CODES: dict[ErrorFamily, int] = {ErrorFamily.GATE: 1, ErrorFamily.USAGE: 2, ErrorFamily.ENVIRONMENT: 3,
                                      ErrorFamily.HARNESS: 1, ErrorFamily.INTERRUPTED: 130}


class WardbenchError(Exception):
    """Base class: carries the one line the user sees and the family (so the exit code) it maps to."""

    family = ErrorFamily.USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.family]


class UsageError(WardbenchError):
    """Bad usage, configuration or input (exit 2)."""

    family = ErrorFamily.USAGE


class EnvironmentFailure(WardbenchError):
    """The database could not be started or reached, or a required tool is missing (exit 3)."""

    family = ErrorFamily.ENVIRONMENT


class GateFailure(WardbenchError):
    """A verification found what it exists to find: data loss, a missed target (exit 1)."""

    family = ErrorFamily.GATE


# SQLSTATE classes of a server or connection that broke, not of a statement: connection exception, invalid
# authorization, insufficient resources, operator intervention (shutdown, crash; but 57014 query_canceled is a
# statement's), system error, configuration file error. A client-side connection failure has no SQLSTATE.
_ENVIRONMENT_SQLSTATE_CLASSES = ("08", "28", "53", "57", "58", "F0")


def family_of(exc: BaseException) -> ErrorFamily:
    """The family of any exception a command or a stage can end with."""
    if isinstance(exc, WardbenchError):
        return exc.family
    if isinstance(exc, KeyboardInterrupt):
        return ErrorFamily.INTERRUPTED
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        if state is None or (state[:2] in _ENVIRONMENT_SQLSTATE_CLASSES and state != "57014"):
            return ErrorFamily.ENVIRONMENT
    return ErrorFamily.HARNESS
