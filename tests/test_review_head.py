"""The review head (models/artifacts/sentiment/review_head.json) and the uncertain-reading flag (issue 20)."""

from __future__ import annotations

import numpy as np

from models.analyze import Analyzer, ReviewInput
from models.sentiment import UNCERTAIN_BELOW, SentimentModel, review_features, uncertain_reading
from responses.compose import build_plan
from responses.playbook import EXAMPLE_PLAYBOOK, load_playbook


def test_review_head_is_shipped_and_versioned() -> None:
    model = SentimentModel.load()
    assert model.review_head is not None and model.review_head.min_sentences == 2
    assert model.review_head.version in model.version  # analyses made with another head are redone on request
    assert model.review_head.coef.shape == (3, len(review_features(np.ones(3) / 3, np.ones((2, 3)) / 3, [5, 5])))


def test_one_sentence_keeps_the_pooled_reading_and_many_are_re_read() -> None:
    model = SentimentModel.load()
    pooled = np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]])
    complaints = np.array([[0.9, 0.05, 0.05], [0.85, 0.1, 0.05], [0.1, 0.2, 0.7]])
    out = model.review_probabilities(pooled, [np.array([[0.2, 0.3, 0.5]]), complaints], [[40], [60, 50, 20]])
    assert np.allclose(out[0], pooled[0])
    expected = model.review_head.probabilities(review_features(pooled[1], complaints, [60, 50, 20]))[0]
    assert np.allclose(out[1], expected) and not np.allclose(out[1], pooled[1]) and np.isclose(out[1].sum(), 1.0)


def test_the_analysis_reads_reviews_through_the_review_head() -> None:
    text = ("The soup was cold and the waiter ignored us for forty minutes. The bill had a dish we never ordered. "
            "Nice view from the terrace though.")
    result = Analyzer.load().analyze([ReviewInput(id="r", text=text, language="en")])[0]
    assert len(result.sentences) == 3
    assert result.sentiment == "negative", result.sentiment_scores
    assert result.confidence == result.sentiment_scores["negative"] and result.uncertain is None


def test_uncertain_reading_needs_no_stars_and_low_confidence() -> None:
    unsure = {"negative": 0.4, "neutral": 0.25, "positive": 0.35}
    assert UNCERTAIN_BELOW > 0.4
    note = uncertain_reading("negative", unsure, None)
    assert note and "0.40" in note and "positive 0.35" in note
    assert uncertain_reading("negative", unsure, 2) is None  # the stars settle it
    assert uncertain_reading("positive", {"negative": 0.05, "neutral": 0.05, "positive": 0.9}, None) is None


def test_an_uncertain_reading_is_flagged_in_the_plan() -> None:
    analysis = {"language": "en", "sentiment": "positive", "topics": [],
                "sentiment_scores": {"negative": 0.3, "neutral": 0.2, "positive": 0.5}}
    book = load_playbook(EXAMPLE_PLAYBOOK)
    plan = build_plan(review_id="1", analysis=analysis, rating=None, author=None, playbook=book, max_chars=2048)
    assert "uncertain_reading" in plan.flags
    sure = build_plan(review_id="1", analysis=analysis, rating=5, author=None, playbook=book, max_chars=2048)
    assert "uncertain_reading" not in sure.flags
