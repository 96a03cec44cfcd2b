"""Is a posted text a review of the business at all? Spam, political rants, unrelated chatter and reviews meant for
someone else get "no reply recommended" with the reason instead of a draft (a person can still write one).

Nearest example in the multilingual encoder's space, as for complaint details: the text's closest example among the
team-written not-review examples (``not_review.yaml``, four kinds) must reach ``threshold`` and beat its closest
ordinary-review example by ``margin``. Both were chosen on ``models/eval/not_review_dev.jsonl`` and are reported on
the held-out ``not_review_test.jsonl`` (written separately from the examples) and on real reviews
(``python -m responses.relevance``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

NOT_REVIEW_PATH = Path(__file__).parent / "not_review.yaml"
KINDS = ("spam", "politics", "unrelated", "other_business")
REASONS = {
    "spam": "looks like spam or advertising",
    "politics": "is about politics or society, not the business",
    "unrelated": "is not about the business (chatter, a greeting, a test post)",
    "other_business": "seems meant for another business or product",
}
EVAL_DIR = Path(__file__).resolve().parent.parent / "models" / "eval"


class _Embedder(Protocol):
    def embed(self, texts: list[str], kind: str = ...) -> np.ndarray: ...


@dataclass(frozen=True)
class NotReview:
    """Why a text is not a review of the business."""

    kind: str
    score: float
    margin: float

    def reason(self) -> str:
        """The note shown to the approver."""
        return f"no reply recommended: the text {REASONS[self.kind]} (a person can still write one)"


class RelevanceDetector:
    """Flags texts that are not a review of the business, by nearest team-written example."""

    def __init__(self, encoder: _Embedder, path: Path = NOT_REVIEW_PATH, threshold: float | None = None,
                 margin: float | None = None) -> None:
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        unknown = set(data["kinds"]) - set(KINDS)
        if unknown:
            raise ValueError(f"{path}: kinds: unknown {sorted(unknown)}; expected {', '.join(KINDS)}")
        self.encoder = encoder
        self.threshold = float(data["threshold"] if threshold is None else threshold)
        self.margin = float(data["margin"] if margin is None else margin)
        self.max_chars = int(data.get("max_chars", 600))
        self.examples: dict[str, list[str]] = {k: list(v) for k, v in data["kinds"].items()}
        self.reviews: list[str] = list(data["reviews"])

    @cached_property
    def _matrix(self) -> tuple[list[str], np.ndarray]:
        keys = [k for k, texts in self.examples.items() for _ in texts] + ["review"] * len(self.reviews)
        texts = [t for ts in self.examples.values() for t in ts] + self.reviews
        return keys, np.asarray(self.encoder.embed(texts), dtype=np.float32)

    def scores(self, texts: list[str]) -> list[tuple[str, float, float]]:
        """Per text: (closest not-review kind, its cosine, cosine of the closest ordinary review)."""
        if not texts:
            return []
        keys, matrix = self._matrix
        # The start of a text says what it is; a long review's tail only blurs it.
        sims = np.asarray(self.encoder.embed([t[: self.max_chars] for t in texts]), dtype=np.float32) @ matrix.T
        is_review = np.array([k == "review" for k in keys])
        out = []
        for row in sims:
            j = int(np.where(is_review, -np.inf, row).argmax())
            out.append((keys[j], float(row[j]), float(row[is_review].max())))
        return out

    def check(self, texts: list[str]) -> list[NotReview | None]:
        """For each text, why it is not a review of the business, or None when it is one (or we are unsure)."""
        out: list[NotReview | None] = []
        for kind, score, review in self.scores(texts):
            gap = score - review
            out.append(NotReview(kind, round(score, 4), round(gap, 4))
                       if score >= self.threshold and gap >= self.margin else None)
        return out


def load_set(name: str) -> list[dict[str, Any]]:
    """A labelled set from models/eval (``not_review_dev`` or ``not_review_test``)."""
    path = EVAL_DIR / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate(detector: RelevanceDetector, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Precision and recall of "no reply" on a labelled set, overall and per kind (kind must match)."""
    found = detector.check([r["text"] for r in rows])
    gold = [r.get("not_review") for r in rows]
    tp = sum(bool(g and f) for g, f in zip(gold, found, strict=True))
    fp = sum(bool(f and not g) for g, f in zip(gold, found, strict=True))
    fn = sum(bool(g and not f) for g, f in zip(gold, found, strict=True))
    report: dict[str, Any] = {
        "texts": len(rows), "not_reviews": sum(bool(g) for g in gold),
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "reviews_silenced": fp, "kind_right": sum(bool(g and f and f.kind == g) for g, f in zip(gold, found,
                                                                                              strict=True)),
        "per_kind_recall": {},
    }
    for kind in KINDS:
        idx = [i for i, g in enumerate(gold) if g == kind]
        if idx:
            report["per_kind_recall"][kind] = round(sum(bool(found[i]) for i in idx) / len(idx), 4)
    return report


def main(argv: list[str] | None = None) -> None:
    """Precision/recall on the dev or test set, and the share of real reviews silenced."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--real", action="store_true", help="Also the share of real reviews flagged (fixtures).")
    args = parser.parse_args(argv)
    from models.encoder import Encoder

    detector = RelevanceDetector(Encoder.load())
    print(json.dumps(evaluate(detector, load_set(f"not_review_{args.split}")), indent=1))
    if args.real:
        from models.review_eval import trustpilot_reviews

        items = trustpilot_reviews()
        flagged = [(i.text[:100], f.kind) for i, f in zip(items, detector.check([i.text for i in items]),
                                                          strict=True) if f]
        print(json.dumps({"real_reviews": len(items), "flagged": len(flagged), "examples": flagged[:10]},
                         ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
