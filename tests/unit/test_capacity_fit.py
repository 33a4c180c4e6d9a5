"""Capacity fits on synthetic points: the exponent and the breaking point are recovered within their intervals."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.capacity.cache import last_level_cache_bytes
from harness.capacity.fit import UslFit, fit_power_law, fit_section, predict_break
from harness.results.capacity import CapacityPoint, CapacitySection, FitVerdict, PlanChange


def _pt(posts: float, p95_ms: float, users: int = 1, plan: str | None = None,
        pages: float | None = None, graph: int | None = None) -> CapacityPoint:
    return CapacityPoint(scenario="s", kind="ward", posts=int(posts), users=users, p95_ms=p95_ms, plan=plan,
                         blocks_p50=pages, graph_bytes=graph)


def _points(exponent: float, sizes: list[float], noise: float, seed: int, base_ms: float = 2.0) -> list[float]:
    rng = np.random.default_rng(seed)
    return [base_ms * (x / sizes[0]) ** exponent * math.exp(rng.normal(0, noise)) for x in sizes]


@pytest.mark.parametrize("seed", range(4))
def test_exponent_and_break_recovered_within_interval(seed: int) -> None:
    sizes = [1e4, 3e4, 1e5, 3e5, 1e6]
    fit = fit_power_law(sizes, _points(0.5, sizes, 0.05, seed))
    rows = fit_section([_pt(x, y) for x, y in zip(sizes, _points(0.5, sizes, 0.05, seed), strict=True)], "posts",
                       {"s": 100.0})
    assert rows[0].slope_ci is not None
    low, high = rows[0].slope_ci
    assert low < 0.5 < high and abs(fit.slope - 0.5) < 0.1
    truth = 1e4 * (100.0 / 2.0) ** 2  # 2 ms * (x/1e4)^0.5 = 100 ms
    pred = predict_break(fit, 100.0, max(sizes), seed)
    assert pred.breaks_at_ci[0] is not None and pred.breaks_at_ci[1] is not None
    assert pred.breaks_at_ci[0] < truth < pred.breaks_at_ci[1]
    assert pred.breaks_at is not None and pred.breaks_at_ci[0] <= pred.breaks_at <= pred.breaks_at_ci[1]


def test_three_points_give_a_wider_interval_than_six() -> None:
    few, many = [1e4, 1e5, 1e6], [1e4, 3e4, 1e5, 3e5, 1e6, 3e6]
    width = []
    for sizes in (few, many):
        fit = fit_power_law(sizes, _points(0.7, sizes, 0.1, 1))
        ci = predict_break(fit, 100.0, max(sizes)).breaks_at_ci
        width.append(math.log((ci[1] or math.inf) / (ci[0] or 1)))
    assert width[0] > width[1]


def test_flat_latency_predicts_no_break() -> None:
    sizes = [1e3, 1e4, 1e5]
    fit = fit_power_law(sizes, [1.0, 1.0, 1.0])
    pred = predict_break(fit, 100.0, max(sizes))
    assert pred.breaks_at is None and pred.verdict == FitVerdict.NO_GROWTH


def test_already_over_target_says_so() -> None:
    sizes = [1e3, 1e4, 1e5]
    fit = fit_power_law(sizes, [50.0, 120.0, 300.0])
    pred = predict_break(fit, 100.0, max(sizes))
    assert pred.verdict == FitVerdict.OVER_TARGET and pred.breaks_at is not None
    assert pred.breaks_at < 1e5


def test_far_extrapolation_is_flagged() -> None:
    sizes = [1e3, 1e4, 1e5]
    fit = fit_power_law(sizes, _points(0.1, sizes, 0.01, 2, base_ms=1.0))
    assert predict_break(fit, 100.0, max(sizes)).verdict == FitVerdict.LONG_EXTRAPOLATION


def test_too_few_points_are_not_fitted() -> None:
    rows = fit_section([_pt(x, 1.0) for x in (1e3, 1e4)], "posts", {"s": 100.0})
    assert rows[0].slope is None and rows[0].verdict == FitVerdict.NOT_FITTED and "three or more" in rows[0].reason


def test_users_axis_is_fitted_per_size_with_the_usl() -> None:
    """Points drawn from a known USL curve: sigma and kappa recovered, the crossing solved exactly."""
    truth = UslFit(base_ms=0.5, sigma=0.05, kappa=0.002)
    points = [_pt(p, truth.predict(u) * (p / 1e3) ** 0.2, users=u) for p in (1e3, 1e4) for u in (1, 5, 10, 20, 50)]
    rows = fit_section(points, "users", {"s": 100.0})
    assert [r.at for r in rows] == [1e3, 1e4]
    for r in rows:
        assert r.model == "usl"
        assert r.sigma == pytest.approx(0.05, rel=1e-6) and r.kappa == pytest.approx(0.002, rel=1e-6)
        assert r.backtest is not None and r.backtest.evaluated
        assert r.backtest.error is not None and r.backtest.error < 1e-6
    crossing = rows[0].breaks_at
    assert crossing is not None
    assert truth.predict(crossing) == pytest.approx(100.0, rel=1e-9)


def test_backtest_refuses_a_fit_that_cannot_predict_its_own_largest_point() -> None:
    """Flat at small sizes, then a 20x jump at the largest (a filter effect): no break is extrapolated."""
    sizes = [1e4, 2e4, 4e4, 8e4]
    rows = fit_section([_pt(x, y) for x, y in zip(sizes, [3.0, 3.1, 3.2, 60.0], strict=True)], "posts", {"s": 100.0})
    r = rows[0]
    assert r.backtest is not None and r.backtest.evaluated and not r.backtest.within_bound
    assert r.backtest.error is not None and r.backtest.error > 0.9
    assert r.breaks_at is None and r.verdict == FitVerdict.NOT_EXTRAPOLATED
    assert r.verdict_text.startswith("not extrapolated: backtest error")


def test_backtest_accepts_a_clean_power_law() -> None:
    sizes = [1e4, 3e4, 1e5, 3e5]
    rows = fit_section([_pt(x, y) for x, y in zip(sizes, _points(0.5, sizes, 0.02, 3), strict=True)], "posts",
                       {"s": 100.0})
    assert rows[0].backtest is not None and rows[0].backtest.within_bound and rows[0].breaks_at is not None


def test_a_plan_change_across_scales_stops_extrapolation() -> None:
    sizes = [1e4, 3e4, 1e5, 3e5]
    plans = ["ix_posts_ward_id", "ix_posts_ward_id", "ix_posts_embedding_hnsw", "ix_posts_embedding_hnsw"]
    rows = fit_section([_pt(x, y, plan=plan) for x, y, plan in zip(sizes, _points(0.5, sizes, 0.02, 3), plans,
                                                                   strict=True)], "posts", {"s": 100.0})
    r = rows[0]
    assert r.plan_changes == (PlanChange((3e4, 1e5), "ix_posts_ward_id", "ix_posts_embedding_hnsw"),)
    assert r.breaks_at is None and r.verdict == FitVerdict.NOT_EXTRAPOLATED
    assert r.reason.startswith("plan changes from ix_posts_ward_id")
    assert r.band is not None and max(r.band.x) <= 3e5 * 1.0001


def test_usl_fits_render_in_the_report() -> None:
    from harness.report.html import capacity_rows
    from harness.report.plots import capacity_fits

    points = tuple(_pt(1000, 0.5 * (1 + 0.05 * (u - 1)), users=u) for u in (1, 5, 20))
    capacity = CapacitySection(scales=(1000,), users=(1, 5, 20), base_profile="ci", duration_s=3.0, tool="locust",
                               loads=(), points=points, fits=tuple(fit_section(points, "users", {"s": 100.0})),
                               method="usl")
    assert capacity_rows(capacity)[0]["slope"].startswith("USL sigma 0.05")
    assert len(capacity_fits(capacity)) == 1


def test_predict_at_gives_the_fit_at_a_size_within_reach_and_refuses_otherwise() -> None:
    """A clean power law predicts 10x past its largest point; 11x is out of reach; a failed backtest, a plan
    change or a failed fit refuse, each saying why."""
    sizes = [1e4, 3e4, 1e5]
    clean = [_pt(x, y) for x, y in zip(sizes, _points(0.5, sizes, 0.0, 0), strict=True)]
    (fit,) = fit_section(clean, "posts", {"s": 100.0}, predict=1e6)
    assert fit.prediction is not None and fit.prediction.p95_ms == pytest.approx(2.0 * 100 ** 0.5, rel=1e-3)
    (far,) = fit_section(clean, "posts", {"s": 100.0}, predict=1.1e6)
    assert far.prediction is not None and far.prediction.p95_ms is None
    assert far.prediction.refused.startswith("the largest measured size (100,000 posts) is more than 10x below")
    jump = [_pt(x, y) for x, y in zip(sizes, [3.0, 3.1, 60.0], strict=True)]
    (missed,) = fit_section(jump, "posts", {"s": 100.0}, predict=1e6)
    assert missed.prediction is not None and missed.prediction.refused.startswith("backtest error")
    plans = [_pt(x, y, plan=p) for x, y, p in zip(sizes, _points(0.5, sizes, 0.0, 0), ["a", "a", "b"], strict=True)]
    (changed,) = fit_section(plans, "posts", {"s": 100.0}, predict=1e6)
    assert changed.prediction is not None and changed.prediction.refused.startswith("plan changes from a to b")
    (few,) = fit_section(clean[:2], "posts", {"s": 100.0}, predict=1e6)
    assert few.prediction is not None and few.prediction.p95_ms is None and "three or more" in few.prediction.refused
    assert fit_section(clean, "posts", {"s": 100.0})[0].prediction is None  # only when asked


def test_predict_at_refuses_when_a_fixed_plus_proportional_cost_fits_as_well_and_disagrees() -> None:
    """A day's window measured 0.33 / 0.40 / 0.52 ms at 10^4 / 3x10^4 / 10^5 posts: a power law passes its
    backtest and says 0.81 ms at 10^6, a fixed plus proportional cost passes too (24 %) and says 2.3 ms (2.63
    was measured): refused. A clean square-root growth is still predicted, the rival failing its backtest."""
    sizes = [1e4, 3e4, 1e5]
    day = [_pt(x, y) for x, y in zip(sizes, [0.33, 0.40, 0.52], strict=True)]
    (fit,) = fit_section(day, "posts", {"s": 100.0}, predict=1e6)
    p = fit.prediction
    assert p is not None and p.p95_ms is None and p.rival_ms == pytest.approx(2.33, abs=0.01)
    assert p.refused.startswith("a power law (0.814 ms) and a fixed plus proportional cost (2.33 ms) both pass")
    clean = [_pt(x, y) for x, y in zip(sizes, _points(0.5, sizes, 0.0, 0), strict=True)]
    (kept,) = fit_section(clean, "posts", {"s": 100.0}, predict=1e6)
    assert kept.prediction is not None and kept.prediction.p95_ms is not None
    assert kept.prediction.rival_backtest_error is not None and kept.prediction.rival_backtest_error > 0.3
    from harness.report.html import capacity_rows

    capacity = CapacitySection(scales=(10_000, 30_000, 100_000), users=(1,), base_profile="ci", duration_s=3.0,
                               tool="locust", loads=(), points=(*day, *clean), fits=(fit, kept), method="power law")
    refused, predicted = (row["predicted"] for row in capacity_rows(capacity))
    assert refused.startswith("1,000,000 posts: not predicted (a power law (0.814 ms)")
    assert predicted == f"1,000,000 posts: {kept.prediction.p95_ms:.3g} ms (fixed plus proportional: " \
                        f"{kept.prediction.rival_ms:.3g} ms)"


def test_predict_at_refuses_when_the_pages_touched_grow_faster_than_the_latency() -> None:
    """A band's HNSW graph measured 0.39 / 0.49 / 0.63 ms at 10^4 / 3x10^4 / 10^5 posts (4.8-5.4 ms at 10^6): the
    power law passes its backtest (1 %), the rival fails its own (33 %), so neither refuses; the pages one query
    touches grow 7x over the same sizes, so the latency at 10^6 may lie anywhere up to ~7x the largest measured
    one: refused. A quiet ward's lookup, whose pages do not grow, is still predicted, with its all-work bound."""
    sizes = [1e4, 3e4, 1e5]
    band = [_pt(x, y, pages=n) for x, y, n in zip(sizes, [0.39, 0.49, 0.63], [130, 360, 900], strict=True)]
    (fit,) = fit_section(band, "posts", {"s": 100.0}, predict=1e6)
    p = fit.prediction
    assert p is not None and p.p95_ms is None and p.rival_backtest_error is not None and p.rival_backtest_error > 0.3
    assert p.work_blocks is not None and 5000 < p.work_blocks < 8000 and p.work_ms is not None and p.work_ms > 3.0
    assert p.refused.startswith("the pages a query touches grow faster than its latency: 900 at 100,000 posts"), \
        p.refused
    unpaged = [_pt(x, y) for x, y in zip(sizes, [0.39, 0.49, 0.63], strict=True)]
    (blind,) = fit_section(unpaged, "posts", {"s": 100.0}, predict=1e6)  # without pages: the old answer
    assert blind.prediction is not None and blind.prediction.p95_ms == pytest.approx(1.03, abs=0.02)
    quiet = [_pt(x, y, pages=n) for x, y, n in zip(sizes, [0.25, 0.28, 0.27], [9, 9, 10], strict=True)]
    (kept,) = fit_section(quiet, "posts", {"s": 100.0}, predict=1e6)
    q = kept.prediction
    assert q is not None and q.p95_ms is not None and q.work_ms is not None and q.work_ms < q.p95_ms * 1.3
    from harness.report.html import capacity_rows

    capacity = CapacitySection(scales=(10_000, 30_000, 100_000), users=(1,), base_profile="ci", duration_s=3.0,
                               tool="locust", loads=(), points=(*band, *quiet), fits=(fit, kept), method="power law")
    assert capacity_rows(capacity)[1]["predicted"].endswith(f"; all work: {q.work_ms:.3g} ms)")


