"""Faker pools: names, places and texts built once per run (seeded, locale configurable), drawn by NumPy."""

from __future__ import annotations

from dataclasses import dataclass

from faker import Faker

from harness.datagen.copy import FieldPool

# Local-politics topics posts and reports are about; each topic is one embedding cluster.
TOPICS = ("housing", "transport", "schools", "health", "crime", "planning", "environment", "parks",
          "bins and recycling", "council tax", "roads", "libraries", "social care", "local business",
          "events", "flooding", "parking", "youth services", "elections", "licensing", "heritage",
          "cycling", "air quality", "broadband")


@dataclass(frozen=True)
class Pools:
    """Everything text-like a run draws from; sizes are fixed so memory does not grow with scale."""

    given_names: list[str]
    family_names: list[str]
    places: list[str]
    words: list[str]
    per_topic: int  # texts per topic in each flat pool below: topic t owns [t * per_topic, (t + 1) * per_topic)
    titles: FieldPool
    bodies: FieldPool
    report_titles: FieldPool
    report_bodies: FieldPool
    topics: FieldPool


def _single_word(text: str) -> str:
    """Family names must hold no space (the schema's name-split CHECK): join compound ones with '-'."""
    return "-".join(text.split())


def build_pools(seed: int, locale: str = "en_GB", per_topic: int = 200, names: int = 2000) -> Pools:
    """Seeded Faker pools; the same seed and locale give the same pools on any machine with this Faker."""
    fake = Faker(locale)
    fake.seed_instance(seed)
    given = [fake.first_name() for _ in range(names)]
    family = [_single_word(fake.last_name()) for _ in range(names)]
    places = sorted({fake.city() for _ in range(names)} | {fake.street_name() for _ in range(names)})
    words = [fake.word() for _ in range(500)]
    titles: list[str] = []
    bodies: list[str] = []
    rtitles: list[str] = []
    rbodies: list[str] = []
    for topic in TOPICS:
        label = topic.capitalize()
        for _ in range(per_topic):
            titles.append(f"{label}: {fake.sentence(nb_words=8).rstrip('.')}")
            bodies.append(f"{fake.paragraph(nb_sentences=4)} ({topic}) {fake.paragraph(nb_sentences=3)}")
            rtitles.append(f"{label} briefing: {fake.catch_phrase()}")
            rbodies.append(f"Summary on {topic}. " + " ".join(fake.paragraphs(nb=3)))
    return Pools(given, family, places, words, per_topic, FieldPool.text(titles), FieldPool.text(bodies),
                 FieldPool.text(rtitles), FieldPool.text(rbodies), FieldPool.text(list(TOPICS)))
