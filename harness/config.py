"""RunConfig: one frozen object built once at the edge; everything downstream trusts its types.

Precedence (highest first): CLI options > WARDBENCH_* environment > `[tool.wardbench]` in
./pyproject.toml > the profile's table in profiles.toml > defaults here.
"""

from __future__ import annotations

import os
import re
import secrets
import time
import tomllib
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.verify import accept

DEFAULT_TARGETS = {"ward_p95_ms": 100.0, "vector_p95_ms": 200.0, "write_p95_ms": 250.0,
                   "recall_at_10": 0.95}


def load_profiles() -> dict[str, dict[str, Any]]:
    """All profiles from the packaged profiles.toml, keyed by name."""
    return tomllib.loads(files("harness").joinpath("profiles.toml").read_text())


def load_profile(name: str) -> dict[str, Any]:
    """The named profile's table; an unknown name is a UsageError listing the valid ones."""
    profiles = load_profiles()
    if name not in profiles:
        raise UsageError(f"unknown profile {name!r}: choose one of {', '.join(sorted(profiles))}")
    return profiles[name]


def new_run_id() -> str:
    """Sortable, unique, and a valid identifier suffix (used in `wardbench_<run id>` database names)."""
    return time.strftime("%Y%m%d_%H%M%S") + "_" + secrets.token_hex(3)


def parse_duration(text: str) -> float:
    """Seconds from '90', '90s', '5m', '1h' or '1m30s'; anything else is a UsageError."""
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not text.strip() or match is None or not any(match.groups()):
        raise UsageError(f"bad duration {text!r}: use seconds or units, e.g. 60s, 5m, 1m30s")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise UsageError(f"bad duration {text!r}: must be greater than zero")
    return total


def parse_count(text: str) -> int:
    """A positive count with an optional k/m suffix: '10k' -> 10000, '1m' -> 1000000."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if match is None:
        raise UsageError(f"bad size {text!r}: use a positive number, optionally with k or m (e.g. 10k, 1m)")
    value = float(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    if value < 1:
        raise UsageError(f"bad size {text!r}: must be at least 1")
    return int(value)


def parse_list(text: str, parse: Any = parse_count) -> list[Any]:
    """A comma-separated list parsed element by element (scales, user counts)."""
    items = [t for t in text.split(",") if t.strip()]
    if not items:
        raise UsageError(f"bad list {text!r}: give comma-separated values, e.g. 10k,100k,1m")
    return [parse(t) for t in items]


def _pyproject_settings(cwd: Path) -> dict[str, Any]:
    path = cwd / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML ({exc})") from exc
    return dict(data.get("tool", {}).get("wardbench", {}))


def _env_settings() -> dict[str, Any]:
    env = {"dsn": "WARDBENCH_DSN", "backend": "WARDBENCH_BACKEND", "pg_version": "WARDBENCH_PG_VERSION",
           "profile": "WARDBENCH_PROFILE", "reports_dir": "WARDBENCH_REPORTS"}
    return {key: os.environ[var] for key, var in env.items() if os.environ.get(var)}


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs to know, validated."""

    backend: str = "embedded"
    dsn: str | None = None
    in_place: bool = False
    keep_database: bool = False
    pg_version: int = 18
    port: int = 0
    profile: str = "ci"
    profile_data: dict[str, Any] = field(default_factory=dict)
    scale_factor: float = 1.0
    seed: int = 42
    run_id: str = field(default_factory=new_run_id)
    reports_dir: Path = Path("reports")
    server_settings: dict[str, str] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    verify_accept: tuple[accept.Acceptance, ...] = ()  # [tool.wardbench.verify.accept]: acknowledged findings

    @property
    def run_dir(self) -> Path:
        return self.reports_dir / self.run_id

    @property
    def maintenance_workers(self) -> int:
        """Parallel workers for index builds: the embedded server's setting, as the loader passes it on."""
        return int(self.server_settings.get("max_parallel_maintenance_workers", 1))

    def with_(self, **changes: Any) -> RunConfig:
        return replace(self, **changes)


def build_config(cwd: Path | None = None, **cli: Any) -> RunConfig:
    """Merge defaults < profile < pyproject < environment < CLI (None means 'not given') and validate."""
    merged: dict[str, Any] = {}
    merged.update(_pyproject_settings(cwd or Path.cwd()))
    merged.update(_env_settings())
    merged.update({k: v for k, v in cli.items() if v is not None})
    if merged.get("dsn") and "backend" not in merged:
        merged["backend"] = "dsn"  # naming a server is choosing it
    profile = str(merged.get("profile", "ci"))
    profile_data = load_profile(profile)
    targets = dict(DEFAULT_TARGETS)
    targets.update(profile_data.get("targets", {}))
    targets.update(merged.pop("targets", {}) or {})
    settings = {k: str(v) for k, v in profile_data.get("server", {}).items()}
    settings.update({k: str(v) for k, v in (merged.pop("server_settings", {}) or {}).items()})
    try:
        pg_version = int(merged.pop("pg_version", 18))
        scale = float(merged.pop("scale_factor", 1.0))
        seed = int(merged.pop("seed", 42))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"bad numeric setting: {exc}") from exc
    if pg_version not in (16, 18):
        raise UsageError(f"unsupported PostgreSQL version {pg_version}: choose 16 or 18")
    if not scale > 0:
        raise UsageError(f"bad scale factor {scale}: must be greater than zero")
    verify = merged.pop("verify", None) or {}
    if not isinstance(verify, dict):
        raise UsageError("[tool.wardbench.verify] in pyproject.toml must be a table")
    acceptances = accept.parse(verify.get("accept"))
    backend = str(merged.pop("backend", "embedded"))
    if backend not in ("embedded", "dsn", "container"):
        raise UsageError(f"unknown backend {backend!r}: choose embedded, dsn or container")
    if backend == "dsn" and not merged.get("dsn"):
        raise UsageError("the dsn backend needs --dsn or WARDBENCH_DSN")
    if merged.get("dsn"):
        from harness.db.dsn import validate_dsn

        validate_dsn(str(merged["dsn"]))
    known = {"dsn", "in_place", "keep_database", "port", "run_id", "reports_dir", "profile"}
    extra = {k: v for k, v in merged.items() if k in known}
    # Absolute, because stages run tools (pytest, Locust, pg_dump) in other working directories.
    extra["reports_dir"] = Path(extra.get("reports_dir", "reports")).resolve()
    return RunConfig(backend=backend, pg_version=pg_version, scale_factor=scale, seed=seed,
                     profile_data=profile_data, server_settings=settings, targets=targets, verify_accept=acceptances,
                     **{**extra, "profile": profile})
