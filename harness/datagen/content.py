"""Content sources, posts, sentiment and post embeddings: skewed per ward, with daily and weekly rhythm.

Post attributes for a batch are a pure function of (seed, batch number), so the posts, sentiment and
embedding tables are each streamed in their own COPY without holding the posts in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from harness.datagen.copy import ColumnData, FieldPool, Pooled
from harness.datagen.embeddings import Embedder
from harness.datagen.geography import Geography
from harness.datagen.plan import Plan, micros, stream
from harness.datagen.pools import TOPICS, Pools

SOURCE_KEY, ACTIVITY_KEY, POST_KEY, EMBED_KEY, TIME_KEY = 20, 21, 22, 23, 24
POST_BATCH = 25_000  # fixed: the batch number keys the random stream
SOURCE_KINDS = ("news", "social", "forum", "blog", "official")
SOURCE_KIND_WEIGHTS = (0.25, 0.4, 0.15, 0.12, 0.08)
# Posting rhythm: hours (UTC) and weekdays (Monday first).
HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 4, 7, 9, 8, 7, 7, 8, 7, 6, 6, 7, 8, 9, 10, 10, 9, 6, 4], float)
WEEKDAY_WEIGHTS = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])
SENTIMENT_MODELS = ("sentiment-roberta-v1", "sentiment-roberta-v2")


@dataclass(frozen=True)
class Activity:
    """Who posts where and about what: per-ward weights, topic preferences and sentiment leanings."""

    ward_weight: np.ndarray  # probability per ward (heavy-tailed: a few wards are very busy)
    topic_cdf: np.ndarray  # (wards, topics) cumulative topic preference
    ward_mood: np.ndarray  # sentiment bias per ward
    topic_mood: np.ndarray  # sentiment bias per topic
    source_weight: np.ndarray
    day_weight: np.ndarray  # probability per day of the window
    source_kind: np.ndarray
    source_names: list[str]


def build(plan: Plan, pools: Pools, geo: Geography) -> Activity:
    rng = stream(plan.seed, ACTIVITY_KEY)
    n_w = geo.wards
    weight = rng.lognormal(0.0, 1.6, n_w) * np.sqrt(geo.population / geo.population.mean())
    topic_pref = rng.dirichlet(np.full(len(TOPICS), 0.6), n_w)
    days = np.arange(plan.window_days)
    start = plan.end_date - timedelta(days=plan.window_days)
    weekday = (start.weekday() + days) % 7
    day_weight = WEEKDAY_WEIGHTS[weekday] * (1.0 + 0.5 * days / plan.window_days)  # growing platform
    srng = stream(plan.seed, SOURCE_KEY)
    n_s = plan.content_sources
    kinds = srng.choice(len(SOURCE_KINDS), n_s, p=SOURCE_KIND_WEIGHTS)
    places = srng.integers(0, len(pools.places), n_s)
    names = [f"{pools.places[p]} {SOURCE_KINDS[k].capitalize()}" for p, k in
             zip(places.tolist(), kinds.tolist(), strict=True)]
    source_weight = 1.0 / np.arange(1, n_s + 1) ** 0.9
    srng.shuffle(source_weight)
    return Activity(weight / weight.sum(), np.cumsum(topic_pref, axis=1), rng.normal(0.0, 0.35, n_w),
                    rng.normal(0.0, 0.4, len(TOPICS)), source_weight / source_weight.sum(),
                    day_weight / day_weight.sum(), kinds, names)


def source_records(act: Activity) -> Iterator[tuple[Any, ...]]:
    for i, name in enumerate(act.source_names):
        slug = "-".join(name.lower().split())
        yield (i + 1, SOURCE_KINDS[int(act.source_kind[i])], name, f"https://{slug}.example.org/s/{i + 1}")


SOURCE_COLUMNS = ("id", "kind", "name", "url")


def draw_topics(act: Activity, wards: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A topic per row from its ward's preference (inverse CDF, vectorized)."""
    u = rng.random(len(wards))[:, None]
    topics: np.ndarray = np.minimum((act.topic_cdf[wards] < u).sum(axis=1), len(TOPICS) - 1)
    return topics


