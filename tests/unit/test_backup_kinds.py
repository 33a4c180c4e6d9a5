"""Which backup kinds a profile runs: both in release, logical only in ci; anything else refused."""

from __future__ import annotations

import pytest

from harness.backup.stage import backup_kinds, with_kinds
from harness.config import RunConfig, load_profile
from harness.errors import UsageError


def test_release_runs_both_kinds_and_ci_only_the_logical_one() -> None:
    assert backup_kinds(RunConfig(profile="release", profile_data=load_profile("release"))) == ["logical", "physical"]
    assert backup_kinds(RunConfig(profile="ci", profile_data=load_profile("ci"))) == ["logical"]
    assert backup_kinds(RunConfig(profile="capacity", profile_data=load_profile("capacity"))) == ["logical"]


def test_the_command_line_choice_replaces_the_profiles() -> None:
    cfg = with_kinds(RunConfig(profile="release", profile_data=load_profile("release")), ["physical"])
    assert backup_kinds(cfg) == ["physical"]


@pytest.mark.parametrize("kinds", [[], ["logical", "snapshot"], "physical"])
def test_a_bad_kinds_list_is_refused(kinds: object) -> None:
    with pytest.raises(UsageError, match="backup.kinds must be a non-empty list"):
        backup_kinds(RunConfig(profile_data={"backup": {"kinds": kinds}}))
