"""`generate --benchmark`: the narrow table is gated against the server's own INSERT ... SELECT with the same
constraints (measured in the same run), and the pgbench -i ratio is reported beside it, ungated, with why."""

from __future__ import annotations

from typing import Any

from harness.datagen.benchmark import narrow_ratios
from harness.targets import defaults


def _section(ceiling: float | None, pgbench: float | None, loader: float = 98_700) -> dict[str, Any]:
    ratio = round(loader / ceiling, 3) if ceiling else None
    paired = {"constrained": {"rows_per_s": ceiling}, "loader_copy": {"rows_per_s": loader},
              "paired_ratios": [ratio] * 3, "paired_ratio_median": ratio}
    return {"narrow_server_side": paired if ceiling else {},
            "pgbench_init": {"rows_per_s": pgbench} if pgbench else {"error": "pgbench -i failed: x"},
            "narrow_unconstrained": {"rows_per_s": 700_000}}


def test_a_loader_at_the_servers_own_rate_passes_although_far_below_pgbench() -> None:
    # The quiet-machine figures: loader 0.141 x pgbench -i, the server's INSERT ... SELECT 0.124 x.
    out, gate = narrow_ratios(60_000, _section(86_800, 700_000), defaults())  # slower during generate: a busy neighbour
    assert gate.verdict == "pass" and gate.target == 0.9 and gate.key == "generate_vs_insert_select"
    assert gate.observed == out["ratio"] == 1.137
    assert out["pgbench_ratio"] == 0.141 and out["pgbench_ratio_gated"] is False
    assert out["during_generate_ratio"] == 0.691  # reported, not gated: measured at another moment
    assert "foreign key" in out["pgbench_ratio_why_not_gated"]
    assert "pgbench" not in gate.name


def test_a_loader_well_below_the_ceiling_fails() -> None:
    out, gate = narrow_ratios(98_700, _section(86_800, 700_000, loader=40_000), defaults())
    assert gate.verdict == "fail" and out["ratio"] == 0.461


def test_without_the_ceiling_the_gate_is_not_evaluated_and_says_why() -> None:
    out, gate = narrow_ratios(98_700, _section(None, None), defaults())
    assert gate.verdict == "not_evaluated" and "INSERT ... SELECT" in gate.reason
    assert gate.comparator == ">="  # the comparator it would have been judged by, not a default "=="
    assert out["pgbench_ratio"] is None and out["pgbench_error"] == "pgbench -i failed: x"


def test_the_ratio_target_comes_from_the_run_s_targets() -> None:
    _, gate = narrow_ratios(98_700, _section(86_800, 700_000), {**defaults(), "generate_vs_insert_select": 1.5})
    assert gate.target == 1.5 and gate.verdict == "fail"
