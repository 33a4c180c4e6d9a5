"""Fits of p95 against data size (power law) and concurrency (Universal Scalability Law), and where a
target is predicted to break, trusted only as far as a backtest and the measured plans allow.

Along size, p95 = exp(a) * x^b is fitted as a straight line in log-log space. Its uncertainty comes from
the fit's covariance: (a, b) are drawn from the multivariate Student t of the least-squares estimate (few
points: the t tails, not normal ones, keep a three-point fit honest) and each draw's crossing point is
solved, so the breaking point gets an interval instead of a single number.

Straight lines fitted to small scales cannot see a plan change or a filter effect, so every fit is
backtested (fitted without its largest measured point, which it must then predict within
BACKTEST_BOUND), and a fit whose points ran under different plans, or whose vector graph changed regime against
the CPU's last-level cache (harness.capacity.cache), is not extrapolated past them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, stats

from harness.capacity import cache
from harness.results.capacity import (
    Axis,
    Backtest,
    Band,
    CapacityFit,
    CapacityPoint,
    FitVerdict,
    PlanChange,
    SizePrediction,
)

DRAWS = 4000
NEVER = 700.0  # log of a crossing treated as never (exp(700) is near the float limit)
FAR = 100.0  # predictions past FAR x the largest measured size are flagged as long extrapolations
BACKTEST_BOUND = 0.30  # relative error allowed when predicting the largest measured point from the others


@dataclass
class PowerFit:
    """log(p95) = intercept + slope * log(x), with the covariance of (intercept, slope) and its dof."""

    intercept: float
    slope: float
    cov: list[list[float]]
    dof: int
    r2: float

    def predict(self, x: float) -> float:
        return math.exp(self.intercept + self.slope * math.log(x))


def fit_power_law(xs: Sequence[float], ys: Sequence[float]) -> PowerFit:
    """Least squares in log-log space; needs at least three distinct x (two points leave no error estimate)."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.maximum(np.asarray(ys, float), 1e-6))
    if len(set(lx.tolist())) < 3:
        raise ValueError("a capacity fit needs measurements at three or more distinct values")
    res = stats.linregress(lx, ly)
    dof = len(lx) - 2
    # Covariance of (intercept, slope) for simple regression: cov = -mean(x) * var(slope).
    var_b = res.stderr ** 2
    cross = -float(lx.mean()) * float(var_b)
    cov = [[float(res.intercept_stderr) ** 2, cross], [cross, float(var_b)]]
    return PowerFit(float(res.intercept), float(res.slope), cov, dof, float(res.rvalue ** 2))


def _draws(fit: PowerFit, seed: int) -> np.ndarray:
    """(intercept, slope) draws from the multivariate t of the estimate."""
    rng = np.random.default_rng(seed)
    cov = np.asarray(fit.cov) + np.eye(2) * 1e-18
    normal = rng.multivariate_normal([0.0, 0.0], cov, size=DRAWS, method="eigh")
    scale = np.sqrt(fit.dof / rng.chisquare(fit.dof, size=DRAWS))[:, None]
    return np.asarray([fit.intercept, fit.slope]) + normal * scale


