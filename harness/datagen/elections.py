"""Parties, candidates, elections, results and turnout: Dirichlet vote shares around regional swings.

Per election a national share vector drifts from the parties' long-run popularity; each region swings
from it (lognormal per party); each ward's shares are a Dirichlet draw around its region's mean over the
parties standing there; ballots are a bounded turnout of the registered electorate and votes a
multinomial split of the valid ballots, so votes never exceed ballots_cast and ballots never registered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from harness.datagen.geography import REGIONS, Geography
from harness.datagen.plan import Plan, stream
from harness.datagen.pools import Pools

PARTY_KEY, CANDIDATE_KEY, ELECTION_KEY, RESULT_KEY = 10, 11, 12, 13
WARD_CHUNK = 20_000  # wards per results batch: fixed, so batches (and their random streams) do not vary
# kind, mean turnout; the cycle repeats back in time from the profile's end date.
KIND_CYCLE = (("local", 0.36), ("general", 0.67), ("local", 0.35), ("by-election", 0.27),
              ("mayoral", 0.31), ("general", 0.64))
INDEPENDENT_SHARE = 0.03


@dataclass(frozen=True)
class Electoral:
    """Parties, candidate slots per ward, and the elections with their dates and kinds."""

    popularity: np.ndarray  # long-run share per party
    party_names: list[str]
    party_codes: list[str]
    colours: list[str]
    slot_party: np.ndarray  # (wards, slots): party index, -1 independent, -2 empty slot
    slot_candidate: np.ndarray  # (wards, slots): candidate id, 0 for an empty slot
    given: np.ndarray  # per candidate (id - 1): index into pools.given_names
    family: np.ndarray
    dates: list[date]
    kinds: list[str]
    turnout_mean: np.ndarray

    @property
    def candidates(self) -> int:
        return int(len(self.given))


def _thursday(d: date) -> date:
    return d - timedelta(days=(d.weekday() - 3) % 7)


def build(plan: Plan, pools: Pools, geo: Geography) -> Electoral:
    rng = stream(plan.seed, PARTY_KEY)
    p = plan.parties
    popularity = rng.dirichlet(10.0 * 0.62 ** np.arange(p) + 0.3)
    words = pools.words
    names, codes = [], []
    for i in range(p):
        w1, w2 = rng.choice(len(words), 2, replace=False).tolist()
        names.append(f"{words[w1].capitalize()} {words[w2].capitalize()} Party")
        codes.append(f"P{i + 1:02d}")
    colours = [f"#{c:06X}" for c in rng.integers(0, 0xFFFFFF, p).tolist()]

    crng = stream(plan.seed, CANDIDATE_KEY)
    n_w = geo.wards
    # The three biggest parties stand everywhere; smaller ones where they are strong enough.
    stand_prob = np.clip(0.25 + 4.0 * popularity, 0.0, 1.0)
    stand_prob[:3] = 1.0
    stands = crng.random((n_w, p)) < stand_prob
    independent = crng.random(n_w) < 0.3
    slots = p + 1
    slot_party = np.full((n_w, slots), -2, dtype=np.int64)
    slot_party[:, :p] = np.where(stands, np.arange(p), -2)
    slot_party[:, p] = np.where(independent, -1, -2)
    present = slot_party != -2
    slot_candidate = np.zeros((n_w, slots), dtype=np.int64)
    slot_candidate[present] = np.arange(1, int(present.sum()) + 1)  # row-major: ward by ward
    n_cand = int(present.sum())
    given = crng.integers(0, len(pools.given_names), n_cand)
    family = crng.integers(0, len(pools.family_names), n_cand)

    erng = stream(plan.seed, ELECTION_KEY)
    dates, kinds, means = [], [], []
    day = plan.end_date
    for i in range(plan.elections):
        kind, mean = KIND_CYCLE[i % len(KIND_CYCLE)]
        day = _thursday(day - timedelta(days=int(erng.integers(300, 520))) if i else day)
        dates.append(day)
        kinds.append(kind)
        means.append(mean)
    order = np.argsort(np.array(dates, dtype="datetime64[D]"))  # ids ascend with time
    return Electoral(popularity, names, codes, colours, slot_party, slot_candidate, given, family,
                     [dates[i] for i in order], [kinds[i] for i in order], np.array(means)[order])


def party_records(el: Electoral) -> Iterator[tuple[Any, ...]]:
    for i, name in enumerate(el.party_names):
        yield (i + 1, el.party_codes[i], name, el.colours[i])


def candidate_records(el: Electoral, pools: Pools) -> Iterator[tuple[Any, ...]]:
    wards, slots = np.nonzero(el.slot_candidate)
    for cid, (w, s) in enumerate(zip(wards.tolist(), slots.tolist(), strict=True), start=1):
        party = int(el.slot_party[w, s])
        yield (cid, party + 1 if party >= 0 else None, w + 1,
               pools.given_names[int(el.given[cid - 1])], pools.family_names[int(el.family[cid - 1])])


def election_records(el: Electoral) -> Iterator[tuple[Any, ...]]:
    for i, (day, kind) in enumerate(zip(el.dates, el.kinds, strict=True)):
        yield (i + 1, f"{kind.capitalize()} election {day:%Y-%m}", day, kind)


PARTY_COLUMNS = ("id", "code", "name", "colour")
CANDIDATE_COLUMNS = ("id", "party_id", "ward_id", "given_name", "family_name")
ELECTION_COLUMNS = ("id", "name", "election_date", "kind")


@dataclass(frozen=True)
class ElectionBatch:
    """One election over one chunk of wards: turnout rows and result rows."""

    turnout: dict[str, np.ndarray]
    results: dict[str, np.ndarray]


def _participating(plan: Plan, kind: str, e: int, n_w: int) -> np.ndarray:
    """By-elections happen in a few wards; every other kind covers all of them."""
    if kind != "by-election":
        return np.ones(n_w, dtype=bool)
    return stream(plan.seed, ELECTION_KEY, e).random(n_w) < 0.04


def election_batches(plan: Plan, geo: Geography, el: Electoral, with_results: bool = True) -> Iterator[ElectionBatch]:
    """Batches in id order; result ids continue across batches from a precomputed offset.

    Without results, each batch stops after the turnout draws (its own stream draws them first, so the
    turnout is the same) and carries no results.
    """
    n_w = geo.wards
    present = el.slot_party != -2
    per_ward = present.sum(axis=1)
    next_id = 1
    swing_rng = stream(plan.seed, RESULT_KEY)
    ward_effect = swing_rng.normal(0.0, 0.05, n_w)  # persistent: some wards always vote more
    years = np.array([(d - el.dates[0]).days / 365.25 for d in el.dates])
    for e, (kind, mean) in enumerate(zip(el.kinds, el.turnout_mean, strict=True)):
        erng = stream(plan.seed, RESULT_KEY, e)
        national = erng.dirichlet(200.0 * el.popularity)
        swing = np.exp(erng.normal(0.0, 0.25, (len(REGIONS), len(national))))
        regional = national * swing
        regional /= regional.sum(axis=1, keepdims=True)
        election_day_effect = erng.normal(0.0, 0.03)
        participating = _participating(plan, kind, e, n_w)
        for chunk, start in enumerate(range(0, n_w, WARD_CHUNK)):
            rng = stream(plan.seed, RESULT_KEY, e, chunk)
            idx = np.arange(start, min(start + WARD_CHUNK, n_w))
            idx = idx[participating[idx]]
            m = len(idx)
            if m == 0:
                continue
            growth = 1.0 + 0.008 * years[e]
            registered = np.floor(geo.electorate[idx] * growth * rng.uniform(0.98, 1.02, m)).astype(np.int64)
            rate = np.clip(mean + election_day_effect + ward_effect[idx] + rng.normal(0, 0.03, m), 0.08, 0.93)
            ballots = np.floor(registered * rate).astype(np.int64)
            turnout = {"election_id": np.full(m, e + 1, dtype=np.int64), "ward_id": idx + 1,
                       "registered": registered, "ballots_cast": ballots}
            if not with_results:
                yield ElectionBatch(turnout, {})
                continue
            rejected = rng.binomial(ballots, 0.004)
            # Dirichlet around the regional mean over the parties standing; independents get a small mean.
            sp = el.slot_party[idx]
            mean_share = np.where(sp >= 0, regional[geo.ward_region[idx]][np.arange(m)[:, None],
                                                                          np.maximum(sp, 0)], 0.0)
            mean_share = np.where(sp == -1, INDEPENDENT_SHARE, mean_share)
            mean_share /= mean_share.sum(axis=1, keepdims=True)
            gamma = np.where(sp != -2, rng.gamma(np.maximum(60.0 * mean_share, 1e-9)), 0.0)
            shares = gamma / gamma.sum(axis=1, keepdims=True)
            votes = rng.multinomial(ballots - rejected, shares)
            mask = present[idx]
            n_rows = int(per_ward[idx].sum())
            results = {
                "id": np.arange(next_id, next_id + n_rows, dtype=np.int64),
                "election_id": np.full(n_rows, e + 1, dtype=np.int64),
                "ward_id": np.repeat(idx + 1, per_ward[idx]),
                "candidate_id": el.slot_candidate[idx][mask],
                "votes": votes[mask],
            }
            next_id += n_rows
            yield ElectionBatch(turnout, results)
