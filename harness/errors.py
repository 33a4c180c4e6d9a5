"""One error family for the harness; only the CLI turns these into a line on stderr and an exit code.

Exit codes follow the product contract: 1 = a gate failed, 2 = bad usage/config/input,
3 = environment failure (database could not start or be reached).
"""


def first_line(exc: BaseException) -> str:
    """An error's first line, or its type's name when it has no text: what a one-line report shows."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class WardbenchError(Exception):
    """Base class: carries the one line the user sees and the exit code it maps to."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(WardbenchError):
    """Bad usage, configuration or input (exit 2)."""

    exit_code = 2


class EnvironmentFailure(WardbenchError):
    """The database could not be started or reached, or a required tool is missing (exit 3)."""

    exit_code = 3


class GateFailure(WardbenchError):
    """A verification found what it exists to find: data loss, a missed target (exit 1)."""

    exit_code = 1
