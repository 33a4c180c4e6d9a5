"""The `generate` stage: fill the run's database (at head, empty) and record rows, rates and checksums.

How long generation took (`total_s`, index builds included) is recorded, never gated: it measures the
harness on whatever else shares the runner, not the database under test (`generate --benchmark` judges
the loader by ratios against peers measured in the same run).
"""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console

from harness.config import RunConfig
from harness.datagen.loader import load_dataset
from harness.db import Database
from harness.gates import evaluate
from harness.results import Results
from harness.results.generate import GenerateSection


def generate(cfg: RunConfig, db: Database, results: Results, benchmark: bool = False,
             console: Console | None = None) -> GenerateSection:
    """Load the profile's dataset; with `benchmark`, also measure and gate the peer ratios."""
    if db.dataset is not None:  # a copy of a prepared dataset: generated when it was kept, not again
        from harness.datasets.adopt import adopt

        return adopt(db, results)
    summary = load_dataset(db, cfg.profile_data, cfg.scale_factor, cfg.seed, console=console,
                           parallel_workers=cfg.maintenance_workers)
    results.generate = summary
    results.dataset = replace(results.dataset, profile=cfg.profile, seed=cfg.seed, scale_factor=cfg.scale_factor,
                              rows={t: c.rows for t, c in summary.checksums.items()}, checksums=summary.checksums,
                              dataset_digest=summary.dataset_digest, embedding_dim=summary.embedding_dim)
    planned = summary.planned_rows
    short = sorted(t for t, n in planned.items() if summary.tables[t].rows != n)
    gate = evaluate("generated rows equal the plan", "generate", float(len(short)), 0.0, "tables", "==")
    gate.reason = ", ".join(short)
    results.gates.append(gate)
    if benchmark:
        from harness.datagen import benchmark as peers

        section, gates = peers.run(db, summary, cfg.targets, locale=str(cfg.profile_data.get("locale", "en_GB")))
        summary = results.generate = replace(summary, benchmark=section)
        results.gates.extend(gates)
    return summary
