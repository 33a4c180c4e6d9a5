"""Merge the per-process load results into one view: per scenario, per role, per kind, per second."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from hdrh.histogram import HdrHistogram

from harness.load.histograms import ProcessPayload, merge_encoded, new_histogram
from harness.load.schedule import achieved_ratio
from harness.load.workload import role_of
from harness.results.load import Latency, LoadGroup, LoadScenario, RunSummary, TimelinePoint

PERCENTILES = (50.0, 95.0, 99.0)


def summarize_ms(hist: HdrHistogram) -> Latency:
    """Samples and p50/p95/p99/max in milliseconds, read from the histogram (None when empty).

    `samples` can exceed the request count in a corrected closed-model histogram: HdrHistogram adds the
    requests a stalled user would have sent.
    """
    count = int(hist.get_total_count())
    if count == 0:
        return Latency(samples=0, p50_ms=None, p95_ms=None, p99_ms=None, max_ms=None, mean_ms=None)
    p50, p95, p99 = (round(hist.get_value_at_percentile(p) / 1000.0, 3) for p in PERCENTILES)
    return Latency(samples=count, p50_ms=p50, p95_ms=p95, p99_ms=p99, max_ms=round(hist.get_max_value() / 1000.0, 3),
                   mean_ms=round(hist.get_mean_value() / 1000.0, 3))


@dataclass
class MergedScenario:
    """One scenario's counts over every process, with its histograms merged."""

    kind: str
    count: int = 0
    errors: int = 0
    rows: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    corrected: HdrHistogram = field(default_factory=new_histogram)
    uncorrected: HdrHistogram = field(default_factory=new_histogram)


@dataclass
class MergedSecond:
    """One (second, kind) bucket over every process."""

    count: int = 0
    errors: int = 0
    hist: HdrHistogram = field(default_factory=new_histogram)


@dataclass
class MergedLoad:
    """Every process's measurements of one Locust run, histograms merged sample for sample."""

    scenarios: dict[str, MergedScenario] = field(default_factory=dict)
    seconds: dict[tuple[int, str], MergedSecond] = field(default_factory=dict)
    first_s: float = 0.0
    last_s: float = 0.0
    busy_s: float = 0.0
    due: int = 0
    sent_in_time: int = 0
    warmup_requests: int = 0
    warmup_errors: int = 0
    users: int = 0
    processes: int = 0
    wait_functions: list[str] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        """From the first intended start to the last completion: every recorded request lies inside."""
        return max(self.last_s - self.first_s, 1e-9)

    @property
    def count(self) -> int:
        return sum(s.count for s in self.scenarios.values())

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.scenarios.values())

    @property
    def qps(self) -> float:
        return self.count / self.wall_s

    @property
    def in_flight(self) -> float:
        """Mean requests in flight (Little's law): above 1 only if queries of different users overlap."""
        return self.busy_s / self.wall_s

    def error_kinds(self) -> dict[str, int]:
        """Failed requests per exception type, over every scenario."""
        kinds: dict[str, int] = {}
        for scenario in self.scenarios.values():
            for kind, n in scenario.error_kinds.items():
                kinds[kind] = kinds.get(kind, 0) + n
        return kinds


def read_payloads(out_dir: Path) -> list[ProcessPayload]:
    """The results file each Locust worker process wrote into `out_dir`."""
    return [cast(ProcessPayload, json.loads(p.read_text())) for p in sorted(out_dir.glob("worker-*.json"))]


def merge_payloads(payloads: list[ProcessPayload]) -> MergedLoad:
    """Merge worker files: histograms added, counts summed, the time window spanning all processes."""
    merged = MergedLoad(processes=len(payloads))
    firsts = [first for p in payloads if (first := p.get("first_s")) is not None]
    merged.first_s = min(firsts) if firsts else min((p["started_s"] for p in payloads), default=0.0)
    merged.last_s = max((last for p in payloads if (last := p.get("last_s")) is not None), default=merged.first_s)
    encoded: dict[str, tuple[list[str], list[str]]] = {}
    buckets: dict[tuple[int, str], list[str]] = {}
    for p in payloads:
        merged.busy_s += p["busy_s"]
        merged.due += p["due"]
        merged.sent_in_time += p["sent_in_time"]
        merged.warmup_requests += p["warmup_requests"]
        merged.warmup_errors += p["warmup_errors"]
        merged.users += p["users"]
        merged.wait_functions.append(p["wait_function"])
        for name, s in p["scenarios"].items():
            into = merged.scenarios.setdefault(name, MergedScenario(s["kind"]))
            into.count += s["count"]
            into.errors += s["errors"]
            into.rows += s["rows"]
            for error, n in s["error_kinds"].items():
                into.error_kinds[error] = into.error_kinds.get(error, 0) + n
            corrected, uncorrected = encoded.setdefault(name, ([], []))
            corrected.append(s["corrected"])
            uncorrected.append(s["uncorrected"])
        for b in p["seconds"]:
            second = (int(b["t"]), b["kind"])
            bucket = merged.seconds.setdefault(second, MergedSecond())
            bucket.count += b["count"]
            bucket.errors += b["errors"]
            buckets.setdefault(second, []).append(b["hist"])
    for name, (corrected, uncorrected) in encoded.items():
        merged.scenarios[name].corrected = merge_encoded(corrected)
        merged.scenarios[name].uncorrected = merge_encoded(uncorrected)
    for second, texts in buckets.items():
        merged.seconds[second].hist = merge_encoded(texts)
    return merged


