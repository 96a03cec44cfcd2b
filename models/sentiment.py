"""3-class sentiment (negative / neutral / positive) with probabilities and a 1-5 star estimate.

A small head (logistic regression or one-hidden-layer MLP, weights in ``models/artifacts/sentiment/head.npz``)
over the L2-normalised multilingual-e5-small passage embedding; ``config.json`` beside it holds the encoder id,
label order, per-language logit offsets tuned on dev splits, optional per-language heads (``lang_heads``; arrays
prefixed ``<lang>__`` in the same npz) and the star anchors. Where the texts are passed too and their language
has one, a word and character n-gram model (``models/lexical.py``, ``lexical.npz``) adds its weighted log
probabilities to the head's logits; the offsets were tuned for that sum (``lang_offsets``), and the head alone
uses its own (``head_offsets``). The same call serves whole reviews and single sentences: pass whichever
embeddings you have, with their language codes and texts. Reproduce with
``python -m models.train_sentiment --data ../shared/data``. No pickle anywhere.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from models.lexical import LexicalModels

ARTIFACT_DIR = Path(__file__).parent / "artifacts" / "sentiment"


@functools.cache
def low_confidence_languages() -> dict[str, str]:
    """Languages whose complaints the shipped model often reads as praise, with the measured reason.

    Written by the training command (``low_confidence`` in ``config.json``) from the team-written
    customer-service reviews: a language whose negative recall there is under 0.75. The reply composer does not
    trust a positive reading in these languages (``responses.compose.build_plan``).
    """
    config = json.loads((ARTIFACT_DIR / "config.json").read_text(encoding="utf-8"))
    return {lang: str(reason) for lang, reason in config.get("low_confidence", {}).items()}


# A review read with less than this probability for its label, and without stars to settle it, is "uncertain": its
# reply is flagged for the approver instead of thanking or apologising silently (issue 20, item 5). Chosen on dev
# (models/MODEL_CARD.md, "Saying when unsure").
UNCERTAIN_BELOW = 0.6


def reading_confidence(label: str | None, scores: dict[str, float] | None) -> float | None:
    """How sure the reading is: the probability of its label (None without a reading)."""
    if not label or not scores or label not in scores:
        return None
    return round(float(scores[label]), 4)


def uncertain_reading(label: str | None, scores: dict[str, float] | None, rating: float | None) -> str | None:
    """Why a review's reading cannot be trusted on its own (no stars, low confidence), else None."""
    confidence = reading_confidence(label, scores)
    if rating is not None or confidence is None or confidence >= UNCERTAIN_BELOW:
        return None
    ranked = sorted((scores or {}).items(), key=lambda kv: -kv[1])
    second = next((k for k, _ in ranked if k != label), None)
    return (f"no stars, and the text reads {label} with only {confidence:.2f}"
            + (f" ({second} {float((scores or {})[second]):.2f})" if second else "")
            + ": check whether the reviewer praises or complains")


@dataclass(frozen=True)
class SentimentResult:
    """One prediction: label, probability per label, and a 1-5 star estimate."""

    label: str
    scores: dict[str, float]
    stars: float


@dataclass
class SentimentHead:
    """Weights of the head: ``layers`` is a list of (W, b); ReLU between layers, softmax at the end."""

    layers: list[tuple[np.ndarray, np.ndarray]]
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Raw class scores for a feature matrix (n, d)."""
        h = np.asarray(x, dtype=np.float32)
        if self.mean is not None and self.scale is not None:
            h = (h - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat arrays for ``np.savez``."""
        arrays: dict[str, np.ndarray] = {}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"W{i}"] = w.astype(np.float32)
            arrays[f"b{i}"] = b.astype(np.float32)
        if self.mean is not None and self.scale is not None:
            arrays["mean"] = self.mean.astype(np.float32)
            arrays["scale"] = self.scale.astype(np.float32)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str = "") -> SentimentHead:
        """Inverse of :meth:`to_arrays` (``prefix`` selects a per-language head)."""
        layers = []
        i = 0
        while f"{prefix}W{i}" in arrays:
            layers.append((np.asarray(arrays[f"{prefix}W{i}"]), np.asarray(arrays[f"{prefix}b{i}"])))
            i += 1
        mean = np.asarray(arrays[f"{prefix}mean"]) if f"{prefix}mean" in arrays else None
        scale = np.asarray(arrays[f"{prefix}scale"]) if f"{prefix}scale" in arrays else None
        return cls(layers, mean, scale)