MB = 1024 ** 2
LLC = 32 * MB


def test_a_graph_leaving_the_cache_before_the_size_asked_about_refuses_the_prediction() -> None:
    """The AI reports' graph: 1.4 / 4.2 / 13.9 MB at 10^4 / 3x10^4 / 10^5 posts, within the 32 MB cache, and
    ~140 MB at 10^6, where its cost per page had tripled. A p95 growing cleanly is refused there, naming both
    regimes; without a known cache (a remote server), or asked about a size the graph still fits at, it is
    predicted."""
    sizes = [1e4, 3e4, 1e5]
    ys = _points(0.3, sizes, 0.0, 0, base_ms=0.6)
    graph = [_pt(x, y, graph=int(x * 146)) for x, y in zip(sizes, ys, strict=True)]
    (fit,) = fit_section(graph, "posts", {"s": 200.0}, predict=1e6, cache_bytes=LLC)
    p = fit.prediction
    assert p is not None and p.p95_ms is None and fit.cache_crossing is None
    assert p.refused.startswith("the graph the plan walks (13.9 MB at 100,000 posts, within the CPU's last-level "
                                "cache) will be ~139 MB at 1,000,000, far beyond it (32 MB last-level cache)"), \
        p.refused
    (kept,) = fit_section(graph, "posts", {"s": 200.0}, predict=1e6, cache_bytes=None)
    assert kept.prediction is not None and kept.prediction.p95_ms is not None
    (fits_there,) = fit_section(graph, "posts", {"s": 200.0}, predict=2e5, cache_bytes=LLC)  # ~28 MB: still fits
    assert fits_there.prediction is not None and fits_there.prediction.p95_ms is not None
    (spilling,) = fit_section(graph, "posts", {"s": 200.0}, predict=5e5, cache_bytes=LLC)  # ~70 MB
    assert spilling.prediction is not None and "will be ~70 MB at 500,000, spilling out of it" in \
        spilling.prediction.refused


