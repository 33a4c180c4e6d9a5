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

from harness.report.view import StepRow, finite  # noqa: E402

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


def latency_distributions(rows: Sequence[dict[str, Any]]) -> str | None:
    """One row per scenario: raw-sample box (5-95 % whiskers) or p50/p95/p99 marks, and its target line."""
    rows = [r for r in rows if r["samples_ms"] or r["p95_ms"] is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    for y, r in enumerate(rows):
        over = r["target_ms"] is not None and r["p95_ms"] is not None and r["p95_ms"] > r["target_ms"]
        colour = FAIL if over else PASS
        if r["samples_ms"]:
            ax.boxplot([np.maximum(r["samples_ms"], 1e-3)], positions=[y], orientation="horizontal", widths=0.55,
                       whis=(5, 95), showfliers=False, patch_artist=True,
                       boxprops={"facecolor": colour + "55", "edgecolor": colour},
                       medianprops={"color": INK}, whiskerprops={"color": colour}, capprops={"color": colour})
        marks = [(r["p50_ms"], "|"), (r["p95_ms"], "D"), (r["p99_ms"], "^")]
        for value, marker in marks:
            if value is not None:
                ax.plot([max(value, 1e-3)], [y], marker=marker, color=colour, markersize=6, linestyle="none")
        if r["target_ms"] is not None:
            ax.plot([r["target_ms"]] * 2, [y - 0.4, y + 0.4], color=TARGET, linewidth=2.2)
    ax.set_yticks(range(len(rows)), [r["name"] for r in rows])
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale) — box 25-75 %, whiskers 5-95 %, ◆ p95, ▲ p99, red bar = p95 target")
    ax.invert_yaxis()
    ax.grid(axis="x", which="both", alpha=0.25)
    return to_svg(fig)


def load_over_time(points: Sequence[dict[str, Any]], target_ms: float | None) -> str | None:
    """Throughput and p95 against elapsed time under load, one line per series (readers, writers), p95 target."""
    if not points:
        return None
    names = sorted({name for p in points for name in p["series"]})
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.2), sharex=True)
    for name in names:
        t = [p["t_s"] for p in points]
        top.plot(t, [p["series"].get(name, {}).get("qps", math.nan) for p in points], marker=".", label=name)
        bottom.plot(t, [p["series"].get(name, {}).get("p95_ms", math.nan) for p in points], marker=".",
                    label=f"{name} p95")
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


def recall_latency(rows: Sequence[dict[str, Any]], recall_target: float | None) -> str | None:
    """Vector scenarios: recall@10 against p95, with the recall target and each scenario's latency target."""
    pts = [r for r in rows if r["recall"] is not None and r["p95_ms"] is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.8))
    # Scenarios often share recall 1.0: a legend (colour per scenario, x = missed target) beats labels.
    colours = plt.get_cmap("tab10")
    for i, r in enumerate(pts):
        ok = (recall_target is None or r["recall"] >= recall_target) and (
            r["target_ms"] is None or r["p95_ms"] <= r["target_ms"])
        ax.scatter([r["p95_ms"]], [r["recall"]], color=colours(i % 10), marker="o" if ok else "X", s=55,
                   zorder=3, label=r["name"] + ("" if ok else " (missed)"), edgecolors="white", linewidths=0.6)
    if recall_target is not None:
        ax.axhline(recall_target, color=TARGET, linewidth=1.5, linestyle="--",
                   label=f"recall target {recall_target:g}")
    latency_targets = {r["target_ms"] for r in pts if r["target_ms"] is not None}
    for target in sorted(latency_targets):
        ax.axvline(target, color=TARGET, linewidth=1.5, label=f"p95 target {target:g} ms")
    ax.set_xscale("log")
    ax.set_xlabel("p95 latency (ms, log scale)")
    ax.set_ylabel("recall@10")
    low = min([r["recall"] for r in pts] + ([recall_target] if recall_target is not None else []))
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


