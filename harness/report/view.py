"""What the renderers show, read defensively from Results: a missing key means 'not run', never a crash.

The scenarios, load and migrations sections are written by other stages whose shapes grow over time, so
every accessor here tolerates absent or differently named keys and returns None / [] instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from harness.results import Gate, Results


def finite(value: Any) -> TypeGuard[int | float]:
    """A finite int or float (bools excluded): what a JSON figure must be before it is drawn or printed."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def number(data: Mapping[str, Any] | None, *keys: str) -> float | None:
    """The first of `keys` holding a finite number (bools excluded), else None."""
    if not isinstance(data, Mapping):
        return None
    for key in keys:
        value = data.get(key)
        if finite(value):
            return float(value)
    return None


def numbers(value: Any) -> list[float]:
    """A list of finite floats from a JSON array (anything else gives [])."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [float(v) for v in value if finite(v)]


@dataclass(frozen=True)
class Banner:
    """The one line at the top: verdict, colour class, and why it is not a plain pass."""

    verdict: str
    title: str
    detail: str
    css: str


def skipped_stages(results: Results) -> list[str]:
    """Registered stages that this run did not execute (--skip / --only), as recorded in `selection`."""
    names = list(results.selection.get("not_run", []) or results.selection.get("skipped", []) or [])
    names += [s.name for s in results.stages if s.status == "skipped" and s.name not in names]
    return names


def banner(results: Results) -> Banner:
    """Verdict banner; a pass with skipped stages is shown as partial so it never reads as fully verified."""
    counts = {v: sum(g.verdict == v for g in results.gates) for v in ("pass", "fail", "not_evaluated")}
    tally = f"{counts['pass']} passed, {counts['fail']} failed, {counts['not_evaluated']} not evaluated"
    skipped = skipped_stages(results)
    partial = f"; stages not run: {', '.join(skipped)}" if skipped else ""
    if results.verdict == "fail":
        return Banner("fail", "FAILED", tally + partial, "fail")
    if results.verdict == "not_evaluated":
        why = "no gate was evaluated" if not results.gates else "some gates could not be evaluated"
        return Banner("not_evaluated", "NOT VERIFIED", f"{why}: {tally}{partial}", "warn")
    if skipped:
        return Banner("pass", "PASSED (PARTIAL RUN)", f"{tally}{partial}: their gates were not evaluated",
                      "warn")
    return Banner("pass", "PASSED", tally, "pass")


def gate_rows(results: Results) -> list[dict[str, Any]]:
    """Gate table rows, plus one not-evaluated row per stage this run did not execute."""
    gates = sorted(results.gates, key=lambda g: {"fail": 0, "not_evaluated": 1}.get(g.verdict, 2))  # red first
    rows = [{"name": g.name, "stage": g.stage, "target": _target_text(g), "observed": _fmt(g.observed, g.unit),
             "margin": _margin_text(g), "verdict": g.verdict, "reason": g.reason} for g in gates]
    for stage in skipped_stages(results):
        rows.append({"name": f"stage {stage}", "stage": stage, "target": "", "observed": "", "margin": "",
                     "verdict": "not_evaluated", "reason": "stage not run in this selection"})
    return rows


def _target_text(g: Gate) -> str:
    return "" if g.target is None else f"{g.comparator} {_fmt(g.target, g.unit)}"


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    text = f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def _margin_text(g: Gate) -> str:
    """Relative headroom as a percentage; a miss by more than 10x reads better as a factor."""
    margin = g.margin
    if margin is None:
        return ""
    if margin < -9 and g.target and g.observed is not None and g.comparator in ("<", "<="):
        return f"{g.observed / g.target:,.0f}x over"
    return f"{margin:+.0%}"


def scenarios(results: Results) -> list[dict[str, Any]]:
    """Scenario rows with normalised keys; raw samples as `samples_ms` (possibly empty)."""
    return scenario_rows(results.scenarios or [])


def main_plan(shapes: Any) -> str:
    """The plan shape most of a bench scenario's explained queries ran with ('' when none was recorded)."""
    return str(max(shapes.items(), key=lambda kv: kv[1])[0]) if isinstance(shapes, Mapping) and shapes else ""


