"""SQL for the drafting stage: which reviews need a reply, saving drafts and escalations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.store._base import SQLBase

SYSTEM_ACTOR = "system:drafter"


@dataclass
class VariantRow:
    """One phrasing of a draft with the verifier's verdict."""

    variant: int
    text: str
    passed: bool
    problems: list[str] = field(default_factory=list)


class DraftingSQL(SQLBase):
    """Queries of the drafting stage."""

    def reviews_to_draft(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Own businesses' live reviews whose latest analysis matches their current text and that have
        neither a draft nor an escalation for that text, and no reply upstream yet."""
        return self._rows(
            """WITH latest AS (
                   SELECT review_id, arg_max(model_version, analyzed_at) AS model_version,
                          arg_max(content_hash, analyzed_at) AS content_hash
                   FROM analyses GROUP BY review_id)
               SELECT r.id AS review_id, r.content_hash, r.rating, r.title, r.text, r.author_name,
                      r.published_at, r.external_id, s.name AS source, s.platform, b.id AS business_id,
                      l.model_version
               FROM reviews r
               JOIN sources s ON s.id = r.source_id
               JOIN businesses b ON b.id = s.business_id
               JOIN latest l ON l.review_id = r.id AND l.content_hash = r.content_hash
               WHERE r.removed_at IS NULL AND b.role = 'own' AND r.reply_text IS NULL
                 AND NOT EXISTS (SELECT 1 FROM drafts d WHERE d.review_id = r.id AND d.content_hash = r.content_hash)
                 AND NOT EXISTS (SELECT 1 FROM escalations e
                                 WHERE e.review_id = r.id AND e.content_hash = r.content_hash)
               ORDER BY r.published_at, r.id
               LIMIT ?""",
            [limit if limit is not None else 2**62],
        )

    def save_draft(
        self,
        *,
        review_id: int,
        content_hash: str,
        model_version: str,
        playbook_hash: str,
        generator: str,
        language: str,
        review_language: str | None,
        language_fallback: bool,
        kind: str,
        variants: list[VariantRow],
        flags: dict[str, Any],
        now: datetime,
    ) -> int | None:
        """Store a pending draft with its variants; an older pending draft of the review is superseded.

        Returns None (and stores nothing) when this review text already has a draft: two runs that read the
        same work list before either wrote can never both draft it.
        """
        exists = self._con.execute(
            "SELECT id FROM drafts WHERE review_id = ? AND content_hash = ?", [review_id, content_hash]
        ).fetchone()
        if exists:
            return None
        for (old_id,) in self._con.execute(
            "SELECT id FROM drafts WHERE review_id = ? AND state = 'pending'", [review_id]
        ).fetchall():
            self._con.execute("UPDATE drafts SET state = 'superseded', updated_at = ? WHERE id = ?", [now, old_id])
            self.add_audit(
                actor=SYSTEM_ACTOR,
                action="supersede",
                entity="draft",
                entity_id=old_id,
                at=now,
                from_state="pending",
                to_state="superseded",
                detail={"reason": "review changed"},
            )
        shown = [v for v in variants if v.passed]
        state = "pending" if shown else "blocked"
        row = self._con.execute(
            """INSERT INTO drafts (review_id, content_hash, model_version, playbook_hash, generator, language,
                   review_language, language_fallback, kind, state, flags, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            [
                review_id,
                content_hash,
                model_version,
                playbook_hash,
                generator,
                language,
                review_language,
                language_fallback,
                kind,
                state,
                json.dumps(flags, ensure_ascii=False),
                now,
                now,
            ],
        ).fetchone()
        assert row is not None
        draft_id = int(row[0])
        for v in variants:
            self._con.execute(
                "INSERT INTO draft_variants (draft_id, variant, text, passed, problems) VALUES (?, ?, ?, ?, ?)",
                [draft_id, v.variant, v.text, v.passed, json.dumps(v.problems, ensure_ascii=False)],
            )
        self.add_audit(
            actor=SYSTEM_ACTOR,
            action="draft",
            entity="draft",
            entity_id=draft_id,
            at=now,
            to_state=state,
            detail={"review_id": review_id, "variants": len(shown), "failed": len(variants) - len(shown)},
        )
        return draft_id

    def save_escalation(
        self,
        *,
        review_id: int,
        content_hash: str,
        model_version: str,
        flags: list[str],
        reason: str,
        now: datetime,
    ) -> int | None:
        """Record an escalation once per review text; returns its id, or None if it already existed."""
        exists = self._con.execute(
            "SELECT id FROM escalations WHERE review_id = ? AND content_hash = ?", [review_id, content_hash]
        ).fetchone()
        if exists:
            return None
        row = self._con.execute(
            """INSERT INTO escalations (review_id, content_hash, model_version, flags, reason, created_at)
               VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
            [review_id, content_hash, model_version, json.dumps(flags), reason, now],
        ).fetchone()
        assert row is not None
        self.add_audit(
            actor=SYSTEM_ACTOR,
            action="escalate",
            entity="escalation",
            entity_id=int(row[0]),
            at=now,
            to_state="open",
            detail={"review_id": review_id, "flags": flags},
        )
        return int(row[0])
