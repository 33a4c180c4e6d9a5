"""Scenario files (TOML under scenarios/) to validated `Scenario` objects; a bad file is one UsageError line.

Pure data handling: no psycopg import here, so Locust (which must import gevent first) can load scenarios
too. A file holds one scenario (top-level `name`, `kind`, `sql`, `[params.*]`), named samplers
(`[samplers.*]`, referenced by `sampler = "busy_ward"`), or both. `[[variants]]` expand one scenario into
several that differ in selectivity, parameters or settings (e.g. busy ward, quiet ward).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.results.bench import ScenarioKind

KINDS: tuple[ScenarioKind, ...] = ("ward", "vector", "write")
WRITE_KINDS = ("write",)  # every other kind reads, and runs in READ ONLY transactions
# Set by wardbench on every read session (bench.session.READ_ONLY): a scenario may not turn it off.
RESERVED_SETTINGS = ("default_transaction_read_only", "transaction_read_only")
SUITES = {"ward": ("ward",), "vector": ("vector",), "all": ("ward", "vector")}  # bench suites never write
DEFAULT_K = 10
DEFAULT_POOL = 200
DEFAULT_TIE_TOLERANCE = 1e-4  # cosine distance units: neighbours this close to the k-th count as ties
_PARAM = re.compile(r"%\((\w+)\)s")
TomlTable = dict[str, Any]  # a table as tomllib parsed it: values unchecked until the functions below validate them
Samplers = dict[str, TomlTable]  # [samplers.NAME] tables by name, validated, merged into a parameter on use
_SCENARIO_KEYS = {"name", "kind", "description", "sql", "params", "target_p95_ms", "k", "selectivity",
                  "settings", "truth", "tie_tolerance", "variants", "samplers", "requires_revision"}
_PARAM_KEYS = {"sql", "sampler", "value", "perturb", "provides", "pool"}
_VARIANT_KEYS = {"selectivity", "params", "settings", "target_p95_ms", "description"}


@dataclass(frozen=True)
class ParamSpec:
    """How to draw one parameter (or several from one row): a pool query, a named sampler, or a constant."""

    label: str
    sql: str | None = None
    value: Any = None
    perturb: float = 0.0
    provides: tuple[str, ...] = ()
    pool: int = DEFAULT_POOL


def reads_only(kind: str) -> bool:
    """Whether scenarios of `kind` only read (every kind but write)."""
    return kind not in WRITE_KINDS


@dataclass(frozen=True)
class Scenario:
    """One named query with its parameter samplers, kind, target and (vector) ground-truth settings."""

    name: str
    kind: ScenarioKind
    sql: str
    source: Path
    params: tuple[ParamSpec, ...] = ()
    description: str = ""
    target_p95_ms: float | None = None
    k: int | None = None
    selectivity: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    truth_sql: str | None = None
    truth_settings: dict[str, str] = field(default_factory=dict)
    tie_tolerance: float = DEFAULT_TIE_TOLERANCE
    requires_revision: str | None = None  # the reference chain revision whose schema the SQL needs

    @property
    def sql_params(self) -> list[str]:
        """Named parameters the SQL uses, in order of first use."""
        return list(dict.fromkeys(_PARAM.findall(self.sql)))

    @property
    def target_key(self) -> str:
        """The registry target (harness.targets) for this scenario's kind, unless it sets its own."""
        return f"{self.kind}_p95_ms"

    def target_ms(self, targets: dict[str, float]) -> float:
        """The scenario's own p95 target, else the run's target for its kind."""
        return self.target_p95_ms if self.target_p95_ms is not None else float(targets[self.target_key])


# Exact search: every index path off, so the planner can only scan and sort (no HNSW, no B-tree shortcut).
EXACT_SETTINGS = {"enable_indexscan": "off", "enable_bitmapscan": "off", "enable_indexonlyscan": "off"}


def default_scenarios_dir() -> Path:
    """The reference scenarios shipped beside the package (repository root `scenarios/`)."""
    return Path(__file__).resolve().parents[2] / "scenarios"


def _fail(path: Path, where: str, problem: str) -> UsageError:
    return UsageError(f"{path}: field {where!r}: {problem}")


def _read_toml(path: Path) -> TomlTable:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML ({exc})") from exc
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from exc


def _text(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, where, "must be a non-empty string")
    return value


def _number(path: Path, where: str, value: Any, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, where, f"must be a number (got {value!r})")
    if positive and not value > 0:
        raise _fail(path, where, f"must be greater than zero (got {value!r})")
    return float(value)


