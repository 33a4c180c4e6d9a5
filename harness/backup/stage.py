"""The `backup` stage: the kinds of backup the profile asks for (`[NAME.backup] kinds`), logical by default.

A logical dump rebuilds every index on restore (hours at 10^6 vectors), so the ci profile checks only that;
release sign-off also proves the physical backup and point-in-time recovery.
"""

from __future__ import annotations

from harness.config import RunConfig
from harness.db import Database
from harness.errors import UsageError
from harness.results import Results

KINDS = ("logical", "physical")


def backup_kinds(cfg: RunConfig) -> list[str]:
    """The profile's `backup.kinds` (default ["logical"]), validated."""
    kinds = cfg.profile_data.get("backup", {}).get("kinds", ["logical"])
    if not isinstance(kinds, list) or not kinds or any(k not in KINDS for k in kinds):
        raise UsageError(f"profile {cfg.profile!r}: backup.kinds must be a non-empty list of "
                         f"{' and '.join(repr(k) for k in KINDS)}, not {kinds!r}")
    return [k for k in KINDS if k in kinds]


def with_kinds(cfg: RunConfig, kinds: list[str]) -> RunConfig:
    """`cfg` asking for `kinds` (what `backup verify --physical` chooses on the command line)."""
    backup = {**cfg.profile_data.get("backup", {}), "kinds": kinds}
    return cfg.with_(profile_data={**cfg.profile_data, "backup": backup})


def backup_stage(cfg: RunConfig, db: Database, results: Results) -> None:
    """Run each kind the profile asks for; each writes its own part of `results.backup` and its gates."""
    for kind in backup_kinds(cfg):
        if kind == "logical":
            from harness.backup.verify import verify_backup

            verify_backup(cfg, db, results)
        else:
            from harness.backup.physical import verify_physical

            verify_physical(cfg, db, results)
