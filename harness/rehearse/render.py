"""The rehearsal as table rows: one per step, shared by the terminal, summary.md and report.html."""

from __future__ import annotations

from rich.console import Console

from harness.results import Results
from harness.results.rehearsal import LiveRun, LockHold, Rehearsal, RoundTrip, Step

COLUMNS = ["step", "verdict", "wall s", "locks held (existing tables)", "longest live wait",
           "live p95 ms before → during", "live p95 ms per kind during",
           "live p99 ms during", "live errors", "WAL MB", "size Δ MB", "lossless"]


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _held(lock: LockHold) -> str:
    """How long the strongest mode itself was seen held; a mode seen only at commit or between two polls of the
    wait sampler was held for less than a poll (the span of all modes together would overstate it)."""
    own = lock.modes.get(lock.mode)
    return f"{own.held_ms:g} ms" if own is not None else "< 1 poll"


def step_title(step: Step) -> str:
    return f"{step.direction} {step.source} → {step.to}"


def rows(section: Rehearsal | None) -> list[dict[str, str]]:
    """One row per step, keys as COLUMNS; [] when no rehearsal ran."""
    out = []
    for step in section.steps if section else []:
        locks = "; ".join(f"{t} {v.mode.removesuffix('Lock')} {_held(v)}" for t, v in step.locks.items()) or "none"
        live = step.live
        ran = isinstance(live, LiveRun)
        longest = live.longest_wait if isinstance(live, LiveRun) else None
        wait = (f"{longest.wait_ms:g} ms on {longest.table or longest.locktype} "
                f"({longest.lock.removesuffix('Lock')}) behind: {longest.blocked_by_statement[:120]}"
                if longest else ("none" if ran else "not run"))
        before, during = (live.before, live.during) if isinstance(live, LiveRun) else (None, None)
        sizes = step.sizes
        delta = (sizes.total_after - sizes.total_before) / 2**20 if sizes else None
        out.append({
            "step": step_title(step), "verdict": str(step.verdict),
            "wall s": _ms(step.duration_s), "locks held (existing tables)": locks, "longest live wait": wait,
            "live p95 ms before → during": f"{_ms(before.p95_ms if before else None)} → "
                                           f"{_ms(during.p95_ms if during else None)}",
            "live p95 ms per kind during": ", ".join(
                f"{k} {_ms(v.during.p95_ms)}" for k, v in live.kinds.items()) if isinstance(live, LiveRun) else "–",
            "live p99 ms during": _ms(during.p99_ms if during else None),
            "live errors": f"{during.errors}/{during.count}" if during else "–",
            "WAL MB": _ms(round(step.wal_bytes / 2**20, 1) if step.wal_bytes is not None else None),
            "size Δ MB": _ms(round(delta, 1) if delta is not None else None),
            "lossless": {True: "yes", False: "NO", None: "–"}[step.loss.lossless]})
    return out


TIMELINE_COLUMNS = ["step", "verdict", "wall s", "live p95 ms before → during", "longest live wait", "statements"]


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _statements(step: Step) -> str:
    """How many statements, and the longest with its time and rows."""
    timed = [s for s in step.statements if s.duration_s is not None]
    longest = max(timed, key=lambda s: s.duration_s or 0.0, default=None)
    if longest is None:
        return f"{len(step.statements)}" if step.statements else "none"
    rows = f", {longest.rows:,} rows" if longest.rows is not None else ""
    return f"{len(step.statements)}; longest {longest.duration_s:g} s{rows}: `{_short(longest.statement)}`"


def timeline_rows(section: Rehearsal | None) -> list[dict[str, str]]:
    """The step's timeline in one line: live p95 per kind before and during it, the longest wait on a lock and
    the statements (summary.md; report.html draws the same as a figure). Keys as TIMELINE_COLUMNS."""
    out = []
    for step in section.steps if section else []:
        live = step.live
        if isinstance(live, LiveRun):
            p95 = "; ".join(f"{k} {_ms(v.before.p95_ms)} → {_ms(v.during.p95_ms)}" for k, v in live.kinds.items())
            longest = live.longest_wait
            wait = "none" if longest is None else (
                f"{longest.wait_ms:g} ms on {longest.table or longest.locktype} ({longest.lock.removesuffix('Lock')})"
                f" behind `{_short(longest.blocked_by_statement, 50)}`")
        else:
            p95, wait = "not run", "not run"
        out.append({"step": step_title(step), "verdict": str(step.verdict), "wall s": _ms(step.duration_s),
                    "live p95 ms before → during": p95 or "–", "longest live wait": wait,
                    "statements": _statements(step)})
    return out


def _table(columns: list[str], found: list[dict[str, str]]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(r[c].replace("|", "\\|").replace("\n", " ") for c in columns) + " |"
              for r in found)]


def markdown(section: Rehearsal | None) -> list[str]:
    """The rehearsal in GitHub Markdown: each step's timeline in a compact table, every figure folded below it
    ([] when no rehearsal ran)."""
    found = rows(section)
    if not found or section is None:
        return []
    ratio = section.checksum_vs_count.ratio if section.checksum_vs_count else None
    volume = "the generated dataset" if section.dataset == "prepared" else \
        f"{section.options.rows:,} rows per table"
    lines = ["", f"### Migration rehearsal ({volume}, {section.options.rate_per_s:g} live requests/s)", "",
             *_table(TIMELINE_COLUMNS, timeline_rows(section)),
             "", "<details><summary>Every figure per step</summary>", "", *_table(COLUMNS, found), "", "</details>"]
    sources = sorted({f"{s.server_statements.source or 'not available'}" + (
        "" if s.server_statements.source else f" ({s.server_statements.detail})")
        for s in section.steps if s.server_statements is not None})
    lines += ["", "Server-side statement figures (results.json, `server_statements`): " + "; ".join(sources) + "."] \
        if sources else []
    lines += ["", f"Checksums took {ratio:g}× a count(*) of the same tables; seeding "
                  f"{section.seeding_rows_per_s or 0:,} rows/s."] if ratio else []
    lines += ["", *(f"Round trip {t.at} → {t.via} → {t.at}: "
                    f"{'every value back' if t.lossless else 'LOST: ' + trip_text(t)}" for t in
                    section.round_trips)] if section.round_trips else []
    return lines


def trip_text(trip: RoundTrip) -> str:
    return "; ".join(f"{d.table}: {d.reason}" for d in trip.differences)


def print_rehearsal(section: Rehearsal | None, results: Results, console: Console) -> None:
    """One block per step (a wide table does not fit a CI log), then every gate that did not pass."""
    for row in rows(section):
        console.print(f"[bold]{row['step']}[/]  {row['verdict']}")
        for column in COLUMNS[2:]:
            console.print(f"  {column}: {row[column]}", highlight=False)
    for trip in section.round_trips if section else []:
        console.print(f"round trip {trip.at} -> {trip.via} -> {trip.at}: "
                      f"{'every value back' if trip.lossless else 'LOST ' + trip_text(trip)} "
                      f"({trip.rows_checked:,} rows in {trip.tables} tables compared)", highlight=False)
    if section and section.error:
        console.print(f"[red]{section.error}[/]")
    for gate in results.gates:
        if gate.verdict != "pass":
            console.print(f"[red]{gate.verdict}[/] {gate.name}: {gate.reason}", highlight=False)