def scenario_rows(raw: Sequence[Any]) -> list[dict[str, Any]]:
    """Normalise scenario-like dicts (bench scenarios, load groups); non-dict entries are dropped."""
    rows = []
    for i, s in enumerate(raw):
        if not isinstance(s, Mapping):
            continue
        # Load rows nest latencies: corrected (from intended start) and uncorrected (from send).
        lat = s.get("corrected") if isinstance(s.get("corrected"), Mapping) else s
        uncorrected = s.get("uncorrected") if isinstance(s.get("uncorrected"), Mapping) else None
        rows.append({
            "name": str(s.get("name", f"scenario {i + 1}")), "kind": str(s.get("kind", "")),
            "count": number(s, "count", "rounds", "n"), "errors": number(s, "errors", "error_count"),
            "p50_ms": number(lat, "p50_ms", "median_ms"), "p95_ms": number(lat, "p95_ms"),
            "p99_ms": number(lat, "p99_ms"), "max_ms": number(lat, "max_ms"),
            "p95_uncorrected_ms": number(uncorrected, "p95_ms"),
            "qps": number(s, "qps", "throughput_qps", "rps"),
            "recall": number(s, "recall_at_10", "recall_at_k", "recall"),
            "target_ms": number(s, "target_p95_ms", "p95_target_ms", "target_ms"),
            "samples_ms": numbers(s.get("samples_ms")),
            "plan": main_plan(s.get("plan_shapes")),
        })
    return rows


