"""Environment variables of alerting, read here and nowhere else.

The config names the variables (``alerts.webhook_url_env``, ``smtp_user_env``, ``smtp_password_env``); their
values are secrets, snapshotted once into an `AlertsEnv` whose repr never shows them. Tests build one from a
plain dict instead of touching ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from responses.publish.credentials import Secret
from reviewdesk.config import AlertsSettings

WEBHOOK = "webhook"
EMAIL = "email"


@dataclass(frozen=True)
class AlertsEnv:
    """The secret values alerting needs, and the configured variables that turned out empty."""

    webhook_url: Secret | None = None
    smtp_user: Secret | None = None
    smtp_password: Secret | None = None
    missing: dict[str, str] = field(default_factory=dict)  # channel -> variable name that is not set

    def __repr__(self) -> str:
        # Only whether each value is present: a repr can end up in a log or a traceback.
        return (
            f"AlertsEnv(webhook_url={'set' if self.webhook_url else 'unset'}, "
            f"smtp_user={'set' if self.smtp_user else 'unset'}, "
            f"smtp_password={'set' if self.smtp_password else 'unset'}, missing={self.missing})"
        )

    def secret_values(self) -> list[str]:
        """Every secret value (and the webhook URL's path, its token part), for `redact`."""
        values = [s.reveal() for s in (self.webhook_url, self.smtp_user, self.smtp_password) if s]
        if self.webhook_url:
            parts = urlsplit(self.webhook_url.reveal())
            values += [parts.path, parts.path + ("?" + parts.query if parts.query else "")]
            # Slack's token is the last 24 characters; a shorter segment is an id or a word like "services".
            values += [p for p in parts.path.split("/") if len(p) >= 16]
        return values


def configured_channels(settings: AlertsSettings) -> list[str]:
    """The channels the config asks for: ``webhook`` when a URL variable is named, ``email`` with recipients."""
    channels = []
    if settings.webhook_url_env:
        channels.append(WEBHOOK)
    if settings.email_to:
        channels.append(EMAIL)
    return channels


def read_env(settings: AlertsSettings, environ: Mapping[str, str] | None = None) -> AlertsEnv:
    """Snapshot the variables ``settings`` names from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    missing: dict[str, str] = {}

    def secret(name: str | None, channel: str) -> Secret | None:
        if not name:
            return None
        value = env.get(name, "").strip()
        if not value:
            missing.setdefault(channel, name)
            return None
        return Secret(value)

    webhook = secret(settings.webhook_url_env, WEBHOOK)
    user = secret(settings.smtp_user_env, EMAIL) if settings.email_to else None
    password = secret(settings.smtp_password_env, EMAIL) if settings.email_to else None
    return AlertsEnv(webhook_url=webhook, smtp_user=user, smtp_password=password, missing=missing)
