"""The `faults` stage: inject every quick fault, record how many were injected and survived."""

from __future__ import annotations

import signal
from collections.abc import Callable

from rich.progress import Progress

from harness.config import RunConfig
from harness.db import Database
from harness.db.base import scratch_database
from harness.faults.cleanup import crash_inside_run, signal_run
from harness.faults.durability import server_killed_under_writers
from harness.faults.load import dropped_connection_under_load
from harness.faults.migration import interrupted_migration
from harness.faults.outcome import FaultOutcome, record_faults
from harness.results import Results


def run_faults(cfg: RunConfig, db: Database, results: Results) -> list[FaultOutcome]:
    """Migration killed mid-step, a crash inside a run, Ctrl-C to a run on this server, `kill` of an
    embedded run, load sessions terminated mid-run, the postmaster SIGKILLed under AI writers. Each works in
    databases of its own on `db`'s server, except the load fault, which only reads `db` (and is not injected
    when `db` holds no dataset), and the kill, which runs on a disposable server of its own (embedded only).
    """
    faults: list[tuple[str, Callable[[], FaultOutcome]]] = [
        ("migration step interrupted", lambda: _in_scratch(db, f"wardbench_{cfg.run_id}_fault_migration")),
        ("crash inside a run", lambda: crash_inside_run(db)),
        ("Ctrl-C during a run", lambda: signal_run(signal.SIGINT, "dsn", db.server.admin_dsn)),
        ("kill during an embedded run", lambda: signal_run(signal.SIGTERM, "embedded", group=False)),
        ("connection dropped under load", lambda: dropped_connection_under_load(db, cfg.run_dir / "faults",
                                                                                 cfg.seed)),
        ("server killed under AI writers", lambda: server_killed_under_writers(cfg, db)),
    ]
    outcomes: list[FaultOutcome] = []
    with Progress(transient=True) as progress:
        task = progress.add_task("injecting faults", total=len(faults))
        for label, inject in faults:
            progress.update(task, description=label)
            outcomes.append(inject())
            progress.advance(task)
    record_faults(results, outcomes)
    return outcomes


def _in_scratch(db: Database, name: str) -> FaultOutcome:
    with scratch_database(db.server, name) as scratch:
        return interrupted_migration(scratch)
