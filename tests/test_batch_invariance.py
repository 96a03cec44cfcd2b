"""Same text, same result: a review's analysis does not depend on its batch-mates, the batch size or the order.

Through the real analysis stage (``Analyzer.load().analyze``, onnx-int8 encoder, committed heads). Until the int8
encoder ran each text alone (``models.encoder.VECTOR_RECIPE`` 3), 24-34 of 300 held-out texts changed a label, score,
topic or flag when classified again among 200 others.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from models.analyze import Analyzer, ReviewInput

FIXTURES = Path(__file__).parent / "fixtures"


def _reviews() -> list[ReviewInput]:
    """Real and written reviews in several languages, with and without stars (stars switch clause reading on)."""
    rows: list[ReviewInput] = []
    for path in sorted((FIXTURES / "trustpilot").glob("*_2025/output.json")):
        for item in json.loads(path.read_text(encoding="utf-8"))["items"][:8]:
            rows.append(ReviewInput(id=f"{path.parent.name}:{item['review_id']}", text=item.get("text") or "",
                                    title=item.get("title"), language=item.get("language"), rating=item.get("rating")))
    for k, line in enumerate((FIXTURES / "service_sentiment.jsonl").read_text(encoding="utf-8").splitlines()[::6]):
        row = json.loads(line)
        rows.append(ReviewInput(id=f"service:{k}", text=row["text"], language=row["lang"]))
    rows.append(ReviewInput(id="long", text=" ".join(["The waiter was rude and the soup was cold."] * 120), rating=1))
    return rows


def _key(analysis: object) -> dict[str, object]:
    d = analysis.to_dict()  # type: ignore[attr-defined]
    return d


def _same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a["sentiment"] == b["sentiment"] and a["severity"] == b["severity"] and a["uncertain"] == b["uncertain"]
    for label, score in a["sentiment_scores"].items():  # type: ignore[union-attr]
        assert abs(score - b["sentiment_scores"][label]) <= 1e-6  # type: ignore[index]
    assert [(t["name"], t["polarity"], t["evidence"]) for t in a["topics"]] == \
        [(t["name"], t["polarity"], t["evidence"]) for t in b["topics"]]  # type: ignore[union-attr]
    assert np.allclose([t["score"] for t in a["topics"]], [t["score"] for t in b["topics"]], atol=1e-6)  # type: ignore[union-attr]
    assert [(s["text"], s["sentiment"]) for s in a["sentences"]] == \
        [(s["text"], s["sentiment"]) for s in b["sentences"]]  # type: ignore[union-attr]
    for x, y in zip(a["sentences"], b["sentences"], strict=True):  # type: ignore[arg-type]
        assert all(abs(x["scores"][k] - y["scores"][k]) <= 1e-6 for k in x["scores"])


@pytest.mark.slow
def test_analysis_does_not_depend_on_the_batch() -> None:
    analyzer = Analyzer.load()
    reviews = _reviews()
    together = {a.id: _key(a) for a in analyzer.analyze(reviews)}
    shuffled = reviews[:]
    random.Random(7).shuffle(shuffled)
    # Another order, other batch sizes, and each review alone: every field the same.
    for size in (len(reviews), 7, 1):
        for start in range(0, len(shuffled), size):
            for a in analyzer.analyze(shuffled[start:start + size]):
                _same(together[a.id], _key(a))
    assert {a["sentiment"] for a in together.values()} >= {"negative", "positive"}  # the set exercises both readings


@pytest.mark.slow
def test_encoder_vectors_are_identical_in_any_batch() -> None:
    from models.encoder import Encoder

    texts = ["Paczka przyszła zniszczona.", "The room smelled of smoke and the staff did not care.",
             "Отличный сервис, спасибо!", "x " * 700, "Nagyon lassú volt a kiszolgálás."]
    two = Encoder.load(threads=2)
    one = Encoder.load(threads=1)
    together = two.embed(texts)
    alone = np.vstack([one.embed([t]) for t in texts])
    reversed_ = two.embed(texts[::-1])[::-1]
    assert np.array_equal(together, alone) and np.array_equal(together, reversed_)
