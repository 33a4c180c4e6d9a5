"""The live workload in a process of its own, so what it times is the database, not the harness.

Run as threads of the harness's process, the live sessions shared its interpreter lock with the migration
(Alembic, SQLAlchemy, the lock monitor) and stopped whenever the harness did: one full garbage collection of
a large heap (a long test session) froze every session at once, and a 1-second step at 80 requests/s then
showed a ward p95 of 137 ms and a vector p95 of 226 ms with no lock held. In a process of its own the
sessions keep their schedule while the harness pauses; their timestamps are time.perf_counter(), a
system-wide monotonic clock (CLOCK_MONOTONIC on Linux), so they line up with the step's own.

The child builds its plan from a picklable planner (harness.rehearse.live), connects its sessions, reports
the plan's request names and kinds with the sessions' backend pids, and runs until told to stop; it then
sends back every sample, the errors and the keys of the rows it inserted.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import psycopg

from harness.errors import EnvironmentFailure, first_line
from harness.rehearse.live import LiveWorkload, Planner
from harness.verify.underload import Sample

READY_TIMEOUT_S = 120.0  # process start, the plan's draws, every session connected (their barrier waits 60 s)


@dataclass(frozen=True)
class Schedule:
    """How the live workload runs: what LiveWorkload takes besides its plan."""

    rate: float
    workers: int
    write_share: float
    seed: int
    settings: dict[str, str]


def _child(pipe: Connection, dsn: str, planner: Planner, schedule: Schedule) -> None:
    """The live workload's process: plan, start, report, wait for the word to stop, send everything back."""
    try:
        with psycopg.connect(dsn, autocommit=False) as conn:
            plan = planner(conn, dsn)
        workload = LiveWorkload(dsn, plan, schedule.rate, schedule.workers, schedule.write_share, schedule.seed,
                                settings=schedule.settings)
        if plan:
            workload.start()
    except (psycopg.Error, EnvironmentFailure) as exc:
        pipe.send(("error", first_line(exc)))
        return
    pipe.send(("ready", plan.names, plan.kinds, bool(plan), sorted(workload.pids)))
    if not plan:
        return
    try:
        pipe.recv()  # the word to stop (or the parent gone: EOFError)
    except EOFError:
        pass
    workload.stop()
    pipe.send(("done", workload.samples, workload.errors, workload.inserted))


@dataclass
class LiveProcess:
    """LiveWorkload's interface (start, stop, samples, errors, pids, inserted, names, kinds), run in a child."""

    dsn: str
    planner: Planner
    schedule: Schedule
    names: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)
    active: bool = False  # the plan has something to run: the sessions are running until stop()
    pids: set[int] = field(default_factory=set)
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    inserted: list[tuple[str, str]] = field(default_factory=list)
    _pipe: Connection | None = None
    _process: Any = None

    def start(self) -> None:
        """Start the child and wait until its sessions run (or it has nothing to run); EnvironmentFailure if it
        could not plan or connect."""
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of the harness's heap
        parent, child = context.Pipe()
        self._process = context.Process(target=_child, args=(child, self.dsn, self.planner, self.schedule),
                                        name="wardbench-live", daemon=True)
        self._process.start()
        child.close()
        self._pipe = parent
        message = self._receive(READY_TIMEOUT_S, "starting")
        if message[0] == "error":
            self._end()
            raise EnvironmentFailure(f"the live workload could not start: {message[1]}")
        _, self.names, self.kinds, self.active, pids = message
        self.pids = set(pids)
        if not self.active:
            self._end()

    def stop(self) -> None:
        """Stop the sessions and take their samples, errors and inserted keys."""
        if self._pipe is None:
            return
        try:
            if self.active:
                self._pipe.send("stop")
                _, self.samples, self.errors, self.inserted = self._receive(None, "stopping")
        finally:
            self.active = False
            self._end()

    def _receive(self, timeout: float | None, doing: str) -> tuple[Any, ...]:
        assert self._pipe is not None
        try:
            if timeout is not None and not self._pipe.poll(timeout):
                raise EnvironmentFailure(f"the live workload's process did not answer in {timeout:g} s ({doing})")
            message: tuple[Any, ...] = self._pipe.recv()
        except EOFError:
            self._process.join(5)
            raise EnvironmentFailure(f"the live workload's process ended while {doing} "
                                     f"(exit code {self._process.exitcode})") from None
        return message

    def _end(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None
