"""The migrations section on the terminal: one count line, then details only for steps with findings.

Reads the section only, never the database; the full record stays in results.json, JUnit and the HTML report,
so 100+ revisions that all pass fit on one screen.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.results.migrations import Finding, FindingKind, MigrationsSection, StepVerdict, VerifyStep, WalkVerdict

_COLOURS: dict[str, str] = {StepVerdict.LOSSLESS: "green", StepVerdict.ACCEPTED: "green",
                             WalkVerdict.PASS: "green",  # the round trip's pass too: they are equal strings
                             StepVerdict.NOT_RUN: "yellow", StepVerdict.ERROR: "magenta"}
_ORDER = (StepVerdict.LOSSLESS, StepVerdict.ACCEPTED)  # listed first; the failing verdicts follow by count


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:.0f}" if seconds is not None else "-"


def _colour(verdict: str) -> str:
    return f"[{_COLOURS.get(verdict, 'red')}]{verdict}[/]"


def summary_line(section: MigrationsSection) -> str:
    """'109 revisions: 100 lossless, 3 lossy, 2 fails_on_existing_data; 14 lock hazards; 1 accepted'."""
    steps = section.steps
    counts = Counter(step.verdict for step in steps)
    ordered = [v for v in _ORDER if v in counts] + sorted((v for v in counts if v not in _ORDER),
                                                          key=lambda v: -counts[v])
    findings = [f for s in steps for f in s.findings]
    hazards = sum(1 for f in findings if f.kind == FindingKind.LOCK_HAZARD)
    accepted = sum(1 for f in findings if f.accepted)
    text = f"{len(steps)} revisions: " + ", ".join(f"{counts[v]} {_colour(v)}" for v in ordered)
    text += f"; {hazards} lock hazard{'s' if hazards != 1 else ''}"
    return text + (f"; {accepted} accepted finding{'s' if accepted != 1 else ''}" if accepted else "")


def _finding_line(finding: Finding) -> str:
    kind, detail = escape(str(finding.kind)), escape(finding.detail)
    if finding.accepted:
        return f"[green]accepted[/] {kind}: {detail} [dim](reason: {escape(finding.reason)})[/]"
    colour = "red" if finding.severity == "error" else "yellow"
    return f"[{colour}]{kind}[/]: {detail}"


def _load(step: VerifyStep) -> str:
    load = step.under_load
    if load is None or load.p95_during_ms is None:
        return ""
    return (f"reads p95 {load.p95_before_ms} -> {load.p95_during_ms} ms, {load.blocked_reads} blocked, "
            f"wait <= {load.longest_lock_wait_ms} ms")


def _worth_showing(step: VerifyStep) -> bool:
    """Steps with findings, failing or erroring steps and steps that blocked reads (not_run: one line for all)."""
    if step.verdict == StepVerdict.NOT_RUN:
        return False
    return bool(step.findings) or not step.verdict.passes or bool(step.under_load and step.under_load.blocked_reads)


def print_migrations(section: MigrationsSection, console: Console) -> None:
    """The count line, the plain walk, a table of the steps that have something to say, the round trip."""
    if not console.is_terminal:  # CI logs: no terminal width to respect, and 80 columns crush the table
        console = Console(stderr=console.stderr, width=max(console.width, 160))
    console.print(summary_line(section))
    walk = section.plain_walk
    console.print(f"plain walk on an empty database: upgrade head {_ms(walk.upgrade_s)} ms, "
                  f"downgrade base {_ms(walk.downgrade_s)} ms, upgrade head {_ms(walk.reupgrade_s)}"
                  f" ms: {_colour(walk.verdict)} {escape(walk.detail)}")
    shown = [s for s in section.steps if _worth_showing(s)]
    if shown:
        table = Table(title=f"steps with findings: {section.chain}", show_lines=True)
        for name in ("step", "verdict", "up ms", "down ms", "findings"):
            table.add_column(name, justify="right" if name.endswith("ms") else "left",
                             overflow="fold", max_width=90 if name == "findings" else None)
        for step in shown:
            lines = [_finding_line(f) for f in step.findings] or [escape(step.detail)]
            if _load(step):
                lines.append(_load(step))
            table.add_row(f"{step.from_} -> {step.revision}\n[dim]{escape(step.name[:28])}[/]",
                          _colour(step.verdict), _ms(step.duration_s), _ms(step.downgrade_s), "\n".join(lines))
        console.print(table)
    skipped = [s for s in section.steps if s.verdict == StepVerdict.NOT_RUN]
    if skipped:
        console.print(f"[yellow]not run:[/] {len(skipped)} steps from {skipped[0].from_} -> "
                      f"{skipped[0].revision} on ({escape(skipped[0].detail)})")
    trip = section.round_trip
    console.print(f"head -> base -> head with data: {_colour(trip.verdict)} "
                  f"(down {_ms(trip.downgrade_s)} ms, up {_ms(trip.upgrade_s)} ms) {escape(trip.detail)}")
    for finding in section.structure.findings:
        console.print(f"[red]structure:[/] {escape(finding)}")
    for warning in section.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    # a step that failed on its seeded rows was re-run on emptied tables on purpose: its finding says so
    empty = sorted({t for s in section.steps if s.verdict != StepVerdict.FAILS_ON_EXISTING_DATA
                    for t in s.empty_tables})
    if empty:
        console.print(f"[yellow]not seeded (checked empty, so their round trip proves less):[/] {', '.join(empty)}")
    throughput = section.checksum_throughput
    if throughput.ratio_vs_count is not None:
        console.print(f"checksums: {throughput.rows} rows, {throughput.ratio_vs_count}x the time of "
                      "count(*) on the same tables (seeded sizes)")