def test_a_fit_across_a_change_of_regime_is_not_extrapolated() -> None:
    """The main graph: 11 / 34 / 112 / 335 MB at 10^4 - 3x10^5 posts. Its cost per page rose from ~1.0 to ~2 us
    as it spilled out of the 32 MB cache, which the power law read as growth: 13.5 ms predicted at 10^6 against
    9.9 measured. The step is named, the fit not extrapolated, and fitting past it is suggested; sizes whose
    graphs are all far beyond the cache are not refused for it."""
    sizes = [1e4, 3e4, 1e5, 3e5]
    main = [_pt(x, y, graph=int(x * 1170)) for x, y in zip(sizes, [1.59, 1.67, 4.67, 7.64], strict=True)]
    (fit,) = fit_section(main, "posts", {"s": 200.0}, predict=1e6, cache_bytes=LLC)
    assert fit.cache_crossing == (1e5, 3e5) and fit.verdict == FitVerdict.NOT_EXTRAPOLATED  # 112 MB -> 335 MB
    assert fit.prediction is not None and fit.prediction.p95_ms is None
    assert fit.prediction.refused.startswith("the graph the plan walks changes regime against the CPU's last-level "
                                             "cache between 100000 and 300000 posts"), fit.prediction.refused
    assert fit.prediction.refused.endswith("fit sizes from 300000 on only")
    above_sizes = [3e5, 6e5, 1e6]
    past = [_pt(x, y, graph=int(x * 1170)) for x, y in zip(above_sizes, _points(0.45, above_sizes, 0.0, 0, 7.64),
                                                             strict=True)]
    (above,) = fit_section(past, "posts", {"s": 200.0}, predict=3e6, cache_bytes=LLC)
    assert above.cache_crossing is None and above.prediction is not None
    assert "last-level cache" not in above.prediction.refused  # (refused or not on other grounds)
    from harness.report.html import capacity_cache

    section = CapacitySection(scales=(10_000, 30_000, 100_000, 300_000), users=(1,), base_profile="ci",
                              duration_s=3.0, tool="pytest-benchmark", loads=(), points=tuple(main), fits=(fit,),
                              method="power law", cache_bytes=LLC)
    assert capacity_cache(section).startswith("CPU last-level cache of the server's machine: 32 MB;")
    assert "not known" in capacity_cache(replace(section, cache_bytes=None))
    unsized = [_pt(x, y) for x, y in zip(sizes, [1.59, 1.67, 4.67, 7.64], strict=True)]  # a B-tree plan
    (btree,) = fit_section(unsized, "posts", {"s": 200.0}, predict=1e6, cache_bytes=LLC)
    assert btree.cache_crossing is None


def test_last_level_cache_is_the_deepest_data_or_unified_level(tmp_path: Path) -> None:
    """sysfs as Linux lays it out: L1 data and instruction, L2, L3; an instruction cache never counts."""
    for index, (level, kind, size) in enumerate([(1, "Data", "48K"), (1, "Instruction", "32K"), (2, "Unified", "2M"),
                                                 (3, "Unified", "32768K"), (4, "Instruction", "64M")]):
        entry = tmp_path / f"index{index}"
        entry.mkdir()
        for name, value in (("level", str(level)), ("type", kind), ("size", size)):
            (entry / name).write_text(value + "\n")
    assert last_level_cache_bytes(tmp_path) == 32 * MB
