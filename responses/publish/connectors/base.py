"""What every connector shares: the target of a reply, error kinds, a small HTTP client, the length check.

Errors are split the way the outbox needs them: `TransientError` (network, 429, 408, 5xx: retried with
backoff, ``retry_after`` when the platform said when) and `TerminalError` (any other 4xx, auth failures,
a reply that cannot be posted: the draft fails with the message visible). Messages are redacted.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

log = logging.getLogger("reviewdesk.publish")

USER_AGENT = "Reviewdesk-Publisher/0.1"
# One request never blocks a publisher longer than this; the outbox's sending lease is well above it.
REQUEST_TIMEOUT_S = 20.0
# A Retry-After beyond this is treated as this: a platform asking for days is better seen by a person.
MAX_RETRY_AFTER_S = 24 * 3600.0


class PublishError(Exception):
    """A reply could not be posted (or checked); ``transient`` says whether trying later can help."""

    transient: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransientError(PublishError):
    """Network trouble, rate limit or server error: retried with backoff up to publish.max_attempts."""

    transient = True


class TerminalError(PublishError):
    """The platform refused the reply (4xx) or it can never be posted as it is: the draft fails."""


class AuthError(TerminalError):
    """The platform rejected our credentials (401/403)."""


class ConnectorUnavailable(Exception):
    """A connector cannot run here (credentials not configured); its rows wait, untouched."""


@dataclass(frozen=True)
class PostTarget:
    """Where one reply goes: the review's id on the platform plus the source's connector params."""

    source: str
    review_id: str
    params: Mapping[str, str] = field(default_factory=dict)
    review_url: str | None = None
    max_chars: int | None = None


@dataclass(frozen=True)
class ExistingReply:
    """A reply already on the platform (ours from an earlier attempt, or someone else's)."""

    text: str
    external_id: str | None = None


@dataclass(frozen=True)
class Posted:
    """A reply the platform accepted; ``external_id`` identifies it there."""

    external_id: str | None


@dataclass(frozen=True)
class HttpResponse:
    """Status, headers and body of one HTTP exchange."""

    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (None when empty); unparseable bodies are a transient error."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise TransientError(f"unexpected non-JSON answer (HTTP {self.status})", status=self.status) from None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _platform_message(body: bytes) -> str:
    """The error text a platform put in its JSON body (Google, Apple and Trustpilot shapes), shortened."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body[:200].decode("utf-8", "replace").strip()
    parts: list[str] = []
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):  # Google: {"error": {"code", "message", "status"}}
            parts.append(" ".join(str(err.get(k)) for k in ("status", "message") if err.get(k)))
        elif isinstance(err, str):
            parts.append(err)
        for item in data.get("errors") or []:  # Apple JSON:API: {"errors": [{"code", "title", "detail"}]}
            if isinstance(item, dict):
                parts.append(" ".join(str(item.get(k)) for k in ("code", "title", "detail") if item.get(k)))
        if isinstance(data.get("message"), str):  # Trustpilot: {"message": ...}
            parts.append(data["message"])
    return "; ".join(p for p in parts if p)[:300]


class Http:
    """A minimal JSON-over-HTTPS client on urllib; every failure becomes a `PublishError`."""

    def __init__(self, redact: Callable[[str], str] = lambda s: s, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self.redact = redact
        self.timeout = timeout

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """One request; HTTP error statuses are returned, network failures raise `TransientError`."""
        data: bytes | None = None
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urlencode(form).encode("ascii")
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
        # Only method and URL are logged: headers carry the token, URLs never do.
        log.debug("%s %s", method, url)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return HttpResponse(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as exc:
            with exc:
                body = exc.read()
            return HttpResponse(exc.code, exc.headers, body)
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise TransientError(self.redact(f"network error on {method} {url}: {reason}")) from None

    def check(self, resp: HttpResponse, what: str) -> HttpResponse:
        """Return a 2xx response; raise the right `PublishError` for any other status."""
        if 200 <= resp.status < 300:
            return resp
        detail = _platform_message(resp.body)
        message = self.redact(f"{what}: HTTP {resp.status}" + (f" ({detail})" if detail else ""))
        if resp.status == 429:
            retry_after = parse_retry_after(resp.headers.get("Retry-After") if resp.headers else None)
            raise TransientError(message, status=429, retry_after=retry_after)
        if resp.status == 408 or resp.status >= 500:
            raise TransientError(message, status=resp.status)
        if resp.status in (401, 403):
            raise AuthError(message + "; check the connector's credentials", status=resp.status)
        raise TerminalError(message, status=resp.status)


def same_text(a: str, b: str) -> bool:
    """Whether two replies are the same text (platforms may normalise line ends and outer whitespace)."""
    return " ".join(a.split()) == " ".join(b.split())


class Connector(ABC):
    """Posts replies to one platform. Subclasses set the class attributes and the two HTTP methods."""

    name: ClassVar[str]
    label: ClassVar[str]
    limit: ClassVar[int | None]
    unit: ClassVar[Literal["chars", "bytes"]] = "chars"
    required_params: ClassVar[tuple[str, ...]] = ()
    automatic: ClassVar[bool] = True

    @classmethod
    def length_problem(cls, text: str, max_chars: int | None = None) -> str | None:
        """Why ``text`` is too long for this platform (or the source's max_chars), or None if it fits."""
        if not text.strip():
            return "the approved reply is empty"
        if max_chars is not None and len(text) > max_chars:
            return f"the reply is {len(text)} characters; this source allows at most {max_chars} (reply.max_chars)"
        if cls.limit is None:
            return None
        size = len(text.encode("utf-8")) if cls.unit == "bytes" else len(text)
        if size > cls.limit:
            unit = "bytes (UTF-8)" if cls.unit == "bytes" else "characters"
            return f"the reply is {size} {unit}; {cls.label} allows at most {cls.limit} {unit}"
        return None

    @classmethod
    def target_problem(cls, target: PostTarget) -> str | None:
        """Why a reply to this target cannot be addressed (missing params), or None."""
        missing = [p for p in cls.required_params if not target.params.get(p)]
        if missing:
            return f"source {target.source}: reply.params needs {', '.join(missing)} for the {cls.name} connector"
        return None

    @abstractmethod
    def existing_reply(self, target: PostTarget) -> ExistingReply | None:
        """The reply already on the platform for this review, or None (GET; never changes anything)."""

    @abstractmethod
    def post_reply(self, target: PostTarget, text: str) -> Posted:
        """Post ``text`` as the reply to the target review."""
