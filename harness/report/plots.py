"""Figures for report.html, drawn with matplotlib's Agg backend and returned as inline SVG (no network)."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: never needs a display, also under CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from harness.report.view import ScenarioRow, StepRow, finite  # noqa: E402
from harness.results.capacity import Axis, CapacityFit, CapacityPoint, CapacitySection  # noqa: E402
from harness.results.load import TimelinePoint  # noqa: E402
from harness.results.rehearsal import Hold, LiveRun, Rehearsal, Statement  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "wardbench", "font.size": 9,
                     "axes.spines.top": False, "axes.spines.right": False})

PASS, FAIL, INK, TARGET = "#1a7f37", "#cf222e", "#24292f", "#d1242f"
FAR_X = 100.0  # capacity plots extend at most this far beyond the largest measured size


def to_svg(fig: Figure) -> str:
    """The figure as an <svg> element to paste into HTML (XML prolog removed), then closed."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    # Drop the prolog and the RDF metadata block (a creation date and links to W3C/Dublin Core vocabularies).
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)


def latency_distributions(rows: Sequence[ScenarioRow]) -> str | None:
    """One row per scenario: raw-sample box (5-95 % whiskers) or p50/p95/p99 marks, and its target line."""
    rows = [r for r in rows if r.samples_ms or r.p95_ms is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    for y, r in enumerate(rows):
        over = r.target_ms is not None and r.p95_ms is not None and r.p95_ms > r.target_ms
        colour = FAIL if over else PASS
        if r.samples_ms:
            ax.boxplot([np.maximum(r.samples_ms, 1e-3)], positions=[y], orientation="horizontal", widths=0.55,
                       whis=(5, 95), showfliers=False, patch_artist=True,
                       boxprops={"facecolor": colour + "55", "edgecolor": colour},
                       medianprops={"color": INK}, whiskerprops={"color": colour}, capprops={"color": colour})
        marks = [(r.p50_ms, "|"), (r.p95_ms, "D"), (r.p99_ms, "^")]
        for value, marker in marks:
            if value is not None:
                ax.plot([max(value, 1e-3)], [y], marker=marker, color=colour, markersize=6, linestyle="none")
        if r.target_ms is not None:
            ax.plot([r.target_ms] * 2, [y - 0.4, y + 0.4], color=TARGET, linewidth=2.2)
    ax.set_yticks(range(len(rows)), [r.name for r in rows])
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale) — box 25-75 %, whiskers 5-95 %, ◆ p95, ▲ p99, red bar = p95 target")
    ax.invert_yaxis()
    ax.grid(axis="x", which="both", alpha=0.25)
    return to_svg(fig)


def load_over_time(points: Sequence[TimelinePoint], target_ms: float | None) -> str | None:
    """Throughput and p95 against elapsed time under load, one line per role (readers, writers), p95 target."""
    series = {"readers": ([p.readers_qps for p in points], [p.readers_p95_ms for p in points]),
              "writers": ([p.writers_qps for p in points], [p.writers_p95_ms for p in points])}
    series = {name: s for name, s in series.items() if any(v is not None for v in s[0])}
    if not series:
        return None
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.2), sharex=True)
    t = [p.t_s for p in points]
    for name, (qps, p95) in series.items():
        top.plot(t, [math.nan if v is None else v for v in qps], marker=".", label=name)
        bottom.plot(t, [math.nan if v is None else v for v in p95], marker=".", label=f"{name} p95")
    top.set_ylabel("requests / s")
    top.set_ylim(bottom=0)
    top.legend(loc="best", frameon=False, fontsize=8)
    if target_ms is not None:
        bottom.axhline(target_ms, color=TARGET, linewidth=1.8, label=f"target {target_ms:g} ms")
    bottom.set_ylabel("p95 (ms)")
    bottom.set_xlabel("elapsed (s)")
    bottom.set_ylim(bottom=0)
    bottom.legend(loc="best", frameon=False, fontsize=8)
    for ax in (top, bottom):
        ax.grid(alpha=0.25)
    return to_svg(fig)


def recall_latency(rows: Sequence[ScenarioRow], recall_target: float | None) -> str | None:
    """Vector scenarios: recall@10 against p95, with the recall target and each scenario's latency target."""
    pts = [(r, r.recall, r.p95_ms) for r in rows if r.recall is not None and r.p95_ms is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.8))
    # Scenarios often share recall 1.0: a legend (colour per scenario, x = missed target) beats labels.
    colours = plt.get_cmap("tab10")
    for i, (r, recall, p95) in enumerate(pts):
        ok = (recall_target is None or recall >= recall_target) and (r.target_ms is None or p95 <= r.target_ms)
        ax.scatter([p95], [recall], color=colours(i % 10), marker="o" if ok else "X", s=55,
                   zorder=3, label=r.name + ("" if ok else " (missed)"), edgecolors="white", linewidths=0.6)
    if recall_target is not None:
        ax.axhline(recall_target, color=TARGET, linewidth=1.5, linestyle="--",
                   label=f"recall target {recall_target:g}")
    latency_targets = {r.target_ms for r, _, _ in pts if r.target_ms is not None}
    for target in sorted(latency_targets):
        ax.axvline(target, color=TARGET, linewidth=1.5, label=f"p95 target {target:g} ms")
    ax.set_xscale("log")
    ax.set_xlabel("p95 latency (ms, log scale)")
    ax.set_ylabel("recall@10")
    low = min([recall for _, recall, _ in pts] + ([recall_target] if recall_target is not None else []))
    ax.set_ylim(max(0.0, low - 0.05), 1.01)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    ax.grid(alpha=0.25)
    return to_svg(fig)


