"""`reviewdesk eval-replies`: draft replies for real negative reviews and measure the reply rules."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from responses.draft import Drafter, DraftInput, DraftResult
from responses.verify import distinct

LANGS = ("en", "ru", "pl", "he", "hu")
# Problem prefixes of the verifier, grouped into the figures the issue asks for.
CHECKS = {
    "structure complete": ("structure",),
    "language matches": ("language",),
    "offers traceable": ("offer", "never_promise"),
    "no personal data": ("personal data", "contact detail", "link"),
    "length within limit": ("too long",),
    "no markup / arguing": ("markup", "argues"),
}


@dataclass
class LangReport:
    """Figures for one language."""

    language: str
    source: str
    reviews: int = 0
    escalated: int = 0
    drafted: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)
    distinct_ok: int = 0
    shown_ok: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def rate(self, key: str) -> float:
        """Share of drafted reviews passing a check."""
        return self.passed[key] / self.drafted if self.drafted else 0.0


def negative_reviews(lang: str, data: Path, n: int) -> tuple[list[tuple[str, str]], str]:
    """Up to ``n`` (id, text) real negative reviews of a language, held-out split first."""
    from models.datasets import load_sentiment

    rows: list = []
    for split in ("test", "dev", "train"):
        rows += [r for r in load_sentiment(lang, split, data) if r.label == "negative" and r.text.strip()]
        if len(rows) >= n:
            break
    source = {
        "en": "SemEval ABSA restaurant sentences (2015 test, then our dev/train)",
        "ru": "SemEval-2016 ru restaurant sentences (our test, then dev/train)",
        "pl": "PolEmo 2.0 reviews (official dev, then our dev/train)",
        "he": "Hebrew Facebook comments (official dev)",
        "hu": "HuSST sentences (official dev)",
    }[lang]
    return [(r.id, r.text) for r in rows[:n]], source


def score(report: LangReport, result: DraftResult, detect: Any) -> None:
    """Fold one review's drafts into the language's figures."""
    report.reviews += 1
    if result.escalation:
        report.escalated += 1
        return
    report.drafted += 1
    report.kinds[result.kind] += 1
    problems = [p for v in result.variants for p in v.problems]
    for p in problems:
        report.problems[p.split(":")[0]] += 1
    for name, prefixes in CHECKS.items():
        if name == "language matches":
            # By language id on the draft's words, against the review's detected language.
            ok = all(detect(v.text) == result.review_language for v in result.variants)
        else:
            ok = not any(p.startswith(prefixes) for p in problems)
        report.passed[name] += ok
    report.distinct_ok += len(result.variants) >= 2 and distinct([v.text for v in result.variants])
    report.shown_ok += any(v.passed for v in result.variants)


def evaluate_replies(
    data: Path, drafter: Drafter, analyzer: Any, *, per_language: int = 200, langs: tuple[str, ...] = LANGS,
    samples: int = 10, progress: Any = None,
) -> list[LangReport]:
    """Analyse real negative reviews, draft replies, and measure every rule per language."""
    from models.analyze import ReviewInput
    from models.language import detect_language

    def detect(text: str) -> str:
        body = text.replace(drafter.playbook.signature_for("en"), " ")
        return detect_language(body).code

    reports = []
    for lang in langs:
        # Escalated reviews get no draft, so read on until `per_language` reviews were drafted.
        reviews, source = negative_reviews(lang, data, 4 * per_language)
        report = LangReport(lang, source)
        rng = random.Random(7)
        first = [i for i, _ in reviews[:per_language]]
        sample_ids = set(rng.sample(first, min(samples, len(first))))
        start = 0
        while start < len(reviews) and report.drafted < per_language:
            chunk = reviews[start : start + min(64, per_language - report.drafted)]
            start += len(chunk)
            analyses = analyzer.analyze([ReviewInput(id=i, text=t, language=lang) for i, t in chunk])
            for (rid, text), a in zip(chunk, analyses, strict=True):
                result = drafter.draft(DraftInput(id=rid, text=text, rating=None, language=lang), a.to_dict())
                score(report, result, detect)
                if rid in sample_ids and result.variants:
                    report.samples.append({"review": text, "kind": result.kind, "draft": result.variants[0].text,
                                           "topics": [t["name"] for t in a.topics if t["polarity"] == "negative"]})
            if progress is not None:
                progress(len(chunk))
        reports.append(report)
    return reports


def render_markdown(reports: list[LangReport]) -> str:
    """The figures as a Markdown table plus sample drafts."""
    head = ["lang", "reviews", "escalated", "drafted", *CHECKS, "distinct variants", "≥1 shown", "kinds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        cells = [r.language, str(r.reviews), str(r.escalated), str(r.drafted)]
        cells += [f"{100 * r.rate(k):.1f}%" for k in CHECKS]
        cells += [f"{100 * r.distinct_ok / max(r.drafted, 1):.1f}%", f"{100 * r.shown_ok / max(r.drafted, 1):.1f}%"]
        cells.append(", ".join(f"{k} {v}" for k, v in sorted(r.kinds.items())))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for r in reports:
        lines.append(f"### {r.language}: {r.source}")
        if r.problems:
            found = ", ".join(f"{k} ({v})" for k, v in r.problems.most_common())
            lines.append(f"Problems found by the verifier: {found}")
        for s in r.samples:
            review = s["review"].replace("\n", " ")
            lines.append(f"\n> review: {review[:300]}\n> topics: {', '.join(s['topics']) or '-'}; kind: {s['kind']}\n")
            lines.append("```\n" + s["draft"] + "\n```")
        lines.append("")
    return "\n".join(lines)
