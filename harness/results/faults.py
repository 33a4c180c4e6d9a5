"""The `faults` section: each injected fault, whether it was really injected and whether everything survived."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ConfigDict


@dataclass(frozen=True)
class DroppedConnectionDetails:
    """The connection-drop fault's figures: load sessions terminated mid-request and what the run counted."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    waiting: int
    """load sessions found waiting on the probe"""
    terminated: int
    """of which confirmed terminated"""
    errors_counted: int
    """requests the run counted as errors (warm-up included)"""
    warmup_errors: int
    """of which in the warm-up"""
    requests: int
    """requests the run sent (warm-up included)"""
    error_kinds: dict[str, int]
    """failed requests per exception type"""


@dataclass(frozen=True)
class DurabilityDetails:
    """The server-kill fault's figures: commits acknowledged before the SIGKILL and found after recovery."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    acknowledged: int
    """commits the writers were told were committed"""
    found: int
    """of which present after crash recovery"""
    lost: int
    """acknowledged but missing"""
    lost_ids: list[int]
    """the first 20 missing ids"""
    settings: dict[str, str]
    """durability settings in force (fsync, synchronous_commit, full_page_writes)"""
    processes_killed: int
    """the postmaster and its children that were killed or exited"""


@dataclass(frozen=True)
class FaultOutcome:
    """A fault: whether it was really injected, whether everything survived it, and what happened."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    name: str
    """what was injected"""
    injected: bool
    """the fault really happened (False: it could not be injected here, see message)"""
    survived: bool
    """data and the machine were left as they were"""
    message: str
    """what happened, in words"""
    duration_s: float = 0.0
    """how long injecting and judging took"""
    details: DroppedConnectionDetails | DurabilityDetails | None = None
    """the fault's own figures, for the faults that measure some"""


@dataclass(frozen=True)
class FaultsSection:
    """results.faults: the battery's outcomes; its gate passes when every injected fault was survived."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    injected: int
    """faults really injected"""
    survived: int
    """of which survived"""
    faults: list[FaultOutcome]
    """every fault of the battery, injected or not"""
