"""Environment variables of publishing, read here and nowhere else.

Everything is read once into a `PublishEnv` snapshot; code and tests pass the snapshot around (tests build
one from a plain dict instead of touching ``os.environ``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Kill switch: any of these values turns publishing off, whatever the config says.
DISABLED_ENV = "REVIEWDESK_PUBLISH_DISABLED"
_TRUE = {"1", "true", "yes", "on"}

SECRETS_FILE_ENV = "REVIEWDESK_SECRETS_FILE"

# Credential variables; each overrides the same key of the secrets file.
CREDENTIAL_ENV: dict[str, dict[str, str]] = {
    "google": {
        "access_token": "REVIEWDESK_GOOGLE_ACCESS_TOKEN",
        "refresh_token": "REVIEWDESK_GOOGLE_REFRESH_TOKEN",
        "client_id": "REVIEWDESK_GOOGLE_CLIENT_ID",
        "client_secret": "REVIEWDESK_GOOGLE_CLIENT_SECRET",
    },
    "appstore_connect": {
        "issuer_id": "REVIEWDESK_APPSTORE_ISSUER_ID",
        "key_id": "REVIEWDESK_APPSTORE_KEY_ID",
        "private_key_file": "REVIEWDESK_APPSTORE_PRIVATE_KEY_FILE",
        "bearer_token": "REVIEWDESK_APPSTORE_BEARER_TOKEN",
    },
    "trustpilot": {
        "access_token": "REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN",
    },
}

# Platform endpoints; the variables exist so tests can point connectors at loopback fakes.
DEFAULT_BASE_URLS = {
    "google": "https://mybusiness.googleapis.com",
    "google_token": "https://oauth2.googleapis.com/token",
    "appstore_connect": "https://api.appstoreconnect.apple.com",
    "trustpilot": "https://api.trustpilot.com",
}
BASE_URL_ENV = {
    "google": "REVIEWDESK_GOOGLE_API_BASE",
    "google_token": "REVIEWDESK_GOOGLE_TOKEN_URL",
    "appstore_connect": "REVIEWDESK_APPSTORE_API_BASE",
    "trustpilot": "REVIEWDESK_TRUSTPILOT_API_BASE",
}


@dataclass(frozen=True)
class PublishEnv:
    """What the environment says about publishing (credential values stay in `credentials`)."""

    disabled: bool = False
    secrets_file: Path | None = None
    base_urls: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BASE_URLS))
    # Raw credential values by connector and key; never printed (see `__repr__`).
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)

    def __repr__(self) -> str:
        # The credential values must not reach logs or tracebacks through a repr.
        return f"PublishEnv(disabled={self.disabled}, secrets_file={self.secrets_file}, base_urls={self.base_urls})"

    def base_url(self, name: str) -> str:
        """The endpoint of a platform, without a trailing slash."""
        return self.base_urls[name].rstrip("/")


def read_env(environ: Mapping[str, str] | None = None) -> PublishEnv:
    """Snapshot the publishing variables of ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    creds = {
        connector: {key: env[var] for key, var in names.items() if env.get(var)}
        for connector, names in CREDENTIAL_ENV.items()
    }
    secrets = env.get(SECRETS_FILE_ENV)
    return PublishEnv(
        disabled=env.get(DISABLED_ENV, "").strip().lower() in _TRUE,
        secrets_file=Path(secrets) if secrets else None,
        base_urls={name: env.get(BASE_URL_ENV[name]) or url for name, url in DEFAULT_BASE_URLS.items()},
        credentials={k: v for k, v in creds.items() if v},
    )
