"""Severity as the full pipeline sees it: the labelled sample through `Analyzer`, and the escalation rate
on real 4-5 star Trustpilot reviews (tests/fixtures/trustpilot; praise, so any flag there is a false alarm).

    python -m models.eval.severity_pipeline
"""

from __future__ import annotations

import json
from pathlib import Path

from models.analyze import Analyzer, ReviewInput

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).with_name("severity_sample.jsonl")


def main() -> None:
    """Print recall / precision on the sample and false alarms on real praise."""
    analyzer = Analyzer.load()
    rows = [json.loads(x) for x in SAMPLE.read_text(encoding="utf-8").splitlines() if x.strip()]
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
    print(f"sample ({len(rows)} items): pair recall {tp / (tp + fn):.3f} precision {tp / max(tp + fp, 1):.3f}; "
          f"escalation recall {caught / gold_items:.3f} precision {caught / max(flagged_items, 1):.3f}")
    praise = []
    for path in sorted((ROOT / "tests/fixtures/trustpilot").glob("*/output.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for item in data.get("items", []) if isinstance(data, dict) else []:
            if isinstance(item, dict) and (item.get("rating") or 0) >= 4:
                text = f"{item.get('title') or ''}. {item.get('text') or ''}"
                praise.append(ReviewInput(id=str(len(praise)), text=text, language=item.get("language")))
    flagged = [
        (p.text[:70], [(h["flag"], h["rule"], h["matched"][:25], h["evidence"][:60]) for h in a.severity_hits])
        for p, a in zip(praise, analyzer.analyze(praise), strict=True) if a.severity
    ]
    print(f"real 4-5 star Trustpilot reviews: {len(flagged)} of {len(praise)} escalated")
    for text, flags in flagged:
        print("  ", flags, text.replace("\n", " "))


if __name__ == "__main__":
    main()
