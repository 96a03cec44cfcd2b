"""What drafts say, measured against gold (issue 21, item 7): not whether a draft has the right parts, but whether
it thanks a complaint, apologises to praise, names the complaints the reviewer made, answers in the reviewer's
language, and how long and how repetitive it is.

Gold sets (``models.review_eval``, the same rules as the analysis views, documented in models/MODEL_CARD.md):
SemEval restaurant reviews en and ru (sentences grouped by review id; gold label by the majority of opinions; gold
complaint topics from the negative aspect categories), PolEmo 2.0 Polish reviews (review label), and on the test split
the Trustpilot fixtures (gold from the stars, which the drafter is not given, as for a platform without stars).
Each set is drafted with its business type's bundled playbook (``responses/playbooks``). Nothing is tuned on test.

"Negative thanked" counts a negative review whose reply thanks or praises something the reviewer did not praise (a
positive reply, or a mixed one praising a topic outside the gold praised topics); "positive apologised" a positive
review whose reply apologises for something not among its gold complaints. Sets without topic gold (PolEmo,
Trustpilot) count every mixed reply that praises (resp. every mixed reply). The same rates by reply kind alone
(``*_kind``) sit beside the plain baseline: the reply kind taken straight from a logistic regression on the same
encoder's vectors (``models.review_eval.Baseline``), trained in the same run.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from responses.draft import Drafter, DraftInput, DraftResult

TARGETS = {"negative_thanked": 0.05, "positive_apologised": 0.05, "naming_precision": 0.85, "naming_recall": 0.70,
           "wrong_language": 0.0}
# A reply of these kinds thanks the reviewer for praise; of these, it apologises.
THANKS_KINDS = ("positive", "mixed")
APOLOGY_KINDS = ("negative", "mixed")
# How many complaints the full variant of a reply names one by one (responses.compose: the first two apologies).
NAMED = 2
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+")


@dataclass
class Drafted:
    """One gold review and what its draft said."""

    id: str
    set: str
    gold: str | None
    gold_topics: frozenset[str] | None
    result: DraftResult
    baseline_kind: str | None = None
    gold_praised: frozenset[str] | None = None


def thanks_unsaid(d: Drafted) -> bool:
    """The draft thanks or praises the reviewer for something the gold does not say they praised: a positive reply, or
    a mixed one praising a topic outside the gold praised topics (any praise, where the set has no topic gold)."""
    if d.result.kind == "positive":
        return True
    praised = set(d.result.flags.get("praised") or [])
    if d.result.kind != "mixed" or not praised:
        return False
    return d.gold_praised is None or not praised <= d.gold_praised


def apologises_unsaid(d: Drafted) -> bool:
    """The draft apologises for something the gold does not say was a complaint: a negative reply, or a mixed one
    naming a topic outside the gold complaint topics (any apology, where the set has no topic gold)."""
    if d.result.kind == "negative":
        return True
    if d.result.kind != "mixed":
        return False
    named = set((d.result.flags.get("topics") or [])[:NAMED])
    return d.gold_topics is None or not named or not named <= d.gold_topics


@dataclass
class ContentReport:
    """Figures for one set."""

    name: str
    reviews: int = 0
    escalated: int = 0
    by_hand: int = 0
    # Real reviews told "no reply recommended" (not a review of the business): every one is a miss here.
    no_reply: int = 0
    figures: dict[str, Any] = field(default_factory=dict)


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _prf(gold: Sequence[frozenset[str]], named: Sequence[set[str]]) -> dict[str, float | int | None]:
    tp = sum(len(g & n) for g, n in zip(gold, named, strict=True))
    fp = sum(len(n - g) for g, n in zip(gold, named, strict=True))
    fn = sum(len(g - n) for g, n in zip(gold, named, strict=True))
    return {"precision": _rate(tp, tp + fp), "recall": _rate(tp, tp + fn), "named": tp + fp, "gold": tp + fn}


def shown_text(result: DraftResult) -> str | None:
    """The first variant that passed the verifier (what the approver sees first), or None."""
    return next((v.text for v in result.variants if v.passed), None)


def body_sentences(text: str) -> list[str]:
    """The sentences of a draft's body (greeting, sign-off and signature left out)."""
    lines = [line for line in text.split("\n") if line.strip()]
    body = " ".join(lines[1:-2]) if len(lines) > 3 else ""
    return [s.strip() for s in _SENTENCE.split(body) if s.strip()]