def _settings(path: Path, where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(path, where, "must be a table of setting = value")
    for key, val in value.items():
        if not re.fullmatch(r"[A-Za-z_][\w.]*", key) or isinstance(val, dict | list):
            raise _fail(path, f"{where}.{key}", "must be a PostgreSQL setting name with a scalar value")
        if key.lower() in RESERVED_SETTINGS:
            raise _fail(path, f"{where}.{key}", "is set by wardbench: read scenarios run in READ ONLY transactions, "
                                                "a scenario that writes declares kind = \"write\"")
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


def _param(path: Path, label: str, raw: Any, samplers: Samplers,
           where: str | None = None) -> ParamSpec:
    where = where or f"params.{label}"
    if not isinstance(raw, dict):
        raw = {"value": raw}  # `ward_id = 3` is a constant
    unknown = set(raw) - _PARAM_KEYS
    if unknown:
        raise _fail(path, f"{where}.{sorted(unknown)[0]}", f"unknown key; use one of {', '.join(sorted(_PARAM_KEYS))}")
    if "sampler" in raw:
        name = raw["sampler"]
        if name not in samplers:
            known = ", ".join(sorted(samplers)) or "none defined"
            raise _fail(path, f"{where}.sampler", f"unknown sampler {name!r} (known: {known})")
        raw = {**samplers[name], **{k: v for k, v in raw.items() if k != "sampler"}}
    sources = [k for k in ("sql", "value") if k in raw]
    if len(sources) != 1:
        raise _fail(path, where, "give exactly one of sql, sampler or value")
    provides = raw.get("provides", [label])
    if not isinstance(provides, list) or not provides or not all(isinstance(p, str) for p in provides):
        raise _fail(path, f"{where}.provides", "must be a non-empty list of parameter names")
    perturb = _number(path, f"{where}.perturb", raw.get("perturb", 0.0), positive=False)
    if not 0 <= perturb < 1:
        raise _fail(path, f"{where}.perturb", f"must be in [0, 1) (got {perturb})")
    pool = int(_number(path, f"{where}.pool", raw.get("pool", DEFAULT_POOL)))
    sql = _text(path, f"{where}.sql", raw["sql"]) if "sql" in raw else None
    return ParamSpec(label, sql, raw.get("value"), perturb, tuple(provides), pool)


def _samplers(path: Path, data: TomlTable) -> Samplers:
    raw = data.get("samplers", {})
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise _fail(path, "samplers", "must be tables like [samplers.busy_ward] with sql = ...")
    for name, spec in raw.items():
        _param(path, name, spec, {}, where=f"samplers.{name}")  # validate now, so the error names the sampler's file
    return dict(raw)


def _scenario(path: Path, data: TomlTable, samplers: Samplers) -> Scenario:
    unknown = set(data) - _SCENARIO_KEYS
    if unknown:
        raise _fail(path, sorted(unknown)[0], "unknown field")
    name = _text(path, "name", data.get("name"))
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise _fail(path, "name", f"use letters, digits, _ . - only (got {name!r})")
    kind = data.get("kind")
    if kind not in KINDS:
        raise _fail(path, "kind", f"must be one of {', '.join(KINDS)} (got {kind!r})")
    params_raw = data.get("params", {})
    if not isinstance(params_raw, dict):
        raise _fail(path, "params", "must be tables like [params.ward_id]")
    target = data.get("target_p95_ms")
    k = data.get("k", DEFAULT_K if kind == "vector" else None)
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise _fail(path, "k", f"must be a positive integer (got {k!r})")
    truth = data.get("truth", {})
    if not isinstance(truth, dict) or set(truth) - {"sql", "settings"}:
        raise _fail(path, "truth", "must be a table with optional sql and settings")
    selectivity = data.get("selectivity")
    if selectivity is not None:
        _text(path, "selectivity", selectivity)
    return Scenario(
        name=name, kind=kind, sql=_text(path, "sql", data.get("sql")), source=path,
        params=tuple(_param(path, label, raw, samplers) for label, raw in params_raw.items()),
        description=str(data.get("description", "")),
        target_p95_ms=None if target is None else _number(path, "target_p95_ms", target),
        k=k, selectivity=selectivity,
        settings=_settings(path, "settings", data.get("settings", {})),
        truth_sql=_text(path, "truth.sql", truth["sql"]) if "sql" in truth else None,
        truth_settings={**EXACT_SETTINGS, **_settings(path, "truth.settings", truth.get("settings", {}))},
        tie_tolerance=_number(path, "tie_tolerance", data.get("tie_tolerance", DEFAULT_TIE_TOLERANCE), False),
        requires_revision=_text(path, "requires_revision", data["requires_revision"])
        if "requires_revision" in data else None,
    )


def _expand(path: Path, base: Scenario, variants: Any, samplers: Samplers) -> list[Scenario]:
    if not isinstance(variants, list) or not variants or not all(isinstance(v, dict) for v in variants):
        raise _fail(path, "variants", "must be one or more [[variants]] tables")
    out = []
    for i, var in enumerate(variants):
        unknown = set(var) - _VARIANT_KEYS
        if unknown:
            raise _fail(path, f"variants[{i}].{sorted(unknown)[0]}", "unknown field")
        label = _text(path, f"variants[{i}].selectivity", var.get("selectivity"))
        params = {p.label: p for p in base.params}
        raw_params = var.get("params", {})
        if not isinstance(raw_params, dict):
            raise _fail(path, f"variants[{i}].params", "must be a table of parameter samplers")
        params.update({lbl: _param(path, lbl, raw, samplers) for lbl, raw in raw_params.items()})
        target = var.get("target_p95_ms", base.target_p95_ms)
        out.append(replace(
            base, name=f"{base.name}.{label}", selectivity=label, params=tuple(params.values()),
            settings={**base.settings, **_settings(path, f"variants[{i}].settings", var.get("settings", {}))},
            target_p95_ms=None if target is None else _number(path, f"variants[{i}].target_p95_ms", target),
            description=str(var.get("description", base.description))))
    return out


def _check_params(scenario: Scenario) -> None:
    provided = {p for spec in scenario.params for p in spec.provides} | ({"k"} if scenario.k else set())
    missing = [p for p in scenario.sql_params if p not in provided]
    if missing:
        raise _fail(scenario.source, "sql", f"parameter %({missing[0]})s has no sampler in [params]")
    if scenario.truth_sql:
        missing = [p for p in _PARAM.findall(scenario.truth_sql) if p not in provided]
        if missing:
            raise _fail(scenario.source, "truth.sql", f"parameter %({missing[0]})s has no sampler in [params]")


def load_file(path: Path, samplers: Samplers) -> list[Scenario]:
    """The scenarios one file declares (none for a samplers-only file), validated."""
    data = _read_toml(path)
    if "name" not in data and "sql" not in data:
        return []
    base = _scenario(path, {k: v for k, v in data.items() if k not in ("variants", "samplers")}, samplers)
    scenarios = _expand(path, base, data["variants"], samplers) if "variants" in data else [base]
    for scenario in scenarios:
        _check_params(scenario)
    return scenarios


def suite_kinds(suite: str) -> tuple[str, ...]:
    """Scenario kinds a bench suite runs; an unknown suite is a UsageError listing the valid ones."""
    if suite not in SUITES:
        raise UsageError(f"unknown suite {suite!r}: choose one of {', '.join(SUITES)}")
    return SUITES[suite]


def load_scenarios(dirs: list[Path] | None = None, kinds: tuple[str, ...] = KINDS) -> list[Scenario]:
    """Every scenario of `kinds` in the reference directory plus `dirs` (use `suite_kinds` for a suite).

    Samplers are shared across all directories, so a user's scenario can use `sampler = "busy_ward"`; like
    scenario names, a sampler name is defined once (a user's `[samplers.any_ward]` is refused).
    """
    folders = [default_scenarios_dir(), *(dirs or [])]
    files: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            raise UsageError(f"scenario directory {folder} does not exist")
        files.extend(sorted(folder.glob("*.toml")))
    samplers: Samplers = {}
    defined_in: dict[str, Path] = {}
    for path in files:
        for name, spec in _samplers(path, _read_toml(path)).items():
            if name in defined_in:  # a user's sampler must not silently rewire the scenarios that use the other
                raise _fail(path, f"samplers.{name}", f"{name!r} is also defined in {defined_in[name]}")
            samplers[name], defined_in[name] = spec, path
    scenarios: dict[str, Scenario] = {}
    for path in files:
        for scenario in load_file(path, samplers):
            if scenario.name in scenarios:
                raise _fail(path, "name", f"{scenario.name!r} is also defined in {scenarios[scenario.name].source}")
            scenarios[scenario.name] = scenario
    return [s for s in scenarios.values() if s.kind in kinds]
