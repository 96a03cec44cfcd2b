"""The review-level evaluation's gold rules and scoring (models/review_eval.py); the data-driven run is `reviewdesk
eval` (it needs ../shared/data)."""

from __future__ import annotations

from rich.console import Console

from models.datasets import RU_FRACTIONS, SPLITS, AbsaSentence, _split_by_review
from models.review_eval import (
    TARGETS,
    _split_of,
    majority_label,
    render_replies_need,
    sentiment_scores,
    topic_scores,
    trustpilot_reviews,
)


def test_majority_label() -> None:
    assert majority_label(["negative", "negative", "positive"]) == "negative"
    assert majority_label(["positive", "neutral"]) == "positive"
    assert majority_label(["positive", "negative"]) == "mixed"
    assert majority_label(["neutral"]) == majority_label([]) == "neutral"


def test_sentirueval_split_matches_the_semeval_russian_split() -> None:
    # A restaurant review shared by both sets (same id) must sit on the same side of the split in both.
    for rid in ("3976", "27925", "10099", "10231", "928724"):
        sentence = AbsaSentence(id=f"{rid}:0", text="x", lang="ru", source="t", review_id=rid)
        side = next(name for name, rows in _split_by_review([sentence], RU_FRACTIONS, SPLITS).items() if rows)
        assert _split_of(rid) == side


def test_scores() -> None:
    s = sentiment_scores(["negative", "negative", "positive", "mixed"], ["negative", "positive", "positive", "x"])
    assert s["n"] == 3 and s["negative_recall"] == 0.5 and s["negative_precision"] == 1.0
    t = topic_scores([frozenset({"food_drink", "staff_attitude"}), frozenset()], [{"food_drink"}, {"delivery"}])
    assert (t["precision"], t["recall"], t["gold"]) == (0.5, 0.5, 2)


def test_trustpilot_gold_comes_from_the_stars() -> None:
    items = trustpilot_reviews()
    assert len(items) > 100 and len({i.text for i in items}) == len(items)
    assert {i.label for i in items} == {"negative", "neutral", "positive"}
    assert {i.business_type for i in items} == {"shop", "restaurant", "local_service"}


def test_render() -> None:
    scores = {"n": 10, "macro_f1": 0.7, "accuracy": 0.8, "negative_recall": 0.9, "negative_precision": 0.85,
              "negatives": 4}
    report = {"split": "test", "targets": TARGETS,
              "opinion_sentences": {"en": {"model": scores, "baseline": scores}},
              "whole_reviews": {"polemo-pl": {"model": scores, "baseline": scores,
                                              "uncertain": {"share": 0.1, "accuracy_uncertain": 0.5,
                                                            "accuracy_confident": 0.9}}},
              "topics": {"semeval-en": {"precision": 0.6, "recall": 0.7, "f1": 0.65, "gold": 9, "reviews": 5}},
              "escalations": {"polemo-pl": {"reviews": 100, "escalated": 3, "rate": 0.03, "flags": {"fraud": 3}},
                              "severity_sample_recall": 0.984}}
    console = Console(record=True, width=300)
    for table in render_replies_need(report):
        console.print(table)
    text = console.export_text()
    assert "Opinion sentences" in text and "Whole reviews" in text and "3.0%" in text and "0.984" in text
    assert "10%, 0.500 / 0.900" in text