def capacity_fits(capacity: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Per scenario and axis: measured p95 points, the log-log fit with its band, and the target line."""
    if not isinstance(capacity, dict):
        return []
    figures = []
    points = [p for p in capacity.get("points", []) if isinstance(p, dict)]
    for fit in capacity.get("fits", []):
        usl = isinstance(fit, dict) and fit.get("model") == "usl" and fit.get("sigma") is not None
        if not isinstance(fit, dict) or (fit.get("slope") is None and not usl):
            continue
        axis = str(fit.get("axis", "posts"))
        xs, ys = _fit_points(points, str(fit.get("scenario")), axis, fit.get("at"))
        if len(xs) < 2:
            continue
        fig, ax = plt.subplots(figsize=(5.6, 3.2))
        ax.scatter(xs, ys, color=INK, s=18, zorder=3, label="measured p95")
        breaks = float(fit["breaks_at"]) if finite(fit.get("breaks_at")) else None
        # Show at most FAR_X x the measured range: beyond it a line on a log plot says nothing readable.
        x_high = min(breaks * 1.5 if breaks else max(xs) * 10, max(xs) * FAR_X)
        grid = np.geomspace(min(xs) / 1.2, x_high, 60)
        if usl:
            pred = fit["base_ms"] * (1 + fit["sigma"] * (grid - 1) + fit["kappa"] * grid * (grid - 1))
            ax.plot(grid, pred, color="#0969da", label=f"USL: sigma {fit['sigma']:.2g}, kappa {fit['kappa']:.2g}")
        else:
            pred = np.exp(fit["intercept"]) * grid ** fit["slope"]
            ax.plot(grid, pred, color="#0969da", label=f"fit: p95 ∝ {axis}^{fit['slope']:.2f}")
        band = fit.get("band")
        if isinstance(band, dict) and band.get("x"):
            keep = np.asarray(band["x"]) <= x_high
            ax.fill_between(np.asarray(band["x"])[keep], np.asarray(band["low"])[keep],
                            np.asarray(band["high"])[keep], color="#0969da", alpha=0.15, label="95 % interval")
        target = float(fit["target_ms"]) if finite(fit.get("target_ms")) else None
        if target is not None:
            ax.axhline(target, color=TARGET, linewidth=1.5, label="target")
        if breaks is not None and breaks <= x_high:
            ax.axvline(breaks, color=TARGET, linestyle=":", linewidth=1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(min(xs) / 1.2, x_high)
        ax.set_ylim(min(ys) / 5, max(max(ys), target or 0) * 5)
        ax.set_xlabel(axis)
        ax.set_ylabel("p95 (ms)")
        ax.legend(fontsize=7, frameon=False)
        ax.grid(which="major", alpha=0.2)
        held = "" if fit.get("at") is None else f" ({'users' if axis == 'posts' else 'posts'} = {fit['at']:g})"
        figures.append((f"{fit.get('scenario')} vs {axis}{held}", to_svg(fig)))
    return figures


def _fit_points(points: list[dict[str, Any]], scenario: str, axis: str, at: Any) -> tuple[list[float], list[float]]:
    """Points of one scenario along `axis`, the other axis held at `at` when given."""
    other = "users" if axis == "posts" else "posts"
    chosen = [p for p in points if p.get("scenario") == scenario and finite(p.get(axis))
              and finite(p.get("p95_ms")) and (at is None or p.get(other) == at)]
    return [float(p[axis]) for p in chosen], [max(float(p["p95_ms"]), 1e-3) for p in chosen]



def rehearsal_timelines(section: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Per rehearsed step: live p95 per query kind over time (the step's `live.series`), the migration's
    statements drawn as bands over it, so a latency spike lines up with the statement that caused it."""
    figures = []
    for step in (section or {}).get("steps", []):
        series = (step.get("live") or {}).get("series")
        if not isinstance(series, dict) or not series.get("kinds") or not finite(series.get("bucket_s")):
            continue
        width, first = float(series["bucket_s"]), float(series.get("start_s") or 0.0)
        fig, ax = plt.subplots(figsize=(8, 2.8))
        for kind, values in sorted(series["kinds"].items()):
            t = first + (np.arange(len(values)) + 0.5) * width
            y = np.array([v if finite(v) else math.nan for v in values], float)
            ax.plot(t, np.maximum(y, 1e-2), marker=".", markersize=3, linewidth=1, label=f"{kind} p95")
        statements: list[dict[str, Any]] = [
            st for st in step.get("statements", []) if finite(st.get("start_s")) and finite(st.get("duration_s"))]
        longest = max(statements, key=lambda st: float(st["duration_s"]), default=None)
        for st in statements:
            text = str(st["statement"])
            label = f"statements; longest {st['duration_s']:g} s: {text[:60]}{'…' if len(text) > 60 else ''}" \
                if st is longest else None
            ax.axvspan(st["start_s"], st["start_s"] + max(st["duration_s"], width / 20), color="#bf8700",
                       alpha=0.25, linewidth=0, label=label)
        if finite(step.get("duration_s")):
            for edge in (0.0, float(step["duration_s"])):
                ax.axvline(edge, color=INK, linewidth=0.8, linestyle=":")
        ax.set_yscale("log")
        ax.set_xlabel(f"seconds from the step's start (p95 per {width * 1000:g} ms of intended starts; "
                      "dotted: step start and end)")
        ax.set_ylabel("live latency (ms, log)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, frameon=False, fontsize=7)
        ax.grid(alpha=0.25)
        title = f"{step.get('direction', 'upgrade')} {step.get('from')} → {step.get('to', step.get('revision'))}"
        figures.append((title, to_svg(fig)))
    return figures
