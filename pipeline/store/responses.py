"""SQL for the responses tables (migration 004_responses); mixed into `pipeline.store.Connection`.

Reads and writes of the approval workflow. Rules (who may do what, which state may follow which) live in
`responses.service`; these methods only fetch and store, and every conditional update reports whether it
changed a row so the service can tell a lost race from success.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.store._base import SQLBase

# The latest analysis of each review (the one the inbox and `show` describe).
_LATEST_ANALYSIS = """
    SELECT review_id, arg_max(sentiment, analyzed_at) AS sentiment,
           arg_max(sentiment_scores, analyzed_at) AS sentiment_scores
    FROM analyses GROUP BY review_id"""


class ResponsesSQL(SQLBase):
    """Queries on the responses tables, run inside one store transaction."""

    # -- users -------------------------------------------------------------------------------

    def user_count(self) -> int:
        """How many users exist (disabled ones included): zero means the install is not set up yet."""
        row = self._con.execute("SELECT count(*) FROM users").fetchone()
        return int(row[0]) if row else 0

    def user(self, name: str) -> dict[str, Any] | None:
        """One user by name, or None."""
        rows = self._rows("SELECT * FROM users WHERE name = ?", [name])
        return rows[0] if rows else None

    def users(self) -> list[dict[str, Any]]:
        """Every user, by name."""
        return self._rows("SELECT * FROM users ORDER BY name")

    def active_admins(self) -> list[str]:
        """Names of the admins who are not disabled."""
        rows = self._con.execute("SELECT name FROM users WHERE role = 'admin' AND NOT disabled ORDER BY name")
        return [r[0] for r in rows.fetchall()]

    def insert_user(self, name: str, role: str, now: datetime) -> None:
        """Create a user."""
        self._con.execute("INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)", [name, role, now])

    def update_user(self, name: str, *, role: str | None = None, disabled: bool | None = None) -> None:
        """Change a user's role and/or disabled flag (None leaves it as is)."""
        self._con.execute(
            "UPDATE users SET role = coalesce(?, role), disabled = coalesce(?, disabled) WHERE name = ?",
            [role, disabled, name],
        )

    # -- drafts ------------------------------------------------------------------------------

    def draft(self, draft_id: int) -> dict[str, Any] | None:
        """A draft with what the workflow needs of its review and source, or None."""
        rows = self._rows(
            """SELECT d.*, r.content_hash AS review_content_hash, r.removed_at AS review_removed_at,
                      r.reply_text AS review_reply_text, r.rating, r.title AS review_title, r.text AS review_text,
                      r.language AS review_declared_language, r.author_name, r.author_country,
                      r.published_at AS review_published_at, r.url AS review_url, r.version AS review_version,
                      s.name AS source, s.platform, s.business_id
               FROM drafts d
               JOIN reviews r ON r.id = d.review_id
               JOIN sources s ON s.id = r.source_id
               WHERE d.id = ?""",
            [draft_id],
        )
        return rows[0] if rows else None

    def draft_variants(self, draft_id: int) -> list[dict[str, Any]]:
        """All variants of a draft (passed or not), by number."""
        return self._rows("SELECT * FROM draft_variants WHERE draft_id = ? ORDER BY variant", [draft_id])

    def newest_draft_of_review(self, review_id: int) -> dict[str, Any] | None:
        """The most recent draft of a review (to point from a superseded draft to its successor)."""
        rows = self._rows(
            "SELECT id, state, created_at FROM drafts WHERE review_id = ? ORDER BY created_at DESC, id DESC LIMIT 1",
            [review_id],
        )
        return rows[0] if rows else None

    def latest_analysis(self, review_id: int) -> dict[str, Any] | None:
        """The newest analysis of a review, or None."""
        rows = self._rows(
            "SELECT * FROM analyses WHERE review_id = ? ORDER BY analyzed_at DESC, model_version DESC LIMIT 1",
            [review_id],
        )
        return rows[0] if rows else None

    def approve_draft(
        self,
        draft_id: int,
        *,
        expected_updated_at: datetime,
        chosen_variant: int,
        proposed_text: str,
        final_text: str,
        actor: str,
        now: datetime,
    ) -> bool:
        """pending → approved, only if nobody touched the draft since ``expected_updated_at``."""
        row = self._con.execute(
            """UPDATE drafts SET state = 'approved', chosen_variant = ?, proposed_text = ?, final_text = ?,
                   approved_at = ?, approved_by = ?, updated_at = ?
               WHERE id = ? AND state = 'pending' AND updated_at = ?
               RETURNING id""",
            [chosen_variant, proposed_text, final_text, now, actor, now, draft_id, expected_updated_at],
        ).fetchone()
        return row is not None

    def reject_draft(self, draft_id: int, *, expected_updated_at: datetime, reason: str, now: datetime) -> bool:
        """pending → rejected with a reason, only if unchanged since ``expected_updated_at``."""
        row = self._con.execute(
            """UPDATE drafts SET state = 'rejected', reject_reason = ?, updated_at = ?
               WHERE id = ? AND state = 'pending' AND updated_at = ?
               RETURNING id""",
            [reason, now, draft_id, expected_updated_at],
        ).fetchone()
        return row is not None

    def save_draft_edit(
        self,
        draft_id: int,
        *,
        expected_updated_at: datetime,
        chosen_variant: int,
        proposed_text: str,
        final_text: str,
        now: datetime,
    ) -> bool:
        """Store a proposed edit on a pending draft (it stays pending), only if unchanged since read."""
        row = self._con.execute(
            """UPDATE drafts SET chosen_variant = ?, proposed_text = ?, final_text = ?, updated_at = ?
               WHERE id = ? AND state = 'pending' AND updated_at = ?
               RETURNING id""",
            [chosen_variant, proposed_text, final_text, now, draft_id, expected_updated_at],
        ).fetchone()
        return row is not None

    def pending_drafts(self, sla_hours: float, limit: int | None = None) -> list[dict[str, Any]]:
        """Pending drafts, riskiest first: lowest rating, most negative sentiment, nearest SLA deadline, oldest.

        Severity-flagged reviews are escalated instead of drafted, so risk here is what the rating and
        sentiment say. A review without an analysis sorts as neutral.
        """
        return self._rows(
            f"""WITH latest AS ({_LATEST_ANALYSIS}),
               first_variant AS (
                   SELECT draft_id, min(variant) AS variant, arg_min(text, variant) AS text
                   FROM draft_variants WHERE passed GROUP BY draft_id)
               SELECT d.id, d.review_id, d.language, d.kind, d.created_at, d.final_text IS NOT NULL AS edit_proposed,
                      s.name AS source, s.business_id, r.rating,
                      coalesce(d.review_language, r.language) AS review_language,
                      r.published_at AS review_published_at,
                      r.published_at + to_microseconds(CAST(? * 3600e6 AS BIGINT)) AS deadline,
                      CASE WHEN r.removed_at IS NOT NULL THEN 'removed'
                           WHEN r.content_hash <> d.content_hash THEN 'changed' END AS stale,
                      a.sentiment, fv.variant AS first_variant, fv.text AS first_variant_text
               FROM drafts d
               JOIN reviews r ON r.id = d.review_id
               JOIN sources s ON s.id = r.source_id
               LEFT JOIN latest a ON a.review_id = r.id
               LEFT JOIN first_variant fv ON fv.draft_id = d.id
               WHERE d.state = 'pending'
               ORDER BY r.rating,
                        CASE a.sentiment WHEN 'negative' THEN 0 WHEN 'positive' THEN 2 ELSE 1 END,
                        deadline, d.created_at, d.id
               LIMIT ?""",
            [sla_hours, limit if limit is not None else 2**62],
        )

    # -- escalations -------------------------------------------------------------------------

    def escalation(self, escalation_id: int) -> dict[str, Any] | None:
        """One escalation, or None."""
        rows = self._rows("SELECT * FROM escalations WHERE id = ?", [escalation_id])
        return rows[0] if rows else None

    def escalations_of_review(self, review_id: int) -> list[dict[str, Any]]:
        """Every escalation of one review, oldest first."""
        return self._rows("SELECT * FROM escalations WHERE review_id = ? ORDER BY created_at, id", [review_id])

    def open_escalations(self) -> list[dict[str, Any]]:
        """Open escalations with their review, oldest first (they are all urgent)."""
        return self._rows(
            """SELECT e.id, e.review_id, e.flags, e.reason, e.created_at, s.name AS source, s.business_id,
                      r.rating, r.language, r.title, r.text, r.published_at AS review_published_at,
                      r.removed_at AS review_removed_at
               FROM escalations e
               JOIN reviews r ON r.id = e.review_id
               JOIN sources s ON s.id = r.source_id
               WHERE e.state = 'open'
               ORDER BY e.created_at, e.id"""
        )

    def resolve_escalation(self, escalation_id: int, *, actor: str, note: str, now: datetime) -> bool:
        """open → resolved with a note; False when it was no longer open."""
        row = self._con.execute(
            """UPDATE escalations SET state = 'resolved', resolved_at = ?, resolved_by = ?, note = ?
               WHERE id = ? AND state = 'open' RETURNING id""",
            [now, actor, note, escalation_id],
        ).fetchone()
        return row is not None

    # -- audit -------------------------------------------------------------------------------

    def audit_tail(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` audit entries, oldest of them first."""
        return self._rows(
            "SELECT * FROM (SELECT * FROM audit_log ORDER BY id DESC LIMIT ?) ORDER BY id",
            [limit],
        )

    # -- SLA ---------------------------------------------------------------------------------

    def sla_figures(self, *, sla_hours: float, now: datetime, since: datetime | None = None) -> list[dict[str, Any]]:
        """Response times of own businesses' reviews, per business and per source.

        From review publication to its first draft that reached the inbox (blocked drafts never do), to
        its first approval and to its first reply posted by Reviewdesk: count, median and p90 in hours
        (linear interpolation). Overdue: online, no reply at all (ours or upstream), past the SLA.
        Business rows have ``source`` NULL and come before their sources.
        """
        return self._rows(
            """WITH per_review AS (
                   SELECT r.id, s.business_id, s.name AS source, r.published_at AS review_at,
                          r.removed_at IS NULL AND r.reply_text IS NULL AND count(d.published_at) = 0
                              AND r.published_at + to_microseconds(CAST(? * 3600e6 AS BIGINT)) < ?
                              AS overdue,
                          min(d.created_at) FILTER (WHERE d.state <> 'blocked') AS drafted_at,
                          min(d.approved_at) AS approved_at,
                          min(d.published_at) AS replied_at
                   FROM reviews r
                   JOIN sources s ON s.id = r.source_id
                   JOIN businesses b ON b.id = s.business_id
                   LEFT JOIN drafts d ON d.review_id = r.id
                   WHERE b.role = 'own' AND (? IS NULL OR r.published_at >= ?)
                   GROUP BY r.id, s.business_id, s.name, r.published_at, r.removed_at, r.reply_text),
               hours AS (
                   SELECT *, epoch(drafted_at - review_at) / 3600 AS h_draft,
                          epoch(approved_at - review_at) / 3600 AS h_approve,
                          epoch(replied_at - review_at) / 3600 AS h_publish
                   FROM per_review)
               SELECT business_id AS business, source, count(*) AS reviews,
                      count(h_draft) AS drafted, quantile_cont(h_draft, 0.5) AS draft_median_h,
                      quantile_cont(h_draft, 0.9) AS draft_p90_h,
                      count(h_approve) AS approved, quantile_cont(h_approve, 0.5) AS approve_median_h,
                      quantile_cont(h_approve, 0.9) AS approve_p90_h,
                      count(h_publish) AS published, quantile_cont(h_publish, 0.5) AS publish_median_h,
                      quantile_cont(h_publish, 0.9) AS publish_p90_h,
                      count(*) FILTER (WHERE overdue) AS overdue
               FROM hours
               GROUP BY GROUPING SETS ((business_id), (business_id, source))
               ORDER BY business_id, source NULLS FIRST""",
            [sla_hours, now, since, since],
        )
