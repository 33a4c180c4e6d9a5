"""`wardbench compare BASELINE CURRENT`: which scenarios got slower or faster, beyond noise; exit 1 on a regression."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from harness.cli.options import JsonOut, check_output_file
from harness.report.compare import compare_results, parse_threshold
from harness.results import Results, write_text_atomic

_STYLE = {"slower": "red", "regressed": "red", "faster": "green", "unchanged": "", "not_evaluated": "yellow"}


def _ratio(value: float | None, ci: list[float] | None) -> str:
    return "" if value is None or ci is None else f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"current {report['current']} vs baseline {report['baseline']} "
                        f"(threshold {report['threshold']:.0%}, ratios current/baseline, 99 % CI)")
    for col in ("scenario", "verdict", "baseline p95 ms", "current p95 ms", "p95 ratio", "median ratio",
                "MWU p (slower)", "samples"):
        table.add_column(col, justify="left" if col in ("scenario", "verdict") else "right")
    for r in report["scenarios"]:
        style = _STYLE[r["verdict"]]
        table.add_row(r["name"], f"[{style}]{r['verdict']}[/]" if style else r["verdict"],
                      "" if r["baseline_p95_ms"] is None else f"{r['baseline_p95_ms']:.3g}",
                      "" if r["current_p95_ms"] is None else f"{r['current_p95_ms']:.3g}",
                      _ratio(r["p95_ratio"], r["p95_ratio_ci"]), _ratio(r["median_ratio"], r["median_ratio_ci"]),
                      "" if r["mwu_p_slower"] is None else f"{r['mwu_p_slower']:.2g}",
                      f"{r['n_baseline']}/{r['n_current']}" + (f" {r['reason']}" if r["reason"] else ""))
    return table


def _rehearsal_table(report: dict[str, Any]) -> Table:
    table = Table(title="rehearsal steps: regressed when 2x slower in wall time or newly blocking live requests")
    for col in ("step", "verdict", "wall s baseline -> current", "longest live wait ms", "blocked gate", "why"):
        table.add_column(col)
    for r in report["rehearsal_steps"]:
        style = _STYLE[r["verdict"]]
        table.add_row(r["name"], f"[{style}]{r['verdict']}[/]" if style else r["verdict"],
                      f"{r['baseline_duration_s']} -> {r['current_duration_s']}",
                      f"{r['baseline_wait_ms']} -> {r['current_wait_ms']} (limit {r['max_blocked_ms']})",
                      f"{r['baseline_blocked_gate']} -> {r['current_blocked_gate']}", "; ".join(r["reasons"]))
    return table


def compare(baseline: Annotated[Path, typer.Argument(help="results.json of the reference run")],
            current: Annotated[Path, typer.Argument(help="results.json of the run under test")],
            max_regression: Annotated[str, typer.Option(
                help="slowdown tolerated, in percent: 10 and 10% both mean 10 %, 0.99 means 0.99 %, "
                     "1 means 1 % (above 0 up to 1000)")] = "10%",
            json: JsonOut = None) -> None:
    """Per scenario, slower/faster beyond noise on raw samples (rank test + bootstrap CI); exit 1 on a regression."""
    threshold = parse_threshold(max_regression)
    if json is not None:
        check_output_file(json, f"--json {json}")
    report = compare_results(Results.read(baseline), Results.read(current), threshold)
    console = Console()
    if report["scenarios"]:
        console.print(_table(report))
    if report["rehearsal_steps"]:
        console.print(_rehearsal_table(report))
    for key, label in (("only_in_baseline", "only in baseline"), ("only_in_current", "only in current")):
        if report[key]:
            console.print(f"{label}: {', '.join(report[key])}")
    for key, (b, c) in report["environment_differences"].items():
        console.print(f"[yellow]environment differs[/]: {key}: {b} -> {c} (comparison may not be like for like)")
    for warning in report["warnings"]:
        console.print(f"[yellow]warning[/]: {warning}")
    if json is not None:
        write_text_atomic(json, jsonlib.dumps(report, indent=2) + "\n")
    slower = [r["name"] for r in report["scenarios"] if r["verdict"] == "slower"]
    steps = [r["name"] for r in report["rehearsal_steps"] if r["verdict"] == "regressed"]
    if slower:
        console.print(f"[red bold]regression[/] beyond {threshold:.0%}: {', '.join(slower)}")
    if steps:
        console.print(f"[red bold]rehearsal regression[/] (2x slower or newly blocking): {', '.join(steps)}")
    if report["regressions"]:
        raise typer.Exit(1)
    console.print("no significant regression")
