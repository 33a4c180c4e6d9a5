"""The migrations section as a rich table on the terminal (reads the section only, never the database)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

_COLOURS = {"lossless": "green", "pass": "green", "lossy": "red", "irreversible": "red",
            "upgrade_failed": "red", "schema_changed": "red", "not_run": "yellow"}


def _ms(seconds: Any) -> str:
    return f"{seconds * 1000:.0f}" if isinstance(seconds, int | float) else "-"


def _locks(locks: dict[str, dict[str, Any]] | None) -> str:
    if not locks:
        return "-"
    return "\n".join(f"{t}: {v['mode'].removesuffix('Lock')} "
                     + (f"{v['held_ms']:.0f} ms" if v.get("held_ms") is not None else "< poll")
                     for t, v in locks.items())


def _load(step: dict[str, Any]) -> str:
    load = step.get("under_load")
    if not load:
        return ""
    if load.get("p95_during_ms") is None:
        return str(load.get("detail", "no reads"))
    return (f"p95 {load['p95_before_ms']} -> {load['p95_during_ms']} ms\n"
            f"{load['blocked_reads']} blocked, wait <= {load['longest_lock_wait_ms']} ms")


def print_migrations(section: dict[str, Any], console: Console) -> None:
    """One row per step: verdict, timings, rows checked, rewrites, locks, under-load figures, detail."""
    if not console.is_terminal:  # CI logs: no terminal width to respect, and 80 columns crush the table
        console = Console(stderr=console.stderr, width=max(console.width, 160))
    under_load = bool(section.get("options", {}).get("under_load"))
    table = Table(title=f"migration stairway: {section['chain']}", show_lines=True)
    for name in ("step", "verdict", "up ms", "down ms", "rows", "rewritten", "locks (strongest, held)"):
        table.add_column(name, justify="right" if name.endswith(("ms", "rows")) else "left")
    if under_load:
        table.add_column("reads under load")
    table.add_column("detail", overflow="fold", max_width=60)
    for step in section["steps"]:
        verdict = step.get("verdict", "?")
        rewritten = ", ".join(f"{t} ({n} rows)" for t, n in (step.get("rewritten") or {}).items()) or "-"
        name = str(step.get("name", ""))
        cells = [f"{step['from']} -> {step['revision']}\n[dim]{name[:28] + ('…' if len(name) > 28 else '')}[/]",
                 f"[{_COLOURS.get(verdict, 'white')}]{verdict}[/]", _ms(step.get("duration_s")),
                 _ms(step.get("downgrade_s")), str(step.get("rows_checked", "-")), rewritten,
                 _locks(step.get("locks"))]
        if under_load:
            cells.append(_load(step))
        cells.append(str(step.get("detail", "")))
        table.add_row(*cells)
    trip = section.get("round_trip", {})
    verdict = trip.get("verdict", "?")
    cells = ["head -> base -> head", f"[{_COLOURS.get(verdict, 'white')}]{verdict}[/]",
             _ms(trip.get("upgrade_s")), _ms(trip.get("downgrade_s")), str(trip.get("rows_at_head", "-")),
             "-", "-"] + ([""] if under_load else []) + [str(trip.get("detail", ""))]
    table.add_row(*cells)
    console.print(table)
    for finding in section.get("structure", {}).get("findings", []):
        console.print(f"[red]structure:[/] {finding}")
    empty = sorted({t for s in section["steps"] for t in s.get("empty_tables", [])})
    if empty:
        console.print(f"[yellow]not seeded (checked empty, so their round trip proves less):[/] {', '.join(empty)}")
    throughput = section.get("checksum_throughput", {})
    if throughput.get("ratio_vs_count") is not None:
        console.print(f"checksums: {throughput['rows']} rows, {throughput['ratio_vs_count']}x the time of "
                      "count(*) on the same tables (seeded sizes)")
