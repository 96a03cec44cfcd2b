"""N-gram sentiment models (models/lexical.py): fitting, pickle-free storage, and how they join the head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from models.lexical import LexicalModels, _vectorizers, fit_language
from models.sentiment import ARTIFACT_DIR, SentimentModel

FIXTURES = Path(__file__).parent / "fixtures"
LABELS = {"negative": 0, "neutral": 1, "positive": 2}


def _hy_rows() -> tuple[list[str], np.ndarray]:
    rows = [json.loads(line) for line in (FIXTURES / "hy_sentiment.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["text"] for r in rows], np.array([LABELS[r["label"]] for r in rows])


def test_rebuilt_vectorizers_equal_the_fitted_ones() -> None:
    texts, y = _hy_rows()
    model = fit_language(texts, y, word_max=300, char_max=800)
    word, char = _vectorizers(word_max=300, char_max=800)
    fitted = sp.hstack([word.fit_transform(texts), char.fit_transform(texts)], format="csr")
    rebuilt = model.features(texts)
    assert rebuilt.shape == fitted.shape and rebuilt.shape[1] == len(model.word_vocab) + len(model.char_vocab)
    np.testing.assert_allclose(rebuilt.toarray(), fitted.toarray(), rtol=1e-5, atol=1e-6)
    # Fitted on these very texts, it must read most of them right (a sanity check that labels line up).
    assert (model.log_proba(texts).argmax(1) == y).mean() > 0.8


def test_log_proba_is_normalised_and_case_blind() -> None:
    texts, y = _hy_rows()
    model = fit_language(texts, y, word_max=300, char_max=800)
    lp = model.log_proba([texts[0], texts[0].upper(), "", "🙂🙂"])
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(lp[0], lp[1], rtol=1e-5)  # lower-cased before the n-grams are taken


def test_hostile_text_gets_a_distribution() -> None:
    model = SentimentModel.load().lexical.languages["pl"]  # type: ignore[union-attr]
    texts = ["", "\ud800 lone surrogate", "\u200b\u200b", "x" * 100_000, "<script>alert(1)</script>", "שלום עולם"]
    lp = model.log_proba(texts)
    assert lp.shape == (len(texts), 3) and np.isfinite(lp).all()
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, rtol=1e-5)


def test_fit_needs_three_classes() -> None:
    texts, y = _hy_rows()
    keep = y != 1
    with pytest.raises(ValueError, match="three classes"):
        fit_language([t for t, k in zip(texts, keep, strict=True) if k], y[keep], word_max=300, char_max=800)


def test_save_load_roundtrip_without_pickle(tmp_path: Path) -> None:
    texts, y = _hy_rows()
    models = LexicalModels({"hy": fit_language(texts, y, word_max=300, char_max=800)})
    models.save(tmp_path / "lexical.npz")
    with np.load(tmp_path / "lexical.npz", allow_pickle=False) as arrays:
        assert "hy__word_vocab" in arrays.files
    again = LexicalModels.load(tmp_path / "lexical.npz")
    lp, mask = again.log_proba([*texts[:3], "x"], ["hy", "hy", "hy", "en"])
    assert mask.tolist() == [True, True, True, False]  # no English model here: that row is left to the head
    np.testing.assert_allclose(lp[:3], models.languages["hy"].log_proba(texts[:3]), rtol=1e-6)
    assert (lp[3] == 0).all()


def test_shipped_models_cover_the_labelled_languages() -> None:
    config = json.loads((ARTIFACT_DIR / "config.json").read_text(encoding="utf-8"))
    assert config["lexical_weight"] > 0
    assert set(config["head_offsets"]) >= {"en", "ru", "pl", "hu", "he", "default"}
    path = ARTIFACT_DIR / "lexical.npz"
    assert path.stat().st_size < 5_000_000
    model = SentimentModel.load()
    # English gained under the one-point dev margin; the Russian, Hungarian and Hebrew models read the team-written
    # service reviews worse than the head alone and were vetoed (train_sentiment.veto_by_team_set, MODEL_CARD.md).
    assert model.lexical is not None and sorted(model.lexical.languages) == ["pl"]
    for lang in model.lexical.languages:  # where a model joins, its own offsets were tuned for the sum
        assert lang in config["lang_offsets"]


def test_texts_join_only_where_a_language_model_exists() -> None:
    model = SentimentModel.load()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 384)).astype(np.float32)
    texts = ["Fatalna obsługa, nigdy więcej.", "Szörnyű volt, soha többé.", "Սարսափելի սպասարկում", "Terrible."]
    langs = ["pl", "hu", "hy", "en"]
    with_texts = model.probabilities(x, langs, texts)
    without = model.probabilities(x, langs)
    assert not np.allclose(with_texts[0], without[0])
    np.testing.assert_allclose(with_texts[1:], without[1:], rtol=1e-6)  # no n-gram model there: head only
    with pytest.raises(ValueError, match="texts for"):
        model.probabilities(x, langs, texts[:2])


def test_only_configured_languages_get_an_n_gram_model() -> None:
    """fit_lexical fits the languages in HeadSettings.lexical_languages and no other (Polish by default)."""
    from models.train_sentiment import XY, HeadSettings, fit_lexical

    texts, y = _hy_rows()
    # The same rows under two codes of the training languages: only the configured one may get a model.
    pooled = XY(np.zeros((2 * len(texts), 4), dtype=np.float32), np.concatenate([y, y]),
                ["pl"] * len(texts) + ["he"] * len(texts), [str(i) for i in range(2 * len(texts))], texts + texts)
    small = {"lexical_word_max": 300, "lexical_char_max": 800}
    assert HeadSettings().lexical_languages == ("pl",)
    fitted = fit_lexical(pooled, HeadSettings(**small))
    assert fitted is not None and sorted(fitted.languages) == ["pl"]
    both = fit_lexical(pooled, HeadSettings(lexical_languages=("pl", "he"), **small))
    assert both is not None and sorted(both.languages) == ["he", "pl"]
    assert fit_lexical(pooled, HeadSettings(lexical_weight=0.0, **small)) is None
