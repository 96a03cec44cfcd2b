"""Draft replies for stored reviews: new or changed reviews of our own businesses, analysed, not yet answered."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.store import Store
from pipeline.store.drafting import VariantRow
from responses.draft import Drafter, DraftInput, now_utc
from responses.generators import load_generator
from responses.playbook import EXAMPLE_PLAYBOOK, Playbook, PlaybookError, load_playbook


@dataclass
class DraftSummary:
    """What one drafting run did."""

    drafted: int = 0
    escalated: int = 0
    blocked: int = 0
    fallback_language: int = 0
    by_hand: int = 0
    no_reply: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def playbooks_for(config: Any, config_file: Path) -> dict[str, Playbook]:
    """Each own business's playbook (its own, else the configured default); a missing one is an error."""
    out: dict[str, Playbook] = {}
    base = config_file.parent
    default = config.responses.default_playbook
    for i, business in enumerate(config.businesses):
        if business.role != "own":
            continue
        path = business.playbook or default
        if path is None:
            raise PlaybookError(
                f"{config_file}: businesses.{i}.playbook: business {business.id!r} has no reply playbook; "
                f"expected a YAML path (example: {EXAMPLE_PLAYBOOK}) or responses.default_playbook"
            )
        out[business.id] = load_playbook(path if path.is_absolute() else base / path)
    return out


def _source_targets(config: Any) -> dict[str, tuple[str, int | None]]:
    """Per source name: the platform whose reply limit applies, and a configured override."""
    out = {}
    for _, source in config.all_sources():
        connector = source.reply.connector
        out[source.name] = (source.platform if connector == "manual" else connector, source.reply.max_chars)
    return out


def _analysis_dict(row: dict[str, Any]) -> dict[str, Any]:
    def parse(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    hits = parse(row["severity"]) or []
    # Stored severity is the list of hits (flag, evidence, rule); the drafter needs the flag names.
    flags = sorted({h["flag"] if isinstance(h, dict) else str(h) for h in hits})
    return {
        "language": row["language"],
        "sentiment": row["sentiment"],
        "sentiment_scores": parse(row.get("sentiment_scores")),
        "topics": parse(row["topics"]) or [],
        "severity": flags,
    }


def draft_stored(
    store: Store,
    config: Any,
    config_file: Path,
    *,
    details: Any = None,
    limit: int | None = None,
    batch_size: int = 50,
    now: datetime | None = None,
) -> DraftSummary:
    """Draft (or escalate) every review that needs it; each batch commits on its own, so a crash loses at most
    one batch and a rerun continues where it stopped (drafts are keyed by review and text hash)."""
    playbooks = playbooks_for(config, config_file)
    generator = load_generator(config.responses.generator)
    drafters = {
        bid: Drafter(pb, generator=generator, details=details, variants=config.responses.variants)
        for bid, pb in playbooks.items()
    }
    targets = _source_targets(config)
    summary = DraftSummary()
    with store.transaction() as tx:
        todo = tx.reviews_to_draft(limit=limit)
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        with store.transaction() as tx:
            latest = {}
            for row in tx.analyses([r["review_id"] for r in batch]):
                latest.setdefault(row["review_id"], row)  # newest first
        results = []
        for review in batch:
            drafter = drafters.get(review["business_id"])
            analysis = latest.get(review["review_id"])
            if drafter is None or analysis is None:
                continue
            platform, override = targets.get(review["source"], (review["platform"], None))
            # The title is part of what the reviewer wrote: a question may be there ("Do you ship to Ireland?"), and
            # so may personal data the verifier must not let a draft echo.
            text = "\n".join(part for part in (review.get("title"), review["text"]) if part)
            item = DraftInput(
                id=str(review["review_id"]), text=text, rating=review["rating"],
                author=review["author_name"], source=review["source"], platform=platform, max_chars=override,
            )
            results.append((review, analysis, drafter, drafter.draft(item, _analysis_dict(analysis))))
        stamp = now or now_utc()
        with store.transaction() as tx:
            for review, analysis, drafter, result in results:
                if result.escalation:
                    if tx.save_escalation(
                        review_id=review["review_id"], content_hash=review["content_hash"],
                        model_version=analysis["model_version"], flags=result.escalation["flags"],
                        reason=result.escalation["reason"], now=stamp,
                    ):
                        summary.escalated += 1
                    continue
                draft_id = tx.save_draft(
                    review_id=review["review_id"], content_hash=review["content_hash"],
                    model_version=analysis["model_version"], playbook_hash=drafter.playbook.fingerprint(),
                    generator=result.generator, language=result.language, review_language=result.review_language,
                    language_fallback=result.language_fallback, kind=result.kind,
                    variants=[VariantRow(v.variant, v.text, v.passed, v.problems) for v in result.variants],
                    flags=result.flags, now=stamp,
                )
                if draft_id is None:
                    continue  # another run drafted this text in the meantime
                summary.drafted += 1
                summary.by_kind[result.kind] = summary.by_kind.get(result.kind, 0) + 1
                summary.blocked += not any(v.passed for v in result.variants)
                summary.fallback_language += result.language_fallback
                summary.by_hand += "by_hand" in result.flags
                summary.no_reply += "no_reply" in result.flags
    return summary
