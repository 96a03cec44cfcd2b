"""SQL for the outbox tables (migration 004_responses); mixed into `pipeline.store.Connection`.

Outbox row states: ``queued`` (waiting for its publish time or next attempt; manual rows wait for a person),
``sending`` (claimed by a publisher; committed before the HTTP call), ``published``, ``failed``, ``cancelled``
(the draft left ``queued`` or its text changed before it was sent). Every change writes ``audit_log``: outbox
transitions on entity ``outbox``, draft transitions on entity ``draft``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pipeline.store._base import SQLBase

_OUTBOX_VIEW = """
    SELECT o.id, o.draft_id, o.idempotency_key, o.connector, o.target, o.text, o.state, o.publish_after,
           o.attempts, o.next_attempt_at, o.last_error, o.external_id, o.created_at, o.updated_at,
           o.published_at, d.state AS draft_state, d.final_text, d.approved_at, d.approved_by,
           r.external_id AS review_external_id, r.url AS review_url, s.name AS source, s.platform
    FROM outbox o
    JOIN drafts d ON d.id = o.draft_id
    JOIN reviews r ON r.id = d.review_id
    JOIN sources s ON s.id = r.source_id
"""


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    if isinstance(row.get("target"), str):
        row["target"] = json.loads(row["target"])
    return row


class OutboxSQL(SQLBase):
    """Queries on the outbox tables, run inside one store transaction."""

    # -- queueing ------------------------------------------------------------------------------

    def approved_drafts_to_queue(self, draft_ids: list[int] | None = None) -> list[dict[str, Any]]:
        """Approved drafts with no live outbox row, with the review's external id, source and platform."""
        return self._rows(
            """SELECT d.id AS draft_id, d.final_text, d.approved_at, d.approved_by, d.review_id,
                      r.external_id AS review_external_id, r.url AS review_url, s.name AS source, s.platform,
                      o.id AS outbox_id
               FROM drafts d
               JOIN reviews r ON r.id = d.review_id
               JOIN sources s ON s.id = r.source_id
               LEFT JOIN outbox o ON o.draft_id = d.id
               WHERE d.state = 'approved' AND (o.id IS NULL OR o.state = 'cancelled')
                 AND (? IS NULL OR list_contains(?, d.id))
               ORDER BY d.approved_at NULLS FIRST, d.id""",
            [draft_ids, draft_ids],
        )

    def queue_draft(
        self,
        *,
        draft_id: int,
        idempotency_key: str,
        connector: str,
        target: dict[str, Any],
        text: str,
        publish_after: datetime,
        now: datetime,
        actor: str,
        refused: str | None = None,
    ) -> int | None:
        """Move an approved draft to ``queued`` with its outbox row; ``refused`` fails it at once (never sent).

        Returns the outbox id, or None when the draft was no longer approved (another process got there first).
        """
        moved = self._con.execute(
            "UPDATE drafts SET state = 'queued', updated_at = ? WHERE id = ? AND state = 'approved' RETURNING id",
            [now, draft_id],
        ).fetchone()
        if moved is None:
            return None
        self.add_audit(actor=actor, action="queue", entity="draft", entity_id=draft_id, at=now,
                       from_state="approved", to_state="queued",
                       detail={"connector": connector, "publish_after": publish_after.isoformat()})
        old = self._con.execute("SELECT id, state FROM outbox WHERE draft_id = ?", [draft_id]).fetchone()
        target_json = json.dumps(target, ensure_ascii=False)
        if old is not None:
            # Only a cancelled row (never sent) is reused: outbox.draft_id is unique, one row per draft.
            if old[1] != "cancelled":
                raise ValueError(f"draft {draft_id} already has a {old[1]} outbox row")
            outbox_id = int(old[0])
            self._con.execute(
                """UPDATE outbox SET idempotency_key = ?, connector = ?, target = ?, text = ?, state = 'queued',
                          publish_after = ?, attempts = 0, next_attempt_at = NULL, last_error = NULL,
                          external_id = NULL, updated_at = ?, published_at = NULL
                   WHERE id = ?""",
                [idempotency_key, connector, target_json, text, publish_after, now, outbox_id],
            )
            from_state: str | None = "cancelled"
        else:
            row = self._con.execute(
                """INSERT INTO outbox (draft_id, idempotency_key, connector, target, text, state, publish_after,
                                       created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?) RETURNING id""",
                [draft_id, idempotency_key, connector, target_json, text, publish_after, now, now],
            ).fetchone()
            assert row is not None
            outbox_id = int(row[0])
            from_state = None
        self.add_audit(actor=actor, action="queue", entity="outbox", entity_id=outbox_id, at=now,
                       from_state=from_state, to_state="queued",
                       detail={"draft_id": draft_id, "connector": connector, "idempotency_key": idempotency_key})
        if refused is not None:
            self.fail_outbox(outbox_id, error=refused, now=now, actor=actor, from_states=("queued",))
        return outbox_id

    # -- sending -------------------------------------------------------------------------------

    def due_outbox(self, now: datetime, stale_before: datetime, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows a publisher should handle now: queued and due, or ``sending`` since before ``stale_before``
        (its publisher died mid-send: the platform is checked before anything is posted again)."""
        rows = self._rows(
            _OUTBOX_VIEW
            + """WHERE o.connector <> 'manual'
                   AND ((o.state = 'queued' AND o.publish_after <= ?
                         AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?))
                        OR (o.state = 'sending' AND o.updated_at <= ?))
                 ORDER BY coalesce(o.next_attempt_at, o.publish_after), o.id
                 LIMIT ?""",
            [now, now, stale_before, limit if limit is not None else 2**62],
        )
        return [_decode(r) for r in rows]

    def claim_outbox(
        self, outbox_id: int, *, expected_state: str, expected_updated_at: datetime, now: datetime, actor: str
    ) -> dict[str, Any] | None:
        """Mark a row ``sending`` (attempts + 1) if nobody changed it since it was read; None otherwise.

        A row whose draft left ``queued`` or whose approved text changed is cancelled instead (and None returned).
        """
        rows = self._rows(_OUTBOX_VIEW + "WHERE o.id = ?", [outbox_id])
        if not rows:
            return None
        row = _decode(rows[0])
        if row["state"] != expected_state or row["updated_at"] != expected_updated_at:
            return None  # another publisher claimed or finished it in between
        if row["draft_state"] != "queued" or row["final_text"] != row["text"]:
            self._con.execute(
                "UPDATE outbox SET state = 'cancelled', updated_at = ?, last_error = ? WHERE id = ?",
                [now, "draft changed after it was queued", outbox_id],
            )
            self.add_audit(actor=actor, action="cancel", entity="outbox", entity_id=outbox_id, at=now,
                           from_state=row["state"], to_state="cancelled",
                           detail={"draft_id": row["draft_id"], "draft_state": row["draft_state"],
                                   "reason": "draft changed after it was queued"})
            return None
        self._con.execute(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ? WHERE id = ?",
            [now, outbox_id],
        )
        self.add_audit(actor=actor, action="send", entity="outbox", entity_id=outbox_id, at=now,
                       from_state=row["state"], to_state="sending",
                       detail={"draft_id": row["draft_id"], "attempt": row["attempts"] + 1,
                               "recovering": row["state"] == "sending"})
        row.update(state="sending", attempts=row["attempts"] + 1, updated_at=now)
        return row

    def publish_outbox(
        self,
        outbox_id: int,
        *,
        external_id: str | None,
        now: datetime,
        actor: str,
        from_states: tuple[str, ...] = ("sending",),
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Record a reply as posted: outbox and draft become ``published``; False if not in ``from_states``."""
        current = self._con.execute("SELECT state, draft_id FROM outbox WHERE id = ?", [outbox_id]).fetchone()
        if current is None or current[0] not in from_states:
            return False
        from_state, draft_id = str(current[0]), int(current[1])
        self._con.execute(
            """UPDATE outbox SET state = 'published', external_id = ?, published_at = ?, updated_at = ?,
                      last_error = NULL, next_attempt_at = NULL
               WHERE id = ?""",
            [external_id, now, now, outbox_id],
        )
        self.add_audit(actor=actor, action="publish", entity="outbox", entity_id=outbox_id, at=now,
                       from_state=from_state, to_state="published",
                       detail={"draft_id": draft_id, "external_id": external_id, **(detail or {})})
        draft_from = self.draft_state(draft_id)
        self._con.execute(
            "UPDATE drafts SET state = 'published', published_at = ?, updated_at = ? WHERE id = ?",
            [now, now, draft_id],
        )
        self.add_audit(actor=actor, action="publish", entity="draft", entity_id=draft_id, at=now,
                       from_state=draft_from, to_state="published",
                       detail={"outbox_id": outbox_id, "external_id": external_id})
        return True

    def retry_outbox(
        self, outbox_id: int, *, error: str, next_attempt_at: datetime, now: datetime, actor: str
    ) -> None:
        """A transient failure: back to ``queued`` with the error and the time of the next attempt."""
        row = self._con.execute(
            """UPDATE outbox SET state = 'queued', last_error = ?, next_attempt_at = ?, updated_at = ?
               WHERE id = ? AND state = 'sending' RETURNING draft_id, attempts""",
            [error, next_attempt_at, now, outbox_id],
        ).fetchone()
        if row is None:
            return
        self.add_audit(actor=actor, action="retry", entity="outbox", entity_id=outbox_id, at=now,
                       from_state="sending", to_state="queued",
                       detail={"draft_id": int(row[0]), "attempts": int(row[1]), "error": error,
                               "next_attempt_at": next_attempt_at.isoformat()})

    def fail_outbox(
        self, outbox_id: int, *, error: str, now: datetime, actor: str, from_states: tuple[str, ...] = ("sending",)
    ) -> bool:
        """A terminal failure: outbox and draft become ``failed`` with the error kept in ``last_error``."""
        current = self._con.execute(
            "SELECT state, draft_id, attempts FROM outbox WHERE id = ?", [outbox_id]
        ).fetchone()
        if current is None or current[0] not in from_states:
            return False
        from_state, draft_id = str(current[0]), int(current[1])
        self._con.execute(
            "UPDATE outbox SET state = 'failed', last_error = ?, next_attempt_at = NULL, updated_at = ? WHERE id = ?",
            [error, now, outbox_id],
        )
        self.add_audit(actor=actor, action="fail", entity="outbox", entity_id=outbox_id, at=now,
                       from_state=from_state, to_state="failed",
                       detail={"draft_id": draft_id, "attempts": int(current[2]), "error": error})
        draft_from = self.draft_state(draft_id)
        self._con.execute("UPDATE drafts SET state = 'failed', updated_at = ? WHERE id = ?", [now, draft_id])
        self.add_audit(actor=actor, action="fail", entity="draft", entity_id=draft_id, at=now,
                       from_state=draft_from, to_state="failed", detail={"outbox_id": outbox_id, "error": error})
        return True

    # -- reading -------------------------------------------------------------------------------

    def outbox_rows(self, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Outbox rows (optionally of one state), newest first, with draft, review and source."""
        rows = self._rows(
            _OUTBOX_VIEW + "WHERE (? IS NULL OR o.state = ?) ORDER BY o.id DESC LIMIT ?", [state, state, limit]
        )
        return [_decode(r) for r in rows]

    def outbox_for_draft(self, draft_id: int) -> dict[str, Any] | None:
        """The outbox row of one draft, with draft, review and source; None if it was never queued."""
        rows = self._rows(_OUTBOX_VIEW + "WHERE o.draft_id = ?", [draft_id])
        return _decode(rows[0]) if rows else None

    def draft_state(self, draft_id: int) -> str | None:
        """The state of a draft, or None if there is no such draft."""
        row = self._con.execute("SELECT state FROM drafts WHERE id = ?", [draft_id]).fetchone()
        return str(row[0]) if row else None

    def user_role(self, name: str) -> tuple[str, bool] | None:
        """(role, disabled) of a Reviewdesk user, or None if there is no such user."""
        row = self._con.execute("SELECT role, disabled FROM users WHERE name = ?", [name]).fetchone()
        return (str(row[0]), bool(row[1])) if row else None
