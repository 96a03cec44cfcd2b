"""Alerts: severity-flagged reviews and negative spikes, recorded once and sent by webhook and e-mail.

`detect_alerts` records new events, `deliver_alerts` sends what is pending; both are plain functions the flow
and ``reviewdesk alerts`` call (docs/alerts.md).
"""

from __future__ import annotations

from pipeline.alerting.delivery import DeliveryOutcome, DeliverySummary, deliver_alerts
from pipeline.alerting.events import detect_alerts
from pipeline.alerting.settings import AlertsEnv, configured_channels, read_env

__all__ = [
    "AlertsEnv",
    "DeliveryOutcome",
    "DeliverySummary",
    "configured_channels",
    "deliver_alerts",
    "detect_alerts",
    "read_env",
]
