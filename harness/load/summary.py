"""Merge the per-process load results into one view: per scenario, per role, per kind, per second."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.load.histograms import merge_encoded, summarize_ms
from harness.load.schedule import achieved_ratio
from harness.load.workload import role_of


@dataclass
class MergedLoad:
    """Every process's measurements of one Locust run, histograms merged sample for sample."""

    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
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
        return sum(int(s["count"]) for s in self.scenarios.values())

    @property
    def errors(self) -> int:
        return sum(int(s["errors"]) for s in self.scenarios.values())

    @property
    def qps(self) -> float:
        return self.count / self.wall_s

    @property
    def in_flight(self) -> float:
        """Mean requests in flight (Little's law): above 1 only if queries of different users overlap."""
        return self.busy_s / self.wall_s


def read_payloads(out_dir: Path) -> list[dict[str, Any]]:
    """The results file each Locust worker process wrote into `out_dir`."""
    return [json.loads(p.read_text()) for p in sorted(out_dir.glob("worker-*.json"))]


def merge_payloads(payloads: list[dict[str, Any]]) -> MergedLoad:
    """Merge worker files: histograms added, counts summed, the time window spanning all processes."""
    merged = MergedLoad(processes=len(payloads))
    firsts = [p["first_s"] for p in payloads if p.get("first_s") is not None]
    merged.first_s = min(firsts) if firsts else min((p["started_s"] for p in payloads), default=0.0)
    merged.last_s = max((p["last_s"] for p in payloads if p.get("last_s") is not None), default=merged.first_s)
    encoded: dict[str, dict[str, list[str]]] = {}
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
            into = merged.scenarios.setdefault(name, {"kind": s["kind"], "count": 0, "errors": 0, "rows": 0,
                                                      "error_kinds": {}})
            for key in ("count", "errors", "rows"):
                into[key] += s[key]
            for error, n in s["error_kinds"].items():
                into["error_kinds"][error] = into["error_kinds"].get(error, 0) + n
            enc = encoded.setdefault(name, {"corrected": [], "uncorrected": []})
            enc["corrected"].append(s["corrected"])
            enc["uncorrected"].append(s["uncorrected"])
        for b in p["seconds"]:
            second = (int(b["t"]), b["kind"])
            bucket = merged.seconds.setdefault(second, {"count": 0, "errors": 0})
            bucket["count"] += b["count"]
            bucket["errors"] += b["errors"]
            buckets.setdefault(second, []).append(b["hist"])
    for name, enc in encoded.items():
        merged.scenarios[name]["corrected"] = merge_encoded(enc["corrected"])
        merged.scenarios[name]["uncorrected"] = merge_encoded(enc["uncorrected"])
    for second, texts in buckets.items():
        merged.seconds[second]["hist"] = merge_encoded(texts)
    return merged


def _group(merged: MergedLoad, names: list[str]) -> dict[str, Any]:
    """Counts, rates and both latency views for a set of scenarios, from their merged histograms."""
    corrected, uncorrected = merge_encoded([]), merge_encoded([])
    count = errors = 0
    for name in names:
        s = merged.scenarios[name]
        corrected.add(s["corrected"])
        uncorrected.add(s["uncorrected"])
        count += s["count"]
        errors += s["errors"]
    return {"count": count, "errors": errors, "error_rate": round(errors / count, 6) if count else None,
            "qps": round(count / merged.wall_s, 2), "corrected": summarize_ms(corrected),
            "uncorrected": summarize_ms(uncorrected)}


def scenario_rows(merged: MergedLoad, locust_p95_ms: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """One row per scenario: our percentiles (corrected and uncorrected) beside Locust's rounded p95."""
    rows = []
    for name in sorted(merged.scenarios):
        s = merged.scenarios[name]
        row = {"name": name, "kind": s["kind"], "role": role_of(s["kind"]), **_group(merged, [name]),
               "rows_per_request": round(s["rows"] / max(s["count"] - s["errors"], 1), 2),
               "error_kinds": s["error_kinds"]}
        if locust_p95_ms is not None:
            row["locust_p95_ms"] = locust_p95_ms.get(name)
        rows.append(row)
    return rows


def by_field(merged: MergedLoad, field_name: str) -> dict[str, dict[str, Any]]:
    """Scenarios grouped by 'role' (reader | writer) or by 'kind' (ward | vector | write)."""
    groups: dict[str, list[str]] = {}
    for name, s in merged.scenarios.items():
        key = role_of(s["kind"]) if field_name == "role" else s["kind"]
        groups.setdefault(key, []).append(name)
    return {key: _group(merged, names) for key, names in sorted(groups.items())}


def timeline(merged: MergedLoad) -> list[dict[str, Any]]:
    """Per wall-clock second: completed requests and corrected p95 per role (the 'over time' plot)."""
    start = int(merged.first_s)
    rows: dict[int, dict[str, Any]] = {}
    per_role: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for (t, kind), b in merged.seconds.items():
        per_role.setdefault((t, role_of(kind)), []).append(b)
    for (t, role), parts in sorted(per_role.items()):
        hist = merge_encoded([])
        for part in parts:
            hist.add(part["hist"])
        row = rows.setdefault(t, {"t_s": t - start})
        row[f"{role}s_qps"] = sum(p["count"] for p in parts)
        row[f"{role}s_errors"] = sum(p["errors"] for p in parts)
        row[f"{role}s_p95_ms"] = summarize_ms(hist)["p95_ms"]
    return [rows[t] for t in sorted(rows)]


def run_summary(merged: MergedLoad) -> dict[str, Any]:
    """The headline figures of one run: throughput, errors, concurrency and (open model) achieved rate."""
    return {"count": merged.count, "errors": merged.errors, "qps": round(merged.qps, 2),
            "wall_s": round(merged.wall_s, 3), "in_flight_mean": round(merged.in_flight, 2),
            "users": merged.users, "processes": merged.processes,
            "wait_functions": sorted(set(merged.wait_functions)),
            "warmup_requests": merged.warmup_requests, "warmup_errors": merged.warmup_errors,
            "due": merged.due, "sent_in_time": merged.sent_in_time,
            "achieved_ratio": achieved_ratio(merged.sent_in_time, merged.due)}
