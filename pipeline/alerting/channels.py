"""The two ways an alert leaves: a Slack-compatible incoming webhook and SMTP e-mail.

Each channel turns an alert into a message first (`prepare`, no network, so a bug there never leaves a row
``sending``) and then transmits it (`transmit`). Failures are raised as one of three errors, and their
messages are redacted of every secret before they are built into an exception:

- `TransientDeliveryError`: nothing was delivered and a later try may work (network down before the request
  went out, HTTP 5xx/429/408, SMTP 4xx);
- `PermanentDeliveryError`: the receiver said no for good (HTTP 4xx, SMTP 5xx, a bad URL or certificate);
- `UncertainDeliveryError`: the message went out but no answer came back, so it may have arrived. Incoming
  webhooks and SMTP have no idempotency key, so it is never sent again (at-most-once; see docs/alerts.md).
"""

from __future__ import annotations

import http.client
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Any, Protocol
from urllib.parse import urlsplit

from pipeline.alerting.settings import EMAIL, WEBHOOK, AlertsEnv
from pipeline.alerting.text import one_line, visible
from responses.publish.credentials import Secret, redact
from reviewdesk.config import AlertsSettings

WEBHOOK_TIMEOUT_S = 10.0
SMTP_TIMEOUT_S = 30.0
# Marks a success note that names refused recipients (the message reached only some of them).
PARTIAL_MARK = "; refused: "
# Slack's limits: a header block holds 150 characters, a section 3000.
_HEADER_CHARS = 150
_SECTION_CHARS = 3000


class DeliveryError(Exception):
    """A delivery did not succeed; the message never contains a secret."""


class TransientDeliveryError(DeliveryError):
    """Nothing was delivered; a later run may succeed."""


class PermanentDeliveryError(DeliveryError):
    """The receiver refused the message for good, or the channel is misconfigured."""


class UncertainDeliveryError(DeliveryError):
    """The message was sent but no answer came back: it may have arrived, so it is not sent again."""


class Channel(Protocol):
    """A way to deliver alerts."""

    name: str

    def prepare(self, alert: dict[str, Any]) -> bytes:
        """The wire form of one alert (no network)."""
        ...

    def transmit(self, alert: dict[str, Any], message: bytes) -> str:
        """Send a prepared message; returns a short note on success, raises a `DeliveryError` otherwise."""
        ...


# --- Slack-compatible webhook -------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Text safe for Slack ``mrkdwn``: ``&``, ``<``, ``>`` as entities (Slack's formatting rules), so review
    text can never form a link or a ``<!channel>`` mention; a zero-width space after ``@`` keeps Slack-compatible
    receivers that parse plain ``@here`` / ``@channel`` / ``@everyone`` (Mattermost, Discord) from pinging."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("@", "@\u200b")