def score_set(name: str, drafted: Sequence[Drafted]) -> ContentReport:
    """The content figures of one set's drafts."""
    report = ContentReport(name, reviews=len(drafted))
    answered = []
    for d in drafted:
        if d.result.escalation:
            report.escalated += 1
        elif "by_hand" in d.result.flags:
            report.by_hand += 1
        elif "no_reply" in d.result.flags:
            report.no_reply += 1
        else:
            answered.append(d)
    f = report.figures
    negatives = [d for d in answered if d.gold == "negative"]
    positives = [d for d in answered if d.gold == "positive"]
    # A mixed reply to a negative review that thanks for praise the reviewer really gave (gold praised topics) is
    # right, and so is a mixed reply to a positive review apologising for a complaint it really made.
    f["negative_thanked"] = _rate(sum(thanks_unsaid(d) for d in negatives), len(negatives))
    f["positive_apologised"] = _rate(sum(apologises_unsaid(d) for d in positives), len(positives))
    # The same by reply kind alone (any mixed reply counts), comparable with the baseline's kind.
    f["negative_thanked_kind"] = _rate(sum(d.result.kind in THANKS_KINDS for d in negatives), len(negatives))
    f["positive_apologised_kind"] = _rate(sum(d.result.kind in APOLOGY_KINDS for d in positives), len(positives))
    f["negatives"], f["positives"] = len(negatives), len(positives)
    if any(d.baseline_kind for d in answered):
        f["baseline_negative_thanked"] = _rate(sum(d.baseline_kind in THANKS_KINDS for d in negatives), len(negatives))
        f["baseline_positive_apologised"] = _rate(sum(d.baseline_kind in APOLOGY_KINDS for d in positives),
                                                  len(positives))
    with_topics = [d for d in answered if d.gold_topics is not None]
    if with_topics:
        gold = [d.gold_topics or frozenset() for d in with_topics]
        complaints = [list(d.result.flags.get("topics") or []) if d.result.kind in APOLOGY_KINDS else []
                      for d in with_topics]
        f["naming"] = _prf(gold, [set(c[:NAMED]) for c in complaints])
        f["naming_all_found"] = _prf(gold, [set(c) for c in complaints])
    shown = [(d, shown_text(d.result)) for d in answered]
    f["no_text"] = sum(t is None for _, t in shown)
    texts = [(d, t) for d, t in shown if t]
    f["wrong_language"] = _rate(sum(d.result.language != d.result.review_language for d, _ in texts), len(texts))
    by_kind: dict[str, list[int]] = {}
    for d, t in texts:
        by_kind.setdefault(d.result.kind, []).append(len(t))
    f["median_chars"] = {k: int(statistics.median(v)) for k, v in sorted(by_kind.items())}
    counts = Counter(s for _, t in texts for s in set(body_sentences(t)))
    if counts and texts:
        sentence, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))  # ties: the same answer every run
        f["top_sentence"] = {"share": round(n / len(texts), 4), "text": sentence}
    return report


def gold_sets(split: str, data: Path | str | None) -> dict[str, list[Any]]:
    """The gold review sets of a split (Trustpilot only on test)."""
    from models.review_eval import polemo_reviews, semeval_reviews, trustpilot_reviews

    sets: dict[str, list[Any]] = {"semeval-en": semeval_reviews("en", split, data),
                                  "semeval-ru": semeval_reviews("ru", split, data),
                                  "polemo-pl": polemo_reviews(split, data)}
    if split == "test":
        sets["trustpilot"] = trustpilot_reviews()
    return sets


def evaluate_content(
    data: Path | str | None, analyzer: Any, details: Any = None, *, split: str = "test", limit: int | None = None,
    baseline: bool = True, progress: Any = None,
) -> list[ContentReport]:
    """Draft every gold review with its type's playbook and score what the drafts say."""
    from models.analyze import ReviewInput
    from models.review_eval import Baseline
    from responses.compose import review_kind
    from responses.playbook import EXAMPLE_PLAYBOOK, load_playbook, type_playbook

    drafters: dict[str | None, Drafter] = {}

    def drafter_for(kind: str | None) -> Drafter:
        if kind not in drafters:
            drafters[kind] = Drafter(load_playbook(type_playbook(kind) if kind else EXAMPLE_PLAYBOOK), details=details)
        return drafters[kind]

    base = Baseline(data) if baseline else None
    reports = []
    for name, items in gold_sets(split, data).items():
        items = items[:limit] if limit else items
        base_labels = base.predict(items) if base else [None] * len(items)
        drafted: list[Drafted] = []
        for start in range(0, len(items), 64):
            chunk = items[start:start + 64]
            analyses = analyzer.analyze([ReviewInput(id=i.id, text=i.text, language=i.lang or None,
                                                     business_type=i.business_type) for i in chunk])
            for k, (item, a) in enumerate(zip(chunk, analyses, strict=True)):
                result = drafter_for(item.business_type).draft(
                    DraftInput(id=item.id, text=item.text, language=item.lang or None,
                               business_type=item.business_type), a.to_dict())
                label = base_labels[start + k]
                drafted.append(Drafted(item.id, name, item.label, item.topics, result,
                                       review_kind(label, None, 0, 0) if label else None,
                                       getattr(item, "praised", None)))
            if progress is not None:
                progress(len(chunk))
        reports.append(score_set(name, drafted))
    return reports


def report_dict(reports: Sequence[ContentReport], split: str) -> dict[str, Any]:
    """The reports as one JSON-ready dictionary."""
    return {"split": split, "targets": TARGETS,
            "sets": {r.name: {"reviews": r.reviews, "escalated": r.escalated, "by_hand": r.by_hand,
                              "no_reply": r.no_reply, **r.figures}
                     for r in reports}}
