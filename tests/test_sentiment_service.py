"""Sentiment on team-written customer-service reviews in Russian, Polish, Hungarian and Hebrew.

The labelled sets of those languages are one genre each (restaurant sentences, PolEmo reviews, movie
sentences, political Facebook comments). ``tests/fixtures/service_sentiment.jsonl`` holds 48 short reviews per
language (16 per class) about delivery, refunds, support, staff, apps, hotels and food, written by the team on
2026-11-26 (session 5) to check what the product actually reads. It is not independent: the training command
uses it to veto a language's n-gram model that reads it worse than the head alone (``veto_by_team_set``), which
dropped the Russian, Hungarian and Hebrew ones. Measured through the real analysis stage (onnx-int8, no declared
language): see MODEL_CARD.md. The floors sit below the measured numbers, so a regression fails.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sentiment_sets import load_rows, macro_f1_and_recalls

pytestmark = pytest.mark.slow

SET = "service_sentiment.jsonl"
# Measured through the Analyzer: ru 0.938, pl 0.855, hu 0.851, he 0.724 (sentiment-5; with sentiment-4 0.938, 0.812,
# 0.817, 0.494); floors a few texts below (int8 batch effects alone move a language by two texts).
FLOORS = {"ru": 0.85, "pl": 0.78, "hu": 0.78, "he": 0.62}


@pytest.fixture(scope="module")
def results() -> list[tuple[dict, object]]:
    from models.analyze import Analyzer, ReviewInput

    rows = load_rows(SET)
    out = Analyzer.load().analyze([ReviewInput(id=r["id"], text=r["text"], language=None) for r in rows])
    return list(zip(rows, out, strict=True))


def test_the_set_is_balanced() -> None:
    rows = load_rows(SET)
    assert Counter((r["lang"], r["label"]) for r in rows) == {
        (lang, label): 16 for lang in FLOORS for label in ("negative", "neutral", "positive")}
    assert len({r["text"] for r in rows}) == len(rows)


def test_language_is_detected(results) -> None:
    wrong = [(r["id"], a.language) for r, a in results if a.language != r["lang"]]
    assert len(wrong) <= 2, wrong


@pytest.mark.parametrize("lang", sorted(FLOORS))
def test_macro_f1_floor(results, lang: str) -> None:
    macro, recalls = macro_f1_and_recalls([(r["label"], a.sentiment) for r, a in results if r["lang"] == lang])
    assert macro >= FLOORS[lang], (round(macro, 3), recalls)
    if lang != "he":  # Hebrew still reads 5 of these 16 complaints as praise on int8: known gap (MODEL_CARD.md)
        assert recalls["negative"] >= 0.75, recalls  # complaints are what the inbox is for


def test_ordinary_reviews_are_rarely_escalated(results) -> None:
    # None of these texts threatens, accuses of fraud, or reports harm.
    escalated = [(r["id"], a.severity) for r, a in results if a.severity]
    # 8 of 192 today (ru 2: "fraud" on a double charge and a stolen parcel; pl 4; he 2); 18 before the ru/hu/he
    # benign prototypes were added, 9 of them Hungarian (MODEL_CARD.md, "Severity").
    assert len(escalated) <= 10, escalated


def test_team_sets_appear_in_the_eval_report() -> None:
    from rich.console import Console

    from models.evaluate import render_tables
    from models.sentiment import SentimentModel
    from models.train_sentiment import team_eval

    scores = team_eval(SentimentModel.load())
    assert {lang: row["n"] for lang, row in scores.items()} == {"ru": 48, "pl": 48, "hu": 48, "he": 48, "hy": 48}
    assert scores["pl"]["macro_f1"] >= FLOORS["pl"]
    zero = {"precision": 0, "recall": 0, "f1": 0}
    topics = {lang: {"heads_plus_zero_shot": zero, "zero_shot_only": zero, "split": "-"} for lang in ("en", "ru")}
    topics["en"]["heads_plus_zero_shot_all_topics"] = {"f1": 0.7643}  # ru lacks it: an older eval file
    severity = {"overall": zero, "escalation": zero, "per_flag": {}, "per_lang": {}}
    real = {"n": 75, "any": zero, "polarity": zero, "negative": {"precision": 0.554, "recall": 0.484, "f1": 0.517}}
    written = {"hy": {"macro_f1": 0.9178, "accuracy": 0.9167, "n": 48}}
    common = {"baseline_macro_f1": 0.67, "target_macro_f1": 0.8, "n": 623, "split": "SemEval test"}
    int8 = {"en": {"macro_f1": 0.7563, "accuracy": 0.7956, "macro_f1_range": [0.7418, 0.7636],
                   "accuracy_range": [0.7833, 0.801], **common}}
    torch = {"en": {"macro_f1": 0.7647, "accuracy": 0.8058, **common}}
    results = {"sentiment": {"onnx-int8": int8, "torch": torch}, "sentiment_team_sets": scores, "topics_real": real,
               "sentiment_service_test": written,
               "topics": {"mapped_topics": [], **topics}, "severity": {"items": 0, "union": severity}}
    console = Console(record=True, width=400)
    for table in render_tables(results):
        console.print(table)
    text = console.export_text()
    # Rich wraps a title to its table's width; the rows are what matter.
    # int8 scores are a mean over batchings with their range; float32 has one; both accuracies are shown.
    held_out = text.split("Sentiment, 3-class", 1)[1].split("Sentiment on", 1)[0]
    assert "0.756 (0.742–0.764)" in held_out and "0.796 (0.783–0.801)" in held_out
    assert "0.765" in held_out and "0.806" in held_out and "acc torch" in held_out
    assert "Sentiment on" in text and "team-written" in text
    assert f"{scores['he']['macro_f1']:.3f}" in text.split("team-written", 1)[1]
    assert "held-out written" in text and "0.918" in text.split("held-out written", 1)[1]
    assert "all ten topics" in text and "0.764" in text.split("Topics", 1)[1]
    assert "negative topics" in text and "0.517" in text.split("Topics on real reviews", 1)[1]


def test_int8_is_scored_over_one_batching_now_that_vectors_do_not_depend_on_it() -> None:
    from models.evaluate import INT8_BATCHINGS, _batching_orders

    assert INT8_BATCHINGS == 1
    assert _batching_orders(50, "onnx-int8") == [list(range(50))] == _batching_orders(50, "torch")
