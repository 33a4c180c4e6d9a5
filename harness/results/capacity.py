"""The capacity sweep's section: the measured points, one fit per scenario and axis, and what each predicts.

A fit's `verdict` says how far its breaking point can be trusted; `reason` carries the particulars
(the error that stopped a fit, the plan change or backtest error that stopped an extrapolation).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from harness.results.bench import ScenarioKind

Axis = Literal["posts", "users"]
_DOCS = ConfigDict(use_attribute_docstrings=True, serialize_by_alias=True)


class FitVerdict(StrEnum):
    """What a fit says about where its scenario's p95 target breaks."""

    PREDICTED = "predicted"
    OVER_TARGET = "over target within the measured range"
    NO_GROWTH = "p95 does not grow: no break predicted"
    LONG_EXTRAPOLATION = "long extrapolation"
    NOT_EXTRAPOLATED = "not extrapolated"
    NOT_FITTED = "not fitted"
    NO_TARGET = "no target"


@dataclass(frozen=True)
class CapacityPoint:
    """One scenario measured at one data size and one concurrency."""

    __pydantic_config__ = _DOCS

    scenario: str
    """Scenario name."""
    kind: ScenarioKind
    """Scenario kind."""
    posts: int
    """Posts in the database measured (as loaded)."""
    users: int
    """Concurrent users."""
    p95_ms: float | None
    """p95 latency (Locust's corrected for intended start); None when nothing completed."""
    p50_ms: float | None = None
    """Median latency."""
    count: int = 0
    """Requests timed."""
    errors: int = 0
    """Requests that failed."""
    tool: Literal["pytest-benchmark", "locust (corrected)"] = "pytest-benchmark"
    """What timed the point."""
    posts_requested: int | None = None
    """The size the sweep asked for."""
    plan: str | None = None
    """Dominant plan shape over the fidelity samples (single-user points)."""
    blocks_p50: float | None = None
    """Median shared buffers (pages) one execution touched (single-user points; EXPLAIN ANALYZE BUFFERS)."""
    graph_bytes: int | None = None
    """Bytes of the vector graphs (HNSW, IVFFlat) the dominant plan walks, at this size (single-user points)."""

    def along(self, axis: Axis) -> int:
        """The point's value on `axis`."""
        return self.posts if axis == "posts" else self.users


@dataclass(frozen=True)
class SizeDatabase:
    """The fresh database of one sweep size: generated here, or copied from a prepared dataset."""

    __pydantic_config__ = _DOCS

    posts: int
    """Posts requested."""
    scale_factor: float
    """Scale of the base profile."""
    rows: dict[str, int]
    """Rows per table."""
    dataset: str | None = None
    """The prepared dataset copied, if any."""
    copy_s: float | None = None
    """Seconds to copy the dataset."""
    load_s: float | None = None
    """Seconds to generate and load the data."""


@dataclass(frozen=True)
class Band:
    """95 % interval of a fitted p95 curve on a log-spaced grid."""

    __pydantic_config__ = _DOCS

    x: tuple[float, ...]
    """Grid along the axis."""
    low: tuple[float, ...]
    """2.5 % of the drawn curves at each x."""
    high: tuple[float, ...]
    """97.5 % of the drawn curves at each x."""


@dataclass(frozen=True)
class Backtest:
    """The fit without its largest measured point, predicting that point."""

    __pydantic_config__ = _DOCS

    evaluated: bool
    """False when too few points remain to fit."""
    reason: str = ""
    """Why it was not evaluated."""
    held_out: float | None = None
    """Axis value of the held-out point."""
    measured_ms: float | None = None
    """Its measured p95."""
    predicted_ms: float | None = None
    """Its p95 predicted from the other points."""
    error: float | None = None
    """Relative prediction error."""
    bound: float | None = None
    """Largest relative error trusted."""
    within_bound: bool | None = None
    """error <= bound."""


@dataclass(frozen=True)
class PlanChange:
    """Neighbouring measured points whose dominant plans differ: the fit spans two regimes."""

    __pydantic_config__ = _DOCS

    between: tuple[float, float]
    """Axis values of the two points."""
    from_plan: Annotated[str, Field(alias="from")]
    """Plan shape at the smaller point."""
    to_plan: Annotated[str, Field(alias="to")]
    """Plan shape at the larger point."""


