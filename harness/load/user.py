"""Locust users that run wardbench scenarios over psycopg 3, recording into HdrHistograms.

Imported only inside a Locust process: `import locust` runs gevent's monkey-patching, and it must come
before psycopg is imported so that psycopg picks its gevent-cooperative wait function (psycopg chooses
once, at import; with the C wait every greenlet blocks while one query runs).

Distributed runs (`--processes N` on one host, or workers on other hosts) hand each worker's histograms
to the master over Locust's own message channel (`wb_payload`), never through a shared directory; the
master writes them where a local run would have. The master forwards the DSN and the session settings
(PGOPTIONS) to its workers in Locust's custom arguments, so a remote worker needs only the master's address.
"""

from __future__ import annotations

# isort: off
from locust import User, constant, events, task  # first: must precede psycopg, see the module docstring
# isort: on

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import psycopg
import psycopg.waiting
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from harness.bench.session import apply_settings, connect
from harness.load.histograms import LatencyRecorder, ProcessPayload
from harness.load.schedule import ArrivalSchedule
from harness.load.workload import APPLICATION_NAME, Job, Workload, load_workload

COLLECT_TIMEOUT_S = 60.0  # how long a stopping master waits for its workers' measurements
RECONNECT_PAUSE_S = 0.05  # after a failed connect, so a dead server does not become a hot loop
os.environ.setdefault("PGAPPNAME", APPLICATION_NAME)  # libpq reads it: our sessions can be found and killed


@dataclass
class ProcessState:
    """What this Locust process measured; written as one JSON file when the test stops."""

    workload: Workload | None = None
    workload_key: tuple[str, ...] = ()
    recorder: LatencyRecorder = field(default_factory=LatencyRecorder)
    schedules: list[ArrivalSchedule] = field(default_factory=list)
    sent_in_time: int = 0
    warmup_requests: int = 0
    warmup_errors: int = 0
    started_s: float = 0.0
    measure_from_s: float | None = None  # set when the first user starts: now + warm-up
    measure_to_s: float = math.inf
    stopping_s: float | None = None
    users_started: int = 0
    loading: gevent.event.Event | None = None
    handed_over: bool = False  # this test's measurements were sent (worker) or written (single process)
    payloads_from: set[str] = field(default_factory=set)  # master: workers whose measurements arrived

    def window(self, t_s: float) -> str:
        """'warmup', 'measured' or 'after': where `t_s` falls in this process's measured window."""
        if self.measure_from_s is None or t_s < self.measure_from_s:
            return "warmup"
        return "measured" if t_s < self.measure_to_s else "after"


STATE = ProcessState()


def _add_options(parser: Any) -> None:
    parser.add_argument("--wb-scenarios", default="", help="extra scenario directories, separated by os.pathsep")
    parser.add_argument("--wb-only", default="", help="comma-separated scenario names to run (default: all)")
    # Set by the master from its environment (never on a command line) and forwarded to its workers.
    parser.add_argument("--wb-dsn", default="", include_in_web_ui=False, help=argparse.SUPPRESS)
    parser.add_argument("--wb-pgoptions", default="", include_in_web_ui=False, help=argparse.SUPPRESS)
    parser.add_argument("--wb-sql-file", default="", help="run this one fixed statement only (fidelity runs)")
    parser.add_argument("--wb-sql-kind", default="ward", help="kind reported for --wb-sql-file")
    parser.add_argument("--wb-rate", type=float, default=0.0,
                        help="open model: total arrivals per second over all users (0 = closed model)")
    parser.add_argument("--wb-think-time", type=float, default=0.05,
                        help="closed model: mean seconds a user waits between requests")
    parser.add_argument("--wb-writers", type=int, default=0, help="WriterUser count (0 = by weight)")
    parser.add_argument("--wb-warmup", type=float, default=1.0,
                        help="seconds from the first user's start whose requests run but are not recorded")
    parser.add_argument("--wb-duration", type=float, default=0.0,
                        help="seconds measured after the warm-up (0 = until Locust stops)")
    parser.add_argument("--wb-seed", type=int, default=42, help="parameter sampling seed")
    parser.add_argument("--wb-out", default="", include_in_web_ui=False,
                        help="directory for this process's results file (histograms, series)")


