"""SQL for the alerts area (migration 005_monitoring); mixed into `pipeline.store.Connection`.

``alerts`` holds one row per event, unique by ``event_key``; ``alert_deliveries`` one row per (alert, channel)
with the state ``pending`` → ``sending`` → ``sent`` | ``failed`` | ``unknown`` (see docs/alerts.md). Every
state change of a delivery, and every new alert, writes ``audit_log`` (entity ``alert``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pipeline.store._base import SQLBase

ALERTS_ACTOR = "system:alerts"
DELIVERY_STATES = ("pending", "sending", "sent", "failed", "unknown")

_DELIVERY_VIEW = """
    SELECT d.alert_id, d.channel, d.state, d.attempts, d.last_error, d.updated_at, d.sent_at,
           a.event_key, a.kind, a.business_id, a.review_id, a.title, a.body, a.payload, a.created_at
    FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
"""


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("payload", "flags"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


class AlertsSQL(SQLBase):
    """Queries of the alerts area, run inside one store transaction."""

    # -- detecting -----------------------------------------------------------------------------

    def escalations_to_alert(self, since: datetime) -> list[dict[str, Any]]:
        """Open escalations of own businesses created and about a review active since ``since``, that have no
        alert yet; each row carries its ``event_key`` (``severity:<review_id>:<content_hash>``)."""
        rows = self._rows(
            """SELECT e.id AS escalation_id, e.review_id, e.content_hash, e.flags, e.reason, e.created_at,
                      'severity:' || e.review_id || ':' || e.content_hash AS event_key,
                      b.id AS business_id, b.name AS business_name, s.name AS source, s.platform,
                      r.rating, r.title, r.text, r.url, r.author_name, r.published_at, r.language
               FROM escalations e
               JOIN reviews r ON r.id = e.review_id
               JOIN sources s ON s.id = r.source_id
               JOIN businesses b ON b.id = s.business_id
               WHERE e.state = 'open' AND b.role = 'own' AND e.created_at >= ?
                 -- An edit counts as activity: an old review rewritten today with a threat is news.
                 AND greatest(r.published_at, coalesce(r.updated_at, r.published_at),
                              CASE WHEN r.version > 1 THEN r.changed_at ELSE r.published_at END) >= ?
                 AND NOT EXISTS (SELECT 1 FROM alerts a
                                 WHERE a.event_key = 'severity:' || e.review_id || ':' || e.content_hash)
               ORDER BY e.created_at, e.id""",
            [since, since],
        )
        return [_decode(r) for r in rows]

    def sentiment_counts(
        self, *, baseline_start: datetime, window_start: datetime, window_end: datetime, roles: list[str]
    ) -> list[dict[str, Any]]:
        """Per business of ``roles`` with analysed reviews in the window: reviews and negative ones published in
        [window_start, window_end) and in [baseline_start, window_start), by latest-analysis sentiment."""
        return self._rows(
            """WITH latest AS (
                   SELECT review_id, arg_max(sentiment, analyzed_at) AS sentiment FROM analyses GROUP BY review_id),
               counted AS (
                   SELECT s.business_id, s.name AS source, r.published_at >= ? AS in_window,
                          l.sentiment = 'negative' AS negative
                   FROM reviews r
                   JOIN sources s ON s.id = r.source_id
                   JOIN latest l ON l.review_id = r.id
                   WHERE r.removed_at IS NULL AND l.sentiment IS NOT NULL
                     AND r.published_at >= ? AND r.published_at < ?)
               SELECT b.id AS business_id, b.name AS business_name, b.role,
                      count(*) FILTER (WHERE in_window) AS window_reviews,
                      count(*) FILTER (WHERE in_window AND negative) AS window_negative,
                      count(*) FILTER (WHERE NOT in_window) AS baseline_reviews,
                      count(*) FILTER (WHERE NOT in_window AND negative) AS baseline_negative,
                      list_sort(list_distinct(list(c.source) FILTER (WHERE in_window AND negative))) AS sources
               FROM counted c JOIN businesses b ON b.id = c.business_id
               WHERE list_contains(?, b.role)
               GROUP BY b.id, b.name, b.role
               HAVING count(*) FILTER (WHERE in_window) > 0
               ORDER BY b.id""",
            [window_start, baseline_start, window_end, roles],
        )

    def last_alert_at(self, kind: str, business_id: str) -> datetime | None:
        """When the newest alert of this kind for this business was recorded, or None."""
        row = self._con.execute(
            "SELECT max(created_at) FROM alerts WHERE kind = ? AND business_id = ?", [kind, business_id]
        ).fetchone()
        return row[0] if row else None

    def record_alert(
        self,
        *,
        event_key: str,
        kind: str,
        business_id: str | None,
        review_id: int | None,
        title: str,
        body: str,
        payload: dict[str, Any],
        channels: list[str],
        now: datetime,
    ) -> int | None:
        """Insert an alert with a ``pending`` delivery per channel; None when its event_key already exists."""
        row = self._con.execute(
            """INSERT INTO alerts (event_key, kind, business_id, review_id, title, body, payload, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (event_key) DO NOTHING RETURNING id""",
            [event_key, kind, business_id, review_id, title, body, json.dumps(payload, ensure_ascii=False), now],
        ).fetchone()
        if row is None:
            return None
        alert_id = int(row[0])
        for channel in channels:
            self._con.execute(
                "INSERT INTO alert_deliveries (alert_id, channel, state, updated_at) VALUES (?, ?, 'pending', ?)",
                [alert_id, channel, now],
            )
        self.add_audit(actor=ALERTS_ACTOR, action="alert", entity="alert", entity_id=alert_id, at=now,
                       detail={"event_key": event_key, "kind": kind, "channels": channels})
        return alert_id

    # -- delivering ----------------------------------------------------------------------------

    def abandon_stale_sending(self, stale_before: datetime, now: datetime) -> list[dict[str, Any]]:
        """Deliveries left ``sending`` since before ``stale_before`` (their sender died) become ``unknown``."""
        rows = self._rows(
            """UPDATE alert_deliveries SET state = 'unknown', updated_at = ?,
                      last_error = 'interrupted while sending; not sent again (it may have arrived)'
               WHERE state = 'sending' AND updated_at < ?
               RETURNING alert_id, channel, attempts""",
            [now, stale_before],
        )
        for r in rows:
            self.add_audit(actor=ALERTS_ACTOR, action="deliver", entity="alert", entity_id=r["alert_id"], at=now,
                           from_state="sending", to_state="unknown",
                           detail={"channel": r["channel"], "attempts": r["attempts"], "reason": "interrupted"})
        return rows

    def pending_deliveries(self) -> list[dict[str, Any]]:
        """Every ``pending`` delivery with its alert, oldest alert first."""
        rows = self._rows(_DELIVERY_VIEW + "WHERE d.state = 'pending' ORDER BY a.id, d.channel")
        return [_decode(r) for r in rows]

    def claim_delivery(self, alert_id: int, channel: str, *, attempts: int, now: datetime) -> bool:
        """``pending`` → ``sending`` (attempts + 1) if nobody touched the row since it was read."""
        row = self._con.execute(
            """UPDATE alert_deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ?
               WHERE alert_id = ? AND channel = ? AND state = 'pending' AND attempts = ?
               RETURNING attempts""",
            [now, alert_id, channel, attempts],
        ).fetchone()
        return row is not None

    def finish_delivery(
        self, alert_id: int, channel: str, *, state: str, error: str | None, now: datetime
    ) -> bool:
        """``sending`` → ``sent``, ``failed``, ``unknown`` or back to ``pending`` (a retry), keeping the error."""
        if state not in ("sent", "failed", "unknown", "pending"):
            raise ValueError(f"a delivery cannot finish as {state!r}")
        row = self._con.execute(
            """UPDATE alert_deliveries SET state = ?, last_error = ?, updated_at = ?,
                      sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END
               WHERE alert_id = ? AND channel = ? AND state = 'sending'
               RETURNING attempts""",
            [state, error, now, state, now, alert_id, channel],
        ).fetchone()
        if row is None:
            return False
        self.add_audit(actor=ALERTS_ACTOR, action="deliver", entity="alert", entity_id=alert_id, at=now,
                       from_state="sending", to_state=state,
                       detail={"channel": channel, "attempts": int(row[0]), "error": error})
        return True

    # -- reading -------------------------------------------------------------------------------

    def alerts_with_deliveries(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest alerts, newest first, each with ``deliveries``: its rows of alert_deliveries."""
        alerts = [_decode(r) for r in self._rows("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", [limit])]
        if not alerts:
            return []
        deliveries = self._rows(
            """SELECT alert_id, channel, state, attempts, last_error, updated_at, sent_at FROM alert_deliveries
               WHERE list_contains(?, alert_id) ORDER BY alert_id, channel""",
            [[a["id"] for a in alerts]],
        )
        by_alert: dict[int, list[dict[str, Any]]] = {}
        for d in deliveries:
            by_alert.setdefault(d["alert_id"], []).append(d)
        for a in alerts:
            a["deliveries"] = by_alert.get(a["id"], [])
        return alerts

    def delivery_states(self) -> dict[str, int]:
        """How many deliveries are in each state (states with none are left out)."""
        rows = self._con.execute("SELECT state, count(*) FROM alert_deliveries GROUP BY state").fetchall()
        return {str(state): int(n) for state, n in rows}