def load_timeline(load: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Points over time under load: t_s and, per series (a role such as readers, or 'all'), qps and p95_ms.

    Accepts per-role keys (`readers_qps`, `readers_p95_ms`) or plain ones (`qps`/`rps`, `p95_ms`).
    """
    if not isinstance(load, Mapping):
        return []
    for key in ("timeline", "series", "intervals", "history"):
        raw = load.get(key)
        if isinstance(raw, list) and raw:
            points = []
            for i, p in enumerate(raw):
                if not isinstance(p, Mapping):
                    continue
                series: dict[str, dict[str, float]] = {}
                for k in p:
                    m = re.fullmatch(r"(?:(\w+?)_)?(qps|rps|throughput_rps|p95_ms)", str(k))
                    if m and number(p, k) is not None:
                        metric = "p95_ms" if m.group(2) == "p95_ms" else "qps"
                        series.setdefault(m.group(1) or "all", {})[metric] = float(p[k])
                if series:
                    t = number(p, "t_s", "elapsed_s", "time_s", "t")
                    points.append({"t_s": t if t is not None else float(i), "series": series})
            return points
    return []


def bench_fidelity(bench: Mapping[str, Any] | None) -> str | None:
    """One sentence on how much of each measured latency is the harness rather than the server."""
    fid = bench.get("fidelity") if isinstance(bench, Mapping) else None
    if not isinstance(fid, Mapping) or not fid.get("samples"):
        return None
    met = "met" if fid.get("within_target") else "NOT met"
    return (f"Harness overhead per query (p50 over {fid['samples']} queries): "
            f"{_fmt(number(fid, 'overhead_p50_ms'), 'ms')} against a server-side p50 of "
            f"{_fmt(number(fid, 'server_p50_ms'), 'ms')} (server time from "
            f"{', '.join(fid.get('server_time_from') or ['?'])}; SELECT 1 round trip "
            f"{_fmt(number(fid, 'roundtrip_floor_p50_ms'), 'ms')}); criterion <= "
            f"{_fmt(number(fid, 'overhead_target_ms'), 'ms')}: {met}.")


def load_summary(load: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Scalar facts of the load run (model, users, rate, duration, totals) as label/value pairs."""
    if not isinstance(load, Mapping):
        return []
    flat: dict[str, Any] = {k: v for k, v in load.items() if not isinstance(v, Mapping | list)}
    if isinstance(load.get("summary"), Mapping):
        flat.update({k: v for k, v in load["summary"].items() if not isinstance(v, Mapping | list) and k not in flat})
    return [(k.replace("_", " "), _fmt(float(v)) if isinstance(v, int | float) and not isinstance(v, bool)
             else str(v)) for k, v in flat.items() if v is not None and not k.startswith("_")]


def load_groups(load: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Rows of the load run: per role (readers, writers) first, then per scenario, in scenario-row shape."""
    if not isinstance(load, Mapping):
        return []
    rows: list[dict[str, Any]] = []
    for key in ("roles", "groups"):
        if isinstance(load.get(key), Mapping):
            rows += scenario_rows([{"name": f"all {k}", **v} for k, v in load[key].items() if isinstance(v, Mapping)])
    for key in ("scenarios", "requests", "stats"):
        raw = load.get(key)
        if isinstance(raw, list):
            return rows + scenario_rows(raw)
        if isinstance(raw, Mapping):
            return rows + scenario_rows([{"name": k, **v} for k, v in raw.items() if isinstance(v, Mapping)])
    return rows


def migration_steps(migrations: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Migration steps (revision, direction, duration, lossless, locks, rewritten tables)."""
    if not isinstance(migrations, Mapping):
        return []
    steps = migrations.get("steps")
    if not isinstance(steps, list):
        return []
    rows = []
    for st in steps:
        if not isinstance(st, Mapping):
            continue
        duration_s = number(st, "duration_s")
        if duration_s is None and (ms := number(st, "duration_ms")) is not None:
            duration_s = ms / 1000
        lossless = st.get("lossless", st.get("checksums_equal"))
        if st.get("reversible") is False:
            lossless = False
        verdict = st.get("verdict") or ({True: "lossless", False: "data changed"}.get(lossless, "")
                                        if isinstance(lossless, bool) else "")
        down_s = number(st, "downgrade_s")
        rows.append({"revision": str(st.get("revision", st.get("to", st.get("name", "?")))),
                     "downgrade_s": down_s,
                     "direction": str(st.get("direction", st.get("step", ""))),
                     "duration_s": duration_s, "verdict": str(verdict),
                     "ok": lossless if isinstance(lossless, bool) else None,
                     "locks": _lock_text(st.get("locks")),
                     "rewritten": _rewritten_text(st.get("rewritten", st.get("tables_rewritten"))),
                     "under_load": _under_load_text(st.get("under_load")),
                     "detail": str(st.get("detail", st.get("reason", "")) or "")})
    return rows


def _under_load_text(load: Any) -> str:
    """Reads running beside the step: p95 before -> during, reads blocked on a lock, the longest wait."""
    if not isinstance(load, Mapping):
        return ""
    before, during = number(load, "p95_before_ms"), number(load, "p95_during_ms")
    blocked, wait = number(load, "blocked_reads"), number(load, "longest_lock_wait_ms")
    parts = []
    if before is not None or during is not None:
        parts.append(f"p95 {_fmt(before)} -> {_fmt(during)} ms")
    if blocked is not None:
        parts.append(f"{blocked:.0f} blocked" + (f", longest wait {wait:.0f} ms" if wait is not None else ""))
    return "; ".join(parts)


def _lock_text(locks: Any) -> str:
    if isinstance(locks, Mapping):
        return "; ".join(f"{t}: {_lock_one(v)}" for t, v in locks.items())
    if isinstance(locks, list):
        parts = []
        for lk in locks:
            if isinstance(lk, Mapping):
                table = lk.get("table", lk.get("relation", "?"))
                parts.append(f"{table}: {_lock_one(lk)}")
            else:
                parts.append(str(lk))
        return "; ".join(parts)
    return ""


def _lock_one(value: Any) -> str:
    if not isinstance(value, Mapping):
        return str(value)
    mode = value.get("mode", value.get("strongest", value.get("lock", "")))
    held = number(value, "held_ms", "duration_ms", "max_held_ms")
    return f"{mode}" + (f" ({held:.0f} ms)" if held is not None else "")


def _rewritten_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} ({v} rows)" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v.get("table", v)) if isinstance(v, Mapping) else str(v) for v in value)
    return ""


def migration_facts(migrations: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Facts of the migration section beside its steps (chain, head, summary, round trip, throughput)."""
    if not isinstance(migrations, Mapping):
        return []
    return section_facts({k: v for k, v in migrations.items() if k not in ("steps", "revisions")})


def dataset_rows(results: Results) -> list[tuple[str, str]]:
    """Table sizes (rows) and other dataset facts as label/value pairs."""
    data = results.dataset or {}
    tables = data.get("tables") or data.get("row_counts") or data.get("rows")
    rows: list[tuple[str, str]] = []
    if isinstance(tables, Mapping):
        for name, v in tables.items():
            count = number(v, "rows", "row_count", "count") if isinstance(v, Mapping) else v
            rows.append((str(name), f"{count:,.0f} rows" if isinstance(count, int | float) else str(count)))
    for key, v in data.items():
        if isinstance(v, str | int | float) and not isinstance(v, bool):
            rows.append((key.replace("_", " "), f"{v:,}" if isinstance(v, int) else str(v)))
    return rows


def environment_rows(results: Results) -> list[tuple[str, str]]:
    """Environment facts as label/value pairs; server settings flattened as `setting name`."""
    rows: list[tuple[str, str]] = []
    for key, v in (results.environment or {}).items():
        if isinstance(v, Mapping):
            rows += [(f"{key.replace('_', ' ')}: {k}", str(x)) for k, x in v.items()]
        elif key == "memory_bytes" and isinstance(v, int):
            rows.append(("memory", f"{v / 2**30:.1f} GiB"))
        else:
            rows.append((key.replace("_", " "), "" if v is None else str(v)))
    return rows


def section_facts(section: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Scalar facts of any other section (backup, faults, generate), flattened one level."""
    if not isinstance(section, Mapping):
        return []
    rows = []
    for k, v in section.items():
        if isinstance(v, Mapping):
            rows += [(f"{k}: {kk}", str(vv)) for kk, vv in v.items() if not isinstance(vv, Mapping | list)]
        elif not isinstance(v, list):
            rows.append((k.replace("_", " "), str(v)))
    return rows
