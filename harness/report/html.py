"""report.html: one self-contained page (inline CSS and SVG, no network) a person who did not run it can read."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.rehearse import render as rehearsal
from harness.report import plots, view
from harness.results import Results
from harness.results.capacity import CapacityFit, CapacitySection, FitVerdict


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.3g}"
    return str(value)


def capacity_rows(capacity: CapacitySection | None) -> list[dict[str, str]]:
    """One line per fitted scenario and axis: exponent and predicted breaking point, with intervals."""
    if capacity is None:
        return []
    rows = []
    for fit in capacity.fits:
        low, high = fit.breaks_at_ci
        rows.append({
            "scenario": fit.scenario, "axis": fit.axis,
            "at": "" if fit.at is None else f"{'users' if fit.axis == 'posts' else 'posts'}={fit.at}",
            "slope": _growth(fit),
            "target": _fmt(fit.target_ms),
            "breaks": fit.verdict_text if fit.breaks_at is None else
            f"{_fmt(fit.breaks_at)} {fit.axis} [{_fmt(low)}, {'unbounded' if high is None else _fmt(high)}]"
            + ("" if fit.verdict == FitVerdict.PREDICTED else f" ({fit.verdict_text})"),
            "predicted": _predicted(fit),
        })
    return rows


def capacity_cache(capacity: CapacitySection | None) -> str:
    """The cache the size fits were judged against (harness.capacity.cache), or why none was."""
    if capacity is None:
        return ""
    if capacity.cache_bytes is None:
        return "CPU last-level cache of the server's machine: not known (not this machine); no fit is judged by it."
    return (f"CPU last-level cache of the server's machine: {capacity.cache_bytes / 1024 ** 2:.0f} MB; a fit whose "
            "vector graph changes regime against it (within it, spilling out of it, far beyond it), between its "
            "sizes or before the size asked about, is not extrapolated.")


def _predicted(fit: CapacityFit) -> str:
    """--predict-at's answer: the p95 there (with the rival model's, and the all-work bound where pages were
    counted), or why it was refused."""
    p = fit.prediction
    if p is None:
        return ""
    if p.p95_ms is None:
        return f"{_fmt(p.at)} posts: not predicted ({p.refused})"
    work = f"; all work: {_fmt(p.work_ms)} ms" if p.work_ms is not None else ""
    return f"{_fmt(p.at)} posts: {_fmt(p.p95_ms)} ms (fixed plus proportional: {_fmt(p.rival_ms)} ms{work})"


def _growth(fit: CapacityFit) -> str:
    """How p95 grows: the power-law exponent with its interval, or the USL's contention and coherency."""
    if fit.model == "usl" and fit.sigma is not None and fit.kappa is not None:
        return f"USL sigma {fit.sigma:.3g}, kappa {fit.kappa:.3g}"
    if fit.slope is None:
        return "not fitted"
    low, high = fit.slope_ci or (None, None)
    return f"{fit.slope:.2f} [{_fmt(low)}, {_fmt(high)}]"


def render_html(results: Results) -> str:
    """The report page for `results` (reads only Results, never the database)."""
    env = Environment(loader=PackageLoader("harness.report", "templates"), autoescape=select_autoescape(["j2"]))
    scenarios = view.scenarios(results)
    targets = results.profile.get("targets") if isinstance(results.profile.get("targets"), dict) else {}
    recall_target = view.number(targets, "recall_at_10")
    load = results.load
    steps = view.migration_steps(results.migrations)
    figures = {
        "latency": plots.latency_distributions(scenarios),
        "recall": plots.recall_latency([s for s in scenarios if s.kind == "vector" or s.recall is not None],
                                       recall_target),
        "load": plots.load_over_time(load.timeline if load else [], (load.target_p95_ms if load else None)
                                     or view.number(targets, "ward_p95_ms")),
        "migrations": plots.migration_timings(steps),
        "capacity": plots.capacity_fits(results.capacity),
        "rehearsal": plots.rehearsal_timelines(results.rehearsal),
    }
    other = [("Backup", view.section_fields(results.backup)), ("Faults", view.section_fields(results.faults))]
    return env.get_template("report.html.j2").render(
        results=results, banner=view.banner(results), gates=view.gate_rows(results), stages=results.stages,
        scenarios=scenarios, fidelity=view.bench_fidelity(results.bench), figures=figures,
        load_facts=view.load_summary(load), targets=view.target_rows(results),
        load_groups=view.load_groups(load), steps=steps, migration_facts=view.migration_facts(results.migrations),
        capacity_rows=capacity_rows(results.capacity), capacity_cache=capacity_cache(results.capacity),
        other_sections=other,
        rehearsal_rows=rehearsal.rows(results.rehearsal), rehearsal_columns=rehearsal.COLUMNS,
        dataset=view.dataset_rows(results), environment=view.environment_rows(results),
        selection=[(k, ", ".join(map(str, v)) if isinstance(v, list) else str(v))
                   for k, v in results.selection.items()],
        fmt=_fmt)
