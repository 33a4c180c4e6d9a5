"""Every gate target, declared once: key, unit, comparator, default, valid range and what it means.

Profiles (`[NAME.targets]`), `[tool.wardbench.targets]`, WARDBENCH_TARGETS and `--target KEY=VALUE` override
a default by key (harness.config merges them); a gate judged against a target records its key
(harness.gates.gate_for), and the report lists the targets in force from here.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.errors import UsageError
from harness.results.core import Comparator


@dataclass(frozen=True)
class Target:
    """One target: an observation passes when `observed <comparator> value`."""

    key: str
    unit: str
    comparator: Comparator
    default: float
    description: str
    low: float = 0.0  # the value must lie above `low` (or at it when `low_inclusive`) and at most `high`
    low_inclusive: bool = False
    high: float = math.inf

    @property
    def valid_range(self) -> str:
        """The range in words, for messages and --help."""
        text = f"{'from' if self.low_inclusive else 'above'} {self.low:g}"
        return text + (f" up to {self.high:g}" if self.high < math.inf else "")

    def check(self, value: object, source: str) -> float:
        """`value` as a float when it is a finite number in range, else a UsageError naming the range."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or not (value >= self.low if self.low_inclusive else value > self.low) or value > self.high:
            raise UsageError(f"bad target {self.key}={value!r} ({source}): must be a finite number "
                             f"{self.valid_range}")
        return float(value)


TARGETS: tuple[Target, ...] = (
    Target("ward_p95_ms", "ms", "<", 100.0, "p95 latency of ward dashboard queries (bench, load, capacity, "
           "live readers during a rehearsed step)"),
    Target("vector_p95_ms", "ms", "<", 200.0, "p95 latency of vector similarity queries (bench, load, capacity, "
           "live readers during a rehearsed step)"),
    Target("write_p95_ms", "ms", "<", 250.0, "p95 latency of AI writers' inserts (bench, load, capacity)"),
    Target("recall_at_10", "recall", ">=", 0.95, "recall@10 of vector queries against exact search (bench)",
           high=1.0),
    Target("load_error_rate", "fraction", "<=", 0.001, "failed requests / requests in the load run",
           low_inclusive=True, high=1.0),
    Target("load_achieved_rate", "fraction", ">=", 0.95, "requests sent on time / requests due (load, open model)",
           high=1.0),
    Target("load_in_flight", "queries", ">=", 2.0, "mean queries in flight with N users: real concurrency (load)"),
    Target("load_vs_pgbench", "x", ">=", 0.5, "load generator throughput / pgbench on the same statement (load)"),
    Target("max_blocked_ms", "ms", "<=", 1000.0, "longest wait of a live request on a migration's lock (rehearse)"),
    Target("rehearse_error_rate", "fraction", "<=", 0.001, "failed live requests / live requests during a "
           "rehearsed step", low_inclusive=True, high=1.0),
    Target("generate_vs_insert_select", "ratio", ">=", 0.9, "loader COPY rate / the server's own INSERT ... "
           "SELECT of the same rows, same constraints (generate --benchmark)"),
    Target("generate_vs_floor", "ratio", "<=", 1.2, "generate wall time / (a raw binary COPY of the same rows into "
           "bare tables + its vector index builds), same run (generate --benchmark)", low=1.0, high=100.0),
    Target("generate_binary_vs_text_copy", "ratio", ">=", 10.0, "binary COPY rate / text COPY rate of the same "
           "vectors (generate --benchmark)"),
)
REGISTRY: dict[str, Target] = {t.key: t for t in TARGETS}


def spec(key: str) -> Target:
    """The registry entry for `key` (a key the code names: a KeyError is a bug, not bad input)."""
    return REGISTRY[key]


def defaults() -> dict[str, float]:
    """Every target at its default value."""
    return {t.key: t.default for t in TARGETS}


def valid_keys(near: str = "") -> str:
    """The valid keys, the ones most like `near` first."""
    close = difflib.get_close_matches(near, list(REGISTRY), n=3, cutoff=0.5) if near else []
    return ", ".join(close + [k for k in REGISTRY if k not in close])


def check(key: str, value: object, source: str) -> float:
    """`value` for a known `key` when it lies in range; an unknown key lists the valid ones."""
    if key not in REGISTRY:
        raise UsageError(f"unknown target {key!r} ({source}): valid keys are {valid_keys(key)}")
    return REGISTRY[key].check(value, source)


def parse_items(items: Iterable[str], source: str = "--target") -> dict[str, float]:
    """`KEY=VALUE` strings to checked targets; a malformed item, unknown key or value out of range is a
    UsageError."""
    out: dict[str, float] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        try:
            if not sep or not key:
                raise ValueError
            value = float(text)
        except ValueError:
            raise UsageError(f"bad {source} {item!r}: use KEY=NUMBER, e.g. ward_p95_ms=50; valid keys are "
                             f"{valid_keys(key)}") from None
        out[key] = check(key, value, source)
    return out


def resolve(layers: Iterable[tuple[Mapping[str, object], str]]) -> dict[str, float]:
    """The defaults overridden by each (targets, source) layer in turn, every key and value checked."""
    merged = defaults()
    for layer, source in layers:
        merged.update({key: check(key, value, source) for key, value in layer.items()})
    return merged
