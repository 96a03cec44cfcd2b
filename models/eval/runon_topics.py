"""Topics of run-on sentences, clause scoring off and on: `python -m models.eval.runon_topics --data ../shared/data`.

Real reviewers often write a whole complaint as one sentence held together by commas and "and". The labelled
SemEval sets are mostly short sentences, so this builds run-on sentences from them: consecutive sentences of one
review (pairs and triples, alternately) joined with ", ", "; ", " - " or the language's "and", the next sentence's
first letter lowered (unless it starts "I" or an acronym); gold = the union of their mapped topics. They go
through the Analyzer exactly as a review would (language declared, no stars), once with clause scoring off and
once on; SemEval has no stars, so the gate reads unrated reviews that read negative in place of the 1-2 star
reviews it reads in production. The natural sentences of the same split are scored the same way, to show what
clause scoring does to ordinary text.

dev is the selection split (models/config/topics.yaml ``clauses`` was chosen on it); test is reported once.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from models.topics import BUILTIN_TOPICS, load_config, map_categories

AND = {"en": " and ", "ru": " и "}


def _gold(s: Any, config: dict[str, Any]) -> set[str]:
    """Mapped topics of a SemEval sentence, each also as "name/negative" when an opinion on it is negative."""
    out: set[str] = set()
    for o in s.opinions:
        for name in map_categories([o.category], s.text, s.lang, config):
            out.add(name)
            if o.polarity == "negative":
                out.add(f"{name}/negative")
    return out


def runons(lang: str, split: str, data: Path) -> list[tuple[str, set[str]]]:
    """(run-on text, gold topics) built from consecutive sentences of each review of a SemEval split."""
    from models.datasets import load_semeval

    config = load_config()
    by_review: dict[str, list[Any]] = {}
    for s in load_semeval(lang, split, data):  # type: ignore[arg-type]
        if not s.out_of_scope and s.text.strip():
            by_review.setdefault(s.review_id, []).append(s)
    joiners = [", ", ", ", "; ", AND[lang], " - "]
    out: list[tuple[str, set[str]]] = []
    k = 0
    for sentences in by_review.values():
        i = 0
        while i < len(sentences):
            group = sentences[i:i + 2 + (k % 2)]
            i += len(group)
            if len(group) < 2:
                continue
            gold: set[str] = set()
            text = ""
            for n, s in enumerate(group):
                gold |= _gold(s, config)
                piece = s.text.strip()
                if n:
                    # "The" -> "the", but "I" and "BBQ" stay as written.
                    lowered = piece[:1].lower() + piece[1:] if piece[1:2].islower() else piece
                    text = text.rstrip(" .!") + joiners[k % len(joiners)] + lowered
                    k += 1
                else:
                    text = piece
            out.append((text, gold))
    return out


def natural(lang: str, split: str, data: Path) -> list[tuple[str, set[str]]]:
    """(sentence, gold topics) of the split as published."""
    from models.datasets import load_semeval

    config = load_config()
    return [(s.text, _gold(s, config))
            for s in load_semeval(lang, split, data) if not s.out_of_scope and s.text.strip()]  # type: ignore[arg-type]


def prf(gold: list[set[str]], pred: list[set[str]]) -> dict[str, float]:
    """Micro precision, recall and F1 over topic labels."""
    tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
    fp = sum(len(p - g) for g, p in zip(gold, pred, strict=True))
    fn = sum(len(g - p) for g, p in zip(gold, pred, strict=True))
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3), "n": len(gold)}


def score(analyzer: Any, items: list[tuple[str, set[str]]], lang: str, gate: Any) -> dict[str, dict[str, float]]:
    """Micro P/R/F1 over the SemEval-mapped topics (any polarity; negative only) with a clause gate (None = off).

    A predicted topic counts as negative when its polarity is negative; a gold one when any of its opinions is
    (a contrast sentence can be both).
    """
    from models.analyze import ReviewInput

    mapped = set(analyzer.topics.heads) & set(BUILTIN_TOPICS)
    saved = analyzer.topics.clause_gate
    analyzer.topics.clause_gate = gate
    try:
        results = analyzer.analyze([ReviewInput(id=str(i), text=t, language=lang) for i, (t, _) in enumerate(items)])
    finally:
        analyzer.topics.clause_gate = saved
    pred = [{t["name"] for t in r.topics} & mapped for r in results]
    pred_neg = [{t["name"] for t in r.topics if t["polarity"] == "negative"} & mapped for r in results]
    gold_neg = [{n.split("/")[0] for n in g if n.endswith("/negative")} & mapped for _, g in items]
    return {"any": prf([g & mapped for _, g in items], pred), "negative": prf(gold_neg, pred_neg)}


def main(
    data: Annotated[Path, typer.Option(help="the labelled data folder")] = Path("../shared/data"),
    split: Annotated[str, typer.Option(help="dev (selection) or test")] = "dev",
    min_words: Annotated[list[int], typer.Option(help="clause thresholds to compare with off")] = [12],  # noqa: B006
    max_per_review: Annotated[int, typer.Option(help="clauses a review at most")] = 4,
) -> None:
    """Print run-on and natural-sentence topic scores, clause scoring off and on."""
    from models.analyze import Analyzer
    from models.topics import ClauseGate

    analyzer = Analyzer.load()
    # SemEval has no stars: unrated reviews that read negative stand in for the low-star ones the gate reads.
    base = replace(analyzer.topics.clause_gate or ClauseGate(12, max_per_review, 0.5, 2, True), unrated=True)
    report: dict[str, Any] = {}
    for lang in ("en", "ru"):
        for kind, items in (("run-on", runons(lang, split, data)), ("natural", natural(lang, split, data))):
            row = {"off": score(analyzer, items, lang, None)}
            gates = {m: replace(base, min_words=m, max_per_review=max_per_review) for m in min_words}
            row |= {f"min_words={m}": score(analyzer, items, lang, gate) for m, gate in gates.items()}
            report[f"{lang} {split} {kind}"] = row
            typer.echo(f"{lang} {split} {kind}: {json.dumps(row)}")


if __name__ == "__main__":
    typer.run(main)
