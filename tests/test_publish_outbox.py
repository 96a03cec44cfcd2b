"""Outbox policy against a real loopback Trustpilot fake and a real DuckDB store: delay, kill switch,
exactly-once across crashes, retries with backoff, Retry-After, terminal failures, length limits."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes.publishing import (
    T0,
    TRUSTPILOT_SOURCE,
    add_reviews,
    approve,
    approved_draft,
    audit,
    env,
    make_config,
    make_draft,
    outbox,
)
from fakes.trustpilot import FakeTrustpilot

from pipeline.store import Store
from pipeline.store.outbox import OutboxSQL
from responses.publish import (
    SYSTEM_ACTOR,
    PublishRun,
    backoff_seconds,
    idempotency_key,
    publish_due,
    queue_approved,
    run_publish,
)
from responses.publish.connectors import ConnectorSet
from responses.publish.credentials import load_credentials
from responses.publish.outbox import BACKOFF_CAP_S, SENDING_LEASE
from responses.publish.settings import PublishEnv

TEXT = "Thank you for telling us. We are sorry the parcel was late; please write to help@acme.example."


@pytest.fixture
def tp() -> Iterator[FakeTrustpilot]:
    with FakeTrustpilot() as fake:
        yield fake


def tp_env(tp: FakeTrustpilot, **extra: str) -> PublishEnv:
    return env({"REVIEWDESK_TRUSTPILOT_API_BASE": tp.base, "REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN": tp.token, **extra})


def publish(
    store: Store, tp: FakeTrustpilot, at: timedelta, *, seed: int = 0, token: str | None = None, **config: Any
) -> PublishRun:
    """One `reviewdesk publish` at T0 + ``at``."""
    cfg = make_config([TRUSTPILOT_SOURCE], **config)
    e = tp_env(tp, **({"REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN": token} if token else {}))
    return run_publish(store, cfg, ConnectorSet(e, lambda: load_credentials(e)), env=e, now=T0 + at,
                       rng=random.Random(seed))


def draft_for(store: Store, tmp_path: Path, review_id: str = "5f1a2b3c4d5e6f7a8b9c0d1e", text: str = TEXT) -> int:
    return approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, review_id, text)


def test_delay_is_respected(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    first = publish(store, tp, timedelta(0))
    assert [(o.draft_id, o.state) for o in first.queued] == [(draft_id, "queued")]
    row = outbox(store, draft_id)
    assert row["publish_after"] == T0 + timedelta(minutes=10)
    assert row["draft_state"] == "queued" and row["state"] == "queued"
    # One second before the undo window ends: nothing is sent, not even a read.
    assert publish(store, tp, timedelta(minutes=10) - timedelta(seconds=1)).sent == []
    assert tp.requests == []
    done = publish(store, tp, timedelta(minutes=10))
    assert [o.state for o in done.sent] == ["published"]
    assert tp.replies == {"5f1a2b3c4d5e6f7a8b9c0d1e": TEXT}
    assert outbox(store, draft_id)["draft_state"] == "published"


def test_queueing_is_idempotent_with_a_stable_key(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    cfg = make_config([TRUSTPILOT_SOURCE])
    assert len(queue_approved(store, cfg, now=T0)) == 1
    assert queue_approved(store, cfg, now=T0 + timedelta(minutes=1)) == []
    with store.transaction() as tx:
        assert tx.count("outbox") == 1
    key = outbox(store, draft_id)["idempotency_key"]
    assert key == idempotency_key(draft_id, TEXT) == idempotency_key(draft_id, TEXT)
    assert key != idempotency_key(draft_id, TEXT + " ") and key != idempotency_key(draft_id + 1, TEXT)


@pytest.mark.parametrize("switch", ["config", "env"])
def test_kill_switch_posts_nothing_and_release_posts(
    store: Store, tmp_path: Path, tp: FakeTrustpilot, switch: str
) -> None:
    draft_id = draft_for(store, tmp_path)
    cfg = make_config([TRUSTPILOT_SOURCE], enabled=switch != "config")
    e = tp_env(tp, **({"REVIEWDESK_PUBLISH_DISABLED": "1"} if switch == "env" else {}))
    connectors = ConnectorSet(e, lambda: load_credentials(e))
    later = T0 + timedelta(hours=1)
    stopped = run_publish(store, cfg, connectors, env=e, now=later)
    assert stopped.disabled is not None and ("REVIEWDESK_PUBLISH_DISABLED" in stopped.disabled
                                              or "publish.enabled = false" in stopped.disabled)
    assert stopped.sent == [] and tp.requests == []
    assert outbox(store, draft_id)["state"] == "queued"  # queued, waiting: nothing lost
    # Switch off again: the same row goes out.
    run = publish_due(store, ConnectorSet(tp_env(tp), lambda: load_credentials(tp_env(tp))),
                      settings=make_config([TRUSTPILOT_SOURCE]).publish, env=tp_env(tp), now=later)
    assert [o.state for o in run.sent] == ["published"]
    assert tp.writes == {"5f1a2b3c4d5e6f7a8b9c0d1e": 1}


def test_env_kill_switch_wins_over_enabled_config(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_for(store, tmp_path)
    cfg = make_config([TRUSTPILOT_SOURCE], enabled=True, delay_minutes=0)
    for value in ("1", "true", "YES", "on"):
        e = tp_env(tp, REVIEWDESK_PUBLISH_DISABLED=value)
        assert run_publish(store, cfg, ConnectorSet(e, lambda e=e: load_credentials(e)), env=e, now=T0).disabled
    assert tp.requests == []
    e = tp_env(tp, REVIEWDESK_PUBLISH_DISABLED="0")
    assert run_publish(store, cfg, ConnectorSet(e, lambda: load_credentials(e)), env=e, now=T0).disabled is None


def test_exactly_once_across_a_crash_after_posting(
    store: Store, tmp_path: Path, tp: FakeTrustpilot, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft_id = draft_for(store, tmp_path)
    publish(store, tp, timedelta(0))

    def crash(self: OutboxSQL, *args: Any, **kwargs: Any) -> bool:
        raise SystemExit("publisher killed between posting and recording")

    monkeypatch.setattr(OutboxSQL, "publish_outbox", crash)
    with pytest.raises(SystemExit):
        publish(store, tp, timedelta(minutes=10))
    monkeypatch.undo()
    assert tp.writes == {"5f1a2b3c4d5e6f7a8b9c0d1e": 1}
    crashed = outbox(store, draft_id)
    assert crashed["state"] == "sending" and crashed["attempts"] == 1  # committed before the HTTP call

    # Another publisher within the lease leaves the row alone: its owner may still be sending.
    assert publish(store, tp, timedelta(minutes=12)).sent == []
    posts_before = len(tp.requests_for("POST"))
    # After the lease the row is recovered: the platform is read first and already has our reply.
    recovered = publish(store, tp, timedelta(minutes=10) + SENDING_LEASE)
    assert [o.state for o in recovered.sent] == ["published"]
    assert "earlier attempt" in recovered.sent[0].detail
    assert len(tp.requests_for("POST")) == posts_before == 1
    assert tp.duplicates == [] and tp.writes == {"5f1a2b3c4d5e6f7a8b9c0d1e": 1}
    row = outbox(store, draft_id)
    assert row["state"] == "published" and row["draft_state"] == "published"
    published = [a for a in audit(store) if a["action"] == "publish" and a["entity"] == "outbox"]
    assert len(published) == 1 and '"recovered": true' in published[0]["detail"]
    # And nothing is ever sent again.
    assert publish(store, tp, timedelta(days=1)).sent == []
    assert len(tp.requests_for("POST")) == 1


def test_lost_response_is_checked_not_reposted(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    tp.lose_response(1, method="POST")  # the platform stores the reply, the answer never arrives
    first = publish(store, tp, timedelta(minutes=10))
    assert [o.state for o in first.sent] == ["retry"]
    assert "network error" in (outbox(store, draft_id)["last_error"] or "")
    second = publish(store, tp, timedelta(hours=1))
    assert [o.state for o in second.sent] == ["published"]
    assert len(tp.requests_for("POST")) == 1 and tp.duplicates == []


def test_transient_errors_retry_with_backoff_then_succeed(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    tp.fail(1, 503, method="POST", body={"message": "Service Unavailable"})
    tp.drop(1, method="POST")
    start = timedelta(minutes=10)
    first = publish(store, tp, start)
    assert first.sent[0].state == "retry" and "HTTP 503" in first.sent[0].detail
    row = outbox(store, draft_id)
    wait = row["next_attempt_at"] - (T0 + start)
    assert timedelta(seconds=30) <= wait <= timedelta(seconds=60)  # attempt 1: 60 s with equal jitter
    assert row["state"] == "queued" and row["draft_state"] == "queued"
    # Not before its next attempt.
    assert publish(store, tp, start + wait - timedelta(seconds=1)).sent == []
    second = publish(store, tp, start + wait)
    assert second.sent[0].state == "retry" and "network error" in second.sent[0].detail
    row = outbox(store, draft_id)
    wait2 = row["next_attempt_at"] - (T0 + start + wait)
    assert timedelta(seconds=60) <= wait2 <= timedelta(seconds=120)  # attempt 2: 120 s with equal jitter
    third = publish(store, tp, timedelta(hours=2))
    assert third.sent[0].state == "published"
    row = outbox(store, draft_id)
    assert row["attempts"] == 3 and row["last_error"] is None and row["state"] == "published"
    assert tp.writes == {"5f1a2b3c4d5e6f7a8b9c0d1e": 1}
    retries = [a for a in audit(store) if a["action"] == "retry"]
    assert len(retries) == 2 and all(a["actor"] == SYSTEM_ACTOR for a in retries)


def test_429_honours_retry_after(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    tp.fail(1, 429, method="POST", headers={"Retry-After": "900"}, body={"message": "Too Many Requests"})
    start = timedelta(minutes=10)
    run = publish(store, tp, start)
    assert run.sent[0].state == "retry" and "HTTP 429" in run.sent[0].detail
    assert outbox(store, draft_id)["next_attempt_at"] == T0 + start + timedelta(seconds=900)
    assert publish(store, tp, start + timedelta(seconds=899)).sent == []
    assert [o.state for o in publish(store, tp, start + timedelta(seconds=900)).sent] == ["published"]


def test_terminal_error_fails_visibly(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    tp.fail(1, 400, method="POST", body={"message": "The reply contains a forbidden link"})
    run = publish(store, tp, timedelta(minutes=10))
    assert run.sent[0].state == "failed"
    row = outbox(store, draft_id)
    assert row["state"] == "failed" and row["draft_state"] == "failed"
    assert "HTTP 400" in row["last_error"] and "forbidden link" in row["last_error"]
    entries = [(a["entity"], a["action"], a["from_state"], a["to_state"]) for a in audit(store)]
    assert ("outbox", "fail", "sending", "failed") in entries and ("draft", "fail", "queued", "failed") in entries
    assert "forbidden link" in next(a for a in audit(store) if a["action"] == "fail")["detail"]
    # A failed reply is never retried on its own.
    assert publish(store, tp, timedelta(days=2)).sent == []
    assert len(tp.requests_for("POST")) == 1


def test_auth_failure_is_terminal(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    run = publish(store, tp, timedelta(minutes=10), token="expired-token-from-last-month")
    assert run.sent[0].state == "failed"
    error = outbox(store, draft_id)["last_error"]
    assert "HTTP 401" in error and "credentials" in error


def test_gives_up_after_max_attempts(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    tp.fail(10, 502, method="POST")
    assert publish(store, tp, timedelta(minutes=10), max_attempts=2).sent[0].state == "retry"
    last = publish(store, tp, timedelta(hours=1), max_attempts=2)
    assert last.sent[0].state == "failed"
    row = outbox(store, draft_id)
    assert row["attempts"] == 2 and row["last_error"].startswith("gave up after 2 attempt(s)")
    assert row["draft_state"] == "failed"


def test_too_long_reply_is_never_posted(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path, text="x" * 2049)
    ok_id = draft_for(store, tmp_path, review_id="000000000000000000000002", text="y" * 2048)
    run = publish(store, tp, timedelta(0))
    states = {o.draft_id: (o.state, o.detail) for o in run.queued}
    assert states[draft_id][0] == "failed" and "2049 characters; Trustpilot allows at most 2048" in states[draft_id][1]
    assert states[ok_id][0] == "queued"
    row = outbox(store, draft_id)
    assert row["state"] == "failed" and row["draft_state"] == "failed" and "2048" in row["last_error"]
    publish(store, tp, timedelta(hours=1))
    assert set(tp.replies) == {"000000000000000000000002"}


def test_source_max_chars_is_enforced(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path, text="z" * 150)
    source = {**TRUSTPILOT_SOURCE, "reply": {**TRUSTPILOT_SOURCE["reply"], "max_chars": 120}}
    queue_approved(store, make_config([source]), now=T0)
    assert "at most 120 (reply.max_chars)" in outbox(store, draft_id)["last_error"]


def test_reply_written_elsewhere_is_not_overwritten(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    tp.replies["5f1a2b3c4d5e6f7a8b9c0d1e"] = "Answered by our support lead directly on Trustpilot."
    run = publish(store, tp, timedelta(minutes=10))
    assert run.sent[0].state == "failed"
    assert "different reply is already on Trustpilot" in outbox(store, draft_id)["last_error"]
    assert tp.requests_for("POST") == []


def test_draft_changed_after_queueing_is_cancelled(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    publish(store, tp, timedelta(0))
    with store.transaction() as tx:  # e.g. an approver took the approval back within the delay
        tx._con.execute("UPDATE drafts SET state = 'pending' WHERE id = ?", [draft_id])
    run = publish(store, tp, timedelta(minutes=10))
    assert [o.state for o in run.sent] == ["cancelled"]
    assert outbox(store, draft_id)["state"] == "cancelled" and tp.requests == []
    # Approved again with new text: the cancelled row is reused with a new key, and that text goes out.
    with store.transaction() as tx:
        tx._con.execute("UPDATE drafts SET state = 'approved', final_text = 'Sorry again.' WHERE id = ?", [draft_id])
    publish(store, tp, timedelta(minutes=11))
    row = outbox(store, draft_id)
    assert row["idempotency_key"] == idempotency_key(draft_id, "Sorry again.")
    publish(store, tp, timedelta(minutes=30))
    assert tp.replies == {"5f1a2b3c4d5e6f7a8b9c0d1e": "Sorry again."}


def test_missing_credentials_leave_rows_waiting(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    cfg = make_config([TRUSTPILOT_SOURCE])
    e = env({"REVIEWDESK_TRUSTPILOT_API_BASE": tp.base})
    run = run_publish(store, cfg, ConnectorSet(e, lambda: load_credentials(e)), env=e, now=T0 + timedelta(hours=1))
    assert [o.state for o in run.sent] == ["waiting"]
    assert "REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN" in run.sent[0].detail
    row = outbox(store, draft_id)
    assert row["state"] == "queued" and row["attempts"] == 0 and tp.requests == []


def test_config_problem_keeps_the_draft_approved(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    source = {**TRUSTPILOT_SOURCE, "reply": {"connector": "trustpilot"}}
    [outcome] = queue_approved(store, make_config([source]), now=T0)
    assert outcome.state == "skipped" and "business_user_id" in outcome.detail
    with store.transaction() as tx:
        assert tx.draft_state(draft_id) == "approved" and tx.outbox_for_draft(draft_id) is None


def test_dry_run_changes_nothing(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    draft_id = draft_for(store, tmp_path)
    cfg = make_config([TRUSTPILOT_SOURCE], delay_minutes=0)
    e = tp_env(tp)
    run = run_publish(store, cfg, ConnectorSet(e, lambda: load_credentials(e)), env=e, now=T0, dry_run=True)
    assert [o.state for o in run.queued] == ["would_queue"]
    with store.transaction() as tx:
        assert tx.count("outbox") == 0 and tx.draft_state(draft_id) == "approved"
    assert tp.requests == []


def test_every_state_change_is_audited(store: Store, tmp_path: Path, tp: FakeTrustpilot) -> None:
    ids = add_reviews(store, tmp_path, TRUSTPILOT_SOURCE, ["a" * 24])
    draft_id = make_draft(store, ids["a" * 24], TEXT)
    approve(store, draft_id)
    publish(store, tp, timedelta(0))
    publish(store, tp, timedelta(minutes=10))
    trail = [(a["entity"], a["action"], a["from_state"], a["to_state"]) for a in audit(store)
             if a["actor"] == SYSTEM_ACTOR]
    assert trail == [
        ("draft", "queue", "approved", "queued"),
        ("outbox", "queue", None, "queued"),
        ("outbox", "send", "queued", "sending"),
        ("outbox", "publish", "sending", "published"),
        ("draft", "publish", "queued", "published"),
    ]


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(7)
    for attempt in range(1, 20):
        ceiling = min(BACKOFF_CAP_S, 60 * 2 ** (attempt - 1))
        assert ceiling / 2 <= backoff_seconds(attempt, rng) <= ceiling
    spread = {round(backoff_seconds(3, rng)) for _ in range(20)}
    assert len(spread) > 5  # jittered, not lockstep
