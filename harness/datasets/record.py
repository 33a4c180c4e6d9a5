"""What a prepared dataset records about how it was made, and whether a run may start from it.

A dataset is only reusable while it is what `generate` would build now for the run: same profile, seed and
scale, the chain's current head, and the same generator (the harness/datagen sources, the reference chain's
revision files and the profile's data keys, hashed). Anything else is a mismatch, refused with the exact
command that rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from harness import REPO_ROOT
from harness.errors import UsageError
from harness.results.generate import GenerateSection

if TYPE_CHECKING:
    from harness.config import RunConfig

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
DATABASE_PREFIX = "wardbench_ds_"  # the database that holds dataset NAME is wardbench_ds_NAME
# Profile keys that do not shape the data: text, the embedding source (recorded on its own), a time gate.
_NOT_DATA = frozenset({"description", "embeddings", "max_generate_s"})


def check_name(name: str, flag: str) -> str:
    """`name` when it is a valid dataset name, else a UsageError saying what is allowed."""
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"{flag} {name!r}: a dataset name is 1-40 lowercase letters, digits, '_' or '-', "
                         "starting with a letter or digit")
    return name


def database_name(name: str) -> str:
    return DATABASE_PREFIX + name


GENERATOR_SOURCES = (REPO_ROOT / "harness" / "datagen", REPO_ROOT / "migrations" / "versions")


def generator_digest(profile_data: dict[str, Any], sources: tuple[Path, ...] = GENERATOR_SOURCES) -> str:
    """Hash of every harness/datagen source file, every revision of the reference chain (generate builds its
    schema, indexes and triggers with them: an index option edited in a revision changes the dataset) and the
    profile's data keys: equal when `generate` would build the same database (given the same seed and scale)."""
    digest = hashlib.sha256()
    for source_dir in sources:
        for path in sorted(source_dir.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    data = {k: v for k, v in profile_data.items() if not isinstance(v, dict) and k not in _NOT_DATA}
    digest.update(json.dumps(data, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class DatasetRecord:
    """How a dataset was made (stored as JSON in its database's comment) and what generate reported."""

    name: str
    profile: str
    seed: int
    scale_factor: float
    head_revision: str
    generator_digest: str
    dataset_digest: str
    embeddings: str = "synthetic"
    created_at: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    generate: GenerateSection | None = None  # the generate stage's summary, replayed in results

    @property
    def database(self) -> str:
        return database_name(self.name)

    def to_json(self) -> str:
        return json.dumps(_record_adapter().dump_python(self, mode="json"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DatasetRecord:
        """The record from its comment JSON; one that does not fit the types is a ValueError."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a dataset record is a JSON object")
        return _record_adapter().validate_python({k: data[k] for k in cls.__dataclass_fields__ if k in data})


@cache
def _record_adapter() -> TypeAdapter[DatasetRecord]:
    return TypeAdapter(DatasetRecord)


@dataclass(frozen=True)
class Expected:
    """What the run needs a dataset to be: its profile, seed and scale, today's head and generator."""

    profile: str
    seed: int
    scale_factor: float
    head_revision: str
    generator_digest: str

    @classmethod
    def for_run(cls, cfg: RunConfig) -> Expected:
        from harness import alembic_project  # alembic costs every CLI start that only parses input

        return cls(cfg.profile, cfg.seed, cfg.scale_factor, alembic_project.head_revision(),
                   generator_digest(cfg.profile_data))

    @classmethod
    def as_built(cls, record: DatasetRecord) -> Expected:
        """The record's own profile, seed and scale with today's head and generator: freshness alone."""
        from harness import alembic_project
        from harness.config import load_profile

        return cls(record.profile, record.seed, record.scale_factor, alembic_project.head_revision(),
                   generator_digest(load_profile(record.profile)))


def mismatches(record: DatasetRecord, expected: Expected) -> list[str]:
    """Each way `record` differs from what the run expects, in words ("seed 7, this run 42")."""
    out = []
    for key, what in (("profile", "profile"), ("seed", "seed"), ("scale_factor", "scale factor")):
        have, want = getattr(record, key), getattr(expected, key)
        if have != want:
            out.append(f"{what} {have:g}, this run {want:g}" if isinstance(have, float)
                       else f"{what} {have}, this run {want}")
    if record.head_revision != expected.head_revision:
        out.append(f"built at revision {record.head_revision}, the chain's head is now {expected.head_revision}")
    if record.generator_digest != expected.generator_digest:
        out.append(f"generator digest {record.generator_digest}, now {expected.generator_digest} "
                   "(harness/datagen, a revision of the reference chain or the profile's data changed)")
    return out


def rebuild_command(name: str, expected: Expected, dsn_flag: str = "") -> str:
    """The command that rebuilds dataset `name` as the run expects it."""
    scale = f" --scale-factor {expected.scale_factor:g}" if expected.scale_factor != 1.0 else ""
    return (f"wardbench generate --profile {expected.profile} --seed {expected.seed}{scale}{dsn_flag} "
            f"--keep-dataset {name}")


def check_fresh(record: DatasetRecord, expected: Expected, dsn_flag: str = "") -> None:
    """Refuse (UsageError, exit 2) a dataset that is not what the run expects, with the rebuild command.

    When only the run's profile, seed or scale differ (a flag forgotten, more likely than a wish to rebuild),
    the flags that use the dataset as it is come first.
    """
    found = mismatches(record, expected)
    if not found:
        return
    rebuild = f"rebuild it with `{rebuild_command(record.name, expected, dsn_flag)}`"
    same_build = record.head_revision == expected.head_revision and \
        record.generator_digest == expected.generator_digest
    if same_build:
        scale = f" --scale-factor {record.scale_factor:g}" if record.scale_factor != 1.0 else ""
        rebuild = f"run with `--profile {record.profile} --seed {record.seed}{scale}` to use it as it is, or " \
                  f"{rebuild} (replacing it)"
    raise UsageError(f"dataset {record.name} does not match this run ({'; '.join(found)}): {rebuild}")


@dataclass(frozen=True)
class DatasetCopy:
    """A run's database made from a dataset: which one, how it was copied and how long that took."""

    record: DatasetRecord
    method: str  # "clone" | "copy" (file_copy_method under STRATEGY FILE_COPY) or "wal_log"
    copy_s: float
