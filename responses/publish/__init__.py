"""Publishing approved replies: the outbox, platform connectors, credentials (see docs/responses.md)."""

from __future__ import annotations

from responses.publish.outbox import (
    SYSTEM_ACTOR,
    Outcome,
    PublishRun,
    PublishUsageError,
    backoff_seconds,
    entry_for_hand_posting,
    idempotency_key,
    kill_switch,
    mark_posted,
    publish_due,
    queue_approved,
    run_publish,
)

__all__ = [
    "SYSTEM_ACTOR",
    "Outcome",
    "PublishRun",
    "PublishUsageError",
    "backoff_seconds",
    "entry_for_hand_posting",
    "idempotency_key",
    "kill_switch",
    "mark_posted",
    "publish_due",
    "queue_approved",
    "run_publish",
]
