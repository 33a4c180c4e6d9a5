"""Benchmark fixtures: an empty database at the reference head, and the scale the ci profile is run at."""

from __future__ import annotations

import os

import pytest

from harness import alembic_project
from harness.db import Database


@pytest.fixture
def bench_scale() -> float:
    """WARDBENCH_BENCH_SCALE multiplies the ci profile (default 1)."""
    return float(os.environ.get("WARDBENCH_BENCH_SCALE", "1"))


@pytest.fixture
def head_db(fresh_db: Database) -> Database:
    """A database of its own, migrated to head and empty (fresh_db drops it afterwards)."""
    alembic_project.upgrade(fresh_db, "head")
    return fresh_db
