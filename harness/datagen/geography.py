"""Constituencies and wards: heavy-tailed populations and electorates, regions that later swing votes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from harness.datagen.plan import Plan, stream
from harness.datagen.pools import Pools

REGIONS = ("North East", "North West", "Yorkshire", "East Midlands", "West Midlands", "East",
           "London", "South East", "South West", "Wales", "Scotland", "Northern Ireland")
_SUFFIXES = ("", " North", " South", " East", " West", " Central", " and District", " Rural")
GEO_KEY = 1


@dataclass(frozen=True)
class Geography:
    """Ward-level arrays (index i is ward id i + 1) that the other domains draw from."""

    constituency_region: np.ndarray  # region index per constituency
    ward_constituency: np.ndarray  # constituency index per ward
    ward_region: np.ndarray
    population: np.ndarray
    electorate: np.ndarray
    area_km2: np.ndarray
    constituency_names: list[str]
    ward_names: list[str]

    @property
    def wards(self) -> int:
        return len(self.population)


def build(plan: Plan, pools: Pools) -> Geography:
    """Populations are lognormal times a Pareto factor: most wards are ordinary, a few are huge."""
    rng = stream(plan.seed, GEO_KEY)
    n_c, n_w = plan.constituencies, plan.wards
    region = rng.integers(0, len(REGIONS), n_c)
    ward_const = np.repeat(np.arange(n_c), plan.wards_per_constituency)
    base = rng.lognormal(mean=np.log(5500), sigma=0.45, size=n_w)
    tail = 1.0 + 0.6 * rng.pareto(1.6, size=n_w)
    population = np.clip(np.round(base * tail), 300, 400_000).astype(np.int64)
    electorate = np.floor(population * rng.uniform(0.66, 0.82, n_w)).astype(np.int64)
    area = np.round(np.clip(rng.lognormal(np.log(4.0), 1.1, n_w), 0.05, 5000.0), 3)
    places = pools.places
    cnames = [places[i] + _SUFFIXES[j] for i, j in zip(rng.integers(0, len(places), n_c).tolist(),
                                                         rng.integers(0, len(_SUFFIXES), n_c).tolist(),
                                                         strict=True)]
    wnames = [places[i] + _SUFFIXES[j] for i, j in zip(rng.integers(0, len(places), n_w).tolist(),
                                                         rng.integers(0, len(_SUFFIXES), n_w).tolist(),
                                                         strict=True)]
    return Geography(region, ward_const, region[ward_const], population, electorate, area, cnames, wnames)


def constituency_records(geo: Geography) -> Iterator[tuple[Any, ...]]:
    for i, name in enumerate(geo.constituency_names):
        yield (i + 1, f"C{i + 1:05d}", name, REGIONS[int(geo.constituency_region[i])])


def ward_records(geo: Geography) -> Iterator[tuple[Any, ...]]:
    for i in range(geo.wards):
        yield (i + 1, int(geo.ward_constituency[i]) + 1, f"W{i + 1:07d}", geo.ward_names[i],
               int(geo.population[i]), int(geo.electorate[i]), Decimal(f"{geo.area_km2[i]:.3f}"))


CONSTITUENCY_COLUMNS = ("id", "code", "name", "region")
WARD_COLUMNS = ("id", "constituency_id", "code", "name", "population", "electorate", "area_km2")
