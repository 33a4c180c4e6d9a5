"""Synthetic production-shaped data: domain generators streamed into the head schema by binary COPY."""

from harness.datagen.loader import load_dataset
from harness.datagen.stage import generate

__all__ = ["generate", "load_dataset"]