def _dsn(environment: Environment) -> str:
    """The DSN from WARDBENCH_DSN (kept out of argv), else the master's, else Locust's host field (web UI)."""
    opts = environment.parsed_options
    dsn = os.environ.get("WARDBENCH_DSN") or (opts.wb_dsn if opts else "") or environment.host or ""
    if not dsn:
        raise RuntimeError("no database: set WARDBENCH_DSN or pass --host postgresql://...")
    return dsn


def _options(environment: Environment) -> Any:
    """Locust's parsed options (always set when run through `locust`)."""
    if environment.parsed_options is None:
        raise RuntimeError("run this file with the locust command")
    return environment.parsed_options


def _workload_key(opts: Any) -> tuple[str, ...]:
    return (opts.wb_scenarios, opts.wb_only, opts.wb_sql_file, opts.wb_sql_kind, str(opts.wb_seed))


def _load_workload(environment: Environment) -> None:
    """Draw every scenario's parameters from the database (once per process, before users start).

    The draws yield to other greenlets (cooperative waits): a worker may get the master's spawn
    message meanwhile, so test_start waits on `STATE.loading` instead of drawing a second time.
    """
    opts = _options(environment)
    STATE.loading = loading = gevent.event.Event()
    try:
        with connect(_dsn(environment), read_only=True) as conn:  # pool queries only read
            STATE.workload = load_workload(conn, scenario_dirs=[d for d in opts.wb_scenarios.split(os.pathsep) if d],
                                           only=[n for n in opts.wb_only.split(",") if n],
                                           sql_file=opts.wb_sql_file or None, seed=opts.wb_seed,
                                           fixed_kind=opts.wb_sql_kind)
        STATE.workload_key = _workload_key(opts)
    finally:
        loading.set()