def slack_payload(title: str, body: str) -> dict[str, Any]:
    """The JSON of an incoming-webhook post: ``text`` (notifications, simple receivers) plus ``blocks``."""
    text = slack_escape(f"{title}\n{body}")
    section = slack_escape(body)
    if len(section) > _SECTION_CHARS:
        section = section[: _SECTION_CHARS - 1] + "…"
    return {
        "text": text,
        "blocks": [
            # plain_text is never parsed for mentions or links; the escaping above still applies to it.
            {"type": "header", "text": {"type": "plain_text", "text": visible(title)[:_HEADER_CHARS],
                                        "emoji": False}},
            {"type": "section", "text": {"type": "mrkdwn", "text": section}},
        ],
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST would be replayed as a GET without its body; a webhook URL that redirects is wrong.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _is_transient_status(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


def _answer_excerpt(raw: bytes) -> str:
    # The receiver's answer is untrusted too: keep it short and on one visible line.
    return one_line(raw[:300].decode("utf-8", errors="replace"), 160)


@dataclass
class WebhookChannel:
    """POST to a Slack-compatible incoming webhook; success is any 2xx (Slack answers 200 ``ok``)."""

    url: Secret
    secrets: list[str]
    timeout: float = WEBHOOK_TIMEOUT_S
    name: str = WEBHOOK

    def problem(self) -> str | None:
        """Why the URL cannot be used (never quoting it), or None."""
        try:
            parts = urlsplit(self.url.reveal())
            _ = parts.port  # raises ValueError on a malformed port
        except ValueError:
            return "the webhook URL is malformed"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "the webhook URL is not an http(s) URL"
        return None

    def prepare(self, alert: dict[str, Any]) -> bytes:
        """The JSON body: review text travels as JSON data, escaped for Slack."""
        return json.dumps(slack_payload(alert["title"], alert["body"]), ensure_ascii=False).encode("utf-8")

    def _error(self, cls: type[DeliveryError], text: str) -> DeliveryError:
        return cls(redact(text, self.secrets))

    def transmit(self, alert: dict[str, Any], message: bytes) -> str:
        """POST the message once."""
        problem = self.problem()
        if problem:
            raise self._error(PermanentDeliveryError, problem)
        request = urllib.request.Request(
            self.url.reveal(), data=message, method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "Reviewdesk-alerts"},
        )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                status = response.status
                try:
                    answer = _answer_excerpt(response.read(300))
                except (OSError, http.client.HTTPException):
                    answer = ""  # the status line already said it was accepted
        except urllib.error.HTTPError as exc:
            try:
                answer = _answer_excerpt(exc.read(300) if exc.fp else b"")
            except (OSError, http.client.HTTPException):
                answer = ""
            text = f"webhook answered HTTP {exc.code}" + (f": {answer}" if answer else "")
            exc.close()
            cls = TransientDeliveryError if _is_transient_status(exc.code) else PermanentDeliveryError
            raise self._error(cls, text) from None
        except urllib.error.URLError as exc:
            # urllib wraps only what fails while connecting and sending: the request never reached the receiver.
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                text = f"webhook TLS certificate rejected: {reason.reason}"
                raise self._error(PermanentDeliveryError, text) from None
            detail = f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason)
            raise self._error(TransientDeliveryError, f"webhook unreachable ({one_line(detail, 160)})") from None
        except (OSError, http.client.HTTPException) as exc:
            # Raised while waiting for the answer, after the whole request went out.
            raise self._error(UncertainDeliveryError, f"webhook sent, no answer ({type(exc).__name__})") from None
        return f"HTTP {status} {answer}".strip()


# --- SMTP e-mail --------------------------------------------------------------------------------


