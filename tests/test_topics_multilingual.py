"""Complaint topics on non-English reviews: a regression floor on a small team-written set.

``tests/fixtures/topics_multilingual.jsonl`` holds 119 short reviews in ru, uk, pl, hu, he, de, es, fr and hy
(13-14 per language), each with its gold built-in topics: all ten topics, 19 multi-topic reviews and 11 with no
complaint topic (praise or off-topic). It was written before any taxonomy change was measured on it and is used
for evaluation only; never add its sentences (or close paraphrases) to ``models/taxonomy/topics.yaml``.
Scores are micro precision/recall/F1 over (review, topic) pairs, through the real analysis stage
(``Analyzer.load().analyze``, onnx-int8 encoder), with the declared language passed in. The floors sit a little
below the measured numbers (see the "Topics" section of models/MODEL_CARD.md), so a regression fails.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from models.topics import BUILTIN_TOPICS

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "topics_multilingual.jsonl"
LANGS = {"ru", "uk", "pl", "hu", "he", "de", "es", "fr", "hy"}

# Measured on the committed model (onnx-int8 recipe 2, sentiment-2, unlabelled-topic floor 0.025, per-language
# score scaling from models/calibrate_topics.py, generic-opinion check of session 6, sentiment axis projected out
# of zero-shot similarity and scales re-based on the unprojected en spread in session 7): negative-polarity topics
# P/R/F1 0.556 / 0.646 / 0.598, any polarity 0.554 / 0.708 / 0.622. Before the projection 0.571 / 0.646 / 0.606
# and 0.548 / 0.708 / 0.617; without the generic check 0.560 / 0.646 / 0.600 and 0.535 / 0.708 / 0.609. Before
# the scaling: 0.830 / 0.300 / 0.441 and 0.797 / 0.362 / 0.497 (recall was the problem; precision paid for it);
# with the scaling and the 0.03 floor: 0.602 / 0.500 / 0.546 and 0.566 / 0.592 / 0.579.
MIN_F1 = {"negative": 0.50, "any": 0.53}
MIN_PRECISION = {"negative": 0.52, "any": 0.50}
# Per-language recall (any polarity): each language has only 14-16 gold pairs, so one review moves it by about
# 0.07; floors were set about two misses below the values measured with the 0.03 floor (de 0.71, es 0.67,
# fr 0.71, he 0.50, hu 0.67, hy 0.71, pl 0.57, ru 0.38, uk 0.43; before the projection de 0.71, es 0.73, fr 0.71,
# he 0.64, hu 0.87, hy 0.86, pl 0.64, ru 0.50, uk 0.71; now de 0.79, es 0.80, fr 0.71, he 0.64, hu 0.87, hy 0.86,
# pl 0.57, ru 0.44, uk 0.71).
MIN_RECALL_ANY = {"de": 0.57, "es": 0.53, "fr": 0.57, "he": 0.36, "hu": 0.53, "hy": 0.57, "pl": 0.43, "ru": 0.23,
                  "uk": 0.29}


def _rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_fixture_is_well_formed() -> None:
    rows = _rows()
    assert len(rows) >= 100
    assert {r["lang"] for r in rows} == LANGS
    assert {t for r in rows for t in r["topics"]} == set(BUILTIN_TOPICS)
    assert all(set(r["topics"]) <= set(BUILTIN_TOPICS) and r["text"].strip() for r in rows)
    assert sum(1 for r in rows if len(r["topics"]) > 1) >= 10
    assert sum(1 for r in rows if not r["topics"]) >= 5
    assert len({r["text"] for r in rows}) == len(rows)


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


@pytest.fixture(scope="module")
def scores() -> dict[str, dict[str, tuple[float, float, float]]]:
    from models.analyze import Analyzer, ReviewInput

    rows = _rows()
    results = Analyzer.load().analyze(
        [ReviewInput(id=str(i), text=r["text"], language=r["lang"]) for i, r in enumerate(rows)])
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for mode in ("negative", "any"):
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for row, result in zip(rows, results, strict=True):
            pred = {t["name"] for t in result.topics if mode == "any" or t["polarity"] == "negative"}
            gold = set(row["topics"])
            for key in (row["lang"], "all"):
                counts[key][0] += len(pred & gold)
                counts[key][1] += len(pred - gold)
                counts[key][2] += len(gold - pred)
        out[mode] = {key: _prf(*c) for key, c in counts.items()}
    return out


@pytest.mark.parametrize("mode", ["negative", "any"])
def test_micro_f1_floor(scores, mode: str) -> None:
    precision, recall, f1 = scores[mode]["all"]
    per_lang = {k: round(v[2], 3) for k, v in sorted(scores[mode].items())}
    assert f1 >= MIN_F1[mode], (mode, round(precision, 3), round(recall, 3), per_lang)
    assert precision >= MIN_PRECISION[mode], (mode, round(precision, 3), per_lang)


@pytest.mark.parametrize("lang", sorted(MIN_RECALL_ANY))
def test_recall_floor_per_language(scores, lang: str) -> None:
    assert scores["any"][lang][1] >= MIN_RECALL_ANY[lang], (lang, [round(x, 3) for x in scores["any"][lang]])
