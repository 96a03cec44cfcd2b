"""Severity as the full pipeline sees it, three figures:

1. the team's labelled sample (`severity_sample.jsonl`, team-written: a regression check) through `Analyzer`;
2. the escalation rate on real 4-5 star Trustpilot reviews (tests/fixtures/trustpilot; praise, so any flag
   there is a false alarm);
3. the escalation rate on the real negative reviews `reviewdesk eval-replies` drafts for
   (`responses.evaluate.negative_reviews(lang, data, 200)`: held-out splits first), with the rules that fire
   most per language. Many of these are legitimately benign complaints; a few are real (a stay in hospital).
   They are an outcome measure only: nothing in the detector is tuned on them.

    python -m models.eval.severity_pipeline [--data ../shared/data] [--per-language 200] [--top 5]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from models.analyze import Analyzer, ReviewInput

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).with_name("severity_sample.jsonl")
NEGATIVE_LANGS = ("en", "ru", "pl", "he", "hu")


def sample_scores(analyzer: Analyzer, path: Path = SAMPLE) -> dict[str, float]:
    """Pair and escalation recall/precision of the full pipeline on the labelled sample."""
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    results = analyzer.analyze([ReviewInput(id=r["id"], text=r["text"], language=r["lang"]) for r in rows])
    tp = fp = fn = 0
    caught = flagged_items = gold_items = 0
    for row, a in zip(rows, results, strict=True):
        gold, pred = set(row["flags"]), set(a.severity)
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
        caught += bool(gold and pred)
        flagged_items += bool(pred)
        gold_items += bool(gold)
    return {
        "items": len(rows),
        "pair_recall": tp / max(tp + fn, 1),
        "pair_precision": tp / max(tp + fp, 1),
        "escalation_recall": caught / max(gold_items, 1),
        "escalation_precision": caught / max(flagged_items, 1),
    }


def praise_reviews() -> list[ReviewInput]:
    """Real 4-5 star Trustpilot reviews from the test fixtures."""
    praise = []
    for path in sorted((ROOT / "tests/fixtures/trustpilot").glob("*/output.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for item in data.get("items", []) if isinstance(data, dict) else []:
            if isinstance(item, dict) and (item.get("rating") or 0) >= 4:
                text = f"{item.get('title') or ''}. {item.get('text') or ''}"
                praise.append(ReviewInput(id=str(len(praise)), text=text, language=item.get("language")))
    return praise


def negative_escalations(
    analyzer: Analyzer, data: Path, per_language: int = 200, langs: tuple[str, ...] = NEGATIVE_LANGS
) -> dict[str, dict[str, Any]]:
    """Per language: reviews, escalated, and how many reviews each rule fired on (eval-replies' reviews)."""
    from responses.evaluate import negative_reviews

    out: dict[str, dict[str, Any]] = {}
    for lang in langs:
        reviews, source = negative_reviews(lang, data, per_language)
        analyses = analyzer.analyze([ReviewInput(id=i, text=t, language=lang) for i, t in reviews])
        rules: Counter[str] = Counter()
        flags: Counter[str] = Counter()
        examples: dict[str, str] = {}
        for a in analyses:
            for rule in {h["rule"] for h in a.severity_hits}:
                rules[rule] += 1
            for h in a.severity_hits:
                examples.setdefault(h["rule"], h["matched"][:40])
            flags.update(a.severity)
        out[lang] = {
            "source": source,
            "reviews": len(reviews),
            "escalated": sum(bool(a.severity) for a in analyses),
            "flags": dict(flags.most_common()),
            "rules": rules.most_common(),
            "matched": examples,
        }
    return out


def main() -> None:
    """Print the three figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--per-language", type=int, default=200)
    parser.add_argument("--top", type=int, default=5, help="rules to list per language")
    args = parser.parse_args()

    analyzer = Analyzer.load()
    print(f"severity detector {getattr(analyzer.severity, 'version', '?')}")
    s = sample_scores(analyzer)
    print(f"team-written sample ({s['items']} items): pair recall {s['pair_recall']:.3f} "
          f"precision {s['pair_precision']:.3f}; escalation recall {s['escalation_recall']:.3f} "
          f"precision {s['escalation_precision']:.3f}")

    praise = praise_reviews()
    flagged = [
        (p.text[:70], [(h["flag"], h["rule"], h["matched"][:25], h["evidence"][:60]) for h in a.severity_hits])
        for p, a in zip(praise, analyzer.analyze(praise), strict=True) if a.severity
    ]
    print(f"real 4-5 star Trustpilot reviews: {len(flagged)} of {len(praise)} escalated")
    for text, flags in flagged:
        print("  ", flags, text.replace("\n", " "))

    if not args.data.is_dir():
        print(f"real negative reviews: skipped ({args.data} not found)")
        return
    print("real negative reviews (as `reviewdesk eval-replies` reads them):")
    for lang, r in negative_escalations(analyzer, args.data, args.per_language).items():
        print(f"  {lang}: {r['escalated']} of {r['reviews']} escalated ({r['source']}); flags {r['flags']}")
        for rule, n in r["rules"][: args.top]:
            print(f"      {n:4d}  {rule}  [{r['matched'][rule]}]")


if __name__ == "__main__":
    main()
