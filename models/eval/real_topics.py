"""Topics on real reviews: the 138 distinct Trustpilot fixture reviews, labelled by hand (topics_real_reviews.jsonl).

    python -m models.eval.real_topics [--split dev|test|all] [--errors]

Each review goes through the Analyzer as the product reads it: with its star rating and its declared language.
Scores are micro precision / recall / F1 over (review, topic) pairs, three ways: any polarity; name and polarity
both right; and negative topics only (the ones a reply apologises for). The file's ``split`` field (by a hash of
the text) divides it into a dev half, for choices, and a test half, read once after them; see README.md here.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

SET = Path(__file__).with_name("topics_real_reviews.jsonl")
MODES = ("any", "polarity", "negative")


def load_rows(path: Path = SET, split: str = "all") -> list[dict[str, Any]]:
    """Labelled rows of one split ("dev", "test" or "all")."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def _pairs(topics: list[dict[str, Any]], mode: str) -> set[tuple[str, str]]:
    if mode == "any":
        return {(t["name"], "") for t in topics}
    if mode == "negative":
        return {(t["name"], "") for t in topics if t["polarity"] == "negative"}
    return {(t["name"], t["polarity"]) for t in topics}


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 3),
            "tp": tp, "fp": fp, "fn": fn}


def score(rows: list[dict[str, Any]], predicted: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Micro P/R/F1 per mode, and per-topic false positives / negatives (any polarity)."""
    out: dict[str, Any] = {}
    for mode in MODES:
        tp = fp = fn = 0
        for row, pred in zip(rows, predicted, strict=True):
            gold, got = _pairs(row["topics"], mode), _pairs(pred, mode)
            tp, fp, fn = tp + len(gold & got), fp + len(got - gold), fn + len(gold - got)
        out[mode] = _prf(tp, fp, fn)
    false_pos: Counter[str] = Counter()
    false_neg: Counter[str] = Counter()
    for row, pred in zip(rows, predicted, strict=True):
        gold, got = {t["name"] for t in row["topics"]}, {t["name"] for t in pred}
        false_pos.update(got - gold)
        false_neg.update(gold - got)
    out["false_positives"] = dict(false_pos.most_common())
    out["false_negatives"] = dict(false_neg.most_common())
    return out


def predict(rows: list[dict[str, Any]], analyzer: Any = None) -> list[list[dict[str, Any]]]:
    """Topics ({name, polarity, evidence}) the Analyzer gives each row, read with its stars and language."""
    from models.analyze import Analyzer, ReviewInput

    analyzer = analyzer or Analyzer.load()
    results = analyzer.analyze([ReviewInput(id=r["id"], text=r["text"], language=r.get("language"),
                                            rating=r.get("rating")) for r in rows])
    return [list(result.topics) for result in results]


def main() -> None:
    """Print the scores of the shipped models on one split (and the errors with --errors)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="dev", choices=["dev", "test", "all"])
    parser.add_argument("--errors", action="store_true", help="list every review whose topics differ from gold")
    args = parser.parse_args()
    rows = load_rows(split=args.split)
    predicted = predict(rows)
    result = score(rows, predicted)
    print(f"{len(rows)} real reviews ({args.split}):")
    for mode in MODES:
        print(f"  {mode:9} " + "  ".join(f"{k} {v}" for k, v in result[mode].items()))
    print(f"  false positives {result['false_positives']}")
    print(f"  false negatives {result['false_negatives']}")
    if args.errors:
        for row, pred in zip(rows, predicted, strict=True):
            gold = sorted((t["name"], t["polarity"]) for t in row["topics"])
            got = sorted((t["name"], t["polarity"]) for t in pred)
            if gold != got:
                print(f"\n{row['id']} {row['rating']}* {row['language']}: {row['text'][:300]!r}")
                print(f"  gold {gold}")
                for t in pred:
                    print(f"  got  {t['name']} {t['polarity']}: {[e[:80] for e in t['evidence']]}")


if __name__ == "__main__":
    main()