@dataclass
class Prediction:
    """Where p95 reaches `target_ms`: a point estimate and a 95 % interval (inf = not within growth)."""

    target_ms: float
    breaks_at: float | None
    breaks_at_ci: tuple[float | None, float | None]
    verdict: FitVerdict
    reason: str = ""


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def predict_break(fit: PowerFit, target_ms: float, measured_max: float, seed: int = 0,
                  measured_ok_to: float | None = None) -> Prediction:
    """Solve intercept + slope*log(x) = log(target); the interval is the 2.5-97.5 % of draws' solutions.

    A draw whose slope is not positive never reaches the target: its crossing is +inf, which puts an
    open upper end on the interval rather than pretending to know it.
    """
    log_t = math.log(target_ms)
    draws = _draws(fit, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_x = np.where(draws[:, 1] > 0, (log_t - draws[:, 0]) / draws[:, 1], NEVER)
    # Order statistics, not interpolation: the upper tail may hold NEVER ("does not grow" draws).
    low, high = np.percentile(np.minimum(log_x, NEVER), [2.5, 97.5], method="nearest")
    point = (log_t - fit.intercept) / fit.slope if fit.slope > 0 else NEVER
    breaks = math.exp(point) if point < NEVER else math.inf
    ci_low, ci_high = (math.exp(v) if v < NEVER else None for v in (float(low), float(high)))
    if measured_ok_to is not None and ci_low is not None and ci_low < measured_ok_to:
        ci_low = measured_ok_to  # measured under target up to there: the break cannot come earlier
    verdict, reason = _verdict(fit.predict(measured_max) > target_ms and breaks <= measured_max, breaks,
                               measured_max)
    return Prediction(target_ms, _finite_or_none(breaks), (ci_low, ci_high), verdict, reason)


def _verdict(over: bool, breaks: float, measured_max: float) -> tuple[FitVerdict, str]:
    """How far a crossing at `breaks` can be trusted; `over`: the target is already missed where measured."""
    if over:
        return FitVerdict.OVER_TARGET, ""
    if not math.isfinite(breaks):
        return FitVerdict.NO_GROWTH, ""
    if breaks > FAR * measured_max:
        return FitVerdict.LONG_EXTRAPOLATION, f"beyond {FAR:g}x the largest measured value"
    return FitVerdict.PREDICTED, ""


def band(fit: PowerFit, x_low: float, x_high: float, seed: int = 0, points: int = 40) -> Band:
    """95 % interval of the fitted p95 over a log-spaced grid, for the report's shaded band."""
    grid = np.geomspace(x_low, x_high, points)
    draws = _draws(fit, seed)
    curves = np.exp(np.minimum(draws[:, :1] + draws[:, 1:] * np.log(grid)[None, :], NEVER))
    low, high = np.percentile(curves, [2.5, 97.5], axis=0)
    return Band(tuple(grid.tolist()), tuple(low.tolist()), tuple(high.tolist()))


@dataclass
class UslFit:
    """p95(N) = base_ms * (1 + sigma*(N-1) + kappa*N*(N-1)): Gunther's Universal Scalability Law.

    With no think time, Little's law turns USL throughput N*lambda / (1 + sigma(N-1) + kappa N(N-1)) into
    response time N / X(N), linear in (base, base*sigma, base*kappa); sigma is contention (queueing on a
    shared resource), kappa coherency (the cost of users seeing each other), both kept >= 0.
    """

    base_ms: float
    sigma: float
    kappa: float

    def predict(self, users: float) -> float:
        return self.base_ms * (1 + self.sigma * (users - 1) + self.kappa * users * (users - 1))

    def crossing(self, target_ms: float) -> float:
        """Users at which p95 reaches `target_ms` (inf when it never grows)."""
        ratio = target_ms / self.base_ms
        if self.kappa <= 0:
            return 1 + (ratio - 1) / self.sigma if self.sigma > 0 else math.inf
        b, c = self.sigma - self.kappa, 1 - self.sigma - ratio  # kappa N^2 + b N + c = 0
        return (-b + math.sqrt(b * b - 4 * self.kappa * c)) / (2 * self.kappa)


def fit_usl(users: Sequence[float], p95_ms: Sequence[float]) -> UslFit:
    """Non-negative least squares of the USL's linear form; needs three distinct concurrencies."""
    n, y = np.asarray(users, float), np.asarray(p95_ms, float)
    if len(set(n.tolist())) < 3:
        raise ValueError("a concurrency fit needs measurements at three or more distinct user counts")
    coef, _ = optimize.nnls(np.column_stack([np.ones_like(n), n - 1, n * (n - 1)]), y)
    if coef[0] <= 0:
        raise ValueError("the fitted one-user p95 is not positive")
    return UslFit(float(coef[0]), float(coef[1] / coef[0]), float(coef[2] / coef[0]))


def _point_prediction(axis: Axis, xs: list[float], ys: list[float], x: float) -> float:
    """The model of `axis` fitted to (xs, ys), evaluated at x: two sizes already fix a power law."""
    if axis == "users":
        return fit_usl(xs, ys).predict(x)
    slope, intercept = np.polyfit(np.log(xs), np.log(np.maximum(ys, 1e-6)), 1)
    return float(math.exp(intercept + slope * math.log(x)))


def _hold_out(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float], float, float]:
    """The points without the largest measured x, and that point (x, y): what every backtest predicts."""
    order = np.argsort(xs)
    held = int(order[-1])
    return [xs[int(i)] for i in order[:-1]], [ys[int(i)] for i in order[:-1]], xs[held], ys[held]


