"""Read scenarios may not write: before anything is measured, each runs once in a READ ONLY transaction that
is rolled back, as one statement (extended protocol). A write, or several statements in one scenario, is a
UsageError naming the scenario; the sessions that then run them are read-only too (bench.session.READ_ONLY).
"""

from __future__ import annotations

from typing import Any

import psycopg

from harness.bench import wire
from harness.bench.sampling import Params, draw_params
from harness.bench.scenarios import Scenario, reads_only
from harness.bench.session import connect
from harness.errors import UsageError, first_line


def check_reads_only(conn: psycopg.Connection[Any], scenarios: list[Scenario],
                     draws: dict[str, list[Params]]) -> None:
    """Run each read scenario once with its first drawn parameters in a rolled-back READ ONLY transaction.

    Other failures are left to the run, which records them as the scenario's errors.
    """
    for s in scenarios:
        if not reads_only(s.kind):
            continue
        try:
            enc = wire.encode(conn, s.sql, (draws.get(s.name) or [{}])[0])
        except (KeyError, ValueError):
            continue  # the run reports a statement it cannot bind
        conn.execute("BEGIN TRANSACTION READ ONLY")
        try:
            wire.Executor(conn).execute(enc)
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise UsageError(f"scenario {s.name!r} ({s.source}) is kind {s.kind!r}, a read, but its SQL writes "
                             f"({first_line(exc)}): read scenarios run in READ ONLY transactions; a scenario "
                             "that writes declares kind = \"write\"") from None
        except psycopg.errors.SyntaxError as exc:
            if "multiple commands" not in str(exc):
                continue
            raise UsageError(f"scenario {s.name!r} ({s.source}): its sql holds several statements; "
                             "a scenario is one statement") from None
        except psycopg.Error:
            pass
        finally:
            conn.execute("ROLLBACK")


def check_scenarios(dsn: str, scenarios: list[Scenario], seed: int) -> None:
    """`check_reads_only` with one parameter set drawn per read scenario (on a read-only session)."""
    reads = [s for s in scenarios if reads_only(s.kind)]
    with connect(dsn, read_only=True) as conn:
        draws = {s.name: draw_params(conn, s, 1, seed) for s in reads}
        check_reads_only(conn, reads, draws)
