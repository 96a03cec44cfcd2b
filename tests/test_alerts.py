"""Alerts against a real DuckDB store and real loopback receivers (a Slack-compatible webhook, an SMTP server):
once per event across reruns, negative spikes, retries, permanent failures, at-most-once, secrets, escaping."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from conftest import review, run_cli, write_feed
from fakes.smtp import FakeSMTP
from fakes.webhook import FakeWebhook

from pipeline.alerting import AlertsEnv, DeliverySummary, deliver_alerts, detect_alerts, read_env
from pipeline.alerting.channels import PermanentDeliveryError, WebhookChannel, slack_escape
from pipeline.alerting.delivery import SENDING_LEASE
from pipeline.alerting.events import spike_verdict
from pipeline.ingest import ingest_feed
from pipeline.store import ANALYSIS_SCHEMA, Store
from responses.publish.credentials import Secret
from reviewdesk.config import AlertsSettings, Config, parse_config

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOOK_ENV = "RD_TEST_ALERT_WEBHOOK"
HOSTILE = "<script>alert(1)</script> <!channel> @here <https://evil.example|click me> & they threatened to sue"
ESCALATION_REASON = "no automatic draft: the review threatens legal action; a person must answer"


# --- helpers ---------------------------------------------------------------------------------------


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(store: Store, tmp_path: Path, source: str, rows: list[dict[str, Any]], *, crawled: datetime = T0
         ) -> dict[str, int]:
    """Ingest reviews (``id``, ``at``, optional ``text``/``rating``/``sentiment``) and their analyses."""
    items = [
        review(i, source=source, review_id=r["id"], published_at=_iso(r["at"]), crawled_at=crawled.isoformat(),
               text=r.get("text", f"Review {r['id']}"), rating=r.get("rating", 3))
        for i, r in enumerate(rows)
    ]
    feed = tmp_path / f"{source}-{len(list(tmp_path.glob('*.jsonl')))}.jsonl"
    ingest_feed(store, source, write_feed(feed, items, complete=False), kind="import")
    with store.transaction() as tx:
        found = tx._con.execute(
            """SELECT r.external_id, r.id, r.content_hash FROM reviews r JOIN sources s ON s.id = r.source_id
               WHERE s.name = ?""",
            [source],
        ).fetchall()
        ids = {ext: (int(rid), h) for ext, rid, h in found}
        analyses = [
            {"review_id": ids[r["id"]][0], "model_version": "test", "content_hash": ids[r["id"]][1],
             "language": "en", "sentiment": r.get("sentiment", "neutral"), "severity": "[]", "truncated": False,
             "analyzed_at": crawled}
            for r in rows
        ]
        tx.save_analyses(pa.Table.from_pylist(analyses, schema=ANALYSIS_SCHEMA))
    return {ext: rid for ext, (rid, _) in ids.items()}


def escalate(store: Store, review_id: int, *, at: datetime = T0, flags: list[str] | None = None) -> int:
    """An escalation made the way the drafter makes one."""
    with store.transaction() as tx:
        content_hash = tx._con.execute("SELECT content_hash FROM reviews WHERE id = ?", [review_id]).fetchone()[0]
        esc = tx.save_escalation(review_id=review_id, content_hash=content_hash, model_version="test",
                                 flags=flags or ["legal_threat"], reason=ESCALATION_REASON, now=at)
    assert esc is not None
    return esc


def config(**alerts: Any) -> Config:
    """Acme (own, acme-tp) and Rival (competitor, rival-tp) with these alert settings."""
    return parse_config({
        "alerts": alerts,
        "businesses": [
            {"id": "acme", "name": "Acme", "role": "own",
             "sources": [{"name": "acme-tp", "platform": "trustpilot", "url": "http://127.0.0.1/review/acme"}]},
            {"id": "rival", "name": "Rival", "role": "competitor",
             "sources": [{"name": "rival-tp", "platform": "trustpilot", "url": "http://127.0.0.1/review/rival"}]},
        ],
    })


def channels_config(smtp: FakeSMTP | None, **alerts: Any) -> Config:
    """Both channels pointing at the loopback receivers."""
    settings: dict[str, Any] = {"webhook_url_env": HOOK_ENV}
    if smtp is not None:
        settings |= {"email_to": ["ops@acme.test", "Boss <boss@acme.test>"], "email_from": "alerts@acme.test",
                     "smtp_host": "127.0.0.1", "smtp_port": smtp.port}
    return config(**settings, **alerts)


def hook_env(cfg: Config, hook: FakeWebhook | str, **extra: str) -> AlertsEnv:
    return read_env(cfg.alerts, {HOOK_ENV: hook if isinstance(hook, str) else hook.url, **extra})


def deliveries(store: Store) -> dict[tuple[int, str], dict[str, Any]]:
    with store.transaction() as tx:
        rows = tx._rows("SELECT * FROM alert_deliveries")
    return {(r["alert_id"], r["channel"]): r for r in rows}


def states(summary: DeliverySummary) -> list[tuple[str, str]]:
    return sorted((o.channel, o.state) for o in summary.outcomes)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "alerts.duckdb", lock_timeout=30)
    with s.transaction() as tx:
        tx.upsert_business("acme", "Acme", "own")
        tx.upsert_business("rival", "Rival", "competitor")
        tx.upsert_source("acme-tp", "acme", "trustpilot", "http://127.0.0.1/review/acme", "en")
        tx.upsert_source("rival-tp", "rival", "trustpilot", "http://127.0.0.1/review/rival", "en")
    return s


@pytest.fixture
def hook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as fake:
        yield fake


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as fake:
        yield fake


def flagged_review(store: Store, tmp_path: Path, text: str = HOSTILE) -> tuple[int, int]:
    """One fresh 1-star review of Acme with an open escalation; returns (review id, escalation id)."""
    ids = seed(store, tmp_path, "acme-tp", [{"id": "bad", "at": T0 - timedelta(hours=3), "rating": 1,
                                              "sentiment": "negative", "text": text}])
    return ids["bad"], escalate(store, ids["bad"])


# --- severity alerts ------------------------------------------------------------------------------


def test_severity_alert_is_sent_once_to_both_channels_and_never_again(
    store: Store, tmp_path: Path, hook: FakeWebhook, smtp: FakeSMTP
) -> None:
    review_id, escalation_id = flagged_review(store, tmp_path)
    cfg = channels_config(smtp)
    env = hook_env(cfg, hook)

    new = detect_alerts(store, cfg, T0)
    assert len(new) == 1
    summary = deliver_alerts(store, cfg, T0, env=env)
    assert states(summary) == [("email", "sent"), ("webhook", "sent")] and summary.ok
    assert len(hook.posts) == 1 and len(smtp.messages) == 1

    with store.transaction() as tx:
        alert = tx.alerts_with_deliveries()[0]
    assert alert["kind"] == "severity" and alert["review_id"] == review_id
    assert alert["event_key"].startswith(f"severity:{review_id}:")
    body = alert["body"]
    for part in ("Acme", "acme-tp", "trustpilot", "1/5 stars", "legal_threat", ESCALATION_REASON,
                 "they threatened to sue", f"escalation #{escalation_id}", "reviewdesk escalations"):
        assert part in body
    assert "Acme" in alert["title"] and "legal_threat" in alert["title"]
    assert {d["state"] for d in alert["deliveries"]} == {"sent"}

    mail = smtp.messages[0]
    assert sorted(mail.rcpt_to) == ["boss@acme.test", "ops@acme.test"] and mail.mail_from == "alerts@acme.test"
    assert mail.message()["Subject"] == alert["title"]

    # Reruns, later runs and a second deliverer: nothing is recorded or sent again.
    for at in (T0, T0 + timedelta(minutes=5), T0 + timedelta(hours=2)):
        assert detect_alerts(store, cfg, at) == []
        assert deliver_alerts(store, cfg, at, env=env).outcomes == []
    assert len(hook.posts) == 1 and len(smtp.messages) == 1
    with store.transaction() as tx:
        assert tx.count("alerts") == 1
        audit = tx.audit_entries("alert")
    assert [(a["action"], a["to_state"]) for a in audit] == [("alert", None), ("deliver", "sent"), ("deliver", "sent")]


def test_an_edited_review_escalated_again_alerts_again(store: Store, tmp_path: Path) -> None:
    cfg = config()
    review_id, _ = flagged_review(store, tmp_path, "They lied to me")
    assert len(detect_alerts(store, cfg, T0)) == 1
    # The author edits the review; the drafter escalates the new text: a new event.
    seed(store, tmp_path, "acme-tp", [{"id": "bad", "at": T0 - timedelta(hours=3), "rating": 1,
                                       "sentiment": "negative", "text": "They lied and I will see them in court"}],
         crawled=T0 + timedelta(hours=1))
    escalate(store, review_id, at=T0 + timedelta(hours=1))
    assert len(detect_alerts(store, cfg, T0 + timedelta(hours=1))) == 1
    assert detect_alerts(store, cfg, T0 + timedelta(hours=2)) == []


def test_history_resolved_escalations_and_disabled_severity_do_not_alert(store: Store, tmp_path: Path) -> None:
    ids = seed(store, tmp_path, "acme-tp", [
        {"id": "old", "at": T0 - timedelta(days=40), "rating": 1, "sentiment": "negative"},
        {"id": "done", "at": T0 - timedelta(hours=2), "rating": 1, "sentiment": "negative"},
        {"id": "new", "at": T0 - timedelta(hours=1), "rating": 1, "sentiment": "negative"},
    ])
    escalate(store, ids["old"])  # a first crawl found a 40-day-old threat: history, not news
    resolved = escalate(store, ids["done"])
    with store.transaction() as tx:
        assert tx.resolve_escalation(resolved, actor="alice", note="called them", now=T0)
    escalate(store, ids["new"], at=T0 - timedelta(days=10))  # escalated long ago, alerts never ran since

    assert detect_alerts(store, config(severity=False, spike=False), T0) == []
    assert detect_alerts(store, config(spike=False), T0) == []
    # With a longer reach the 10-day-old escalation is news; the 40-day-old review and the resolved one are not.
    assert len(detect_alerts(store, config(spike=False, severity_max_age_days=30), T0)) == 1
    with store.transaction() as tx:
        assert tx.alerts_with_deliveries()[0]["review_id"] == ids["new"]


# --- Slack escaping -------------------------------------------------------------------------------


def test_hostile_review_text_is_data_in_the_slack_payload_and_plain_text_in_mail(
    store: Store, tmp_path: Path, hook: FakeWebhook, smtp: FakeSMTP
) -> None:
    flagged_review(store, tmp_path)
    cfg = channels_config(smtp)
    detect_alerts(store, cfg, T0)
    assert deliver_alerts(store, cfg, T0, env=hook_env(cfg, hook)).ok

    raw = hook.requests_for("POST")[0]
    assert raw.headers["Content-Type"].startswith("application/json")
    post = json.loads(raw.body)  # valid JSON whatever the review said
    assert post == hook.posts[0]
    texts = [post["text"], post["blocks"][1]["text"]["text"]]
    for text in texts:
        assert "<" not in text and ">" not in text  # no link, mention or tag can form
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "&lt;!channel&gt;" in text and "&lt;https://evil.example|click me&gt;" in text
        assert "@here" not in text and "@\u200bhere" in text
        assert "&amp; they threatened" in text
    assert post["blocks"][0]["type"] == "header" and post["blocks"][0]["text"]["type"] == "plain_text"

    mail = smtp.messages[0].message()
    assert mail.get_content_type() == "text/plain" and not mail.is_multipart()
    assert mail.get_content_charset() == "utf-8"
    assert HOSTILE in mail.get_content()  # plain text: shown as typed, nothing to escape


def test_slack_escape_rules() -> None:
    assert slack_escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert slack_escape("&lt;") == "&amp;lt;"  # an entity in the review stays literal text
    assert slack_escape("<!here|@everyone>") == "&lt;!here|@\u200beveryone&gt;"


# --- negative spikes ------------------------------------------------------------------------------


def _normal_series(start: datetime, days: int, prefix: str) -> list[dict[str, Any]]:
    """Three reviews a day, one negative every third day (about 11 % negative)."""
    rows = []
    for day in range(days):
        for k in range(3):
            negative = k == 0 and day % 3 == 0
            rows.append({"id": f"{prefix}{day}-{k}", "at": start + timedelta(days=day, hours=2 + 7 * k),
                         "sentiment": "negative" if negative else "positive", "rating": 1 if negative else 5})
    return rows


def test_a_negative_spike_fires_once_and_a_normal_week_never(store: Store, tmp_path: Path) -> None:
    cfg = config()  # window 24 h, baseline 28 days, >= 5 reviews, >= 40 % and >= 2x baseline
    # Five normal weeks, then a bad hour: 8 reviews within 40 minutes, 6 of them negative.
    start = T0 - timedelta(days=35)
    bad_day = T0 + timedelta(hours=1)
    series = _normal_series(start, 35, "n")
    series += [{"id": f"b{k}", "at": bad_day + timedelta(minutes=5 * k),
                "sentiment": "negative" if k < 6 else "neutral"} for k in range(8)]
    seed(store, tmp_path, "acme-tp", series)

    # The last normal week, every 6 hours: no spike.
    for hour in range(0, 7 * 24, 6):
        assert detect_alerts(store, cfg, T0 - timedelta(days=7) + timedelta(hours=hour)) == [], hour

    # Hourly runs through the bad day and the day after: exactly one alert, when the window first qualifies.
    fired: list[tuple[datetime, list[int]]] = []
    for hour in range(1, 49):
        at = bad_day + timedelta(hours=hour)
        new = detect_alerts(store, cfg, at)
        if new:
            fired.append((at, new))
    assert [at for at, _ in fired] == [bad_day + timedelta(hours=1)] and len(fired[0][1]) == 1
    with store.transaction() as tx:
        (alert,) = tx.alerts_with_deliveries()
    assert alert["kind"] == "spike" and alert["business_id"] == "acme" and alert["review_id"] is None
    assert alert["payload"]["window_negative"] == 6 and alert["payload"]["baseline_used"] is True
    assert "Acme" in alert["title"] and "negative" in alert["title"]
    assert "reviewdesk reviews --sentiment negative" in alert["body"] and "acme-tp" in alert["body"]
    assert alert["event_key"].startswith("spike:acme:")


def test_a_spike_lasting_past_its_window_alerts_for_the_new_window(store: Store, tmp_path: Path) -> None:
    cfg = config(spike_window_hours=24)
    # A calm month (one negative review in 40), then two whole days of mostly negative reviews, one an hour.
    rows = [{"id": f"n{k}", "at": T0 - timedelta(hours=16 * (k + 1)), "sentiment": "negative" if k == 7 else "positive"}
            for k in range(40)]
    rows += [{"id": f"x{h}", "at": T0 + timedelta(hours=h), "sentiment": "negative" if h % 4 else "positive"}
             for h in range(48)]
    seed(store, tmp_path, "acme-tp", rows)
    fired = [h for h in range(1, 50) if detect_alerts(store, cfg, T0 + timedelta(hours=h))]
    # One alert when the first window qualifies, the next only once a whole window of reviews the first alert
    # never saw is bad too.
    assert fired == [4, 28]


def test_spike_rules_and_the_empty_baseline() -> None:
    s = AlertsSettings(spike_min_reviews=5, spike_min_share=0.4, spike_ratio=2.0)

    def verdict(wn: int, wt: int, bn: int, bt: int) -> Any:
        return spike_verdict({"business_id": "acme", "business_name": "Acme", "role": "own", "window_reviews": wt,
                              "window_negative": wn, "baseline_reviews": bt, "baseline_negative": bn,
                              "sources": ["acme-tp"]}, s)

    assert verdict(3, 6, 2, 40).fires  # 50 % against 5 %
    assert not verdict(4, 4, 0, 40).fires  # too few reviews in the window
    assert not verdict(2, 6, 0, 40).fires  # 33 % is under the 40 % floor
    assert not verdict(4, 6, 16, 40).fires  # 67 % is not 2 x 40 %: negative is normal here
    assert verdict(5, 6, 0, 0).fires and not verdict(5, 6, 0, 0).baseline_used  # empty baseline: floor alone
    small = verdict(5, 6, 3, 3)  # 3 baseline reviews, all negative: too few to say what is normal
    assert small.fires and not small.baseline_used


def test_competitor_spikes_only_when_asked(store: Store, tmp_path: Path) -> None:
    seed(store, tmp_path, "rival-tp", [{"id": f"r{k}", "at": T0 - timedelta(hours=k + 1), "sentiment": "negative"}
                                       for k in range(6)])
    assert detect_alerts(store, config(), T0) == []
    (alert_id,) = detect_alerts(store, config(spike_competitors=True), T0)
    with store.transaction() as tx:
        alert = tx.alerts_with_deliveries()[0]
    assert alert["id"] == alert_id and alert["business_id"] == "rival" and "competitor" in alert["body"]


# --- channels -------------------------------------------------------------------------------------


def test_without_channels_alerts_are_recorded_and_nothing_is_sent(
    store: Store, tmp_path: Path, hook: FakeWebhook, smtp: FakeSMTP
) -> None:
    flagged_review(store, tmp_path)
    bare = config()
    assert len(detect_alerts(store, bare, T0)) == 1
    summary = deliver_alerts(store, bare, T0, env=read_env(bare.alerts, {}))
    assert summary.outcomes == [] and summary.ok
    assert deliveries(store) == {}
    # Channels configured later do not replay what was recorded before them.
    cfg = channels_config(smtp)
    assert detect_alerts(store, cfg, T0 + timedelta(hours=1)) == []
    assert deliver_alerts(store, cfg, T0 + timedelta(hours=1), env=hook_env(cfg, hook)).outcomes == []
    assert hook.posts == [] and smtp.messages == []


def test_an_unset_webhook_variable_holds_deliveries_until_it_is_set(
    store: Store, tmp_path: Path, hook: FakeWebhook
) -> None:
    flagged_review(store, tmp_path)
    cfg = channels_config(None)
    (alert_id,) = detect_alerts(store, cfg, T0)
    summary = deliver_alerts(store, cfg, T0, env=read_env(cfg.alerts, {}))
    assert not summary.ok and HOOK_ENV in summary.blocked["webhook"]
    assert states(summary) == [("webhook", "blocked")]
    row = deliveries(store)[(alert_id, "webhook")]
    assert row["state"] == "pending" and row["attempts"] == 0
    assert states(deliver_alerts(store, cfg, T0, env=hook_env(cfg, hook))) == [("webhook", "sent")]
    assert len(hook.posts) == 1


def test_transient_failures_are_retried_on_later_runs_then_sent(
    store: Store, tmp_path: Path, hook: FakeWebhook, smtp: FakeSMTP
) -> None:
    flagged_review(store, tmp_path)
    cfg = channels_config(smtp)
    env = hook_env(cfg, hook)
    (alert_id,) = detect_alerts(store, cfg, T0)
    hook.fail(1, 503, body=b"rollup_error")
    hook.fail(1, 429, headers={"Retry-After": "30"}, body=b"rate_limited")
    smtp.fail(1, 451, at="MAIL")

    assert states(deliver_alerts(store, cfg, T0, env=env)) == [("email", "retry"), ("webhook", "retry")]
    rows = deliveries(store)
    assert rows[(alert_id, "webhook")]["state"] == "pending"
    assert "HTTP 503" in rows[(alert_id, "webhook")]["last_error"]
    assert "451" in rows[(alert_id, "email")]["last_error"]
    # Too soon for the next try: the backoff holds it.
    assert states(deliver_alerts(store, cfg, T0 + timedelta(seconds=20), env=env)) == [
        ("email", "waiting"), ("webhook", "waiting")]
    later = T0 + timedelta(hours=1)
    assert states(deliver_alerts(store, cfg, later, env=env)) == [("email", "sent"), ("webhook", "retry")]
    assert states(deliver_alerts(store, cfg, later + timedelta(hours=1), env=env)) == [("webhook", "sent")]
    rows = deliveries(store)
    assert rows[(alert_id, "webhook")]["attempts"] == 3 and rows[(alert_id, "webhook")]["last_error"] is None
    assert rows[(alert_id, "email")]["attempts"] == 2
    assert len(hook.posts) == 1 and len(smtp.messages) == 1
    assert deliver_alerts(store, cfg, later + timedelta(hours=3), env=env).outcomes == []


def test_an_unreachable_receiver_is_transient_and_gives_up_after_max_attempts(store: Store, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/services/T/B/secret-token-for-a-closed-port"
    flagged_review(store, tmp_path)
    cfg = channels_config(None, max_attempts=2)
    env = hook_env(cfg, closed)
    detect_alerts(store, cfg, T0)
    assert states(deliver_alerts(store, cfg, T0, env=env)) == [("webhook", "retry")]
    summary = deliver_alerts(store, cfg, T0 + timedelta(hours=1), env=env)
    assert states(summary) == [("webhook", "failed")] and not summary.ok
    assert "gave up after 2 attempts" in summary.outcomes[0].detail
    assert deliver_alerts(store, cfg, T0 + timedelta(hours=5), env=env).outcomes == []


def test_permanent_failures_fail_at_once_visibly_and_are_not_retried(
    store: Store, tmp_path: Path, hook: FakeWebhook, smtp: FakeSMTP
) -> None:
    flagged_review(store, tmp_path)
    cfg = channels_config(smtp)
    env = hook_env(cfg, hook)
    (alert_id,) = detect_alerts(store, cfg, T0)
    hook.fail(1, 404, body=b"no_service")
    smtp.fail(2, 550, at="RCPT")  # both recipients refused
    summary = deliver_alerts(store, cfg, T0, env=env)
    assert states(summary) == [("email", "failed"), ("webhook", "failed")] and not summary.ok
    rows = deliveries(store)
    assert rows[(alert_id, "webhook")]["last_error"] == "webhook answered HTTP 404: no_service"
    assert "550" in rows[(alert_id, "email")]["last_error"] and "ops@acme.test" in rows[(alert_id, "email")][
        "last_error"]
    assert deliver_alerts(store, cfg, T0 + timedelta(hours=3), env=env).outcomes == []
    assert hook.posts == [] and smtp.messages == []
    with store.transaction() as tx:
        listed = tx.alerts_with_deliveries()[0]["deliveries"]
    assert {d["state"] for d in listed} == {"failed"}


def test_an_e_mail_refused_for_one_recipient_is_sent_to_the_others_once(
    store: Store, tmp_path: Path, smtp: FakeSMTP
) -> None:
    flagged_review(store, tmp_path)
    cfg = config(email_to=["ops@acme.test", "boss@acme.test"], smtp_host="127.0.0.1", smtp_port=smtp.port)
    (alert_id,) = detect_alerts(store, cfg, T0)
    smtp.fail(1, 550, at="RCPT")  # the first recipient does not exist
    summary = deliver_alerts(store, cfg, T0, env=read_env(cfg.alerts, {}))
    assert states(summary) == [("email", "sent")] and "ops@acme.test: 550" in summary.outcomes[0].detail
    row = deliveries(store)[(alert_id, "email")]
    assert row["state"] == "sent" and "ops@acme.test" in row["last_error"]
    assert [m.rcpt_to for m in smtp.messages] == [["boss@acme.test"]]
    assert deliver_alerts(store, cfg, T0 + timedelta(hours=2), env=read_env(cfg.alerts, {})).outcomes == []


def test_a_redirecting_webhook_is_a_permanent_failure_not_a_replayed_get(hook: FakeWebhook) -> None:
    channel = WebhookChannel(Secret(hook.url), [hook.url])
    alert = {"alert_id": 1, "title": "t", "body": "b"}
    hook.fail(1, 302, headers={"Location": hook.url})
    with pytest.raises(PermanentDeliveryError, match="HTTP 302"):
        channel.transmit(alert, channel.prepare(alert))
    assert [r.method for r in hook.requests] == ["POST"] and hook.posts == []


def test_a_lost_answer_is_unknown_and_never_resent(
    store: Store, tmp_path: Path, hook: FakeWebhook, smtp: FakeSMTP
) -> None:
    flagged_review(store, tmp_path)
    cfg = channels_config(smtp)
    env = hook_env(cfg, hook)
    detect_alerts(store, cfg, T0)
    hook.lose_response(1)  # the hook posts it, then the connection drops
    smtp.lose_after_data(1)
    summary = deliver_alerts(store, cfg, T0, env=env)
    assert states(summary) == [("email", "unknown"), ("webhook", "unknown")] and not summary.ok
    assert deliver_alerts(store, cfg, T0 + timedelta(hours=3), env=env).outcomes == []
    assert len(hook.posts) == 1 and len(smtp.messages) == 1  # arrived once, never twice


def test_a_delivery_left_sending_by_a_crash_becomes_unknown(
    store: Store, tmp_path: Path, hook: FakeWebhook
) -> None:
    flagged_review(store, tmp_path)
    cfg = channels_config(None)
    env = hook_env(cfg, hook)
    (alert_id,) = detect_alerts(store, cfg, T0)
    with store.transaction() as tx:  # a deliverer claimed it, then died before recording the answer
        assert tx.claim_delivery(alert_id, "webhook", attempts=0, now=T0)
    # Within the lease another deliverer may still be busy with it: left alone.
    assert deliver_alerts(store, cfg, T0 + timedelta(minutes=1), env=env).outcomes == []
    summary = deliver_alerts(store, cfg, T0 + SENDING_LEASE + timedelta(seconds=1), env=env)
    assert states(summary) == [("webhook", "unknown")] and not summary.ok
    assert deliveries(store)[(alert_id, "webhook")]["state"] == "unknown"
    assert deliver_alerts(store, cfg, T0 + timedelta(hours=2), env=env).outcomes == []
    assert hook.posts == []


def test_secrets_never_reach_logs_errors_or_the_database(
    store: Store, tmp_path: Path, hook: FakeWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user, password = "alerts-sender@acme.test", "smtp-Pa55word-never-shown"
    with FakeSMTP(user=user, password="the-right-password") as smtp:
        flagged_review(store, tmp_path)
        cfg = channels_config(smtp, smtp_user_env="RD_SMTP_USER", smtp_password_env="RD_SMTP_PASSWORD")
        env = hook_env(cfg, hook, RD_SMTP_USER=user, RD_SMTP_PASSWORD=password)
        detect_alerts(store, cfg, T0)
        # The hook's error answer quotes its own URL; the SMTP server's quotes the user name.
        hook.fail(1, 403, body=f"invalid_token for {hook.url}".encode())
        summary = deliver_alerts(store, cfg, T0, env=env)
    assert states(summary) == [("email", "failed"), ("webhook", "failed")]
    with store.transaction() as tx:
        stored = json.dumps(tx._rows("SELECT * FROM alert_deliveries"), default=str)
        stored += json.dumps(tx._rows("SELECT * FROM audit_log"), default=str)
    shown = "\n".join([caplog.text, stored, json.dumps(summary.as_dict()), repr(env)])
    assert "535" in shown and "HTTP 403" in shown and "***" in shown
    for secret in (hook.url, hook.path, hook.token, user, password):
        assert secret not in shown


# --- the command line -----------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_records_sends_lists_and_never_resends(tmp_path: Path, hook: FakeWebhook, smtp: FakeSMTP) -> None:
    db = tmp_path / "cli.duckdb"
    store = Store(db, lock_timeout=30)
    with store.transaction() as tx:
        tx.upsert_business("acme", "Acme", "own")
        tx.upsert_source("acme-tp", "acme", "trustpilot", "http://127.0.0.1/review/acme", "en")
    now = datetime.now(UTC)
    ids = seed(store, tmp_path, "acme-tp", [{"id": "bad", "at": now - timedelta(hours=2), "rating": 1,
                                             "sentiment": "negative", "text": HOSTILE}], crawled=now)
    escalate(store, ids["bad"], at=now)
    (tmp_path / "reviewdesk.toml").write_text(
        f"""[settings]