def backtest(axis: Axis, xs: list[float], ys: list[float]) -> Backtest:
    """Fit without the largest measured point, predict it, and say whether the error is within the bound."""
    rest_x, rest_y, held_x, held_y = _hold_out(xs, ys)
    need = 3 if axis == "users" else 2
    if len(set(rest_x)) < need:
        return Backtest(False, f"a backtest needs {need + 1} or more distinct {axis} values")
    predicted = _point_prediction(axis, rest_x, rest_y, held_x)
    error = abs(predicted - held_y) / held_y
    return Backtest(True, held_out=held_x, measured_ms=held_y, predicted_ms=predicted, error=error,
                    bound=BACKTEST_BOUND, within_bound=bool(error <= BACKTEST_BOUND))


def plan_changes(rows: list[CapacityPoint], axis: Axis) -> tuple[PlanChange, ...]:
    """Consecutive measured points (by `axis`) whose dominant plan differs: the fit spans two regimes."""
    planned = sorted((r for r in rows if r.plan), key=lambda r: float(r.along(axis)))
    return tuple(PlanChange((float(a.along(axis)), float(b.along(axis))), a.plan or "", b.plan or "")
                 for a, b in zip(planned, planned[1:], strict=False) if a.plan != b.plan)


def cache_crossing(rows: list[CapacityPoint], cache_bytes: int | None) -> tuple[float, float] | None:
    """The last pair of neighbouring sizes between which the graph the plan walks changed regime against the
    last-level cache (harness.capacity.cache; None when the cache or a graph size is unknown, or none did)."""
    sized = sorted((r for r in rows if r.graph_bytes is not None), key=lambda r: r.posts)
    if cache_bytes is None or len(sized) < len(rows):
        return None
    steps = [(float(a.posts), float(b.posts)) for a, b in zip(sized, sized[1:], strict=False)
             if cache.regime(a.graph_bytes or 0, cache_bytes) != cache.regime(b.graph_bytes or 0, cache_bytes)]
    return steps[-1] if steps else None


def _fit_power(entry: CapacityFit, xs: list[float], ys: list[float], target: float | None,
               seed: int) -> CapacityFit:
    fit = fit_power_law(xs, ys)
    half = stats.t.ppf(0.975, fit.dof) * math.sqrt(fit.cov[1][1]) if fit.dof > 0 else math.inf
    (c00, c01), (c10, c11) = fit.cov
    entry = replace(entry, intercept=fit.intercept, slope=fit.slope,
                    slope_ci=(float(fit.slope - half), float(fit.slope + half)), r2=_finite_or_none(fit.r2),
                    dof=fit.dof, cov=((c00, c01), (c10, c11)))
    if target is None:
        return replace(entry, verdict=FitVerdict.NO_TARGET)
    under = all(y < target for y in ys)
    pred = predict_break(fit, target, max(xs), seed, measured_ok_to=max(xs) if under else None)
    top = pred.breaks_at if pred.breaks_at is not None else max(xs)
    return replace(entry, target_ms=pred.target_ms, breaks_at=pred.breaks_at, breaks_at_ci=pred.breaks_at_ci,
                   verdict=pred.verdict, reason=pred.reason,
                   band=band(fit, min(xs), min(max(top, max(xs)) * 1.2, max(xs) * 1e4), seed))


