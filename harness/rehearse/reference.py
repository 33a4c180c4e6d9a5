"""The reference chain's rehearsal: the profile's generated dataset at head, the load stage's scenarios beside it.

Used by `wardbench gate` (the `rehearse` stage, after `generate` has filled the run's database) and by
`migrate rehearse` without --alembic-ini (which migrates and generates first). The profile's
[NAME.rehearse] table sets the baseline and the live rate; the targets are the run's: ward_p95_ms and
vector_p95_ms for the live readers during each step, max_blocked_ms and rehearse_error_rate.
"""

from __future__ import annotations

from rich.console import Console

from harness.bench.session import session_settings
from harness.config import RunConfig, parse_duration
from harness.db import Database
from harness.gates import not_evaluated
from harness.rehearse.stage import STAGE, run_rehearsal, window
from harness.rehearse.step import RehearseOptions
from harness.results import Results
from harness.results.rehearsal import Rehearsal


def options_for(cfg: RunConfig, baseline_s: float | None = None, rate: float | None = None) -> RehearseOptions:
    """Options from the profile's [NAME.rehearse] table and the run's targets (harness.targets); arguments
    override the table."""
    table = dict(cfg.profile_data.get("rehearse", {}))
    return RehearseOptions(
        rows=int(cfg.profile_data.get("posts", 0) * cfg.scale_factor), seed=cfg.seed,
        baseline_s=baseline_s if baseline_s is not None else parse_duration(str(table.get("baseline", "30s"))),
        rate=rate if rate is not None else float(table.get("rate", 200.0)),
        workers=int(table.get("workers", 0)), write_share=float(table.get("write_share", 0.2)),
        max_blocked_ms=cfg.targets["max_blocked_ms"], max_error_rate=cfg.targets["rehearse_error_rate"],
        p95_targets={"ward": float(cfg.targets["ward_p95_ms"]), "vector": float(cfg.targets["vector_p95_ms"])},
        scenarios=True, session=session_settings(cfg))


def rehearse_reference(cfg: RunConfig, db: Database, results: Results, since: str | None = None,
                       every: bool = False, options: RehearseOptions | None = None,
                       console: Console | None = None) -> Rehearsal | None:
    """Rehearse the reference chain's window on `db` (at head, with the generated dataset)."""
    from harness.verify.chain import load_chain

    chain = load_chain(None)
    revisions = window(chain, since, every)
    with db.connect() as conn:
        table = conn.execute("SELECT to_regclass('public.posts')").fetchone()
        found = table is not None and table[0] is not None and \
            bool(conn.execute("SELECT EXISTS (SELECT 1 FROM posts)").fetchone()[0])  # type: ignore[index]
    if not found:
        results.gates.append(not_evaluated("rehearsal", STAGE, "no generated dataset in the database (the "
                                           "schema and generate stages fill it): nothing to rehearse on"))
        return None
    return run_rehearsal(db, results, chain, revisions, options or options_for(cfg), console, prepared=True)


def rehearse_stage(cfg: RunConfig, db: Database, results: Results) -> None:
    """The gate's stage: the newest revision of the reference chain, down and up, on the generated dataset."""
    rehearse_reference(cfg, db, results)
