"""A profile's table of sizes turned into validated row counts, and the per-stream random generators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from harness.errors import UsageError

# Keys a scale factor multiplies; the others describe structure (parties, elections, months) and stay put.
SCALED = ("constituencies", "posts", "content_sources", "reports_per_month")
REQUIRED = ("constituencies", "wards_per_constituency", "parties", "elections", "posts", "content_sources",
            "months_of_reports", "reports_per_month", "ai_models", "experiments")
EMBEDDINGS = ("synthetic", "model")
REPORTS_PER_MONTH_RANGE = (1000, 5000)  # the product's stated AI report volume at scale 1


@dataclass(frozen=True)
class Plan:
    """Row counts and shape knobs for one generation."""

    seed: int
    scale: float
    constituencies: int
    wards_per_constituency: int
    parties: int
    elections: int
    posts: int
    content_sources: int
    months_of_reports: int
    reports_per_month: int
    ai_models: int
    experiments: int
    end_date: date
    window_days: int
    locale: str
    embeddings: str  # "synthetic" (clustered, fast) or "model" (the optional packaged sentence model)

    @property
    def wards(self) -> int:
        return self.constituencies * self.wards_per_constituency


def make_plan(profile: dict[str, Any], scale: float, seed: int) -> Plan:
    """Validate a profile table and apply the scale factor; bad values are UsageErrors."""
    if not isinstance(scale, int | float) or not scale > 0:
        raise UsageError(f"bad scale factor {scale}: must be greater than zero")
    missing = [k for k in REQUIRED if k not in profile]
    if missing:
        raise UsageError(f"profile lacks {', '.join(missing)}: add them to its table in profiles.toml")
    sizes: dict[str, int] = {}
    for key in REQUIRED:
        value = profile[key]
        if not isinstance(value, int) or value < 1:
            raise UsageError(f"profile value {key} = {value!r} must be a positive integer")
        sizes[key] = max(1, round(value * scale)) if key in SCALED else value
    low, high = REPORTS_PER_MONTH_RANGE
    if not low <= profile["reports_per_month"] <= high:
        raise UsageError(f"reports_per_month = {profile['reports_per_month']} is outside the product's "
                         f"{low}-{high} per month")
    if sizes["parties"] < 3:
        raise UsageError("a profile needs at least 3 parties")
    try:
        end = date.fromisoformat(str(profile.get("end_date", "2026-06-30")))
    except ValueError as exc:
        raise UsageError(f"profile end_date: {exc}") from exc
    window = int(profile.get("window_days", 365))
    if not 7 <= window <= 3650:
        raise UsageError(f"window_days = {window} must be between 7 and 3650")
    embeddings = str(profile.get("embeddings", "synthetic"))
    if embeddings not in EMBEDDINGS:
        raise UsageError(f"unknown embeddings {embeddings!r}: choose {' or '.join(EMBEDDINGS)}")
    return Plan(seed=seed, scale=float(scale), end_date=end, window_days=window,
                locale=str(profile.get("locale", "en_GB")), embeddings=embeddings, **sizes)


def stream(seed: int, *key: int) -> np.random.Generator:
    """An independent generator per (table, batch): results do not depend on batch order or memory."""
    return np.random.default_rng([seed, *key])


def micros(d: date) -> int:
    """Unix microseconds of midnight UTC on `d`."""
    return int((d - date(1970, 1, 1)).days) * 86_400_000_000