def _fit_usl(entry: CapacityFit, xs: list[float], ys: list[float], target: float | None) -> CapacityFit:
    fit = fit_usl(xs, ys)
    # No interval on breaks_at: three parameters on few points.
    entry = replace(entry, base_ms=fit.base_ms, sigma=fit.sigma, kappa=fit.kappa)
    if target is None:
        return replace(entry, verdict=FitVerdict.NO_TARGET)
    crossing = fit.crossing(target)
    verdict, reason = _verdict(max(ys) >= target, crossing, max(xs))
    return replace(entry, target_ms=target, breaks_at=_finite_or_none(crossing), verdict=verdict, reason=reason)


def _distrust(entry: CapacityFit) -> str | None:
    """Why a fit must not be carried past its measured sizes: a plan change, else a backtest over its bound."""
    test = entry.backtest
    if entry.plan_changes:
        c = entry.plan_changes[-1]
        return f"plan changes from {c.from_plan} to {c.to_plan} between {c.between[0]:g} and {c.between[1]:g}"
    if entry.cache_crossing:
        low, high = entry.cache_crossing
        return (f"the graph the plan walks changes regime against the CPU's last-level cache between {low:g} and "
                f"{high:g} posts (the cost of a page steps up as it spills out): fit sizes from {high:g} on only")
    if test is not None and test.evaluated and not test.within_bound:
        return f"backtest error {test.error:.0%} > {BACKTEST_BOUND:.0%}"
    return None


def _trusted(entry: CapacityFit, measured_max: float) -> CapacityFit:
    """Withdraw a break predicted beyond the measured range when the backtest or the plans say not to trust it."""
    breaks = entry.breaks_at
    beyond = breaks is None or breaks > measured_max
    if entry.target_ms is None or not beyond:
        return entry
    reason = _distrust(entry)
    if reason is None:
        return entry
    kept = entry.band
    if kept is not None:  # keep the interval only over what was measured
        keep = [i for i, x in enumerate(kept.x) if x <= measured_max * 1.0001]
        kept = Band(*(tuple(values[i] for i in keep) for values in (kept.x, kept.low, kept.high)))
    return replace(entry, band=kept, breaks_at=None, breaks_at_ci=(None, None),
                   verdict=FitVerdict.NOT_EXTRAPOLATED, reason=reason)


REACH = 10.0  # a prediction needs a measured size within this factor of the size asked about


