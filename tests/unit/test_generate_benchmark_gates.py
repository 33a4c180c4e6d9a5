"""`generate --benchmark`: the narrow table is gated against the server's own INSERT ... SELECT with the same
constraints (measured in the same run), and the pgbench -i ratio is reported beside it, ungated, with why."""

from __future__ import annotations

from collections.abc import Mapping

from harness.datagen.benchmark import NARROW_TABLE, narrow_ratios
from harness.results import Gate
from harness.results.generate import (
    NarrowServerSide,
    NarrowUnconstrained,
    NarrowVsCeiling,
    PgbenchFailed,
    PgbenchInit,
    RatedRuns,
)
from harness.targets import defaults

UNCONSTRAINED = NarrowUnconstrained(shape_of=NARROW_TABLE, rows=500_000, seconds=0.7, rows_per_s=700_000,
                                    constraints="none")


def _ratios(narrow: int, ceiling: int | None, pgbench: int | None, loader: int = 98_700,
            targets: Mapping[str, float] | None = None) -> tuple[NarrowVsCeiling, Gate]:
    ratio = round(loader / ceiling, 3) if ceiling else None
    side = NarrowServerSide(table=NARROW_TABLE, runs=3, rows=1000, constraints=[],
                            loader_copy=RatedRuns(rows_per_s=loader, runs_s=[]),
                            constrained=RatedRuns(rows_per_s=ceiling, runs_s=[]),
                            unconstrained=RatedRuns(rows_per_s=None, runs_s=[]),
                            paired_ratios=[ratio] * 3 if ratio else [], paired_ratio_median=ratio)
    peer = PgbenchInit(scale=5, rows=500_055, runs_s=[1.0], median_s=1.0, rows_per_s=pgbench, steps="dtg") \
        if pgbench else PgbenchFailed("pgbench -i failed: x")
    return narrow_ratios(narrow, side if ceiling else None, peer, UNCONSTRAINED, targets or defaults())


def test_a_loader_at_the_servers_own_rate_passes_although_far_below_pgbench() -> None:
    # The quiet-machine figures: loader 0.141 x pgbench -i, the server's INSERT ... SELECT 0.124 x.
    out, gate = _ratios(60_000, 86_800, 700_000)  # slower during generate: a busy neighbour
    assert gate.verdict == "pass" and gate.target == 0.9 and gate.key == "generate_vs_insert_select"
    assert gate.observed == out.ratio == 1.137
    assert out.pgbench_ratio == 0.141 and out.pgbench_ratio_gated is False
    assert out.during_generate_ratio == 0.691  # reported, not gated: measured at another moment
    assert "foreign key" in out.pgbench_ratio_why_not_gated
    assert "pgbench" not in gate.name


def test_a_loader_well_below_the_ceiling_fails() -> None:
    out, gate = _ratios(98_700, 86_800, 700_000, loader=40_000)
    assert gate.verdict == "fail" and out.ratio == 0.461


def test_without_the_ceiling_the_gate_is_not_evaluated_and_says_why() -> None:
    out, gate = _ratios(98_700, None, None)
    assert gate.verdict == "not_evaluated" and "INSERT ... SELECT" in gate.reason
    assert gate.comparator == ">="  # the comparator it would have been judged by, not a default "=="
    assert out.pgbench_ratio is None and out.pgbench_error == "pgbench -i failed: x"


def test_the_ratio_target_comes_from_the_run_s_targets() -> None:
    _, gate = _ratios(98_700, 86_800, 700_000, targets={**defaults(), "generate_vs_insert_select": 1.5})
    assert gate.target == 1.5 and gate.verdict == "fail"
