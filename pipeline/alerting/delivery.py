"""Sending recorded alerts: each (alert, channel) delivery at most once, retried only when nothing went out.

A delivery is claimed (``sending``, attempts + 1, committed) before the network call and finished after it:
``sent``; back to ``pending`` on a transient error (tried again on a later run after a backoff, until
``alerts.max_attempts``); ``failed`` on a permanent error; ``unknown`` when the message went out but no answer
came back, or when a run finds a row still ``sending`` after `SENDING_LEASE` (its sender crashed). Those are
never sent again: webhooks and SMTP cannot tell us whether a message arrived, and a second copy of an alert is
worse than a visible ``unknown`` next to an escalation that `reviewdesk escalations` still lists.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline.alerting.channels import (
    PARTIAL_MARK,
    Channel,
    EmailChannel,
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
    WebhookChannel,
)
from pipeline.alerting.settings import EMAIL, WEBHOOK, AlertsEnv, read_env
from pipeline.store import Store
from reviewdesk.config import AlertsSettings, Config

log = logging.getLogger("reviewdesk.alerts")

# Far longer than one send can take (a 10 s webhook call, a few 30 s SMTP steps): an older ``sending`` row
# belongs to a sender that died.
SENDING_LEASE = timedelta(minutes=10)
BACKOFF_BASE_S = 60.0
BACKOFF_CAP_S = 3600.0


@dataclass
class DeliveryOutcome:
    """What one run did with one delivery."""

    alert_id: int
    channel: str
    state: str  # sent retry failed unknown waiting blocked
    detail: str = ""
    attempts: int = 0


@dataclass
class DeliverySummary:
    """The result of one `deliver_alerts` run."""

    outcomes: list[DeliveryOutcome] = field(default_factory=list)
    # Channels that cannot send at all right now (a variable not set, bad settings): their rows stay pending.
    blocked: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Outcomes per state."""
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.state] = out.get(o.state, 0) + 1
        return out

    @property
    def ok(self) -> bool:
        """True when nothing failed, went unknown or was blocked."""
        return not self.blocked and not any(o.state in ("failed", "unknown", "blocked") for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for a flow's result or ``--json``)."""
        return {"counts": self.counts(), "blocked": dict(self.blocked), "outcomes": [asdict(o) for o in self.outcomes]}


def backoff_seconds(attempts: int) -> float:
    """Wait after the ``attempts``-th transient failure: 1 min doubling per attempt, at most an hour."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(attempts - 1, 0))


def build_channels(
    settings: AlertsSettings, env: AlertsEnv, now: datetime
) -> tuple[dict[str, Channel], dict[str, str]]:
    """The usable channels, and for each configured one that is not usable, why (never quoting a secret)."""
    secrets = env.secret_values()
    channels: dict[str, Channel] = {}
    blocked: dict[str, str] = {}
    if settings.webhook_url_env:
        if env.webhook_url is None:
            blocked[WEBHOOK] = f"${settings.webhook_url_env} (alerts.webhook_url_env) is not set"
        else:
            webhook = WebhookChannel(env.webhook_url, secrets)
            problem = webhook.problem()
            if problem:
                blocked[WEBHOOK] = f"{problem} (${settings.webhook_url_env})"
            else:
                channels[WEBHOOK] = webhook
    if settings.email_to:
        email = EmailChannel(settings, env, secrets, now)
        problem = email.problem()
        if EMAIL in env.missing:
            blocked[EMAIL] = f"${env.missing[EMAIL]} is not set"
        elif problem:
            blocked[EMAIL] = problem
        else:
            channels[EMAIL] = email
    return channels, blocked


def deliver_alerts(
    store: Store,
    config: Config,
    now: datetime,
    *,
    env: AlertsEnv | None = None,
    channels: dict[str, Channel] | None = None,
) -> DeliverySummary:
    """Send every due pending delivery once; returns what happened to each (see the module docstring)."""
    settings = config.alerts
    env = env if env is not None else read_env(settings)
    summary = DeliverySummary()
    if channels is None:
        channels, summary.blocked = build_channels(settings, env, now)
    with store.transaction() as tx:
        for row in tx.abandon_stale_sending(now - SENDING_LEASE, now):
            log.warning("alert %s via %s was interrupted while sending; marked unknown, not resent",
                        row["alert_id"], row["channel"])
            summary.outcomes.append(DeliveryOutcome(row["alert_id"], row["channel"], "unknown",
                                                    "interrupted while sending", row["attempts"]))
        rows = tx.pending_deliveries()
    for row in rows:
        alert_id, name, attempts = row["alert_id"], row["channel"], row["attempts"]
        channel = channels.get(name)
        if channel is None:
            why = summary.blocked.get(name) or f"channel {name!r} is no longer configured"
            summary.blocked.setdefault(name, why)
            summary.outcomes.append(DeliveryOutcome(alert_id, name, "blocked", why, attempts))
            continue
        if attempts and row["updated_at"] + timedelta(seconds=backoff_seconds(attempts)) > now:
            summary.outcomes.append(DeliveryOutcome(alert_id, name, "waiting", row["last_error"] or "", attempts))
            continue
        message = channel.prepare(row)
        with store.transaction() as tx:
            if not tx.claim_delivery(alert_id, name, attempts=attempts, now=now):
                continue  # another run took it
        attempts += 1
        state, detail = _send(channel, row, message, attempts, settings.max_attempts)
        with store.transaction() as tx:
            # A sent e-mail keeps a note only when some recipients were refused (see EmailChannel).
            error = (detail if PARTIAL_MARK in detail else None) if state == "sent" else detail
            tx.finish_delivery(alert_id, name, state="pending" if state == "retry" else state, error=error, now=now)
        summary.outcomes.append(DeliveryOutcome(alert_id, name, state, detail, attempts))
    return summary


def _send(channel: Channel, row: dict[str, Any], message: bytes, attempts: int, max_attempts: int) -> tuple[str, str]:
    alert_id, name = row["alert_id"], channel.name
    try:
        note = channel.transmit(row, message)
    except TransientDeliveryError as exc:
        if attempts >= max_attempts:
            log.warning("alert %s via %s failed for good after %d attempts: %s", alert_id, name, attempts, exc)
            return "failed", f"gave up after {attempts} attempts: {exc}"
        log.warning("alert %s via %s will be retried (attempt %d of %d): %s", alert_id, name, attempts,
                    max_attempts, exc)
        return "retry", str(exc)
    except PermanentDeliveryError as exc:
        log.error("alert %s via %s failed: %s", alert_id, name, exc)
        return "failed", str(exc)
    except UncertainDeliveryError as exc:
        log.error("alert %s via %s may or may not have arrived; not resent: %s", alert_id, name, exc)
        return "unknown", str(exc)
    if PARTIAL_MARK in note:
        log.warning("alert %s sent via %s, but not to everyone: %s", alert_id, name, note)
    else:
        log.info("alert %s sent via %s", alert_id, name)
    return "sent", note
