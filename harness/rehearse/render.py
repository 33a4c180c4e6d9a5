"""The rehearsal as table rows: one per step, shared by the terminal, summary.md and report.html."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from harness.results import Results

COLUMNS = ["step", "verdict", "wall s", "locks held (existing tables)", "longest live wait",
           "live p95 ms before → during", "live p95 ms per kind during",
           "live p99 ms during", "live errors", "WAL MB", "size Δ MB", "lossless"]


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:g}"


def _held(lock: dict[str, Any]) -> str:
    """How long the strongest mode itself was seen held; a mode seen only at commit or between two polls of the
    wait sampler was held for less than a poll (the span of all modes together would overstate it)."""
    own = lock.get("modes", {}).get(lock["mode"], {}).get("held_ms")
    return f"{own:g} ms" if own is not None else "< 1 poll"


def rows(section: dict[str, Any] | None) -> list[dict[str, str]]:
    """One row per step, keys as COLUMNS; [] when no rehearsal ran."""
    out = []
    for step in (section or {}).get("steps", []):
        locks = "; ".join(f"{t} {v['mode'].removesuffix('Lock')} {_held(v)}"
                          for t, v in step.get("locks", {}).items()) or "none"
        live = step.get("live", {})
        longest = live.get("longest_wait")
        wait = (f"{longest['wait_ms']:g} ms on {longest.get('table') or longest.get('locktype')} "
                f"({longest['lock'].removesuffix('Lock')}) behind: {longest['blocked_by_statement'][:120]}"
                if longest else ("none" if live.get("ran") else "not run"))
        before, during = live.get("before", {}), live.get("during", {})
        sizes = step.get("sizes", {})
        delta = (sizes["total_after"] - sizes["total_before"]) / 2**20 if sizes else None
        loss = step.get("loss", {}).get("lossless")
        out.append({
            "step": f"{step.get('direction', 'upgrade')} {step['from']} → {step.get('to', step['revision'])}",
            "verdict": step.get("verdict", ""),
            "wall s": _ms(step.get("duration_s")), "locks held (existing tables)": locks, "longest live wait": wait,
            "live p95 ms before → during": f"{_ms(before.get('p95_ms'))} → {_ms(during.get('p95_ms'))}",
            "live p95 ms per kind during": ", ".join(
                f"{k} {_ms(v['during'].get('p95_ms'))}" for k, v in live.get("kinds", {}).items()) or "–",
            "live p99 ms during": _ms(during.get("p99_ms")),
            "live errors": f"{during.get('errors', 0)}/{during.get('count', 0)}" if live.get("ran") else "–",
            "WAL MB": _ms(round(step["wal_bytes"] / 2**20, 1) if step.get("wal_bytes") is not None else None),
            "size Δ MB": _ms(round(delta, 1) if delta is not None else None),
            "lossless": {True: "yes", False: "NO", None: "–"}[loss]})
    return out


def markdown(section: dict[str, Any] | None) -> list[str]:
    """The rehearsal table in GitHub Markdown ([] when no rehearsal ran)."""
    found = rows(section)
    if not found:
        return []
    assert section is not None
    ratio = section.get("checksum_vs_count", {}).get("ratio")
    volume = "the generated dataset" if section.get("dataset") == "prepared" else \
        f"{section['options']['rows']:,} rows per table"
    lines = ["", f"### Migration rehearsal ({volume}, {section['options']['rate_per_s']:g} live requests/s)", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r[c].replace("|", "\\|") for c in COLUMNS) + " |" for r in found]
    lines += ["", f"Checksums took {ratio:g}× a count(*) of the same tables; seeding "
                  f"{section.get('seeding_rows_per_s') or 0:,} rows/s."] if ratio else []
    lines += ["", *(f"Round trip {t['at']} → {t['via']} → {t['at']}: "
                    f"{'every value back' if t['lossless'] else 'LOST: ' + trip_text(t)}" for t in
                    section.get("round_trips", []))] if section.get("round_trips") else []
    return lines


def trip_text(trip: dict[str, Any]) -> str:
    return "; ".join(f"{d['table']}: {d['reason']}" for d in trip.get("differences", []))


def print_rehearsal(section: dict[str, Any], results: Results, console: Console) -> None:
    """One block per step (a wide table does not fit a CI log), then every gate that did not pass."""
    for row in rows(section):
        console.print(f"[bold]{row['step']}[/]  {row['verdict']}")
        for column in COLUMNS[2:]:
            console.print(f"  {column}: {row[column]}", highlight=False)
    for trip in section.get("round_trips", []):
        console.print(f"round trip {trip['at']} -> {trip['via']} -> {trip['at']}: "
                      f"{'every value back' if trip['lossless'] else 'LOST ' + trip_text(trip)} "
                      f"({trip['rows_checked']:,} rows in {trip['tables']} tables compared)", highlight=False)
    if section.get("error"):
        console.print(f"[red]{section['error']}[/]")
    for gate in results.gates:
        if gate.verdict != "pass":
            console.print(f"[red]{gate.verdict}[/] {gate.name}: {gate.reason}", highlight=False)