@dataclass(frozen=True)
class SizePrediction:
    """The fit's p95 at a size asked about (--predict-at), or why it refuses to give one."""

    __pydantic_config__ = _DOCS

    at: float
    """Posts asked about."""
    p95_ms: float | None = None
    """Predicted p95 there (None: refused)."""
    refused: str = ""
    """Why no prediction is given: the backtest's error, a plan change, no measured size within 10x, a rival
    model that passes its backtest too and disagrees there by more than the bound, work per query that grows
    so much faster than the latency that the two bounds on the latency there differ by more than the bound, or
    a vector graph that changes regime against the CPU's last-level cache between the measured sizes or before
    this one."""
    rival_ms: float | None = None
    """The rival model's p95 there: a fixed plus a proportional cost (p95 = a + b * posts, a and b >= 0)."""
    rival_backtest_error: float | None = None
    """The rival's relative error predicting the largest measured size from the others."""
    work_blocks: float | None = None
    """Shared buffers one execution would touch there: a power law of the measured pages per query."""
    work_ms: float | None = None
    """The p95 there if all of it grew with the work: the largest measured size's p95 times work_blocks over
    the pages measured there. When the work grows faster than the latency, the latency sits between the power
    law and this bound."""


@dataclass(frozen=True)
class CapacityFit:
    """p95 along one axis for one scenario (the other axis held at `at`): model, parameters, prediction.

    A power-law fit fills intercept..band, a USL fit base_ms, sigma and kappa; a fit that failed neither.
    """

    __pydantic_config__ = _DOCS

    scenario: str
    """Scenario name."""
    axis: Axis
    """The axis fitted along."""
    at: int | None
    """Value of the other axis."""
    n_points: int
    """Points fitted."""
    target_ms: float | None
    """p95 target whose breaking point is predicted."""
    model: Literal["power law", "usl"]
    """Power law along size, Universal Scalability Law along users."""
    verdict: FitVerdict
    """How far the prediction can be trusted."""
    reason: str = ""
    """Particulars of the verdict."""
    breaks_at: float | None = None
    """Axis value where p95 reaches the target (None: not predicted)."""
    breaks_at_ci: tuple[float | None, float | None] = (None, None)
    """95 % interval of breaks_at; None at the top is unbounded."""
    intercept: float | None = None
    """log p95 at axis value 1 (power law)."""
    slope: float | None = None
    """Growth exponent (power law)."""
    slope_ci: tuple[float, float] | None = None
    """95 % interval of the exponent."""
    r2: float | None = None
    """Coefficient of determination in log-log space."""
    dof: int | None = None
    """Residual degrees of freedom."""
    cov: tuple[tuple[float, float], tuple[float, float]] | None = None
    """Covariance of (intercept, slope)."""
    band: Band | None = None
    """95 % interval of the fitted curve."""
    base_ms: float | None = None
    """USL: one-user p95."""
    sigma: float | None = None
    """USL: contention."""
    kappa: float | None = None
    """USL: coherency."""
    backtest: Backtest | None = None
    """Prediction of the largest measured point from the others."""
    plan_changes: tuple[PlanChange, ...] = ()
    """Plan changes between neighbouring points."""
    cache_crossing: tuple[float, float] | None = None
    """Neighbouring sizes between which the graph the plan walks changed regime against the CPU's last-level
    cache (within it, spilling out of it, far beyond it): the cost of a page stepped there, so the fit spans
    two regimes."""
    prediction: SizePrediction | None = None
    """p95 at the size asked about (size fits with --predict-at)."""

    @property
    def verdict_text(self) -> str:
        return f"{self.verdict}: {self.reason}" if self.reason else str(self.verdict)


@dataclass(frozen=True)
class CapacitySection:
    """A capacity sweep: sizes and concurrencies measured, their points, and the fits over them."""

    __pydantic_config__ = _DOCS

    scales: tuple[int, ...]
    """Sizes (posts) asked for."""
    users: tuple[int, ...]
    """Concurrencies measured at each size."""
    base_profile: str
    """Profile the sizes scale."""
    duration_s: float
    """Seconds per Locust point."""
    tool: Literal["pytest-benchmark", "locust"]
    """pytest-benchmark for single-user sweeps, else Locust at every level."""
    loads: tuple[SizeDatabase, ...]
    """The database of each size."""
    points: tuple[CapacityPoint, ...]
    """Every measured point."""
    fits: tuple[CapacityFit, ...]
    """Fits along size, and along users with three or more concurrencies."""
    method: str
    """How the fits and their intervals are computed."""
    cache_bytes: int | None = None
    """The server machine's CPU last-level cache, when it is this machine (else None: not known)."""
