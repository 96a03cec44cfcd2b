"""The drafting stage: analysis → plan → variants → verifier, for files and for the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from responses.compose import (
    DEFAULT_LIMIT,
    PLATFORM_LIMITS,
    Generator,
    PhrasebookGenerator,
    asks_question,
    build_plan,
)
from responses.playbook import NO_MONEY_DETAILS, Playbook
from responses.verify import VerifyContext, distinct, verify_text

SEVERITY_REASONS = {
    "legal_threat": "mentions legal action",
    "health_safety": "reports a health or safety problem",
    "fraud": "accuses the business of fraud or a scam",
    "privacy": "reports a privacy or data problem",
    "discrimination_harassment": "reports discrimination or harassment",
    "violence_self_harm": "mentions violence or self-harm",
}


@dataclass
class DraftInput:
    """One review to answer."""

    id: str
    text: str
    rating: float | None = None
    author: str | None = None
    language: str | None = None
    source: str | None = None
    platform: str | None = None
    max_chars: int | None = None
    business_type: str | None = None
    # The platform already shows a reply to this review (file mode: the line's "reply").
    answered: bool = False


@dataclass
class VariantResult:
    """One phrasing and the verifier's verdict."""

    variant: int
    text: str
    passed: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class DraftResult:
    """Drafts for one review, or the escalation that replaces them."""

    id: str
    language: str
    review_language: str | None
    language_fallback: bool
    kind: str
    escalation: dict[str, Any] | None
    variants: list[VariantResult]
    flags: dict[str, Any]
    generator: str

    def to_output(self) -> dict[str, Any]:
        """The line `reviewdesk draft` writes: only variants that passed the verifier are shown."""
        shown = [{"variant": v.variant, "text": v.text} for v in self.variants if v.passed]
        out: dict[str, Any] = {
            "id": self.id,
            "language": self.language,
            "review_language": self.review_language,
            "kind": self.kind,
            "escalation": self.escalation,
            "drafts": shown,
        }
        failed = [{"variant": v.variant, "problems": v.problems} for v in self.variants if not v.passed]
        if failed:
            out["rejected_by_verifier"] = failed
        if self.flags:
            out["flags"] = self.flags
        return out


def escalation_for(severity: list[str]) -> dict[str, Any] | None:
    """The escalation record for severity flags, or None when there are none."""
    if not severity:
        return None
    reasons = "; ".join(SEVERITY_REASONS.get(f, f) for f in severity)
    return {"flags": list(severity), "reason": f"no automatic draft: the review {reasons}; a person must answer"}


def limit_for(platform: str | None, override: int | None = None) -> int:
    """The reply length limit for a platform."""
    return override or PLATFORM_LIMITS.get(platform or "", DEFAULT_LIMIT)


class Drafter:
    """Drafts replies with one generator and checks every text with the verifier."""

    def __init__(
        self,
        playbook: Playbook,
        *,
        generator: Generator | None = None,
        details: Any = None,
        variants: int = 3,
        check_language: bool = True,
        relevance: Any = None,
    ) -> None:
        self.playbook = playbook
        self.generator = generator or PhrasebookGenerator()
        self.details = details
        # Whether a text is a review of the business at all; by default on the details' encoder (one model loaded).
        if relevance is None and getattr(details, "encoder", None) is not None:
            from responses.relevance import RelevanceDetector

            relevance = RelevanceDetector(details.encoder)
        self.relevance = relevance
        self.variants = variants
        self.check_language = check_language

    def _details(self, analysis: dict[str, Any]) -> dict[str, str]:
        if self.details is None:
            return {}
        out = {}
        for topic in analysis.get("topics") or []:
            if topic["polarity"] == "negative" and topic.get("evidence"):
                detail = self.details.detect(topic["name"], list(topic["evidence"])[:2])
                if detail:
                    out[topic["name"]] = detail
        return out

    def _no_reply(self, review: DraftInput, analysis: dict[str, Any], reason: str) -> DraftResult:
        language = analysis.get("language") or self.playbook.default_language
        return DraftResult(review.id, language, analysis.get("language"), False, "no_reply", None, [],
                           {"no_reply": reason}, self.generator.name)

    def draft(self, review: DraftInput, analysis: dict[str, Any]) -> DraftResult:
        """Escalate or draft one review from its analysis."""
        severity = list(analysis.get("severity") or [])
        review_language = analysis.get("language")
        escalation = escalation_for(severity)
        if escalation:
            return DraftResult(
                review.id, review_language or self.playbook.default_language, review_language, False, "escalation",
                escalation, [], {}, self.generator.name,
            )
        if review.answered:
            return self._no_reply(review, analysis, "no reply recommended: the review already has a reply on the "
                                                     "platform (a person can still write another)")
        not_review = self.relevance.check([review.text])[0] if self.relevance is not None and review.text else None
        if not_review is not None:
            return self._no_reply(review, analysis, not_review.reason())
        max_chars = limit_for(review.platform, review.max_chars)
        plan = build_plan(
            review_id=review.id,
            analysis=analysis,
            rating=review.rating,
            author=review.author,
            playbook=self.playbook,
            max_chars=max_chars,
            details=self._details(analysis),
            question=asks_question(review.text),
        )
        if "by_hand" in plan.flags:
            # No phrasing in the reviewer's language: no text at all rather than a reply in another language.
            return DraftResult(
                review.id, review_language or plan.language, review_language, False, plan.kind, None, [],
                dict(plan.flags), self.generator.name,
            )
        ctx = VerifyContext(
            kind=plan.kind,
            question=plan.question,
            language=plan.language,
            playbook=self.playbook,
            max_chars=max_chars,
            review_text=f"{review.author or ''}\n{review.text}",
            check_language=self.check_language,
            money_allowed=not plan.complaints or any(c.detail not in NO_MONEY_DETAILS for c in plan.complaints),
            name=plan.name,
        )
        try:
            texts = self.generator.generate(plan, self.variants)
        except Exception as exc:  # a plug-in generator (say, a remote model) failing must not stop the run
            texts, failure = [], f"generator {self.generator.name} failed: {type(exc).__name__}: {exc}"
        else:
            failure = None
        results = []
        for i, text in enumerate(texts, start=1):
            problems = verify_text(text, ctx)
            results.append(VariantResult(i, text, not problems, problems))
        if failure:
            results.append(VariantResult(1, "", False, [failure]))
        passed = [v.text for v in results if v.passed]
        if len(passed) > 1 and not distinct(passed):
            for v in results[1:]:
                if v.passed and not distinct([results[0].text, v.text]):
                    v.passed, v.problems = False, ["variant too similar to variant 1"]
        flags = dict(plan.flags)
        if plan.complaints:
            flags["topics"] = [c.name for c in plan.complaints]
            found = {c.name: c.detail for c in plan.complaints if c.detail}
            if found:
                flags["details"] = found
        if plan.praises:
            flags["praised"] = [t.name for t in plan.praises]
        if plan.offers:
            flags["offers"] = [o.kind for o in plan.offers]
        if plan.kind in ("negative", "mixed"):
            flags["ask"] = plan.ask
        return DraftResult(
            review.id, plan.language, review_language, plan.language_fallback, plan.kind, None, results, flags,
            self.generator.name,
        )


def now_utc() -> datetime:
    """The current time in UTC (one place, so tests can reason about it)."""
    return datetime.now(UTC)