def _fixed_plus_proportional(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """p95 = a + b * size with a, b >= 0 (non-negative least squares), evaluated at x: a per-query cost plus work
    in proportion to the rows a filter selects, which a power law fitted to small sizes reads as a flat trend."""
    coef, _ = optimize.nnls(np.column_stack([np.ones(len(xs)), np.asarray(xs, float)]), np.asarray(ys, float))
    return float(coef[0] + coef[1] * x)


def _rival(xs: Sequence[float], ys: Sequence[float], at: float) -> tuple[float, float]:
    """The fixed-plus-proportional model's p95 at `at` and its backtest error (fitted without the largest size)."""
    rest_x, rest_y, held_x, held_y = _hold_out(xs, ys)
    predicted = _fixed_plus_proportional(rest_x, rest_y, held_x)
    return _fixed_plus_proportional(xs, ys, at), abs(predicted - held_y) / held_y


def _work(xs: Sequence[float], ys: Sequence[float], pages: Sequence[float | None], at: float
          ) -> tuple[float, float] | None:
    """(pages one execution would touch at `at`, p95 there if all of it grew with those pages), from a power law
    of the pages measured per query; None unless pages were measured (and non-zero) at every size."""
    if len(pages) != len(xs) or any(p is None or p <= 0 for p in pages):
        return None
    measured = np.asarray(pages, float)
    slope, intercept = np.polyfit(np.log(np.asarray(xs, float)), np.log(measured), 1)
    projected = float(math.exp(intercept + slope * math.log(at)))
    top = int(np.argmax(xs))
    return projected, float(ys[top] * projected / measured[top])


def _outgrows_cache(xs: Sequence[float], graphs: Sequence[int | None], cache_bytes: int | None,
                    at: float) -> str | None:
    """Why the graph the plan walks will be in another regime against the cache at `at` than at the largest
    measured size (its size grows with the rows it indexes); None when it stays in one, or a size is unknown."""
    if cache_bytes is None or len(graphs) != len(xs) or not graphs:
        return None
    top = int(np.argmax(xs))
    measured = graphs[top]
    if measured is None:
        return None
    projected = measured * at / xs[top]
    now, then = cache.regime(measured, cache_bytes), cache.regime(projected, cache_bytes)
    if now == then:
        return None
    mb = 1024 ** 2
    return (f"the graph the plan walks ({measured / mb:.1f} MB at {xs[top]:,.0f} posts, {cache.REGIMES[now]}) "
            f"will be ~{projected / mb:.0f} MB at {at:,.0f}, {cache.REGIMES[then]} ({cache_bytes / mb:.0f} MB "
            "last-level cache): the cost of a page steps up in between (measured: the AI reports' graph 1.0 us per "
            "page at 42 MB, 2.9 us at ~140 MB), which no measured size shows; measure a size past the step")


def predict_at(entry: CapacityFit, at: float, xs: Sequence[float], ys: Sequence[float],
               pages: Sequence[float | None] = (), graphs: Sequence[int | None] = (),
               cache_bytes: int | None = None) -> SizePrediction:
    """The size fit's p95 at `at` posts, refused when the backtest missed its bound (or could not be run), the
    plan changed across the measured sizes, or no measured size lies within REACH x of `at`.

    Passing a backtest from three sizes a few times apart is weak evidence: at 10^4-10^5 posts a fixed
    per-query cost hides work that grows with the rows a filter selects (a day's window: 0.33-0.52 ms measured,
    a power law said 0.83 ms at 10^6, 2.63 ms was measured). So a rival, fixed plus proportional cost, is fitted
    to the same points; when it passes the backtest too and the two disagree at `at` by more than the bound,
    the measured sizes cannot tell them apart and the prediction is refused.

    The pages a query touches (`pages`, per measured size) are counted by the server, not timed, so they show
    growth a fixed per-query cost hides: a band's own HNSW graph measured 0.39 / 0.49 / 0.63 ms at 10^4 - 10^5
    posts, a power law passing its backtest at 1 % said 1.03 ms at 10^6, 4.8-5.4 ms was measured. If latency
    is a fixed cost plus a cost per page, it grows by less than the pages do; so when the pages grow faster,
    the p95 at `at` lies between the power law and the largest measured p95 scaled by the pages' growth
    (work_ms), and when those differ by more than the bound the prediction is refused.

    The cost of a page is not constant either: it steps up as the graph a plan walks spills out of the CPU's
    last-level cache (`graphs`: its bytes per measured size; `cache_bytes`: None when the server's machine is
    not this one). A change of regime between the largest measured size and `at` is refused
    (harness.capacity.cache).
    """
    measured_max = max(xs)
    test = entry.backtest
    distrust = _distrust(entry)
    if entry.intercept is None or entry.slope is None:
        refused = entry.reason or "not fitted"
    elif distrust is not None:
        refused = distrust
    elif test is None or not test.evaluated:
        refused = f"no backtest ({test.reason if test else 'not run'})"
    elif (crossing := _outgrows_cache(xs, graphs, cache_bytes, at)) is not None:
        refused = crossing
    elif at > REACH * measured_max:
        refused = (f"the largest measured size ({measured_max:,.0f} posts) is more than {REACH:g}x below {at:,.0f}: "
                   f"measure {at / REACH:,.0f} or more (a prepared dataset, or --dsn for a larger server)")
    else:
        p95 = math.exp(entry.intercept + entry.slope * math.log(at))
        rival, rival_error = _rival(xs, ys, at)
        gap = abs(rival - p95) / p95
        work = _work(xs, ys, pages, at)
        figures = SizePrediction(at=at, rival_ms=round(rival, 3), rival_backtest_error=round(rival_error, 3),
                                 work_blocks=round(work[0], 1) if work else None,
                                 work_ms=round(work[1], 3) if work else None)
        if rival_error <= BACKTEST_BOUND and gap > BACKTEST_BOUND:
            return replace(figures, refused=(
                f"a power law ({p95:.3g} ms) and a fixed plus proportional cost ({rival:.3g} ms) both pass the "
                f"backtest and differ by {gap:.0%} at {at:,.0f}: measure a size nearer to it"))
        if work and work[1] > p95 * (1 + BACKTEST_BOUND):
            top = int(np.argmax(xs))
            return replace(figures, refused=(
                f"the pages a query touches grow faster than its latency: {pages[top]:,.0f} at {xs[top]:,.0f} "
                f"posts, {work[0]:,.0f} projected at {at:,.0f}; all work, p95 would be {work[1]:.3g} ms there, "
                f"the power law says {p95:.3g} ms: the sizes measured cannot tell how much of the latency is "
                f"a fixed cost, measure a size nearer to it"))
        return replace(figures, p95_ms=round(p95, 3))
    return SizePrediction(at=at, refused=refused)


def fit_section(points: Sequence[CapacityPoint], axis: Axis, targets: dict[str, float], seed: int = 0,
                predict: float | None = None, cache_bytes: int | None = None) -> list[CapacityFit]:
    """Per scenario (and per value of the other axis), fit p95 along `axis` and predict its break.

    `targets` maps scenario name -> p95 target (ms). Size is fitted with a power law, concurrency with
    the USL; points without a p95 are left out. With `predict` (posts), each size fit also gives its p95
    there, or refuses to (predict_at). `cache_bytes`: the server machine's last-level cache, when known.
    """
    other: Axis = "users" if axis == "posts" else "posts"
    groups: dict[tuple[str, int], list[CapacityPoint]] = {}
    for p in points:
        if p.p95_ms is not None:
            groups.setdefault((p.scenario, p.along(other)), []).append(p)
    fits = []
    for (scenario, at), rows in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        xs, ys = [float(r.along(axis)) for r in rows], [float(r.p95_ms or 0.0) for r in rows]
        pages, graphs = [r.blocks_p50 for r in rows], [r.graph_bytes for r in rows]
        target = targets.get(scenario)
        entry = CapacityFit(scenario=scenario, axis=axis, at=at, n_points=len(rows), target_ms=target,
                            model="usl" if axis == "users" else "power law", verdict=FitVerdict.NOT_FITTED)
        try:
            entry = _fit_usl(entry, xs, ys, target) if axis == "users" else _fit_power(entry, xs, ys, target, seed)
        except ValueError as exc:
            entry = replace(entry, reason=str(exc))
            fits.append(replace(entry, prediction=predict_at(entry, predict, xs, ys, pages, graphs, cache_bytes))
                        if predict and axis == "posts" else entry)
            continue
        entry = replace(entry, backtest=backtest(axis, xs, ys), plan_changes=plan_changes(rows, axis),
                        cache_crossing=cache_crossing(rows, cache_bytes) if axis == "posts" else None)
        if predict and axis == "posts":
            entry = replace(entry, prediction=predict_at(entry, predict, xs, ys, pages, graphs, cache_bytes))
        fits.append(_trusted(entry, max(xs)))
    return fits
