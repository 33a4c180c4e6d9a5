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
from harness.verify import accept
from harness.verify.chain import Chain, load_chain
from harness.verify.stairway import VerifyOptions, verify_chain

STAGE = "verify"


def gates(section: dict[str, object]) -> list[Gate]:
    """One gate per step (no unaccepted error finding), one for the structure, one for the round trip; with
    --strict-locks one for lock_timeout in the migration sessions (else that is a warning)."""
    structure = section["structure"]
    assert isinstance(structure, dict)
    findings = list(structure["findings"])
    out = [evaluate("migration chain structure", STAGE, float(len(findings)), 0.0, "findings", "==")]
    out[0].reason = "; ".join(findings)
    steps = section["steps"]
    assert isinstance(steps, list)
    for step in steps:
        name = f"migration {step['from']} -> {step['revision']} lossless and reversible"
        if step["verdict"] in accept.KEEP:  # not run, or wardbench could not check it: never a pass
            gate = Gate(name, STAGE, 1.0, None, "bool", "==", Verdict.NOT_EVALUATED, step.get("detail", ""))
        else:
            ok = step["verdict"] in accept.PASSING
            gate = evaluate(name, STAGE, 1.0 if ok else 0.0, 1.0, "bool", "==")
            gate.reason = f"{step['verdict']}: {step['detail']}" if step.get("detail") else step["verdict"]
        out.append(gate)
    timeout, options = section.get("lock_timeout"), section.get("options")
    if isinstance(timeout, dict) and isinstance(options, dict) and options.get("strict_locks"):
        gate = evaluate("migration sessions set lock_timeout", STAGE, 0.0 if timeout["missing"] else 1.0, 1.0,
                        "bool", "==")
        gate.reason = str(timeout["detail"])
        out.append(gate)
    trip = section["round_trip"]
    assert isinstance(trip, dict)
    name = "migration round trip head -> base -> head"
    if trip["verdict"] == "not_run":
        out.append(Gate(name, STAGE, 1.0, None, "bool", "==", Verdict.NOT_EVALUATED, str(trip.get("detail", ""))))
    else:
        gate = evaluate(name, STAGE, 1.0 if trip["verdict"] == "pass" else 0.0, 1.0, "bool", "==")
        gate.reason = f"{trip['verdict']}: {trip.get('detail', '')}".rstrip(": ")
        out.append(gate)
    return out


def run_verify(db: Database, results: Results, chain: Chain, options: VerifyOptions,
               console: Console | None = None) -> dict[str, object]:
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
