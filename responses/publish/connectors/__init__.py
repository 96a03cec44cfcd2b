"""Publishing connectors by name (the `ReplyTarget.connector` values of the config)."""

from __future__ import annotations

from collections.abc import Callable

from responses.publish.connectors.appstore_connect import AppStoreConnectConnector
from responses.publish.connectors.base import (
    AuthError,
    Connector,
    ConnectorUnavailable,
    ExistingReply,
    Http,
    Posted,
    PostTarget,
    PublishError,
    TerminalError,
    TransientError,
)
from responses.publish.connectors.google import GoogleConnector
from responses.publish.connectors.manual import ManualConnector
from responses.publish.connectors.trustpilot import TrustpilotConnector
from responses.publish.credentials import Credentials, redact
from responses.publish.settings import PublishEnv

CONNECTORS: dict[str, type[Connector]] = {
    c.name: c for c in (GoogleConnector, AppStoreConnectConnector, TrustpilotConnector, ManualConnector)
}


class ConnectorSet:
    """Builds connectors on first use, loading credentials only when an automatic connector is needed."""

    def __init__(self, env: PublishEnv, load_credentials: Callable[[], Credentials]) -> None:
        self.env = env
        self._load = load_credentials
        self._credentials: Credentials | None = None
        self._built: dict[str, Connector | ConnectorUnavailable] = {}

    @property
    def credentials(self) -> Credentials:
        """The loaded credentials (CredentialsError if the secrets file is unsafe or broken)."""
        if self._credentials is None:
            self._credentials = self._load()
        return self._credentials

    def redact(self, text: str) -> str:
        """``text`` with every loaded secret replaced by ***."""
        return redact(text, self._credentials.secret_values()) if self._credentials else text

    def get(self, name: str) -> Connector:
        """The connector called ``name``; ConnectorUnavailable when it lacks credentials here."""
        if name not in self._built:
            self._built[name] = self._build(name)
        built = self._built[name]
        if isinstance(built, ConnectorUnavailable):
            raise built
        return built

    def _build(self, name: str) -> Connector | ConnectorUnavailable:
        http = Http(redact=self.redact)
        creds = self.credentials.get(name)
        try:
            if name == "google":
                return GoogleConnector(creds, http, self.env.base_url("google"), self.env.base_url("google_token"))
            if name == "appstore_connect":
                return AppStoreConnectConnector(creds, http, self.env.base_url("appstore_connect"))
            if name == "trustpilot":
                return TrustpilotConnector(creds, http, self.env.base_url("trustpilot"))
        except ConnectorUnavailable as exc:
            return exc
        return ConnectorUnavailable(f"connector {name!r} does not post automatically")


__all__ = [
    "CONNECTORS",
    "AppStoreConnectConnector",
    "AuthError",
    "Connector",
    "ConnectorSet",
    "ConnectorUnavailable",
    "ExistingReply",
    "GoogleConnector",
    "ManualConnector",
    "PostTarget",
    "Posted",
    "PublishError",
    "TerminalError",
    "TransientError",
    "TrustpilotConnector",
]
