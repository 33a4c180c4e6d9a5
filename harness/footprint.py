"""Will the dataset fit? An estimate from measured sizes, checked before any server starts.

A scale factor nothing here could hold used to fail minutes later ("Unable to allocate 447 GiB", or a full
disk mid-load); refusing it needs only the plan's row counts and these per-row figures.
Measured on a ci-profile database at scale 0.25 (15,000 posts, PostgreSQL 18, HNSW and B-tree indexes built):
101 MB in all, of which posts with their embedding, sentiment and audit rows ~5.3 kB per post, AI reports
~4.5 kB each, ward-level election rows ~3.7 kB per ward, ~8 MB for an empty database at head. The generator's
own memory grew by ~25 bytes per post and ~600 bytes per ward between scale 0.5 and 2 (tracemalloc).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from harness.datagen.plan import make_plan
from harness.errors import UsageError

DISK_PER_POST, DISK_PER_REPORT, DISK_PER_WARD, DISK_BASE = 5_300, 4_500, 3_700, 8 * 2**20
MEMORY_PER_POST, MEMORY_PER_WARD = 25, 600


def estimate(profile: dict[str, Any], scale: float) -> tuple[int, int]:
    """(bytes on the server's disk, bytes of generator memory) for the profile at `scale`."""
    plan = make_plan(profile, scale, 0)
    reports = plan.reports_per_month * plan.months_of_reports
    disk = plan.posts * DISK_PER_POST + reports * DISK_PER_REPORT + plan.wards * DISK_PER_WARD + DISK_BASE
    return disk, plan.posts * MEMORY_PER_POST + plan.wards * MEMORY_PER_WARD


def available_memory() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def _free_disk(path: Path) -> int:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_fits(profile: dict[str, Any], scale: float, data_dir: Path | None, what: str) -> None:
    """Refuse `scale` (asked for by `what`, e.g. "--scale-factor 1e+09") when the estimated dataset exceeds the
    free disk under `data_dir` (the embedded server's home; None when the server's disk is not visible from
    here) or the generator's memory exceeds what is available."""
    disk, memory = estimate(profile, scale)
    if data_dir is not None and disk > (free := _free_disk(data_dir)):
        raise UsageError(f"{what}: the dataset would take about {_gib(disk)} on disk and {data_dir} has "
                         f"{_gib(free)} free: lower the scale factor, or point WARDBENCH_HOME at a larger disk")
    if (avail := available_memory()) is not None and memory > avail:
        raise UsageError(f"{what}: generating it would need about {_gib(memory)} of memory and "
                         f"{_gib(avail)} is available: lower the scale factor")
