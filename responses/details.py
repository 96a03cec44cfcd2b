"""Finer complaint details inside a topic (late vs damaged delivery), by nearest example sentence."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from responses.phrasing import DETAILS

DETAILS_PATH = Path(__file__).parent / "details.yaml"


class _Embedder(Protocol):
    def embed(self, texts: list[str], kind: str = ...) -> np.ndarray: ...


class DetailDetector:
    """Picks the detail of a topic that an evidence sentence is closest to, or none when unsure."""

    def __init__(self, encoder: _Embedder, path: Path = DETAILS_PATH) -> None:
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.encoder = encoder
        self.threshold = float(data["threshold"])
        self.margin = float(data["margin"])
        self.examples: dict[str, list[str]] = data["details"]
        expected = {f"{t}.{d}" for t, ds in DETAILS.items() for d in ds}
        unknown = set(self.examples) - expected
        if unknown:
            raise ValueError(f"{path}: details: unknown keys {sorted(unknown)}")

    @cached_property
    def _matrix(self) -> tuple[list[str], np.ndarray]:
        keys = [k for k, phrases in self.examples.items() for _ in phrases]
        phrases = [p for ps in self.examples.values() for p in ps]
        return keys, self.encoder.embed(phrases)

    def scores(self, topic: str, sentences: list[str]) -> dict[str, float]:
        """Best cosine per detail of the topic over the sentences."""
        keys, matrix = self._matrix
        rows = [i for i, k in enumerate(keys) if k.startswith(topic + ".")]
        if not rows or not sentences:
            return {}
        sims = self.encoder.embed(sentences) @ matrix[rows].T
        best: dict[str, float] = {}
        for col, i in enumerate(rows):
            best[keys[i]] = max(best.get(keys[i], -1.0), float(sims[:, col].max()))
        return best

    def detect(self, topic: str, sentences: list[str]) -> str | None:
        """The detail key (``topic.detail``) the evidence names, or None."""
        ranked = sorted(self.scores(topic, sentences).items(), key=lambda kv: -kv[1])
        if not ranked or ranked[0][1] < self.threshold:
            return None
        if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < self.margin:
            return None
        return ranked[0][0]
