"""Cached sentiment features for every language and split (embedded once, see models/embedding_cache.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.datasets import (
    LANGS,
    SPLITS,
    LabelledText,
    absa_to_labelled,
    load_polemo_sentences,
    load_semeval_2014,
    load_semeval_hotels,
    load_sentiment,
)
from models.embedding_cache import LayerPooler

MAX_LENGTH = 256  # tokens; PolEmo reviews are truncated here for CPU speed (sentences are far shorter)


@dataclass
class FeatureSet:
    """Labelled rows (mixed included) and their layer features (n, layers, 384)."""

    rows: list[LabelledText]
    features: np.ndarray


_POOLER: LayerPooler | None = None


def pooler() -> LayerPooler:
    """The shared layer pooler (loaded once per process)."""
    global _POOLER
    if _POOLER is None:
        _POOLER = LayerPooler(max_length=MAX_LENGTH)
    return _POOLER


def rows_for(name: str, split: str, data: Path | str | None = None) -> list[LabelledText]:
    """Rows of a named set: a language (``en``..``he``), ``en2014`` (train only) or ``en_hotels`` (test only)."""
    if name == "en2014":
        return absa_to_labelled(load_semeval_2014(data), include_mixed=True)
    if name == "pl_sentences":
        return load_polemo_sentences(data)
    if name == "en_hotels":
        return absa_to_labelled(load_semeval_hotels(data), domain="hotels", include_mixed=True)
    return load_sentiment(name, split, data, include_mixed=True)  # type: ignore[arg-type]


def feature_set(name: str, split: str, data: Path | str | None = None) -> FeatureSet:
    """Rows and cached features for one set and split."""
    rows = rows_for(name, split, data)
    return FeatureSet(rows, pooler().cached([r.text for r in rows]))


def all_sets() -> list[tuple[str, str]]:
    """Every (set, split) pair used by training and evaluation."""
    extra = [("en2014", "train"), ("en_hotels", "test"), ("pl_sentences", "train")]
    return [(lang, split) for lang in LANGS for split in SPLITS] + extra


if __name__ == "__main__":
    import sys
    import time

    wanted = set(sys.argv[1:])
    for set_name, split_name in all_sets():
        if wanted and set_name not in wanted:
            continue
        t0 = time.time()
        fs = feature_set(set_name, split_name)
        print(set_name, split_name, fs.features.shape, f"{time.time() - t0:.0f}s", flush=True)