def pool_sentences(vectors: np.ndarray, lengths: Any) -> np.ndarray:
    """A text's sentiment input: its sentence vectors' mean weighted by sentence length, L2-normalised.

    The head reads reviews this way (``sentiment-2``): the analysis embeds every sentence anyway (topics and
    severity need them), so a review costs no second encoder pass over its whole text. A one-sentence text is
    its own sentence's vector.
    """
    v = np.asarray(vectors, dtype=np.float32)
    w = np.maximum(np.asarray(lengths, dtype=np.float32), 1.0)
    pooled = (v * w[:, None]).sum(axis=0)
    return pooled / max(float(np.linalg.norm(pooled)), 1e-12)


REVIEW_HEAD_FILE = "review_head.json"


def review_features(review_probs: np.ndarray, sentence_probs: np.ndarray, lengths: Any) -> np.ndarray:
    """What the review head reads of one review: the pooled reading (log-probabilities), its sentences' readings
    averaged by length, their strongest reading per class, the length shares of sentences read negative and
    positive, and the log of the sentence count. The pooled vector alone drowns a few complaints in a long account
    (Russian restaurant reviews with more complaints than praise were read positive)."""
    p = np.asarray(sentence_probs, dtype=np.float64)
    w = np.maximum(np.asarray(lengths, dtype=np.float64), 1.0)
    w = w / w.sum()
    label = p.argmax(axis=1)
    return np.concatenate([np.log(np.asarray(review_probs, dtype=np.float64) + 1e-6), w @ p, p.max(axis=0),
                           [float(w[label == 0].sum()), float(w[label == 2].sum()), float(np.log(len(p)))]])


