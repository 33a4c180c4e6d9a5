"""What the renderers show, read from Results: a missing section means 'not run', never a crash.

The run's sections are typed (harness.results) and read by field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any, TypeGuard

from harness.results import Gate, Results
from harness.results.bench import BenchSection, ScenarioResult
from harness.results.load import LoadGroup, LoadSection
from harness.results.migrations import Lock, MigrationsSection, StepVerdict, UnderLoad


def finite(value: Any) -> TypeGuard[int | float]:
    """A finite int or float (bools excluded): what a JSON figure must be before it is drawn or printed."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def number(data: Mapping[str, Any] | None, key: str) -> float | None:
    """`data[key]` when it is a finite number (bools excluded), else None: the profile's targets are plain data."""
    value = data.get(key) if isinstance(data, Mapping) else None
    return float(value) if finite(value) else None


@dataclass(frozen=True)
class Banner:
    """The one line at the top: verdict, colour class, and why it is not a plain pass."""

    verdict: str
    title: str
    detail: str
    css: str


def skipped_stages(results: Results) -> list[str]:
    """Registered stages that this run did not execute (--skip / --only), as recorded in `selection`."""
    names = list(results.selection.get("not_run", []))
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


def target_rows(results: Results) -> list[dict[str, str]]:
    """The targets in force for the run (results.profile.targets), described from the registry."""
    from harness.targets import REGISTRY

    given = results.profile.get("targets")
    rows = []
    for key, value in (given.items() if isinstance(given, Mapping) else ()):
        spec = REGISTRY.get(key)
        default = "" if spec is None or value == spec.default else f" (default {spec.default:g})"
        rows.append({"key": key, "value": f"{value:g}{default}", "unit": spec.unit if spec else "",
                     "comparator": spec.comparator if spec else "", "description": spec.description if spec else ""})
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


@dataclass(frozen=True)
class ScenarioRow:
    """One line of a latency table (and of its plot): a bench scenario, or a scenario or role under load."""

    name: str
    kind: str
    count: float | None
    errors: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    qps: float | None
    p95_uncorrected_ms: float | None = None
    recall: float | None = None
    target_ms: float | None = None
    samples_ms: tuple[float, ...] = ()
    plan: str = ""
    """The plan shape most of a bench scenario's explained queries ran with ('' when none was recorded)."""


def scenarios(results: Results) -> list[ScenarioRow]:
    """The bench scenarios' rows, raw samples included."""
    return [bench_row(s) for s in results.scenarios]


def bench_row(s: ScenarioResult) -> ScenarioRow:
    """A bench scenario's table row: its latencies, recall@10 and p95 target, and its raw samples."""
    return ScenarioRow(name=s.name, kind=s.kind, count=float(s.count), errors=float(s.errors), p50_ms=s.p50_ms,
                       p95_ms=s.p95_ms, p99_ms=s.p99_ms, max_ms=s.max_ms, qps=s.qps, recall=s.recall_at_10,
                       target_ms=s.target_ms, samples_ms=s.samples_ms,
                       plan=max(s.plan_shapes.items(), key=lambda kv: kv[1])[0] if s.plan_shapes else "")


def bench_fidelity(bench: BenchSection | None) -> str | None:
    """One sentence on how much of each measured latency is the harness rather than the server."""
    fid = bench.fidelity if bench else None
    if fid is None or not fid.samples:
        return None
    met = "met" if fid.within_target else "NOT met"
    return (f"Harness overhead per query (p50 over {fid.samples} queries): "
            f"{_fmt(fid.overhead_p50_ms, 'ms')} against a server-side p50 of "
            f"{_fmt(fid.server_p50_ms, 'ms')} (server time from "
            f"{', '.join(fid.server_time_from or ('?',))}; SELECT 1 round trip "
            f"{_fmt(fid.roundtrip_floor_p50_ms, 'ms')}); criterion <= "
            f"{_fmt(fid.overhead_target_ms, 'ms')}: {met}.")


def load_summary(load: LoadSection | None) -> list[tuple[str, str]]:
    """Scalar facts of the load run (model, users, rate, duration, totals) as label/value pairs."""
    if load is None:
        return []
    facts = _scalar_fields(load)
    shown = {name for name, _ in facts}
    facts += [(k, v) for k, v in _scalar_fields(load.summary) if k not in shown]
    return [(k.replace("_", " "), _fmt(float(v)) if isinstance(v, int | float) and not isinstance(v, bool)
             else str(v)) for k, v in facts]


def load_groups(load: LoadSection | None) -> list[ScenarioRow]:
    """Rows of the load run: per role (readers, writers) first, then per scenario."""
    if load is None:
        return []
    rows = [_load_row(f"all {role}s", "", group) for role, group in load.roles.items()]
    return rows + [_load_row(s.name, s.kind, s) for s in load.scenarios]


