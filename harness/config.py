"""RunConfig: one frozen object built once at the edge; everything downstream trusts its types.

Precedence (highest first): CLI options > WARDBENCH_* environment > `[tool.wardbench]` in
./pyproject.toml > the profile's table in profiles.toml > defaults here. One typed settings model
(pydantic-settings, strict) reads the first three, so `in_place = "false"` is refused, not truthy.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import secrets
import time
import tomllib
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    PyprojectTomlConfigSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from harness import targets as target_registry
from harness.errors import UsageError
from harness.verify import accept

SEED_MAX = 2**63 - 1  # the seed reaches Locust's argv and numpy's SeedSequence; a bigint holds any of them
PORT_MAX = 65535


def load_profiles() -> dict[str, dict[str, Any]]:
    """All profiles from the packaged profiles.toml, keyed by name."""
    return tomllib.loads(files("harness").joinpath("profiles.toml").read_text())


def _did_you_mean(word: str, choices: list[str] | set[str] | tuple[str, ...]) -> str:
    near = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"did you mean {near[0]!r}? " if near else ""


def load_profile(name: str) -> dict[str, Any]:
    """The named profile's table; an unknown name is a UsageError listing the valid ones."""
    profiles = load_profiles()
    if name not in profiles:
        raise UsageError(f"unknown profile {name!r}: {_did_you_mean(name, set(profiles))}"
                         f"choose one of {', '.join(sorted(profiles))}")
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


class VerifySettings(BaseModel):
    """`[tool.wardbench.verify]`: acknowledged migration findings, keyed by revision (read by harness/verify)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    accept: dict[str, dict[str, Any]] = Field(default_factory=dict)


_PYPROJECT: ContextVar[Path] = ContextVar("_PYPROJECT")


class _LegacyReportsEnv(PydanticBaseSettingsSource):
    """`WARDBENCH_REPORTS` (documented before WARDBENCH_REPORTS_DIR existed) still names the reports dir."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        value = os.environ.get("WARDBENCH_REPORTS")
        return {"reports_dir": value} if value else {}


class Settings(BaseSettings):
    """What a user may set, with its type: CLI options, WARDBENCH_* variables and `[tool.wardbench]`."""

    model_config = SettingsConfigDict(env_prefix="WARDBENCH_", strict=True, extra="forbid",
                                      env_ignore_empty=True, pyproject_toml_table_header=("tool", "wardbench"))

    backend: str | None = None
    dsn: str | None = None
    in_place: bool = False
    keep_database: bool = False
    pg_version: int = 18
    port: int = 0
    profile: str = "ci"
    scale_factor: float = 1.0
    seed: int = 42
    run_id: str | None = None
    reports_dir: Annotated[Path, Field(strict=False)] = Path("reports")
    server_settings: dict[str, str | int | float | bool] = Field(default_factory=dict)
    targets: dict[str, float] = Field(default_factory=dict)
    verify: VerifySettings = Field(default_factory=VerifySettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _LegacyReportsEnv(settings_cls),
                PyprojectTomlConfigSettingsSource(settings_cls, _PYPROJECT.get()))


# How each setting is spelt on the command line, for messages that name where a bad value came from.
_FLAGS = {"targets": "--target", "server_settings": "--set"}
_EXPECTED = {"bool": "a boolean (true or false, without quotes)", "int": "a whole number",
             "float": "a number", "string": "a string", "dict": "a table", "model": "a table",
             "path": "a path"}


def _pyproject_table(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML ({exc})") from exc
    table = data.get("tool", {}).get("wardbench", {})
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.wardbench] must be a table")
    return table


def _source(key: str, cli: dict[str, Any], pyproject: Path, table: dict[str, Any]) -> str:
    """Where the value of setting `key` came from, in the words the user wrote it."""
    if key in cli:
        return _FLAGS.get(key, "--" + key.replace("_", "-"))
    env = f"WARDBENCH_{key.upper()}"
    if os.environ.get(env):
        return env
    if key == "reports_dir" and os.environ.get("WARDBENCH_REPORTS"):
        return "WARDBENCH_REPORTS"
    if key in table:
        return f"[tool.wardbench] in {pyproject}"
    return "the configuration"