def _totals(merged: MergedLoad, names: list[str]) -> tuple[int, int, HdrHistogram, HdrHistogram]:
    corrected, uncorrected = merge_encoded([]), merge_encoded([])
    count = errors = 0
    for name in names:
        s = merged.scenarios[name]
        corrected.add(s.corrected)
        uncorrected.add(s.uncorrected)
        count += s.count
        errors += s.errors
    return count, errors, corrected, uncorrected


def _group(merged: MergedLoad, names: list[str]) -> LoadGroup:
    """Counts, rates and both latency views for a set of scenarios, from their merged histograms."""
    count, errors, corrected, uncorrected = _totals(merged, names)
    return LoadGroup(count=count, errors=errors, error_rate=round(errors / count, 6) if count else None,
                     qps=round(count / merged.wall_s, 2), corrected=summarize_ms(corrected),
                     uncorrected=summarize_ms(uncorrected))


def scenario_rows(merged: MergedLoad, locust_p95_ms: Mapping[str, float] | None = None,
                  targets: Mapping[str, float] | None = None) -> list[LoadScenario]:
    """One row per scenario: our percentiles (corrected and uncorrected) beside Locust's rounded p95 and
    the scenario's target."""
    rows = []
    for name in sorted(merged.scenarios):
        s = merged.scenarios[name]
        group = _group(merged, [name])
        rows.append(LoadScenario(
            count=group.count, errors=group.errors, error_rate=group.error_rate, qps=group.qps,
            corrected=group.corrected, uncorrected=group.uncorrected, name=name, kind=s.kind, role=role_of(s.kind),
            rows_per_request=round(s.rows / max(s.count - s.errors, 1), 2), error_kinds=s.error_kinds,
            locust_p95_ms=(locust_p95_ms or {}).get(name), target_p95_ms=(targets or {}).get(name)))
    return rows


def by_field(merged: MergedLoad, field_name: str) -> dict[str, LoadGroup]:
    """Scenarios grouped by 'role' (reader | writer) or by 'kind' (ward | vector | write)."""
    groups: dict[str, list[str]] = {}
    for name, s in merged.scenarios.items():
        key = role_of(s.kind) if field_name == "role" else s.kind
        groups.setdefault(key, []).append(name)
    return {key: _group(merged, names) for key, names in sorted(groups.items())}


def _second_stats(parts: list[MergedSecond] | None) -> tuple[int | None, int | None, float | None]:
    """Requests, errors and corrected p95 of one role in one second (all None when it completed none)."""
    if not parts:
        return None, None, None
    hist = merge_encoded([])
    for part in parts:
        hist.add(part.hist)
    return sum(p.count for p in parts), sum(p.errors for p in parts), summarize_ms(hist).p95_ms


def timeline(merged: MergedLoad) -> list[TimelinePoint]:
    """Per wall-clock second: completed requests and corrected p95 per role (the 'over time' plot)."""
    start = int(merged.first_s)
    per_role: dict[tuple[int, str], list[MergedSecond]] = {}
    for (t, kind), b in merged.seconds.items():
        per_role.setdefault((t, role_of(kind)), []).append(b)
    points = []
    for t in sorted({t for t, _ in per_role}):
        readers_qps, readers_errors, readers_p95 = _second_stats(per_role.get((t, "reader")))
        writers_qps, writers_errors, writers_p95 = _second_stats(per_role.get((t, "writer")))
        points.append(TimelinePoint(t_s=t - start, readers_qps=readers_qps, readers_errors=readers_errors,
                                    readers_p95_ms=readers_p95, writers_qps=writers_qps,
                                    writers_errors=writers_errors, writers_p95_ms=writers_p95))
    return points


def run_summary(merged: MergedLoad) -> RunSummary:
    """The headline figures of one run: throughput, errors, concurrency and (open model) achieved rate."""
    return RunSummary(count=merged.count, errors=merged.errors, qps=round(merged.qps, 2),
                      wall_s=round(merged.wall_s, 3), in_flight_mean=round(merged.in_flight, 2),
                      users=merged.users, processes=merged.processes,
                      wait_functions=sorted(set(merged.wait_functions)),
                      warmup_requests=merged.warmup_requests, warmup_errors=merged.warmup_errors,
                      due=merged.due, sent_in_time=merged.sent_in_time,
                      achieved_ratio=achieved_ratio(merged.sent_in_time, merged.due))