def migration_timings(rows: Sequence[StepRow]) -> str | None:
    """Duration of every migration step, red where the step lost data or could not be reversed."""
    steps = [(s, s.duration_s) for s in rows if s.duration_s is not None]
    if not steps:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(steps) + 1.0))
    labels = [f"{s.revision} {s.direction}".strip() for s, _ in steps]
    y = np.arange(len(steps))
    has_down = any(s.downgrade_s is not None for s, _ in steps)
    height = 0.4 if has_down else 0.8
    colours = [FAIL if s.ok is False else PASS for s, _ in steps]
    ax.barh(y - (height / 2 if has_down else 0), [up * 1000 for _, up in steps], height=height,
            color=colours, label="upgrade")
    if has_down:
        ax.barh(y + height / 2, [(s.downgrade_s or 0) * 1000 for s, _ in steps], height=height,
                color=[c + "88" for c in colours], label="downgrade")
        ax.legend(loc="lower right", frameon=False, fontsize=8)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("step duration (ms); red = data changed or not reversible")
    ax.grid(axis="x", alpha=0.25)
    return to_svg(fig)


def capacity_fits(capacity: CapacitySection | None) -> list[tuple[str, str]]:
    """Per scenario and axis: measured p95 points, the log-log fit with its band, and the target line."""
    if capacity is None:
        return []
    figures = []
    for fit in capacity.fits:
        usl = fit.model == "usl" and fit.base_ms is not None and fit.sigma is not None and fit.kappa is not None
        if not usl and (fit.slope is None or fit.intercept is None):
            continue
        xs, ys = _fit_points(capacity.points, fit)
        if len(xs) < 2:
            continue
        fig, ax = plt.subplots(figsize=(5.6, 3.2))
        ax.scatter(xs, ys, color=INK, s=18, zorder=3, label="measured p95")
        breaks = fit.breaks_at if finite(fit.breaks_at) else None
        # Show at most FAR_X x the measured range: beyond it a line on a log plot says nothing readable.
        x_high = min(breaks * 1.5 if breaks else max(xs) * 10, max(xs) * FAR_X)
        grid = np.geomspace(min(xs) / 1.2, x_high, 60)
        if fit.base_ms is not None and fit.sigma is not None and fit.kappa is not None:
            pred = fit.base_ms * (1 + fit.sigma * (grid - 1) + fit.kappa * grid * (grid - 1))
            ax.plot(grid, pred, color="#0969da", label=f"USL: sigma {fit.sigma:.2g}, kappa {fit.kappa:.2g}")
        elif fit.intercept is not None and fit.slope is not None:
            pred = np.exp(fit.intercept) * grid ** fit.slope
            ax.plot(grid, pred, color="#0969da", label=f"fit: p95 ∝ {fit.axis}^{fit.slope:.2f}")
        if fit.band is not None and fit.band.x:
            keep = np.asarray(fit.band.x) <= x_high
            ax.fill_between(np.asarray(fit.band.x)[keep], np.asarray(fit.band.low)[keep],
                            np.asarray(fit.band.high)[keep], color="#0969da", alpha=0.15, label="95 % interval")
        target = fit.target_ms if finite(fit.target_ms) else None
        if target is not None:
            ax.axhline(target, color=TARGET, linewidth=1.5, label="target")
        if breaks is not None and breaks <= x_high:
            ax.axvline(breaks, color=TARGET, linestyle=":", linewidth=1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(min(xs) / 1.2, x_high)
        ax.set_ylim(min(ys) / 5, max(max(ys), target or 0) * 5)
        ax.set_xlabel(fit.axis)
        ax.set_ylabel("p95 (ms)")
        ax.legend(fontsize=7, frameon=False)
        ax.grid(which="major", alpha=0.2)
        held = "" if fit.at is None else f" ({'users' if fit.axis == 'posts' else 'posts'} = {fit.at:g})"
        figures.append((f"{fit.scenario} vs {fit.axis}{held}", to_svg(fig)))
    return figures


def _fit_points(points: Sequence[CapacityPoint], fit: CapacityFit) -> tuple[list[float], list[float]]:
    """Points of the fit's scenario along its axis, the other axis held at `fit.at` when given."""
    other: Axis = "users" if fit.axis == "posts" else "posts"
    chosen = [(p.along(fit.axis), p.p95_ms) for p in points if p.scenario == fit.scenario and p.p95_ms is not None
              and finite(p.p95_ms) and (fit.at is None or p.along(other) == fit.at)]
    return [float(x) for x, _ in chosen], [max(float(y), 1e-3) for _, y in chosen]



STATEMENT_BAND, LOCK_BAND, BLOCKING_LOCK_BAND = "#bf8700", "#8c959f", FAIL
BLOCKING_MODES = ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")  # block writers
LANE_IN = 0.22  # inches per lane of the lock-hold strip


def rehearsal_timelines(section: Rehearsal | None) -> list[tuple[str, str]]:
    """Per rehearsed step: live p95 per query kind over time (the step's `live.series`), the migration's
    statements drawn as bands over it, so a latency spike lines up with the statement that caused it; below
    it, on the same time axis, a strip with the statements and each lock hold on a table that existed before
    (one lane per table and mode; red for modes that block writers)."""
    figures = []
    for step in section.steps if section else []:
        if not isinstance(step.live, LiveRun) or not step.live.series.kinds:
            continue
        series = step.live.series
        width, first = series.bucket_s, series.start_s
        statements = [st for st in step.statements if st.duration_s is not None]
        lanes = [(f"{table} {mode.removesuffix('Lock')}", mode, held.holds)
                 for table, lock in sorted(step.locks.items()) for mode, held in sorted(lock.modes.items())
                 if held.holds]
        if lanes:
            strip = LANE_IN * (len(lanes) + 1) + 0.2
            fig, (ax, bands) = plt.subplots(2, 1, figsize=(8, 2.8 + strip), sharex=True,
                                            gridspec_kw={"height_ratios": [2.8, strip], "hspace": 0.08})
        else:
            fig, ax = plt.subplots(figsize=(8, 2.8))
        for kind, values in sorted(series.kinds.items()):
            t = first + (np.arange(len(values)) + 0.5) * width
            y = np.array([v if v is not None else math.nan for v in values], float)
            ax.plot(t, np.maximum(y, 1e-2), marker=".", markersize=3, linewidth=1, label=f"{kind} p95")
        longest = max(statements, key=lambda st: st.duration_s or 0.0, default=None)
        for st in statements:
            duration = st.duration_s or 0.0
            label = f"statements; longest {duration:g} s: {st.statement[:60]}{'…' if len(st.statement) > 60 else ''}" \
                if st is longest else None
            ax.axvspan(st.start_s, st.start_s + max(duration, width / 20), color=STATEMENT_BAND,
                       alpha=0.25, linewidth=0, label=label)
        for edge in (0.0, step.duration_s):
            ax.axvline(edge, color=INK, linewidth=0.8, linestyle=":")
        ax.set_yscale("log")
        ax.set_ylabel("live latency (ms, log)")
        ax.grid(alpha=0.25)
        bottom = ax
        if lanes:
            bottom = bands
            span = max(len(v) for v in series.kinds.values()) * width
            _lock_lanes(bands, statements, lanes, span / 300)  # a hold seen by one poll stays visible
            for edge in (0.0, step.duration_s):
                bands.axvline(edge, color=INK, linewidth=0.8, linestyle=":")
        bottom.set_xlabel(f"seconds from the step's start (p95 per {width * 1000:g} ms of intended starts; "
                          "dotted: step start and end)")
        handles, labels = ax.get_legend_handles_labels()  # below the x label, 0.62 in under the bottom axes
        below = 0.62 / (bottom.get_position().height * fig.get_figheight())
        bottom.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -below), ncol=3, frameon=False,
                      fontsize=7)
        figures.append((f"{step.direction} {step.source} → {step.to}", to_svg(fig)))
    return figures


def _lock_lanes(ax: Any, statements: list[Statement], lanes: list[tuple[str, str, list[Hold]]],
                least: float) -> None:
    """The statements' lane on top, then one lane per table and lock mode with its holds as bands."""
    names = ["statements"] + [name for name, _, _ in lanes]
    top = len(names) - 1
    ax.broken_barh([(st.start_s, max(st.duration_s or 0.0, least)) for st in statements], (top - 0.35, 0.7),
                   color=STATEMENT_BAND, alpha=0.6, linewidth=0)
    for i, (_, mode, holds) in enumerate(lanes):
        ax.broken_barh([(h.start_s, max(h.end_s - h.start_s, least)) for h in holds], (top - 1 - i - 0.35, 0.7),
                       color=BLOCKING_LOCK_BAND if mode in BLOCKING_MODES else LOCK_BAND, alpha=0.7, linewidth=0)
    ax.set_yticks(range(top, -1, -1), names, fontsize=7)
    ax.set_ylim(-0.6, top + 0.6)
    ax.grid(axis="x", alpha=0.25)
