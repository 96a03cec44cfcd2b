"""Clauses of long complaint sentences: the analysis reads them for low-star reviews only, and the run-on evaluation.

Through the real analysis stage (``Analyzer.load().analyze``, onnx-int8 encoder, committed heads).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.analyze import Analyzer, ReviewInput
from models.eval.runon_topics import natural, prf, runons

FIXTURE_DATA = Path(__file__).parent / "fixtures" / "sentiment_data"
RUN_ONS = [
    "Never buying from here again, it took two weeks to get my parcel delivered, they don't respond to emails "
    "and there are no tracking updates.",
    "So far the order has not arrived, it still shows as being prepared, and my messages were never answered.",
]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer.load()


def _topics(analyzer: Analyzer, rating: float | None, lang: str = "en", texts: list[str] = RUN_ONS) -> list[dict]:
    results = analyzer.analyze([ReviewInput(id=str(i), text=t, rating=rating, language=lang)
                                for i, t in enumerate(texts)])
    return [{t["name"]: t for t in r.topics} for r in results]


def test_one_star_run_ons_get_the_complaints_their_clauses_show(analyzer: Analyzer) -> None:
    first, second = _topics(analyzer, 1.0)
    assert {"delivery", "no_reply"} <= set(first)
    assert {"delivery", "no_reply"} <= set(second)
    for hit in [*first.values(), *second.values()]:
        assert hit["polarity"] == "negative"
    # Evidence stays the whole sentence, as for every other topic.
    assert first["delivery"]["evidence"] == [RUN_ONS[0]]


def test_clauses_are_read_only_for_low_stars_in_head_languages(analyzer: Analyzer, monkeypatch) -> None:
    import models.nlp

    calls: list[str] = []
    real = models.nlp.clauses

    def spy(text: str, lang: str | None) -> list[tuple[int, int]]:
        calls.append(text)
        return real(text, lang)

    monkeypatch.setattr(models.nlp, "clauses", spy)
    for rating in (5.0, 3.0, None):
        _topics(analyzer, rating)
    assert calls == []  # no rating, or more than two stars: one vector per sentence, as before
    hungarian = ["Két hét alatt érkezett meg a csomag, az ügyfélszolgálat nem válaszol az e-mailekre, "
                 "és nincs követés."]
    _topics(analyzer, 1.0, "hu", hungarian)
    assert calls == []  # topics are zero-shot only there, where clauses added wrong topics as often as right ones
    _topics(analyzer, 2.0)
    assert len(calls) == 2


def test_run_ons_are_built_from_consecutive_sentences_of_one_review() -> None:
    items = runons("en", "test", FIXTURE_DATA)
    assert items == [("Terrible service, I will come back!", {"staff_attitude", "staff_attitude/negative"})]
    sentences = natural("en", "test", FIXTURE_DATA)
    assert [t for t, _ in sentences] == ["Terrible service.", "I will come back!"]


def test_micro_scores() -> None:
    assert prf([{"a", "b"}, set()], [{"a"}, {"c"}]) == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "n": 2}
    assert prf([set()], [set()])["f1"] == 0.0


def test_hostile_one_star_texts_still_get_a_result(analyzer: Analyzer) -> None:
    long_run_on = ", ".join(["the parcel arrived two weeks late and nobody answered my many emails about it"] * 1500)
    texts = ["", "👍🔥", long_run_on, "a\u200bb, " * 50 + " terrible",
             "\ud800 the box was broken, the courier was rude, nobody answered my emails at all ever",
             "The order took three weeks to arrive and nobody answered my emails — " + "x" * 3000]
    results = analyzer.analyze([ReviewInput(id=str(i), text=t, rating=1.0) for i, t in enumerate(texts)])
    assert len(results) == len(texts)
    for r in results:
        assert r.unclassifiable is not None or r.sentiment is not None
    assert results[2].truncated and "delivery" in {t["name"] for t in results[2].topics}
