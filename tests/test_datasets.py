"""Loaders and fixed splits: tiny committed fixture always; the real data when ../shared/data is present."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.datasets import (
    DataMissingError,
    load_polemo_sentences,
    load_semeval,
    load_semeval_2014,
    load_semeval_hotels,
    load_sentiment,
    sentence_polarity,
    split_summary,
)
from models.settings import data_dir

FIXTURE = Path(__file__).parent / "fixtures" / "sentiment_data"
REAL = data_dir()
needs_real = pytest.mark.skipif(not (REAL / "en-semeval-absa").exists(),
                                reason=f"labelled data not present at {REAL} (set $REVIEWDESK_DATA)")


def test_sentence_polarity_rules() -> None:
    assert sentence_polarity([]) is None
    assert sentence_polarity(["positive", "neutral"]) == "positive"
    assert sentence_polarity(["negative", "positive"]) == "mixed"
    assert sentence_polarity(["conflict"]) == "mixed"
    assert sentence_polarity(["neutral", "neutral"]) == "neutral"


def test_semeval_fixture_splits_are_disjoint_by_review() -> None:
    train = load_semeval("en", "train", FIXTURE)
    dev = load_semeval("en", "dev", FIXTURE)
    assert len(train) + len(dev) == 32
    assert not {s.review_id for s in train} & {s.review_id for s in dev}
    assert train == load_semeval("en", "train", FIXTURE)  # deterministic
    first = train[0]
    assert first.opinions[0].category == "FOOD#QUALITY" and first.sentence_polarity == "positive"
    test = load_semeval("en", "test", FIXTURE)
    assert [s.out_of_scope for s in test] == [False, False, True]
    assert test[1].opinions[0].target is None  # "NULL" target


def test_russian_three_way_split_covers_all_reviews() -> None:
    parts = [load_semeval("ru", split, FIXTURE) for split in ("train", "dev", "test")]
    assert sum(len(p) for p in parts) == 30
    ids = [{s.review_id for s in p} for p in parts]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_sentiment_labels_and_mixed_handling() -> None:
    rows = load_sentiment("en", "train", FIXTURE) + load_sentiment("en", "dev", FIXTURE)
    assert {r.label for r in rows} <= {"positive", "negative", "neutral"}
    assert any(r.text == "We went there on a Tuesday." and r.label == "neutral" for r in rows)
    dropped = load_sentiment("en", "train", FIXTURE, opinionless="drop")
    assert all(r.text != "We went there on a Tuesday." for r in dropped)
    mixed = load_sentiment("en", "train", FIXTURE, include_mixed=True)
    assert any(r.label == "mixed" for r in mixed)
    assert all(r.text != "Some unrelated text." for r in load_sentiment("en", "test", FIXTURE))


def test_polemo_hu_he_fixture() -> None:
    test = load_sentiment("pl", "test", FIXTURE)
    assert {r.label for r in test} == {"positive", "negative", "neutral"}  # amb left out
    assert all(r.source.endswith(".dev.txt") for r in test)  # official dev is our test
    assert not any("__label__" in r.text for r in test)
    train = load_sentiment("pl", "train", FIXTURE, include_mixed=True)
    dev = load_sentiment("pl", "dev", FIXTURE, include_mixed=True)
    assert not {r.text for r in train} & {r.text for r in dev}
    assert len(load_sentiment("hu", "test", FIXTURE)) == 6
    he = load_sentiment("he", "test", FIXTURE)
    assert [r.label for r in he[:3]] == ["positive", "negative", "neutral"]


def test_2014_and_hotels() -> None:
    old = load_semeval_2014(FIXTURE)
    assert all(s.text != "Terrible service." for s in old)  # in the 2015 test: removed
    assert old[0].sentence_polarity == "mixed"
    assert load_semeval_hotels(FIXTURE)[0].sentence_polarity == "positive"


def test_missing_data_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError, match=str(tmp_path / "nowhere")):
        load_sentiment("pl", "train", tmp_path / "nowhere")


def test_split_summary_fixture() -> None:
    rows = split_summary(FIXTURE)
    assert len(rows) == 15 and {"lang", "split", "n", "negative", "neutral", "positive", "mixed"} <= set(rows[0])


@needs_real
def test_real_split_sizes() -> None:
    sizes = {(r["lang"], r["split"]): r["n"] for r in split_summary(REAL)}
    assert sizes[("en", "test")] == 663 and sizes[("pl", "test")] == 846 and sizes[("hu", "test")] == 1165
    assert sizes[("he", "test")] == 846 and sizes[("ru", "test")] == 795
    test_text = {s.text for s in load_semeval("en", "test", REAL)}
    train_text = {s.text for s in load_semeval("en", "train", REAL)} | {s.text for s in load_semeval_2014(REAL)}
    assert len(test_text & train_text) <= 2  # the two duplicate sentences already present across 2015 files


def test_polemo_sentences_never_leak_test_reviews() -> None:
    rows = load_polemo_sentences(FIXTURE, fraction=1.0)
    texts = {r.text for r in rows}
    assert "Pokój był czysty ." in texts and "Czekałem dwie godziny ." in texts
    assert "Tekst hotels dev numer 1 , bardzo dobry ." not in texts  # a sentence of a test review
    assert {r.label for r in rows} == {"positive", "negative", "neutral"}