def email_message(alert: dict[str, Any], settings: AlertsSettings, now: datetime) -> EmailMessage:
    """A plain-text UTF-8 e-mail whose subject is the alert's title."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = one_line(alert["title"], 200)
    msg["From"] = settings.email_from
    msg["To"] = ", ".join(settings.email_to)
    msg["Date"] = format_datetime(now)
    # Stable per alert, so a receiving system can tell a copy from a new alert.
    domain = parseaddr(settings.email_from)[1].rpartition("@")[2] or "reviewdesk.invalid"
    msg["Message-ID"] = f"<reviewdesk-alert-{alert['alert_id']}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    body = alert["body"] + "\n"
    # quoted-printable keeps non-ASCII text 7-bit clean for servers without 8BITMIME; ASCII stays as is.
    msg.set_content(body, subtype="plain", charset="utf-8", cte="7bit" if body.isascii() else "quoted-printable")
    return msg


def _smtp_code_error(code: int) -> type[DeliveryError]:
    return TransientDeliveryError if 400 <= code < 500 else PermanentDeliveryError


def _smtp_text(resp: bytes | str) -> str:
    raw = resp.decode("utf-8", errors="replace") if isinstance(resp, bytes) else str(resp)
    return one_line(raw, 160)


@dataclass
class EmailChannel:
    """Send through an SMTP server with smtplib: optional STARTTLS and login, one message to every recipient."""

    settings: AlertsSettings
    env: AlertsEnv
    secrets: list[str]
    now: datetime
    timeout: float = SMTP_TIMEOUT_S
    name: str = EMAIL

    def problem(self) -> str | None:
        """Why the settings cannot work, or None."""
        if bool(self.settings.smtp_user_env) != bool(self.settings.smtp_password_env):
            return "alerts.smtp_user_env and alerts.smtp_password_env must be set together"
        if any("\n" in a or "\r" in a for a in [*self.settings.email_to, self.settings.email_from]):
            return "alerts.email_to and alerts.email_from must not contain line breaks"
        if not parseaddr(self.settings.email_from)[1]:
            return "alerts.email_from is not an e-mail address"
        if not self.recipients():
            return "alerts.email_to holds no e-mail address"
        return None

    def recipients(self) -> list[str]:
        """The bare addresses of ``email_to``."""
        return [addr for _, addr in getaddresses(self.settings.email_to) if addr]

    def prepare(self, alert: dict[str, Any]) -> bytes:
        """The message as SMTP bytes (CRLF line ends, 7-bit transfer encodings)."""
        return email_message(alert, self.settings, self.now).as_bytes()

    def _error(self, cls: type[DeliveryError], text: str) -> DeliveryError:
        return cls(redact(text, self.secrets))

    def transmit(self, alert: dict[str, Any], message: bytes) -> str:
        """One SMTP session: connect, (STARTTLS), (login), MAIL, RCPT, DATA."""
        problem = self.problem()
        if problem:
            raise self._error(PermanentDeliveryError, problem)
        s = self.settings
        try:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
        except smtplib.SMTPConnectError as exc:
            raise self._error(_smtp_code_error(exc.smtp_code),
                              f"SMTP server refused the connection: {exc.smtp_code} {_smtp_text(exc.smtp_error)}"
                              ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise self._error(TransientDeliveryError,
                              f"SMTP server {s.smtp_host}:{s.smtp_port} unreachable ({type(exc).__name__})") from None
        try:
            return self._session(smtp, message)
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def _session(self, smtp: smtplib.SMTP, message: bytes) -> str:
        s, env = self.settings, self.env
        sender = parseaddr(s.email_from)[1]
        try:
            smtp.ehlo_or_helo_if_needed()
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if env.smtp_user and env.smtp_password:
                smtp.login(env.smtp_user.reveal(), env.smtp_password.reveal())
            code, resp = smtp.mail(sender)
            if code != 250:
                raise self._error(_smtp_code_error(code), f"SMTP MAIL FROM refused: {code} {_smtp_text(resp)}")
            refused: dict[str, tuple[int, str]] = {}
            for rcpt in self.recipients():
                code, resp = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, _smtp_text(resp))
            if len(refused) == len(self.recipients()):
                worst = max(code for code, _ in refused.values())
                listing = "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
                raise self._error(_smtp_code_error(worst), f"SMTP refused every recipient: {listing}")
        except DeliveryError:
            raise
        except smtplib.SMTPResponseException as exc:  # HELO, STARTTLS, AUTH answered with an error code
            raise self._error(_smtp_code_error(exc.smtp_code),
                              f"SMTP {type(exc).__name__}: {exc.smtp_code} {_smtp_text(exc.smtp_error)}") from None
        except ssl.SSLCertVerificationError as exc:
            raise self._error(PermanentDeliveryError, f"SMTP TLS certificate rejected: {exc.reason}") from None
        except smtplib.SMTPServerDisconnected as exc:
            raise self._error(TransientDeliveryError, f"SMTP connection lost before sending ({type(exc).__name__})"
                              ) from None
        except smtplib.SMTPException as exc:  # no STARTTLS or AUTH support, no usable AUTH method
            raise self._error(PermanentDeliveryError, f"SMTP {type(exc).__name__}: {one_line(str(exc), 160)}"
                              ) from None
        except OSError as exc:  # after SMTPException, which is an OSError too
            raise self._error(TransientDeliveryError, f"SMTP connection lost before sending ({type(exc).__name__})"
                              ) from None
        try:
            code, resp = smtp.data(message)
        except smtplib.SMTPResponseException as exc:  # DATA itself refused: nothing was taken
            raise self._error(_smtp_code_error(exc.smtp_code),
                              f"SMTP DATA refused: {exc.smtp_code} {_smtp_text(exc.smtp_error)}") from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise self._error(UncertainDeliveryError, f"SMTP message sent, no answer ({type(exc).__name__})"
                              ) from None
        if code != 250:
            raise self._error(_smtp_code_error(code), f"SMTP message refused: {code} {_smtp_text(resp)}")
        note = f"SMTP {code} {_smtp_text(resp)}"
        if refused:
            # Some recipients have it: sending again would duplicate it for them; say who is missing instead.
            note += PARTIAL_MARK + "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
        return self._redacted(note)

    def _redacted(self, text: str) -> str:
        return redact(text, self.secrets)