def _settings_error(exc: ValidationError, cli: dict[str, Any], pyproject: Path, table: dict[str, Any]
                    ) -> UsageError:
    """The first problem pydantic found, as one line naming the key, where it was set and what it must be."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    dotted = ".".join(loc)
    source = _source(loc[0], cli, pyproject, table)
    if err["type"] == "extra_forbidden":
        valid = sorted(Settings.model_fields) if len(loc) == 1 else \
            sorted(VerifySettings.model_fields) if loc[0] == "verify" and len(loc) == 2 else []
        hint = f"{_did_you_mean(loc[-1], valid)}valid keys: {', '.join(valid)}" if valid else "not a known key"
        return UsageError(f"unknown setting {dotted!r} in {source}: {hint}")
    kind = err["type"].split("_")[0]
    expected = _EXPECTED.get(kind, err["msg"].lower())
    if kind == "bool" and source.startswith("WARDBENCH_"):  # environment values are strings by nature
        expected = "a boolean: true or false (also 1/0, yes/no, on/off)"
    return UsageError(f"bad setting {dotted} = {err['input']!r} in {source}: must be {expected}")


def _settings(cwd: Path, cli: dict[str, Any]) -> tuple[Settings, dict[str, Any], Path]:
    pyproject = (cwd / "pyproject.toml").resolve()
    table = _pyproject_table(pyproject)
    token = _PYPROJECT.set(pyproject)
    try:
        return Settings(**cli), table, pyproject
    except ValidationError as exc:
        raise _settings_error(exc, cli, pyproject, table) from None
    except SettingsError as exc:  # an environment value it could not decode
        raise UsageError(f"bad environment setting: {exc}") from None
    finally:
        _PYPROJECT.reset(token)


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
    targets: dict[str, float] = field(default_factory=target_registry.defaults)  # every key of harness.targets
    verify_accept: tuple[accept.Acceptance, ...] = ()  # [tool.wardbench.verify.accept]: acknowledged findings
    dataset: str | None = None  # --dataset: the run's database is a copy of this prepared dataset

    @property
    def run_dir(self) -> Path:
        return self.reports_dir / self.run_id

    @property
    def maintenance_workers(self) -> int:
        """Parallel workers for index builds: the embedded server's setting, as the loader passes it on."""
        return int(self.server_settings.get("max_parallel_maintenance_workers", 1))

    def with_(self, **changes: Any) -> RunConfig:
        return replace(self, **changes)


def _setting_text(value: str | int | float | bool) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def build_config(cwd: Path | None = None, **cli: Any) -> RunConfig:
    """Merge defaults < profile < pyproject < environment < CLI (None means 'not given') and validate."""
    given = {k: v for k, v in cli.items() if v is not None}
    if isinstance(given.get("targets"), list | tuple):  # --target KEY=VALUE items, as the command line gives them
        items = given.pop("targets")
        if items:
            given["targets"] = target_registry.parse_items(items)
    s, table, pyproject = _settings(cwd or Path.cwd(), given)
    where = {key: _source(key, given, pyproject, table) for key in Settings.model_fields}
    backend = s.backend or ("dsn" if s.dsn else "embedded")  # naming a server is choosing it
    if backend not in ("embedded", "dsn", "container"):
        raise UsageError(f"unknown backend {backend!r} ({where['backend']}): choose embedded, dsn or container")
    if backend == "dsn" and not s.dsn:
        raise UsageError("the dsn backend needs --dsn or WARDBENCH_DSN")
    if s.dsn:
        from harness.db.dsn import validate_dsn

        validate_dsn(s.dsn)
    if s.pg_version not in (16, 18):
        raise UsageError(f"unsupported PostgreSQL version {s.pg_version} ({where['pg_version']}): choose 16 or 18")
    if backend == "embedded":
        from harness.db.builds import build_for

        build_for(s.pg_version)  # WARDBENCH_EMBEDDED_BUILD, when set, must offer this version
    if not 0 <= s.seed <= SEED_MAX:
        raise UsageError(f"bad seed {s.seed} ({where['seed']}): must be a whole number from 0 to {SEED_MAX}")
    if not (math.isfinite(s.scale_factor) and s.scale_factor > 0):
        raise UsageError(f"bad scale factor {s.scale_factor} ({where['scale_factor']}): "
                         "must be a finite number greater than zero")
    if not 0 <= s.port <= PORT_MAX:
        raise UsageError(f"bad port {s.port} ({where['port']}): must be from 1 to {PORT_MAX}, or 0 for any free port")
    profile_data = load_profile(s.profile)
    targets = target_registry.resolve([(profile_data.get("targets", {}), f"profile {s.profile}"),
                                       (s.targets, where["targets"])])
    settings = {k: str(v) for k, v in profile_data.get("server", {}).items()}
    settings.update({k: _setting_text(v) for k, v in s.server_settings.items()})
    # Absolute, because stages run tools (pytest, Locust, pg_dump) in other working directories.
    return RunConfig(backend=backend, dsn=s.dsn, in_place=s.in_place, keep_database=s.keep_database,
                     pg_version=s.pg_version, port=s.port, profile=s.profile, profile_data=profile_data,
                     scale_factor=s.scale_factor, seed=s.seed, run_id=s.run_id or new_run_id(),
                     reports_dir=s.reports_dir.resolve(), server_settings=settings, targets=targets,
                     verify_accept=accept.parse(s.verify.accept or None))