def draw_times(plan: Plan, day_weight: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unix microseconds: a weighted day of the window, a weighted hour, a uniform second."""
    start = micros(plan.end_date) - plan.window_days * 86_400_000_000
    day = rng.choice(len(day_weight), n, p=day_weight)
    hour = rng.choice(24, n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    within = rng.integers(0, 3_600_000_000, n)
    return start + day * 86_400_000_000 + hour * 3_600_000_000 + within


@dataclass(frozen=True)
class PostBatch:
    ids: np.ndarray
    ward: np.ndarray  # index (id - 1)
    source: np.ndarray
    topic: np.ndarray
    published: np.ndarray  # unix microseconds
    title: np.ndarray
    body: np.ndarray
    score: np.ndarray
    scored_lag: np.ndarray  # microseconds after publication


def post_batches(plan: Plan, act: Activity, pools: Pools) -> Iterator[PostBatch]:
    """Posts in id order. Ids follow publication time, as a platform assigns them on ingestion: every time is
    drawn first (one seeded stream) and sorted, so a day's or a week's posts lie together in the heap, as they
    do in production, instead of being scattered over the whole table."""
    times = np.sort(draw_times(plan, act.day_weight, plan.posts, stream(plan.seed, TIME_KEY)))
    for b, start in enumerate(range(0, plan.posts, POST_BATCH)):
        n = min(POST_BATCH, plan.posts - start)
        rng = stream(plan.seed, POST_KEY, b)
        ward = rng.choice(len(act.ward_weight), n, p=act.ward_weight)
        source = rng.choice(len(act.source_weight), n, p=act.source_weight)
        topic = draw_topics(act, ward, rng)
        published = times[start:start + n]
        title = topic * pools.per_topic + rng.integers(0, pools.per_topic, n)
        body = topic * pools.per_topic + rng.integers(0, pools.per_topic, n)
        mood = act.ward_mood[ward] + act.topic_mood[topic] + rng.normal(0.0, 0.45, n)
        score = np.round(np.tanh(mood), 4).astype(np.float32)
        lag = np.round(rng.exponential(1800.0, n) * 1_000_000).astype(np.int64) + 1_000_000
        yield PostBatch(np.arange(start + 1, start + n + 1, dtype=np.int64), ward, source, topic,
                        published, title, body, score, lag)


def post_rows(batch: PostBatch, pools: Pools) -> dict[str, ColumnData]:
    return {"id": batch.ids, "source_id": batch.source + 1, "ward_id": batch.ward + 1,
            "published_at": batch.published.astype("datetime64[us]"),
            "title": Pooled(pools.titles, batch.title), "body": Pooled(pools.bodies, batch.body),
            "topic": Pooled(pools.topics, batch.topic)}


_MODEL_POOL = FieldPool.text(list(SENTIMENT_MODELS))


def sentiment_rows(plan: Plan, batch: PostBatch) -> dict[str, ColumnData]:
    """Scores were re-run with the v2 model for the last third of the window: two models in the data."""
    cutoff = micros(plan.end_date) - plan.window_days * 86_400_000_000 // 3
    scored = batch.published + batch.scored_lag
    return {"post_id": batch.ids, "score": batch.score, "scored_at": scored.astype("datetime64[us]"),
            "model": Pooled(_MODEL_POOL, (batch.published >= cutoff).astype(np.int64))}


def embedding_rows(plan: Plan, batch: PostBatch, embedder: Embedder, b: int) -> dict[str, ColumnData]:
    """Each post's vector with the copies revision 014's trigger keeps of its ward, time and score (the loader
    writes them itself, the trigger off for the load; every post has a score)."""
    vectors = embedder.vectors(batch.topic, batch.title, batch.body, stream(plan.seed, EMBED_KEY, b))
    return {"post_id": batch.ids, "embedding": vectors, "ward_id": batch.ward + 1,
            "published_at": batch.published.astype("datetime64[us]"), "sentiment_score": batch.score}
