"""Connector credentials from environment variables or a private TOML secrets file.

Values are wrapped in `Secret`, whose str/repr never show the value, and every message that could carry one
(HTTP errors, stored ``last_error``, audit details) goes through `redact` first.

Secrets file layout (mode 600; keys as in `settings.CREDENTIAL_ENV`)::

    [google]
    access_token = "ya29..."          # or refresh_token + client_id + client_secret
    [appstore_connect]
    issuer_id = "57246542-..."
    key_id = "2X9R4HXF34"
    private_key_file = "AuthKey_2X9R4HXF34.p8"   # or private_key = "-----BEGIN PRIVATE KEY-----..."
    # bearer_token = "..."            # a pre-generated JWT instead of the key
    [trustpilot]
    access_token = "..."
"""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from responses.publish.settings import CREDENTIAL_ENV, PublishEnv

REDACTED = "***"


class CredentialsError(Exception):
    """Credentials are missing, unreadable or stored unsafely; the message never contains a secret."""


class Secret:
    """A credential value that prints as ``***``; `reveal` is the only way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself, for an Authorization header or a signature; never for messages."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass
class ConnectorCredentials:
    """One connector's credentials: public ids as plain strings, secret values as `Secret`."""

    connector: str
    values: dict[str, Secret] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def secret(self, key: str) -> Secret | None:
        """A secret value, or None if it was not configured."""
        return self.values.get(key)

    def id(self, key: str) -> str | None:
        """A non-secret identifier (key id, issuer id, client id), or None."""
        return self.ids.get(key)


# Keys that identify an account but grant nothing on their own; they may appear in messages.
_PUBLIC_KEYS = {"issuer_id", "key_id", "client_id", "private_key_file"}


@dataclass
class Credentials:
    """Credentials of every connector."""

    by_connector: dict[str, ConnectorCredentials] = field(default_factory=dict)

    def get(self, connector: str) -> ConnectorCredentials:
        """A connector's credentials (empty when none were configured)."""
        return self.by_connector.get(connector) or ConnectorCredentials(connector)

    def secret_values(self) -> list[str]:
        """Every secret value, for `redact`."""
        return [s.reveal() for c in self.by_connector.values() for s in c.values.values() if s]


def check_private_file(path: Path, what: str) -> None:
    """Refuse a file that every user of the machine can read or write (it holds credentials)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CredentialsError(f"{what} {path} not found") from None
    except OSError as exc:
        raise CredentialsError(f"{what} {path} cannot be read: {exc.strerror}") from None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise CredentialsError(
            f"{what} {path} is readable or writable by every user (mode {stat.S_IMODE(mode):o}); "
            f"refusing to use it: run `chmod 600 {path}`"
        )


def _read_secrets_file(path: Path) -> dict[str, Any]:
    check_private_file(path, "secrets file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        # The parser's message can quote the offending line, which may hold a secret: keep only the position.
        where = f"line {exc.lineno}" if getattr(exc, "lineno", None) else "somewhere"
        raise CredentialsError(f"secrets file {path}: not valid TOML ({where})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"secrets file {path} cannot be read: {type(exc).__name__}") from None
    unknown = sorted(set(data) - set(CREDENTIAL_ENV))
    if unknown:
        raise CredentialsError(f"secrets file {path}: unknown section(s) {unknown}; expected {sorted(CREDENTIAL_ENV)}")
    for section, values in data.items():
        if not isinstance(values, dict):
            raise CredentialsError(f"secrets file {path}: [{section}] must be a table")
        allowed = set(CREDENTIAL_ENV[section]) | ({"private_key"} if section == "appstore_connect" else set())
        bad = sorted(set(values) - allowed)
        if bad:
            raise CredentialsError(
                f"secrets file {path}: [{section}] has unknown key(s) {bad}; expected {sorted(allowed)}"
            )
    return data


def load_credentials(env: PublishEnv, secrets_file: Path | None = None) -> Credentials:
    """Merge the secrets file (``secrets_file``, or the env override) with env variables; env wins."""
    path = env.secrets_file or secrets_file
    file_data = _read_secrets_file(path) if path is not None else {}
    out: dict[str, ConnectorCredentials] = {}
    for connector in CREDENTIAL_ENV:
        merged: dict[str, str] = {
            k: str(v) for k, v in (file_data.get(connector) or {}).items() if v not in (None, "")
        }
        merged.update(env.credentials.get(connector, {}))
        creds = ConnectorCredentials(connector)
        for key, value in merged.items():
            if key == "private_key_file":
                key_path = Path(value)
                if not key_path.is_absolute() and path is not None and key in (file_data.get(connector) or {}):
                    key_path = path.parent / key_path  # relative to the secrets file that names it
                check_private_file(key_path, "private key file")
                creds.values["private_key"] = Secret(key_path.read_text(encoding="utf-8"))
                creds.ids[key] = str(key_path)
            elif key in _PUBLIC_KEYS:
                creds.ids[key] = value
            else:
                creds.values[key] = Secret(value)
        if creds.values or creds.ids:
            out[connector] = creds
    return Credentials(out)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value (and its longer fragments) in ``text`` with ``***``."""
    for value in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(value) < 6:
            continue  # too short to search for without mangling ordinary words
        text = text.replace(value, REDACTED)
        # A PEM key or JWT may be quoted line by line or cut short; hide its long lines too.
        for part in value.splitlines():
            if len(part) >= 16:
                text = text.replace(part, REDACTED)
    return text
