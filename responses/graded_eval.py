"""The graded set (issue 21): drafts for held-out reviews in six languages and five business types, graded by the team
against ``responses/graded/rubric.md``; rerun as a regression check.

    python -m responses.graded_eval                 # figures over drafts whose graded text is unchanged
    python -m responses.graded_eval --export sheet.jsonl   # review + draft + hash per line, for (re)grading

A draft whose text changed since it was graded is listed for regrading and left out of the figures, so a change that
alters drafts shows up as work to do rather than as silently reused grades.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

GRADED_DIR = Path(__file__).parent / "graded"
GRADES = ("send", "small_edit", "rewrite", "wrong")
TARGETS = {"send_or_small_edit": 0.80, "wrong": 0.03}


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSONL file (none when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def shown(record: dict[str, Any]) -> str:
    """What the approver is shown for a review: the first passing variant, else the reason there is no text."""
    if record["drafts"]:
        return str(record["drafts"][0]["text"])
    if record.get("escalation"):
        return f"[escalated] {record['escalation']['reason']}"
    flags = record.get("flags") or {}
    return f"[no text] {flags.get('by_hand') or flags.get('no_reply') or 'no variant passed the checks'}"


def text_hash(text: str) -> str:
    """A short, stable fingerprint of what was graded."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def draft_all(reviews: list[dict[str, Any]], runtime: str = "onnx-int8") -> list[dict[str, Any]]:
    """Analyse and draft every review with its business type's bundled playbook, as `reviewdesk draft --type`."""
    from models.analyze import Analyzer, ReviewInput
    from responses.details import DetailDetector
    from responses.draft import Drafter, DraftInput
    from responses.playbook import load_playbook, type_playbook

    analyzer = Analyzer.load(runtime=runtime)
    details = DetailDetector(analyzer.encoder)
    drafters: dict[str, Drafter] = {}
    analyses = analyzer.analyze([ReviewInput(id=r["id"], text=r["text"], language=r["lang"] or None,
                                             business_type=r["business_type"]) for r in reviews])
    out = []
    for r, a in zip(reviews, analyses, strict=True):
        kind = r["business_type"]
        if kind not in drafters:
            drafters[kind] = Drafter(load_playbook(type_playbook(kind)), details=details)
        result = drafters[kind].draft(DraftInput(id=r["id"], text=r["text"], rating=r.get("rating"),
                                                 language=r["lang"] or None, business_type=kind), a.to_dict())
        record = result.to_output()
        text = shown(record)
        out.append({**r, "kind": record["kind"], "flags": record.get("flags") or {}, "draft": text,
                    "hash": text_hash(text)})
    return out


def figures(drafted: list[dict[str, Any]], grades: list[dict[str, Any]]) -> dict[str, Any]:
    """Grade shares over drafts whose graded text is unchanged, and what needs (re)grading."""
    by_id = {g["id"]: g for g in grades}
    current = [by_id[d["id"]] for d in drafted if d["id"] in by_id and by_id[d["id"]]["hash"] == d["hash"]]
    stale = [d["id"] for d in drafted if d["id"] in by_id and by_id[d["id"]]["hash"] != d["hash"]]
    ungraded = [d["id"] for d in drafted if d["id"] not in by_id]
    counts = Counter(g["grade"] for g in current)
    n = len(current)
    return {
        "reviews": len(drafted), "graded_current": n, "needs_regrading": stale, "ungraded": ungraded,
        "grades": {g: counts[g] for g in GRADES},
        "send_or_small_edit": round((counts["send"] + counts["small_edit"]) / n, 4) if n else None,
        "wrong": round(counts["wrong"] / n, 4) if n else None,
        "targets": TARGETS,
    }


def main(argv: list[str] | None = None) -> None:
    """Draft the graded set and print the figures (or export a grading sheet)."""
    parser = argparse.ArgumentParser(description="Graded reply set: figures, or a sheet to grade.")
    parser.add_argument("--export", type=Path, help="Write review + draft + hash per line here for grading.")
    args = parser.parse_args(argv)
    reviews = load_jsonl(GRADED_DIR / "reviews.jsonl")
    drafted = draft_all(reviews)
    if args.export:
        with args.export.open("w", encoding="utf-8") as fh:
            for d in drafted:
                fh.write(json.dumps(d, ensure_ascii=False) + "\n")
        print(f"wrote {len(drafted)} drafts to {args.export}")
        return
    print(json.dumps(figures(drafted, load_jsonl(GRADED_DIR / "grades.jsonl")), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
