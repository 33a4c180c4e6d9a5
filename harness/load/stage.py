"""The `load` stage: concurrency proof, the mixed reader/writer run, and fidelity against pgbench.

Gates read our merged HdrHistograms (never Locust's rounded percentiles): p95 per kind from each
request's intended start, the error rate, the achieved arrival rate (open model), real concurrency,
and the load generator's throughput against pgbench on the same statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.bench.session import session_settings
from harness.config import RunConfig, parse_duration
from harness.db import Database
from harness.errors import UsageError
from harness.gates import evaluate, gate_for
from harness.load.fidelity import measure_fidelity
from harness.load.runner import LocustOutcome, LocustRun, run_locust
from harness.load.schedule import achieved_ratio
from harness.load.summary import by_field, run_summary, scenario_rows, timeline
from harness.load.workload import role_of, select_scenarios
from harness.results import Gate, Results
from harness.results.load import ConcurrencyProof, Distributed, LoadModel, LoadSection, RoleProof, WriterImpact


@dataclass(frozen=True)
class LoadOptions:
    """What a load stage runs; built from the profile's [NAME.load] table, CLI options override."""

    users: int = 20
    duration_s: float = 20.0
    rate_per_s: float | None = None
    processes: int = 1
    expect_workers: int = 0  # > 0: the mixed run is a Locust master for that many remote workers
    master_port: int = 5557
    think_time_s: float = 0.05
    writers: int | None = None
    scenario_dirs: tuple[Path, ...] = ()
    proof_users: int = 20
    proof_duration_s: float = 5.0
    fidelity_scenario: str = "ward_dashboard"
    fidelity_clients: int = 8
    fidelity_duration_s: float = 3.0
    fidelity_rounds: int = 3

    @classmethod
    def from_config(cls, cfg: RunConfig, **overrides: Any) -> LoadOptions:
        """Options from the profile's `load` table, then `overrides` (None means 'not given')."""
        table = dict(cfg.profile_data.get("load", {}))
        base = cls()
        values: dict[str, Any] = {}
        for key in ("users", "processes", "writers", "proof_users", "fidelity_clients", "fidelity_rounds",
                    "expect_workers", "master_port"):
            if key in table:
                values[key] = int(table[key])
        for key in ("duration", "proof_duration", "fidelity_duration", "think_time"):
            if key in table:
                values[f"{key}_s"] = parse_duration(str(table[key])) if key != "think_time" else float(table[key])
        if "rate" in table:
            values["rate_per_s"] = float(table["rate"])
        if "scenarios" in table:
            values["scenario_dirs"] = tuple(Path(d) for d in table["scenarios"])
        if "fidelity_scenario" in table:
            values["fidelity_scenario"] = str(table["fidelity_scenario"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        options = replace(base, **values)
        options.validate()
        return options

    def validate(self) -> None:
        """Bad counts or rates are usage errors, raised before any server starts."""
        if min(self.users, self.processes, self.proof_users, self.fidelity_clients, self.fidelity_rounds) < 1:
            raise UsageError("users, processes, client counts and rounds must be at least 1")
        if self.rate_per_s is not None and not self.rate_per_s > 0:
            raise UsageError(f"bad rate {self.rate_per_s}: must be greater than zero requests per second")
        if self.think_time_s < 0:
            raise UsageError(f"bad think time {self.think_time_s}: must not be negative")
        if self.expect_workers < 0 or not 0 < self.master_port < 65536:
            raise UsageError("--expect-workers must not be negative and --master-port must be a TCP port")
        if self.expect_workers and self.processes > 1:
            raise UsageError("--master uses remote workers: drop --processes (each worker host runs its own)")
        if self.writers is not None and not 0 <= self.writers < self.users:
            raise UsageError(f"bad writer count {self.writers}: must be between 0 and users - 1 ({self.users - 1})")


def main_run(options: LoadOptions, roles: set[str], seed: int) -> LocustRun:
    """The mixed run: readers beside writers, closed (think time) or open (--rate) model."""
    writers = options.writers if options.writers is not None else max(1, options.users // 5)
    if "writer" not in roles:
        writers = 0
    classes = ("ReaderUser", "WriterUser") if writers else ("ReaderUser",)
    return LocustRun(label="mixed", users=options.users, duration_s=options.duration_s, classes=classes,
                     writers=writers, think_time_s=options.think_time_s, rate_per_s=options.rate_per_s or 0.0,
                     processes=options.processes, scenario_dirs=options.scenario_dirs, seed=seed)


def prove_concurrency(db: Database, options: LoadOptions, roles: set[str], out: Path, settings: dict[str, str],
                      seed: int, console: Console) -> ConcurrencyProof:
    """Throughput of 1 user and of N users on the same queries, per role, with no think time."""
    proofs: dict[str, RoleProof] = {}
    for role in sorted(roles):
        cls = "ReaderUser" if role == "reader" else "WriterUser"
        runs = {}
        for users in (1, options.proof_users):
            run = LocustRun(label=f"proof_{role}s_{users}u", users=users, duration_s=options.proof_duration_s,
                            classes=(cls,),
                            processes=1, scenario_dirs=options.scenario_dirs, seed=seed)
            runs[users] = run_summary(run_locust(db, run, out, settings, console).merged)
        one, many = runs[1], runs[options.proof_users]
        proofs[role] = RoleProof(one_user=one, many_users=many,
                                 throughput_ratio=round(many.qps / one.qps, 3) if one.qps else None)
    return ConcurrencyProof(users=options.proof_users, duration_s=options.proof_duration_s,
                            readers=proofs.get("reader"), writers=proofs.get("writer"))


def writer_impact(db: Database, options: LoadOptions, mixed: LocustRun, with_writers: float | None, out: Path,
                  settings: dict[str, str], console: Console) -> WriterImpact:
    """The same readers, pacing and model without the writers: what the writers (readers' p95
    `with_writers` in the mixed run) cost the readers' p95."""
    alone = run_locust(db, replace(mixed, label="readers_alone", users=mixed.users - mixed.writers, writers=0,
                                   classes=("ReaderUser",), duration_s=options.proof_duration_s,
                                   rate_per_s=mixed.rate_per_s * (mixed.users - mixed.writers) / mixed.users),
                       out, settings, console)
    without = by_field(alone.merged, "role")["reader"].corrected.p95_ms
    return WriterImpact(readers=mixed.users - mixed.writers, writers=mixed.writers, readers_p95_alone_ms=without,
                        readers_p95_with_writers_ms=with_writers,
                        ratio=round(with_writers / without, 3) if with_writers and without else None)


def run_section(outcome: LocustOutcome, proof: ConcurrencyProof,
                targets: Mapping[str, float] | None = None) -> LoadSection:
    """The results section of the main run, each scenario beside its p95 target."""
    merged = outcome.merged
    run = outcome.run
    return LoadSection(
        model=LoadModel.OPEN if run.rate_per_s else LoadModel.CLOSED,
        users=run.users, writers=run.writers, processes=run.processes,
        duration_s=run.duration_s, think_time_s=None if run.rate_per_s else run.think_time_s,
        rate_asked_per_s=run.rate_per_s or None,
        latency_from=("intended start (corrected) and send (uncorrected)" if run.rate_per_s else
                      "send; corrected adds HdrHistogram's closed-loop back-fill at the think time"),
        summary=run_summary(merged),
        scenarios=scenario_rows(merged, outcome.locust_p95_ms, targets),
        roles=by_field(merged, "role"),
        kinds=by_field(merged, "kind"),
        timeline=timeline(merged),
        locust_log=str(outcome.log),
        concurrency=proof,
    )


def load_gates(cfg: RunConfig, outcome: LocustOutcome) -> list[Gate]:
    """p95 per kind (corrected), error rate, and in the open model the achieved arrival rate."""
    merged = outcome.merged
    gates = []
    for kind, group in by_field(merged, "kind").items():
        p95 = group.corrected.p95_ms
        gates.append(gate_for(f"{kind}_p95_ms", f"load p95 {kind} ({role_of(kind)}s, from intended start)", "load",
                              p95, cfg.targets))
    requests = merged.count + merged.warmup_requests  # warm-up requests are not timed, but their errors count
    rate = (merged.errors + merged.warmup_errors) / requests if requests else None
    gates.append(gate_for("load_error_rate", "load error rate", "load", rate, cfg.targets, "no requests completed"))
    if outcome.run.rate_per_s:
        ratio = achieved_ratio(merged.sent_in_time, merged.due)
        gate = gate_for("load_achieved_rate", f"load achieved rate of {outcome.run.rate_per_s:g}/s asked", "load",
                        ratio, cfg.targets, "no request was due")
        gate.reason = gate.reason or f"{merged.sent_in_time} of {merged.due} scheduled requests sent by the end"
        gates.append(gate)
    return gates


def concurrency_gates(cfg: RunConfig, proof: ConcurrencyProof) -> list[Gate]:
    """Real concurrency: with N users, the queries of different users overlap in time.

    Mean queries in flight (Little's law) cannot exceed 1 when one greenlet's wait blocks the others,
    whatever the machine. The throughput ratio N users / 1 user is recorded beside it but not gated: it
    is bounded by the cores the client and the server share, not by the harness.
    """
    gates = []
    for role, role_proof in (("readers", proof.readers), ("writers", proof.writers)):
        if role_proof is not None:
            gates.append(gate_for("load_in_flight",
                                  f"load concurrency: {role}' queries in flight with {proof.users} users",
                                  "load", role_proof.many_users.in_flight_mean, cfg.targets))
    return gates


def run_load(cfg: RunConfig, db: Database, results: Results, options: LoadOptions | None = None,
             console: Console | None = None) -> None:
    """Run the proof, the mixed run and the fidelity comparison; write `results.load` and the gates."""
    options = options or LoadOptions.from_config(cfg)
    console = console or Console(stderr=True)
    out = cfg.run_dir / "load"
    settings = session_settings(cfg)
    scenarios = select_scenarios(list(options.scenario_dirs), [])
    roles = {role_of(s.kind) for s in scenarios}
    mixed = replace(main_run(options, roles, cfg.seed), expect_workers=options.expect_workers,
                    master_port=options.master_port)
    if options.expect_workers:  # remote workers are waiting for this master: the mixed run goes first
        main = run_locust(db, mixed, out, settings, console)
        proof = prove_concurrency(db, options, roles, out, settings, cfg.seed, console)
    else:
        proof = prove_concurrency(db, options, roles, out, settings, cfg.seed, console)
        main = run_locust(db, mixed, out, settings, console)
    targets = {s.name: s.target_ms(cfg.targets) for s in scenarios}
    section = replace(
        run_section(main, proof, targets),
        # The report's over-time plot draws one target: the tightest of the readers'.
        target_p95_ms=min((t for s, t in zip(scenarios, targets.values(), strict=True)
                           if role_of(s.kind) == "reader"), default=None))
    if options.expect_workers:
        section = replace(section, distributed=Distributed(expected_workers=options.expect_workers,
                                                           workers_reported=main.merged.processes,
                                                           master_port=options.master_port))
    if mixed.writers and not options.expect_workers:  # with remote workers there is no local twin to compare
        section = replace(section, writer_impact=writer_impact(db, options, mixed,
                                                               section.roles["reader"].corrected.p95_ms,
                                                               out, settings, console))
    gates = load_gates(cfg, main) + concurrency_gates(cfg, proof)
    if options.expect_workers:  # a worker lost mid-run would leave its requests out of every figure
        gates.append(evaluate("load: measurements received from every remote worker", "load",
                              main.merged.processes, options.expect_workers, "workers", ">="))
    try:
        fidelity = measure_fidelity(db, out, list(options.scenario_dirs), options.fidelity_scenario,
                                    options.fidelity_clients, options.fidelity_duration_s, options.processes,
                                    settings, cfg.seed, options.fidelity_rounds, console)
        section = replace(section, fidelity=fidelity)
        gates.append(gate_for("load_vs_pgbench", f"load generator throughput / pgbench ({options.fidelity_scenario})",
                              "load", fidelity.ratio, cfg.targets))
    except UsageError as exc:
        gates.append(gate_for("load_vs_pgbench", "load generator throughput / pgbench", "load", None, cfg.targets,
                              exc.message))
    results.load = section
    results.gates.extend(gates)
    _print(console, section)


def _print(console: Console, section: LoadSection) -> None:
    for role, g in section.roles.items():
        c, u = g.corrected, g.uncorrected
        console.print(f"{role}s: {g.count} requests, {g.qps}/s, errors {g.errors}; p95 corrected "
                      f"{c.p95_ms} ms, uncorrected {u.p95_ms} ms; p99 {c.p99_ms} / {u.p99_ms} ms")
