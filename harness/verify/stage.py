"""The verifier as a pipeline stage and as a command: gates from the section, a database of its own."""

from __future__ import annotations

import secrets
from pathlib import Path

from rich.console import Console

from harness.config import RunConfig
from harness.db import Database
from harness.db.base import scratch_database
from harness.gates import evaluate
from harness.results import Gate, Results, Verdict
from harness.results.migrations import MigrationsSection, RoundTripVerdict
from harness.verify.chain import Chain, load_chain
from harness.verify.stairway import VerifyOptions, verify_chain

STAGE = "verify"


def gates(section: MigrationsSection) -> list[Gate]:
    """One gate per step (no unaccepted error finding), one for the structure, one for the round trip; with
    --strict-locks one for lock_timeout in the migration sessions (else that is a warning)."""
    findings = section.structure.findings
    out = [evaluate("migration chain structure", STAGE, float(len(findings)), 0.0, "findings", "==")]
    out[0].reason = "; ".join(findings)
    for step in section.steps:
        name = f"migration {step.from_} -> {step.revision} lossless and reversible"
        if not step.verdict.judged:  # not run, or wardbench could not check it: never a pass
            gate = Gate(name, STAGE, 1.0, None, "bool", "==", Verdict.NOT_EVALUATED, step.detail)
        else:
            gate = evaluate(name, STAGE, 1.0 if step.verdict.passes else 0.0, 1.0, "bool", "==")
            gate.reason = f"{step.verdict}: {step.detail}" if step.detail else str(step.verdict)
        out.append(gate)
    if section.options.strict_locks:
        timeout = section.lock_timeout
        gate = evaluate("migration sessions set lock_timeout", STAGE, 0.0 if timeout.missing else 1.0, 1.0,
                        "bool", "==")
        gate.reason = timeout.detail
        out.append(gate)
    trip = section.round_trip
    name = "migration round trip head -> base -> head"
    if trip.verdict == RoundTripVerdict.NOT_RUN:
        out.append(Gate(name, STAGE, 1.0, None, "bool", "==", Verdict.NOT_EVALUATED, trip.detail))
    else:
        gate = evaluate(name, STAGE, 1.0 if trip.verdict == RoundTripVerdict.PASS else 0.0, 1.0, "bool", "==")
        gate.reason = f"{trip.verdict}: {trip.detail}".rstrip(": ")
        out.append(gate)
    return out


def run_verify(db: Database, results: Results, chain: Chain, options: VerifyOptions,
               console: Console | None = None) -> MigrationsSection:
    """Walk the chain in `db` (empty and disposable) and put the section and its gates into `results`."""
    section = verify_chain(db, chain, options, console)
    results.migrations = section
    results.gates.extend(gates(section))
    return section


def verify_stage(cfg: RunConfig, db: Database, results: Results, ini: Path | None = None) -> None:
    """Pipeline stage: verify the reference chain in a side database so the gate's database stays as it is."""
    chain = load_chain(ini)
    options = VerifyOptions(under_load=bool(cfg.profile_data.get("verify_under_load", False)), seed=cfg.seed,
                            acceptances=cfg.verify_accept)
    # A side database: the stairway never touches `db` itself.
    with scratch_database(db.server, f"wardbench_verify_{secrets.token_hex(4)}") as side:
        run_verify(side, results, chain, options)
