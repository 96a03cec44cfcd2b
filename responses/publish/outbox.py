"""The outbox: approved drafts are queued, then posted once they are due, exactly once, with retries.

Policy in one place:

- ``queue_approved``: an approved draft gets one outbox row (``outbox.draft_id`` is unique) with
  ``publish_after = approved_at + publish.delay_minutes`` and an idempotency key over draft id and text.
  A text over the platform's limit is failed at once and never sent.
- ``publish_due``: nothing at all while the kill switch is on. Otherwise each due row is claimed
  (``sending``, committed) before any HTTP call; the platform is always read first (GET the existing
  reply) so a crash between posting and recording, or a reply written by hand on the platform, never
  leads to a second or overwriting post. A row left ``sending`` longer than `SENDING_LEASE` belongs to a
  publisher that died and is picked up again, starting with that check.
- Transient errors (network, 429, 408, 5xx) go back to ``queued`` with exponential backoff and jitter, or
  the platform's Retry-After; after ``publish.max_attempts`` attempts, or on a terminal error, the draft is
  ``failed`` with the reason in ``outbox.last_error`` and the audit log.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.store import Store
from responses.publish.connectors import (
    CONNECTORS,
    Connector,
    ConnectorSet,
    ConnectorUnavailable,
    PostTarget,
    TerminalError,
    TransientError,
)
from responses.publish.connectors.base import same_text
from responses.publish.settings import PublishEnv
from reviewdesk.config import Config, ConfigError, PublishSettings

log = logging.getLogger("reviewdesk.publish")

SYSTEM_ACTOR = "system:publisher"
# Longer than a publisher can spend on one row (two requests of at most 20 s each, plus a token refresh).
SENDING_LEASE = timedelta(minutes=5)
BACKOFF_BASE_S = 60.0
BACKOFF_CAP_S = 6 * 3600.0
HAND_POSTING_ROLES = ("responder", "approver", "admin")


class PublishUsageError(Exception):
    """A publishing command cannot do what was asked (wrong state, unknown user); printed as is."""


@dataclass
class Outcome:
    """What happened to one draft in a queue or publish run."""

    draft_id: int
    source: str
    connector: str
    state: str  # queued published retry failed cancelled waiting skipped would_queue would_fail would_send
    detail: str = ""
    when: datetime | None = None
    attempts: int = 0


@dataclass
class PublishRun:
    """The result of one ``reviewdesk publish``."""

    disabled: str | None = None
    queued: list[Outcome] = field(default_factory=list)
    sent: list[Outcome] = field(default_factory=list)

    @property
    def outcomes(self) -> list[Outcome]:
        """Queue outcomes first, then send outcomes."""
        return [*self.queued, *self.sent]


def idempotency_key(draft_id: int, text: str) -> str:
    """A stable key for "this draft with this text": sha256 over the draft id and the exact reply text."""
    return hashlib.sha256(f"reviewdesk-reply\x1f{draft_id}\x1f{text}".encode()).hexdigest()


def kill_switch(settings: PublishSettings, env: PublishEnv) -> str | None:
    """Why publishing is off (config or environment), or None when it may post."""
    if env.disabled:
        return "publishing is disabled by REVIEWDESK_PUBLISH_DISABLED"
    if not settings.enabled:
        return "publishing is disabled in the config (publish.enabled = false)"
    return None


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Delay after the ``attempt``-th failure: base * 2^(attempt-1), capped, with "equal jitter" (half fixed,
    half random) so that many rows failing together do not retry in lockstep."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def _reply_target(config: Config, source: str) -> tuple[str, dict[str, str], int | None]:
    try:
        _, src = config.source(source)
    except ConfigError:
        # A source no longer in the config: hand posting is the one choice that can never post wrongly.
        return "manual", {}, None
    return src.reply.connector, dict(src.reply.params), src.reply.max_chars


def _post_target(row: dict[str, Any]) -> PostTarget:
    target = row["target"] or {}
    return PostTarget(
        source=target.get("source") or row.get("source") or "",
        review_id=str(target.get("review_id") or row.get("review_external_id") or ""),
        params=target.get("params") or {},
        review_url=target.get("review_url"),
        max_chars=target.get("max_chars"),
    )


def queue_approved(
    store: Store,
    config: Config,
    *,
    now: datetime,
    draft_ids: Iterable[int] | None = None,
    dry_run: bool = False,
) -> list[Outcome]:
    """Queue approved drafts (all, or ``draft_ids``); returns one outcome per approved draft seen."""
    delay = timedelta(minutes=config.publish.delay_minutes)
    ids = list(draft_ids) if draft_ids is not None else None
    outcomes: list[Outcome] = []
    with store.transaction() as tx:
        for row in tx.approved_drafts_to_queue(ids):
            connector_name, params, max_chars = _reply_target(config, row["source"])
            cls = CONNECTORS[connector_name]
            text = row["final_text"]
            base = Outcome(row["draft_id"], row["source"], connector_name, "skipped")
            if text is None:
                base.detail = "approved without a final text; the approval step must set it"
                outcomes.append(base)
                continue
            target = {
                "source": row["source"], "platform": row["platform"], "review_id": row["review_external_id"],
                "params": params, "review_url": row["review_url"], "max_chars": max_chars,
            }
            problem = cls.target_problem(_post_target({"target": target}))
            if problem:
                # A config problem, not the draft's: it stays approved until the config is fixed.
                base.detail = problem
                outcomes.append(base)
                continue
            refused = cls.length_problem(text, max_chars)
            publish_after = (row["approved_at"] or now) + delay
            if dry_run:
                state = "would_fail" if refused else "would_queue"
                outcomes.append(Outcome(row["draft_id"], row["source"], connector_name, state, refused or "",
                                        publish_after))
                continue
            outbox_id = tx.queue_draft(
                draft_id=row["draft_id"], idempotency_key=idempotency_key(row["draft_id"], text),
                connector=connector_name, target=target, text=text, publish_after=publish_after, now=now,
                actor=SYSTEM_ACTOR, refused=refused,
            )
            if outbox_id is None:
                continue
            if refused:
                log.warning("draft %s refused for %s: %s", row["draft_id"], connector_name, refused)
                outcomes.append(Outcome(row["draft_id"], row["source"], connector_name, "failed", refused))
            else:
                detail = "copy it with `reviewdesk copy`, then `reviewdesk mark-posted`" if not cls.automatic else ""
                outcomes.append(Outcome(row["draft_id"], row["source"], connector_name, "queued", detail,
                                        publish_after))
    return outcomes


def publish_due(
    store: Store,
    connectors: ConnectorSet,
    *,
    settings: PublishSettings,
    env: PublishEnv,
    now: datetime,
    rng: random.Random | None = None,
    limit: int | None = None,
    dry_run: bool = False,
) -> PublishRun:
    """Post every due outbox row (unless the kill switch is on); one outcome per row handled."""
    reason = kill_switch(settings, env)
    if reason:
        return PublishRun(disabled=reason)
    run = PublishRun()
    with store.transaction() as tx:
        rows = tx.due_outbox(now, now - SENDING_LEASE, limit)
    for row in rows:
        outcome = Outcome(row["draft_id"], row["source"], row["connector"], "would_send",
                          attempts=row["attempts"], when=row["next_attempt_at"] or row["publish_after"])
        if dry_run:
            run.sent.append(outcome)
            continue
        try:
            connector = connectors.get(row["connector"])
        except ConnectorUnavailable as exc:
            outcome.state, outcome.detail = "waiting", str(exc)
            run.sent.append(outcome)
            continue
        with store.transaction() as tx:
            claimed = tx.claim_outbox(row["id"], expected_state=row["state"], expected_updated_at=row["updated_at"],
                                      now=now, actor=SYSTEM_ACTOR)
            current = tx.outbox_for_draft(row["draft_id"]) if claimed is None else None
        if claimed is None:
            if current is not None and current["state"] == "cancelled":
                outcome.state, outcome.detail = "cancelled", current["last_error"] or ""
            else:
                outcome.state, outcome.detail = "skipped", "handled by another publisher"
            run.sent.append(outcome)
            continue
        run.sent.append(_send(store, connectors, connector, claimed, settings=settings, now=now, rng=rng))
    return run


def _send(
    store: Store,
    connectors: ConnectorSet,
    connector: Connector,
    row: dict[str, Any],
    *,
    settings: PublishSettings,
    now: datetime,
    rng: random.Random | None,
) -> Outcome:
    """Check the platform, post if needed, record the result. The row is already ``sending``."""
    target = _post_target(row)
    text: str = row["text"]
    outcome = Outcome(row["draft_id"], row["source"], row["connector"], "published", attempts=row["attempts"])
    try:
        refused = connector.length_problem(text, target.max_chars)
        if refused:
            raise TerminalError(refused)
        existing = connector.existing_reply(target)
        if existing is not None:
            if not same_text(existing.text, text):
                raise TerminalError(
                    f"a different reply is already on {connector.label} for this review (posted outside "
                    "Reviewdesk?); it was not overwritten"
                )
            # Ours from an earlier attempt whose result was never recorded: record it, post nothing.
            external_id, detail = existing.external_id, {"recovered": True}
            outcome.detail = "already on the platform from an earlier attempt; recorded"
        else:
            external_id, detail = connector.post_reply(target, text).external_id, {}
        with store.transaction() as tx:
            tx.publish_outbox(row["id"], external_id=external_id, now=now, actor=SYSTEM_ACTOR,
                              detail={**detail, "attempt": row["attempts"]})
        log.info("draft %s published via %s", row["draft_id"], row["connector"])
        outcome.when = now
        return outcome
    except TransientError as exc:
        message = connectors.redact(str(exc))
        if row["attempts"] >= settings.max_attempts:
            return _fail(store, outcome, f"gave up after {row['attempts']} attempt(s): {message}", row, now)
        wait = exc.retry_after if exc.retry_after is not None else backoff_seconds(row["attempts"], rng)
        next_at = now + timedelta(seconds=wait)
        with store.transaction() as tx:
            tx.retry_outbox(row["id"], error=message, next_attempt_at=next_at, now=now, actor=SYSTEM_ACTOR)
        log.warning("draft %s: attempt %s via %s failed, retrying at %s: %s", row["draft_id"], row["attempts"],
                    row["connector"], next_at.isoformat(), message)
        outcome.state, outcome.detail, outcome.when = "retry", message, next_at
        return outcome
    except TerminalError as exc:
        return _fail(store, outcome, connectors.redact(str(exc)), row, now)


def _fail(store: Store, outcome: Outcome, message: str, row: dict[str, Any], now: datetime) -> Outcome:
    with store.transaction() as tx:
        tx.fail_outbox(row["id"], error=message, now=now, actor=SYSTEM_ACTOR)
    log.warning("draft %s failed via %s: %s", row["draft_id"], row["connector"], message)
    outcome.state, outcome.detail = "failed", message
    return outcome


def run_publish(
    store: Store,
    config: Config,
    connectors: ConnectorSet,
    *,
    env: PublishEnv,
    now: datetime,
    dry_run: bool = False,
    rng: random.Random | None = None,
) -> PublishRun:
    """Queue approved drafts, then post what is due: the whole of ``reviewdesk publish``."""
    queued = queue_approved(store, config, now=now, dry_run=dry_run)
    run = publish_due(store, connectors, settings=config.publish, env=env, now=now, rng=rng, dry_run=dry_run)
    run.queued = queued
    return run


# -- hand posting ------------------------------------------------------------------------------


def hand_posting_allowed(row: dict[str, Any]) -> bool:
    """A person may post a reply by hand for manual sources, and for automatic ones that failed."""
    return (row["connector"] == "manual" and row["state"] == "queued") or row["state"] == "failed"


def entry_for_hand_posting(store: Store, config: Config, draft_id: int, *, now: datetime) -> dict[str, Any]:
    """The outbox row of a draft a person wants to post by hand (queued first if just approved)."""
    queue_approved(store, config, now=now, draft_ids=[draft_id])
    with store.transaction() as tx:
        row = tx.outbox_for_draft(draft_id)
        state = tx.draft_state(draft_id)
    if state is None:
        raise PublishUsageError(f"no draft {draft_id}")
    if row is None:
        raise PublishUsageError(f"draft {draft_id} is {state}; only approved drafts can be posted")
    if row["state"] == "published":
        raise PublishUsageError(f"draft {draft_id} was already published at {row['published_at']:%Y-%m-%d %H:%M}")
    if not hand_posting_allowed(row):
        raise PublishUsageError(
            f"draft {draft_id} is posted automatically through {row['connector']} (outbox state {row['state']}); "
            "hand posting is for manual sources, or after an automatic post failed"
        )
    return row


def mark_posted(
    store: Store, config: Config, draft_id: int, *, user: str, url: str | None, now: datetime
) -> dict[str, Any]:
    """Record that ``user`` posted the reply by hand; the user must be a responder, approver or admin."""
    with store.transaction() as tx:
        found = tx.user_role(user)
    if found is None:
        raise PublishUsageError(f"no Reviewdesk user named {user!r}")
    role, disabled = found
    if disabled:
        raise PublishUsageError(f"user {user!r} is disabled")
    if role not in HAND_POSTING_ROLES:
        raise PublishUsageError(f"user {user!r} is a {role}; marking a reply posted needs responder, approver or admin")
    row = entry_for_hand_posting(store, config, draft_id, now=now)
    with store.transaction() as tx:
        done = tx.publish_outbox(row["id"], external_id=url, now=now, actor=user, from_states=("queued", "failed"),
                                 detail={"by_hand": True, "url": url, "previous_error": row["last_error"]})
    if not done:
        raise PublishUsageError(f"draft {draft_id} changed while it was being marked; run the command again")
    log.info("draft %s marked posted by %s", draft_id, user)
    return row


def connectors_for(config: Config, config_file: Path) -> tuple[PublishEnv, ConnectorSet]:
    """The environment snapshot and the lazily built connectors for a config (secrets file relative to it)."""
    from responses.publish.credentials import load_credentials
    from responses.publish.settings import read_env

    penv = read_env()
    secrets = config.publish.secrets_file
    if secrets is not None and not secrets.is_absolute():
        # Like the playbook path: relative to the config file, not to wherever the command runs.
        secrets = config_file.parent / secrets
    return penv, ConnectorSet(penv, lambda: load_credentials(penv, secrets))
