"""The migrations section on the terminal: one count line, then details only for steps with findings.

Reads the section only, never the database; the full record stays in results.json, JUnit and the HTML report,
so 100+ revisions that all pass fit on one screen.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.verify.accept import PASSING

_COLOURS = {"lossless": "green", "pass": "green", "accepted": "green", "not_run": "yellow", "error": "magenta"}
_ORDER = ("lossless", "accepted")  # listed first; the failing verdicts follow by count


def _ms(seconds: Any) -> str:
    return f"{seconds * 1000:.0f}" if isinstance(seconds, int | float) else "-"


def _colour(verdict: str) -> str:
    return f"[{_COLOURS.get(verdict, 'red')}]{verdict}[/]"


def summary_line(section: dict[str, Any]) -> str:
    """'109 revisions: 100 lossless, 3 lossy, 2 fails_on_existing_data; 14 lock hazards; 1 accepted'."""
    steps = section.get("steps", [])
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.get("verdict", "?")] = counts.get(step.get("verdict", "?"), 0) + 1
    ordered = [v for v in _ORDER if v in counts] + sorted((v for v in counts if v not in _ORDER),
                                                          key=lambda v: -counts[v])
    findings = [f for s in steps for f in s.get("findings", [])]
    hazards = sum(1 for f in findings if f.get("kind") == "lock_hazard")
    accepted = sum(1 for f in findings if f.get("accepted"))
    text = f"{len(steps)} revisions: " + ", ".join(f"{counts[v]} {_colour(v)}" for v in ordered)
    text += f"; {hazards} lock hazard{'s' if hazards != 1 else ''}"
    return text + (f"; {accepted} accepted finding{'s' if accepted != 1 else ''}" if accepted else "")


def _finding_line(finding: dict[str, Any]) -> str:
    kind, detail = escape(str(finding.get("kind", "?"))), escape(str(finding.get("detail", "")))
    if finding.get("accepted"):
        return f"[green]accepted[/] {kind}: {detail} [dim](reason: {escape(str(finding.get('reason', '')))})[/]"
    colour = "red" if finding.get("severity") == "error" else "yellow"
    return f"[{colour}]{kind}[/]: {detail}"


def _load(step: dict[str, Any]) -> str:
    load = step.get("under_load")
    if not load or load.get("p95_during_ms") is None:
        return ""
    return (f"reads p95 {load['p95_before_ms']} -> {load['p95_during_ms']} ms, {load['blocked_reads']} blocked, "
            f"wait <= {load['longest_lock_wait_ms']} ms")


def _worth_showing(step: dict[str, Any]) -> bool:
    """Steps with findings, failing or erroring steps and steps that blocked reads (not_run: one line for all)."""
    load = step.get("under_load") or {}
    if step.get("verdict") == "not_run":
        return False
    return bool(step.get("findings")) or step.get("verdict") not in PASSING or bool(load.get("blocked_reads"))


def print_migrations(section: dict[str, Any], console: Console) -> None:
    """The count line, the plain walk, a table of the steps that have something to say, the round trip."""
    if not console.is_terminal:  # CI logs: no terminal width to respect, and 80 columns crush the table
        console = Console(stderr=console.stderr, width=max(console.width, 160))
    console.print(summary_line(section))
    walk = section.get("plain_walk") or {}
    if walk:
        console.print(f"plain walk on an empty database: upgrade head {_ms(walk.get('upgrade_s'))} ms, "
                      f"downgrade base {_ms(walk.get('downgrade_s'))} ms, upgrade head {_ms(walk.get('reupgrade_s'))}"
                      f" ms: {_colour(walk.get('verdict', '?'))} {escape(str(walk.get('detail', '')))}")
    shown = [s for s in section.get("steps", []) if _worth_showing(s)]
    if shown:
        table = Table(title=f"steps with findings: {section['chain']}", show_lines=True)
        for name in ("step", "verdict", "up ms", "down ms", "findings"):
            table.add_column(name, justify="right" if name.endswith("ms") else "left",
                             overflow="fold", max_width=90 if name == "findings" else None)
        for step in shown:
            lines = [_finding_line(f) for f in step.get("findings", [])] or [escape(str(step.get("detail", "")))]
            if _load(step):
                lines.append(_load(step))
            name = str(step.get("name", ""))
            table.add_row(f"{step['from']} -> {step['revision']}\n[dim]{escape(name[:28])}[/]",
                          _colour(step.get("verdict", "?")), _ms(step.get("duration_s")),
                          _ms(step.get("downgrade_s")), "\n".join(lines))
        console.print(table)
    skipped = [s for s in section.get("steps", []) if s.get("verdict") == "not_run"]
    if skipped:
        console.print(f"[yellow]not run:[/] {len(skipped)} steps from {skipped[0]['from']} -> "
                      f"{skipped[0]['revision']} on ({escape(str(skipped[0].get('detail', '')))})")
    trip = section.get("round_trip", {})
    console.print(f"head -> base -> head with data: {_colour(trip.get('verdict', '?'))} "
                  f"(down {_ms(trip.get('downgrade_s'))} ms, up {_ms(trip.get('upgrade_s'))} ms) "
                  f"{escape(str(trip.get('detail', '')))}")
    for finding in section.get("structure", {}).get("findings", []):
        console.print(f"[red]structure:[/] {escape(finding)}")
    for warning in section.get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    # a step that failed on its seeded rows was re-run on emptied tables on purpose: its finding says so
    empty = sorted({t for s in section["steps"] if s.get("verdict") != "fails_on_existing_data"
                    for t in s.get("empty_tables", [])})
    if empty:
        console.print(f"[yellow]not seeded (checked empty, so their round trip proves less):[/] {', '.join(empty)}")
    throughput = section.get("checksum_throughput", {})
    if throughput.get("ratio_vs_count") is not None:
        console.print(f"checksums: {throughput['rows']} rows, {throughput['ratio_vs_count']}x the time of "
                      "count(*) on the same tables (seeded sizes)")