database = "{db}"
[alerts]
webhook_url_env = "{HOOK_ENV}"
email_to = ["ops@acme.test"]
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
[[businesses]]
id = "acme"
name = "Acme"
[[businesses.sources]]
name = "acme-tp"
platform = "trustpilot"
url = "http://127.0.0.1/review/acme"
""",
        encoding="utf-8",
    )
    env = {HOOK_ENV: hook.url}
    recorded = run_cli("alerts", cwd=tmp_path, env=env)
    assert recorded.returncode == 0, recorded.stderr
    assert "1 new alert" in recorded.stdout and hook.posts == []

    sent = run_cli("alerts", "--send", cwd=tmp_path, env=env)
    assert sent.returncode == 0, sent.stderr
    assert len(hook.posts) == 1 and len(smtp.messages) == 1
    again = run_cli("alerts", "--send", cwd=tmp_path, env=env)
    assert again.returncode == 0 and "0 new alert" in again.stdout and "nothing to send" in again.stdout
    assert len(hook.posts) == 1 and len(smtp.messages) == 1

    listed = run_cli("alerts", "--list", "--json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["kind"] == "severity" and {d["channel"]: d["state"] for d in row["deliveries"]} == {
        "email": "sent", "webhook": "sent"}
    table = run_cli("alerts", "--list", cwd=tmp_path, env=env)
    assert table.returncode == 0 and "Urgent review for Acme" in table.stdout and "sent" in table.stdout

    more = seed(store, tmp_path, "acme-tp", [{"id": "worse", "at": now - timedelta(hours=1), "rating": 1,
                                              "sentiment": "negative", "text": "I was hurt"}], crawled=now)
    escalate(store, more["worse"], at=now)
    hook.fail(1, 410, body=b"channel_is_archived")
    failed = run_cli("alerts", "--send", cwd=tmp_path, env=env)
    assert failed.returncode == 1 and "failed" in failed.stdout and "channel_is_archived" in failed.stdout
    for output in (recorded, sent, again, listed, table, failed):
        assert hook.token not in output.stdout + output.stderr
