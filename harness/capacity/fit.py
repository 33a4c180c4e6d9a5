"""Power-law fits of p95 against size or concurrency, and where a target is predicted to break.

p95 = exp(a) * x^b is fitted as a straight line in log-log space. Its uncertainty comes from the fit's
covariance: (a, b) are drawn from the multivariate Student t of the least-squares estimate (few points:
the t tails, not normal ones, keep a three-point fit honest) and each draw's crossing point is solved,
so the breaking point gets an interval instead of a single number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

DRAWS = 4000
NEVER = 700.0  # log of a crossing treated as never (exp(700) is near the float limit)
FAR = 100.0  # predictions past FAR x the largest measured size are flagged as long extrapolations


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
    breaks_at_ci: list[float | None]
    verdict: str


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
    ci = [math.exp(v) if v < NEVER else None for v in (float(low), float(high))]
    if measured_ok_to is not None and ci[0] is not None and ci[0] < measured_ok_to:
        ci[0] = measured_ok_to  # measured under target up to there: the break cannot come earlier
    if fit.predict(measured_max) > target_ms and breaks <= measured_max:
        verdict = "over target within the measured range"
    elif not math.isfinite(breaks):
        verdict = "p95 does not grow: no break predicted"
    elif breaks > FAR * measured_max:
        verdict = f"long extrapolation (>{FAR:g}x measured)"
    else:
        verdict = "predicted"
    return Prediction(target_ms, _finite_or_none(breaks), ci, verdict)


def band(fit: PowerFit, x_low: float, x_high: float, seed: int = 0, points: int = 40) -> dict[str, list[float]]:
    """95 % interval of the fitted p95 over a log-spaced grid, for the report's shaded band."""
    grid = np.geomspace(x_low, x_high, points)
    draws = _draws(fit, seed)
    curves = np.exp(np.minimum(draws[:, :1] + draws[:, 1:] * np.log(grid)[None, :], NEVER))
    low, high = np.percentile(curves, [2.5, 97.5], axis=0)
    return {"x": grid.tolist(), "low": low.tolist(), "high": high.tolist()}


def fit_section(points: list[dict[str, Any]], axis: str, targets: dict[str, float], seed: int = 0
                ) -> list[dict[str, Any]]:
    """Per scenario (and per value of the other axis), fit p95 along `axis` and predict its break.

    `points` rows: scenario, posts, users, p95_ms. `targets` maps scenario name -> p95 target (ms).
    """
    other = "users" if axis == "posts" else "posts"
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for p in points:
        if p.get("p95_ms") is not None:
            groups.setdefault((p["scenario"], p.get(other)), []).append(p)
    fits = []
    for (scenario, at), rows in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        xs, ys = [float(r[axis]) for r in rows], [float(r["p95_ms"]) for r in rows]
        entry: dict[str, Any] = {"scenario": scenario, "axis": axis, "at": at, "n_points": len(rows),
                                 "target_ms": targets.get(scenario)}
        try:
            fit = fit_power_law(xs, ys)
        except ValueError as exc:
            fits.append({**entry, "slope": None, "verdict": f"not fitted: {exc}"})
            continue
        half = stats.t.ppf(0.975, fit.dof) * math.sqrt(fit.cov[1][1]) if fit.dof > 0 else math.inf
        entry.update(intercept=fit.intercept, slope=fit.slope,
                     slope_ci=[float(fit.slope - half), float(fit.slope + half)], r2=fit.r2, dof=fit.dof, cov=fit.cov)
        target = targets.get(scenario)
        if target is not None:
            under = all(y < target for y in ys)
            pred = predict_break(fit, target, max(xs), seed, measured_ok_to=max(xs) if under else None)
            entry.update(asdict(pred))
            top = pred.breaks_at if pred.breaks_at is not None else max(xs)
            entry["band"] = band(fit, min(xs), min(max(top, max(xs)) * 1.2, max(xs) * 1e4), seed)
        else:
            entry.update(breaks_at=None, breaks_at_ci=[None, None], verdict="no target")
        fits.append(entry)
    return fits