def _on_init(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None:
        return
    if opts.wb_writers > 0:
        WriterUser.fixed_count = opts.wb_writers
    if isinstance(environment.runner, MasterRunner):
        opts.wb_dsn = opts.wb_dsn or os.environ.get("WARDBENCH_DSN", "")
        opts.wb_pgoptions = opts.wb_pgoptions or os.environ.get("PGOPTIONS", "")
        environment.runner.register_message("wb_payload", _on_payload)
    elif isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message("wb_collect", _on_collect)
    if not isinstance(environment.runner, MasterRunner) and (os.environ.get("WARDBENCH_DSN") or environment.host):
        _load_workload(environment)  # early: in test_start, Locust's run-time clock is already ticking


def _on_payload(environment: Environment, msg: Any, **_: Any) -> None:
    """On the master: one worker's measurements, written where a single-process run writes its own."""
    STATE.payloads_from.add(msg.node_id)
    opts = environment.parsed_options
    if opts is not None and opts.wb_out:
        _write_payload(Path(opts.wb_out), f"worker-{msg.node_id}", msg.data)


def _write_payload(out: Path, stem: str, payload: ProcessPayload) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{stem}.json"
    tmp.write_text(json.dumps(payload))
    tmp.replace(out / f"{stem}.json")


def _on_test_start(environment: Environment, **_: Any) -> None:
    STATE.handed_over, STATE.payloads_from = False, set()
    if isinstance(environment.runner, MasterRunner):
        return  # the master only coordinates
    opts = _options(environment)
    if isinstance(environment.runner, WorkerRunner) and opts.wb_pgoptions and "PGOPTIONS" not in os.environ:
        os.environ["PGOPTIONS"] = opts.wb_pgoptions  # the master's session settings, before any connect
    if STATE.loading is not None:
        STATE.loading.wait()
    if STATE.workload is None or STATE.workload_key != _workload_key(_options(environment)):
        _load_workload(environment)  # options changed in the web UI, or a remote worker got them from the master
    STATE.recorder = LatencyRecorder()
    STATE.schedules.clear()
    STATE.sent_in_time, STATE.stopping_s, STATE.users_started = 0, None, 0
    STATE.warmup_requests = STATE.warmup_errors = 0
    STATE.started_s = time.time()
    STATE.measure_from_s, STATE.measure_to_s = None, math.inf


def _open_window(opts: Any) -> None:
    """Start the measured window when the first user starts: after the warm-up (fresh sessions, cold
    caches), for --wb-duration seconds (0: until Locust stops), however long Locust took to get here."""
    STATE.measure_from_s = time.time() + float(opts.wb_warmup)
    if opts.wb_duration > 0:
        STATE.measure_to_s = STATE.measure_from_s + float(opts.wb_duration)


def _on_test_stopping(environment: Environment, **_: Any) -> None:
    STATE.stopping_s = time.time()
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        # Headless, Locust's master quits by sending `quit` and exits half a second later: too soon for a
        # busy or distant worker's histograms. Ask for them first and wait while the workers still run.
        runner.send_message("wb_collect")
        deadline = time.monotonic() + COLLECT_TIMEOUT_S
        while len(STATE.payloads_from) < len(runner.clients.all) and time.monotonic() < deadline:
            gevent.sleep(0.05)


def _on_collect(environment: Environment, **_: Any) -> None:
    """On a worker: the master asks for this worker's measurements (once per test)."""
    _hand_over(environment)


def _on_test_stop(environment: Environment, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        _hand_over(environment)


def _hand_over(environment: Environment) -> None:
    """Send (worker) or write (single process) what this process measured, once per test."""
    opts = environment.parsed_options
    if not opts or STATE.handed_over:
        return
    STATE.handed_over = True
    stop_s = STATE.stopping_s or time.time()
    payload: ProcessPayload = {
        "pid": os.getpid(),
        "wait_function": getattr(psycopg.waiting.wait, "__name__", str(psycopg.waiting.wait)),
        "started_s": STATE.started_s,
        "stopped_s": stop_s,
        "users": STATE.users_started,
        "rate_per_s": opts.wb_rate,
        "measure_from_s": STATE.measure_from_s,
        "due": sum(s.due_between(STATE.measure_from_s or stop_s, min(stop_s, STATE.measure_to_s))
                   for s in STATE.schedules),
        "sent_in_time": STATE.sent_in_time,
        "warmup_requests": STATE.warmup_requests,
        "warmup_errors": STATE.warmup_errors,
        **STATE.recorder.to_dict(),
    }
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.send_message("wb_payload", dict(payload))
        recorded = sum(r.count for r in STATE.recorder.scenarios.values())
        print(f"wardbench worker {os.getpid()}: sent {recorded} recorded requests "
              f"(+{STATE.warmup_requests} in warm-up) to the master", file=sys.stderr, flush=True)
    elif opts.wb_out:
        _write_payload(Path(opts.wb_out), f"worker-{os.getpid()}", payload)


for _hook, _listener in ((events.init_command_line_parser, _add_options), (events.init, _on_init),
                         (events.test_start, _on_test_start), (events.test_stopping, _on_test_stopping),
                         (events.test_stop, _on_test_stop)):
    _hook.add_listener(_listener)  # type: ignore[no-untyped-call]  # Locust's EventHook is untyped


class ScenarioUser(User):
    """One database session running scenarios of one role; pacing is done in the task, not wait_time."""

    abstract = True
    role = "reader"
    wait_time = constant(0)

    def on_start(self) -> None:
        opts = _options(self.environment)
        STATE.users_started += 1
        if STATE.measure_from_s is None:
            _open_window(opts)
        self.conn: psycopg.Connection[Any] | None = None
        self.applied: dict[str, str] = {}
        # stdlib random, not NumPy: a NumPy choice costs ~30 us, a fifth of the client's time per request
        self.rng = random.Random(f"{opts.wb_seed}/{os.getpid()}/{STATE.users_started}")
        if STATE.workload is None:
            raise RuntimeError("no workload: WARDBENCH_DSN or --host must name the database")
        self.jobs: list[Job] = STATE.workload.for_role(self.role)
        self.think_s = float(opts.wb_think_time)
        self.schedule: ArrivalSchedule | None = None
        if opts.wb_rate > 0:
            users = max(int(opts.num_users or 1), 1)
            # The schedule starts after the warm-up, each user at its own phase of the interval.
            first = max(time.time(), STATE.measure_from_s or 0.0) + self.rng.uniform(0, users / opts.wb_rate)
            self.schedule = ArrivalSchedule.for_user(opts.wb_rate, users, first)
            STATE.schedules.append(self.schedule)

    def on_stop(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def _connection(self, settings: dict[str, str]) -> psycopg.Connection[Any]:
        """This user's session, (re)connected when needed, with `settings` in force.

        Settings change only when the scenario's differ from the session's, so a statement always runs
        under its own scenario's settings.
        """
        if self.conn is None or self.conn.closed:
            # A reader's session is READ ONLY throughout: a read scenario cannot change the database.
            self.conn = connect(_dsn(self.environment), read_only=self.role == "reader")
            self.applied = {}
        if settings != self.applied:
            for name in set(self.applied) - set(settings):
                self.conn.execute("SELECT set_config(name, reset_val, false) FROM pg_settings WHERE name = %s",
                                  (name,))
            apply_settings(self.conn, settings)
            self.applied = dict(settings)
        return self.conn

    @task
    def run_scenario(self) -> None:
        if not self.jobs:
            raise StopUser()
        job = self.jobs[min(int(self.rng.random() * len(self.jobs)), len(self.jobs) - 1)]  # uniform over jobs
        # Warm-up requests (fresh sessions, cold caches) run but are neither timed nor shown by Locust.
        if self.schedule is None:
            phase = STATE.window(time.time())
        else:
            phase = "warmup" if time.time() < self.schedule.first_s else STATE.window(self.schedule.upcoming_s)
        if phase == "after":
            gevent.sleep(0.1)  # the measured window is over: idle until Locust stops the users
            return
        measured = phase == "measured"
        if self.schedule is not None and measured:
            intended = self.schedule.next_intended()
            gevent.sleep(max(0.0, intended - time.time()))
        params = job.sample(self.rng)
        failure: psycopg.Error | None = None
        conn: psycopg.Connection[Any] | None = None
        try:
            conn = self._connection(job.settings)  # (re)connecting stays outside the send-to-done time
        except psycopg.Error as exc:
            failure = exc
        sent = time.time()
        if self.schedule is None or not measured:
            intended = sent
        if measured and (STATE.stopping_s is None or sent <= STATE.stopping_s):
            STATE.sent_in_time += 1  # an arrival counts when sent; one in flight at the end is not missing
        rows = 0
        if conn is not None:
            rows, failure = self._execute(conn, job, params)
        done = time.time()
        # Closed model: HdrHistogram back-fills what a stalled user did not send (interval = think time).
        interval = self.think_s if self.schedule is None else 0.0
        error = type(failure).__name__ if failure is not None else None
        if measured:  # Locust sees the same requests as our histograms, so their percentiles compare
            STATE.recorder.record(job.name, job.kind, intended, sent, done, error, rows, interval)
            self.environment.events.request.fire(request_type=job.kind, name=job.name,
                                                 response_time=(done - sent) * 1000.0, response_length=rows,
                                                 exception=failure, context={})
        else:  # not timed, but an error is still an error: the error-rate gate counts it
            STATE.warmup_requests += 1
            STATE.warmup_errors += failure is not None
        if failure is not None:
            self._drop_broken_connection()
        elif self.schedule is not None and not measured:
            gevent.sleep(self.schedule.interval_s)  # warming up at the user's rate, without a backlog
        elif self.schedule is None and self.think_s > 0:
            gevent.sleep(self.think_s * self.rng.uniform(0.5, 1.5))

    @staticmethod
    def _execute(conn: psycopg.Connection[Any], job: Job, params: Any) -> tuple[int, psycopg.Error | None]:
        """Run one scenario statement and fetch its rows; a database error is returned, not raised."""
        try:
            with conn.cursor() as cur:
                cur.execute(job.sql, params)
                rows = len(cur.fetchall()) if cur.description is not None else max(cur.rowcount, 0)
            return rows, None
        except psycopg.Error as exc:
            return 0, exc

    def _drop_broken_connection(self) -> None:
        """After an error: forget a dead session (the next request reconnects) and pause briefly, so a
        server that is down does not turn users into a hot loop."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            gevent.sleep(RECONNECT_PAUSE_S)


class ReaderUser(ScenarioUser):
    """A user of the application: ward dashboards and semantic searches."""

    role = "reader"
    weight = 4


class WriterUser(ScenarioUser):
    """An AI pipeline: inserts reports and posts with their embeddings beside the readers."""

    role = "writer"
    weight = 1
