"""Finding alert events: a new severity-flagged review of our own, and a negative spike per business.

Both are recorded in ``alerts`` under a stable ``event_key`` (the table's unique key), so detection can run
any number of times and records each event once. See docs/alerts.md for the rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.alerting.settings import configured_channels
from pipeline.alerting.text import one_line
from pipeline.store import Store
from reviewdesk.config import AlertsSettings, Config

log = logging.getLogger("reviewdesk.alerts")

SEVERITY = "severity"
SPIKE = "spike"
EXCERPT_CHARS = 280


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _stars(rating: float | None) -> str:
    return "no rating" if rating is None else f"{rating:g}/5 stars"


def severity_message(row: dict[str, Any]) -> tuple[str, str]:
    """Title and plain-text body of a severity alert (review text only as a one-line excerpt)."""
    flags = ", ".join(str(f) for f in row["flags"]) or "severity flag"
    title = one_line(f"Urgent review for {row['business_name']}: {flags} ({_stars(row['rating'])}, "
                     f"{row['source']})", 150)
    review = f"{row['title']} - {row['text']}" if row.get("title") else row.get("text") or ""
    lines = [
        f"{row['business_name']} | {row['source']} ({row['platform']}) | {_stars(row['rating'])} | "
        f"published {_utc(row['published_at'])}",
        f"Flags: {flags}",
        f"Why: {one_line(row['reason'], 300)}",
        f"Review #{row['review_id']}: \"{one_line(review, EXCERPT_CHARS)}\"",
    ]
    url = row.get("url") or ""
    if url.startswith(("https://", "http://")):
        lines.append(f"Link: {one_line(url, 300)}")
    lines.append(f"Look: reviewdesk escalations (escalation #{row['escalation_id']}), "
                 f"or reviewdesk reviews --flagged -s {row['source']}")
    return title, "\n".join(lines)


@dataclass(frozen=True)
class SpikeVerdict:
    """The numbers behind a spike decision for one business."""

    business_id: str
    business_name: str
    role: str
    window_reviews: int
    window_negative: int
    baseline_reviews: int
    baseline_negative: int
    sources: tuple[str, ...]
    baseline_used: bool  # False: too few baseline reviews, only the absolute thresholds applied
    fires: bool

    @property
    def window_share(self) -> float:
        """Negative share in the window."""
        return self.window_negative / self.window_reviews if self.window_reviews else 0.0

    @property
    def baseline_share(self) -> float:
        """Negative share in the baseline (0 when it is empty)."""
        return self.baseline_negative / self.baseline_reviews if self.baseline_reviews else 0.0


def spike_verdict(counts: dict[str, Any], settings: AlertsSettings) -> SpikeVerdict:
    """Whether one business's counts are a spike: enough window reviews, a high enough negative share, and
    ``spike_ratio`` times the baseline share when the baseline has at least ``spike_min_reviews`` reviews."""
    window_reviews, window_negative = int(counts["window_reviews"]), int(counts["window_negative"])
    baseline_reviews, baseline_negative = int(counts["baseline_reviews"]), int(counts["baseline_negative"])
    window_share = window_negative / window_reviews if window_reviews else 0.0
    baseline_share = baseline_negative / baseline_reviews if baseline_reviews else 0.0
    # A handful of baseline reviews says little about normal: one negative of two would mask any spike.
    baseline_used = baseline_reviews >= settings.spike_min_reviews
    fires = (
        window_reviews >= settings.spike_min_reviews
        and window_share >= settings.spike_min_share
        and (not baseline_used or window_share >= settings.spike_ratio * baseline_share)
    )
    return SpikeVerdict(
        business_id=counts["business_id"], business_name=counts["business_name"], role=counts["role"],
        window_reviews=window_reviews, window_negative=window_negative, baseline_reviews=baseline_reviews,
        baseline_negative=baseline_negative, sources=tuple(counts.get("sources") or ()),
        baseline_used=baseline_used, fires=fires,
    )


def spike_message(v: SpikeVerdict, settings: AlertsSettings, window_start: datetime, now: datetime) -> tuple[str, str]:
    """Title and plain-text body of a spike alert."""
    hours = f"{settings.spike_window_hours:g} h"
    title = one_line(f"Negative spike for {v.business_name}: {v.window_negative} of {v.window_reviews} reviews "
                     f"negative in {hours}", 150)
    lines = [
        f"{v.business_name} ({v.role}): {v.window_negative} of {v.window_reviews} analysed reviews published "
        f"{_utc(window_start)} to {_utc(now)} are negative ({v.window_share:.0%}).",
    ]
    if v.baseline_used:
        lines.append(f"Baseline: {v.baseline_negative} of {v.baseline_reviews} ({v.baseline_share:.0%}) in the "
                     f"{settings.spike_baseline_days:g} days before; alert at >= {settings.spike_min_share:.0%} "
                     f"and >= {settings.spike_ratio:g}x baseline.")
    else:
        lines.append(f"Baseline: only {v.baseline_reviews} analysed review(s) in the {settings.spike_baseline_days:g}"
                     f" days before (fewer than {settings.spike_min_reviews}); alert at >= "
                     f"{settings.spike_min_share:.0%} alone.")
    if v.sources:
        lines.append(f"Negative reviews on: {', '.join(v.sources)}")
    source_args = "".join(f" -s {s}" for s in v.sources)
    lines.append(f"Look: reviewdesk reviews --sentiment negative --since {window_start.astimezone(UTC):%Y-%m-%d}"
                 f"{source_args}")
    return title, "\n".join(lines)


def detect_alerts(store: Store, config: Config, now: datetime) -> list[int]:
    """Record every new alert event with a pending delivery per configured channel; returns the new alert ids.

    Idempotent: an event already recorded is skipped, so reruns (and concurrent runs) record nothing twice.
    """
    settings = config.alerts
    channels = configured_channels(settings)
    new: list[int] = []
    with store.transaction() as tx:
        if settings.severity:
            since = now - timedelta(days=settings.severity_max_age_days)
            for row in tx.escalations_to_alert(since):
                title, body = severity_message(row)
                payload = {"escalation_id": row["escalation_id"], "content_hash": row["content_hash"],
                           "source": row["source"], "flags": row["flags"], "rating": row["rating"]}
                alert_id = tx.record_alert(
                    event_key=row["event_key"], kind=SEVERITY, business_id=row["business_id"],
                    review_id=row["review_id"], title=title, body=body, payload=payload, channels=channels, now=now,
                )
                if alert_id is not None:
                    new.append(alert_id)
        if settings.spike:
            window = timedelta(hours=settings.spike_window_hours)
            window_start = now - window
            baseline_start = window_start - timedelta(days=settings.spike_baseline_days)
            roles = ["own", "competitor"] if settings.spike_competitors else ["own"]
            for counts in tx.sentiment_counts(baseline_start=baseline_start, window_start=window_start,
                                              window_end=now, roles=roles):
                verdict = spike_verdict(counts, settings)
                if not verdict.fires:
                    continue
                last = tx.last_alert_at(SPIKE, verdict.business_id)
                if last is not None and last > now - window:
                    # One spike alert per business per window length: the next one can only be about a window
                    # of reviews the last alert did not cover.
                    continue
                title, body = spike_message(verdict, settings, window_start, now)
                payload = {
                    "window_start": window_start.isoformat(), "window_end": now.isoformat(),
                    "window_reviews": verdict.window_reviews, "window_negative": verdict.window_negative,
                    "baseline_reviews": verdict.baseline_reviews, "baseline_negative": verdict.baseline_negative,
                    "baseline_used": verdict.baseline_used, "sources": list(verdict.sources),
                }
                alert_id = tx.record_alert(
                    event_key=f"{SPIKE}:{verdict.business_id}:{now.astimezone(UTC):%Y-%m-%dT%H:%M}Z", kind=SPIKE,
                    business_id=verdict.business_id, review_id=None, title=title, body=body, payload=payload,
                    channels=channels, now=now,
                )
                if alert_id is not None:
                    new.append(alert_id)
    if new:
        log.info("recorded %d new alert(s); channels: %s", len(new), ", ".join(channels) or "none configured")
    return new