@dataclass(frozen=True)
class ReviewHead:
    """A multinomial logistic regression over :func:`review_features`, for texts of ``min_sentences`` or more
    (``models/artifacts/sentiment/review_head.json``, written by ``python -m models.train_review_head``)."""

    coef: np.ndarray
    intercept: np.ndarray
    min_sentences: int
    version: str

    @classmethod
    def load(cls, path: Path) -> ReviewHead | None:
        """The head in ``path``, or None when there is none."""
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(np.asarray(data["coef"], dtype=np.float64), np.asarray(data["intercept"], dtype=np.float64),
                   int(data["min_sentences"]), str(data["version"]))

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 3) for a feature matrix."""
        return softmax(np.atleast_2d(features) @ self.coef.T + self.intercept)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class SentimentModel:
    """A loaded sentiment head plus its configuration."""

    head: SentimentHead
    config: dict[str, Any] = field(default_factory=dict)
    lang_heads: dict[str, SentimentHead] = field(default_factory=dict)
    lexical: LexicalModels | None = None
    review_head: ReviewHead | None = None

    @property
    def labels(self) -> list[str]:
        """Label order of the head's outputs."""
        return list(self.config.get("labels", ["negative", "neutral", "positive"]))

    @property
    def encoder_id(self) -> str:
        """The encoder whose embeddings the head expects."""
        return str(self.config.get("encoder_id", ""))

    @property
    def version(self) -> str:
        """Model version (goes into stored analyses)."""
        base = str(self.config.get("version", "0"))
        return f"{base}+{self.review_head.version}" if self.review_head is not None else base

    @classmethod
    def load(cls, path: Path | str | None = None) -> SentimentModel:
        """Load ``head.npz`` and ``config.json`` from a directory (default: the committed artifact)."""
        root = Path(path) if path is not None else ARTIFACT_DIR
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
        with np.load(root / "head.npz", allow_pickle=False) as arrays:
            head = SentimentHead.from_arrays(arrays)
            lang_heads = {lang: SentimentHead.from_arrays(arrays, f"{lang}__") for lang in config.get("lang_heads", [])}
        lexical = None
        if config.get("lexical_weight") and (root / "lexical.npz").exists():
            from models.lexical import LexicalModels

            lexical = LexicalModels.load(root / "lexical.npz")
        return cls(head, config, lang_heads, lexical, ReviewHead.load(root / REVIEW_HEAD_FILE))

    def save(self, path: Path | str | None = None) -> Path:
        """Write ``head.npz``, ``config.json`` and, with n-gram models, ``lexical.npz``."""
        root = Path(path) if path is not None else ARTIFACT_DIR
        root.mkdir(parents=True, exist_ok=True)
        arrays = self.head.to_arrays()
        for lang, head in self.lang_heads.items():
            arrays |= {f"{lang}__{key}": value for key, value in head.to_arrays().items()}
        self.config["lang_heads"] = sorted(self.lang_heads)
        np.savez_compressed(root / "head.npz", **arrays)
        if self.lexical is not None:
            self.lexical.save(root / "lexical.npz")
        (root / "config.json").write_text(json.dumps(self.config, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
        return root

    def probabilities(self, embeddings: np.ndarray, langs: list[str | None] | str | None = None,
                      texts: list[str] | None = None) -> np.ndarray:
        """Class probabilities (n, 3) in :attr:`labels` order, with per-language offsets where the language is known.

        ``texts`` (the texts the embeddings were made from) let the language's n-gram model join in.
        """
        x = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.maximum(norms, 1e-12)
        z = self.head.logits(x)
        offsets: dict[str, list[float]] = self.config.get("lang_offsets", {})
        default = np.asarray(offsets.get("default", [0.0] * z.shape[1]), dtype=np.float32)
        lang_list = [langs] * len(x) if langs is None or isinstance(langs, str) else list(langs)
        if len(lang_list) != len(x):
            raise ValueError(f"{len(lang_list)} languages for {len(x)} embeddings")
        for lang, head in self.lang_heads.items():
            rows = [k for k, g in enumerate(lang_list) if g == lang]
            if rows:
                z[rows] = head.logits(x[rows])
        combined = np.zeros(len(x), dtype=bool)
        if texts is not None and self.lexical is not None and len(x):
            if len(texts) != len(x):
                raise ValueError(f"{len(texts)} texts for {len(x)} embeddings")
            lex, combined = self.lexical.log_proba(list(texts), lang_list)
            z[combined] += float(self.config.get("lexical_weight", 0.0)) * lex[combined]
        # The offsets were tuned for the logits they are added to: the sum where the n-gram model joined in,
        # the head alone elsewhere.
        head_offsets: dict[str, list[float]] = self.config.get("head_offsets", offsets)
        bias = np.stack([
            np.asarray((offsets if c else head_offsets).get(lang or "", default), dtype=np.float32)
            for lang, c in zip(lang_list, combined, strict=True)
        ]) if len(x) else np.zeros((0, z.shape[1]), dtype=np.float32)
        return softmax(z + bias)

    def stars(self, probs: np.ndarray) -> np.ndarray:
        """Expected star rating: probabilities times the per-class star anchors, clipped to [1, 5]."""
        anchors = np.asarray(self.config.get("star_anchors", [1.0, 3.0, 5.0]), dtype=np.float32)
        return np.clip(probs @ anchors, 1.0, 5.0)

    def predict(self, embeddings: np.ndarray, langs: list[str | None] | str | None = None,
                texts: list[str] | None = None) -> list[SentimentResult]:
        """One :class:`SentimentResult` per embedding row (see :meth:`probabilities` for ``texts``)."""
        return self.results(self.probabilities(embeddings, langs, texts))

    def review_probabilities(self, review_probs: np.ndarray, sentence_probs: list[np.ndarray],
                             sentence_lengths: list[list[int]]) -> np.ndarray:
        """Whole-review probabilities: the pooled reading, re-read by the review head with the sentences' readings
        for texts of at least its ``min_sentences`` (a one-sentence text keeps the pooled reading)."""
        out = np.array(review_probs, dtype=np.float64, copy=True)
        if self.review_head is None:
            return out
        rows = [k for k, p in enumerate(sentence_probs) if len(p) >= self.review_head.min_sentences]
        if rows:
            feats = np.stack([review_features(out[k], sentence_probs[k], sentence_lengths[k]) for k in rows])
            out[rows] = self.review_head.probabilities(feats)
        return out

    def results(self, probs: np.ndarray) -> list[SentimentResult]:
        """One :class:`SentimentResult` per probability row (label, rounded scores, stars)."""
        stars = self.stars(probs)
        labels = self.labels
        return [
            SentimentResult(
                label=labels[int(np.argmax(p))],
                scores={lab: round(float(v), 4) for lab, v in zip(labels, p, strict=True)},
                stars=round(float(s), 2),
            )
            for p, s in zip(probs, stars, strict=True)
        ]