def _load_row(name: str, kind: str, group: LoadGroup) -> ScenarioRow:
    lat = group.corrected
    return ScenarioRow(name=name, kind=kind, count=float(group.count), errors=float(group.errors), p50_ms=lat.p50_ms,
                       p95_ms=lat.p95_ms, p99_ms=lat.p99_ms, max_ms=lat.max_ms, qps=group.qps,
                       p95_uncorrected_ms=group.uncorrected.p95_ms)


def _scalar_fields(section: object) -> list[tuple[str, object]]:
    """A section dataclass's fields that hold one value (not None, not a nested record or a list)."""
    return [(f.name, v) for f in fields(section) if _scalar(v := getattr(section, f.name))]  # type: ignore[arg-type]


def _scalar(value: object) -> bool:
    return value is not None and not is_dataclass(value) and not isinstance(value, Mapping | list | tuple)


def section_fields(section: object | None) -> list[tuple[str, str]]:
    """Facts of a typed section (backup, faults): its scalar fields, and those of its records one level down."""
    if section is None:
        return []
    rows: list[tuple[str, str]] = []
    for f in fields(section):  # type: ignore[arg-type]
        value = getattr(section, f.name)
        if _scalar(value):
            rows.append((f.name.replace("_", " "), str(value)))
        elif is_dataclass(value):
            rows += [(f"{f.name}: {k}", str(v)) for k, v in _scalar_fields(value)]
        elif isinstance(value, Mapping):
            rows += [(f"{f.name}: {k}", str(v)) for k, v in value.items() if _scalar(v)]
    return rows


@dataclass(frozen=True)
class StepRow:
    """One migration step as the report's table and figure show it."""

    revision: str
    direction: str
    duration_s: float | None
    downgrade_s: float | None
    verdict: StepVerdict
    ok: bool | None  # False: the round trip changed data or the downgrade raised; None: it did not get that far
    locks: str
    rewritten: str
    under_load: str
    detail: str


def migration_steps(migrations: MigrationsSection | None) -> list[StepRow]:
    """Migration steps (revision, direction, duration, lossless, locks, rewritten tables)."""
    if migrations is None:
        return []
    return [StepRow(st.revision, st.direction, st.duration_s, st.downgrade_s, st.verdict,
                    False if st.reversible is False else st.lossless,
                    "; ".join(f"{t}: {_lock_text(lock)}" for t, lock in st.locks.items()),
                    ", ".join(f"{t} ({n} rows)" for t, n in st.rewritten.items()), _under_load_text(st.under_load),
                    st.detail) for st in migrations.steps]


def _under_load_text(load: UnderLoad | None) -> str:
    """Reads running beside the step: p95 before -> during, reads blocked on a lock, the longest wait."""
    if load is None:
        return ""
    if load.p95_during_ms is None:
        return load.detail
    wait = load.longest_lock_wait_ms
    return (f"p95 {_fmt(load.p95_before_ms)} -> {_fmt(load.p95_during_ms)} ms; {load.blocked_reads} blocked"
            + (f", longest wait {wait:.0f} ms" if wait is not None else ""))


def _lock_text(lock: Lock) -> str:
    held = lock["held_ms"]
    return lock["mode"] + (f" ({held:.0f} ms)" if held is not None else "")


def migration_facts(migrations: MigrationsSection | None) -> list[tuple[str, str]]:
    """Facts of the migration section beside its steps (chain, head, walks, counts, lock_timeout, throughput)."""
    if migrations is None:
        return []
    walk, trip, sums = migrations.plain_walk, migrations.round_trip, migrations.checksum_throughput
    options = migrations.options
    counts = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in asdict(migrations.summary).items() if n)
    facts = [("chain", migrations.chain), ("head", migrations.head),
             ("structure", "; ".join(migrations.structure.findings) or "ok"),
             ("plain walk (empty database)", f"{walk.verdict} {walk.detail}".strip()),
             ("round trip head -> base -> head", f"{trip.verdict} {trip.detail}".strip()),
             ("steps", counts or "none"),
             ("checksums", f"{sums.rows} rows" + (f", {sums.ratio_vs_count}x the time of count(*)"
                                                  if sums.ratio_vs_count is not None else "")),
             ("options", f"{options.rows_per_table} rows per table, seed {options.seed}"
                         + (", under load" if options.under_load else "")
                         + (", strict locks" if options.strict_locks else "")),
             ("duration", f"{migrations.duration_s:g} s")]
    return facts + [("warning", w) for w in migrations.warnings]


def dataset_rows(results: Results) -> list[tuple[str, str]]:
    """Table sizes (rows) and the other dataset facts as label/value pairs."""
    data = results.dataset
    rows = [(name, f"{count:,.0f} rows") for name, count in data.rows.items()]
    for key, v in _scalar_fields(data):
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
