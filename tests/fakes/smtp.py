"""A small SMTP server on 127.0.0.1 (stdlib sockets) that records every message it accepts.

It speaks enough of RFC 5321 for smtplib: EHLO/HELO, AUTH PLAIN and LOGIN (when ``user``/``password`` are
given), MAIL, RCPT, DATA (with dot-unstuffing), RSET, NOOP, QUIT. No STARTTLS.

Faults apply to the next matching commands: ``fail(times, code, at="MAIL"|"RCPT"|"DATA"|"END")`` answers
with ``code`` (``END`` is the answer after the message's final dot, nothing is stored), and
``lose_after_data(times)`` stores the message and then closes the connection without answering it.
"""

from __future__ import annotations

import base64
import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import cast

from httpfixtures import LoopbackServer


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_to: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        """The message parsed with the modern e-mail API."""
        return cast(EmailMessage, message_from_bytes(self.data, policy=policy.default))


@dataclass
class _Fault:
    at: str
    times: int
    code: int = 451
    lose: bool = False


@dataclass
class _Session:
    mail_from: str | None = None
    rcpt_to: list[str] = field(default_factory=list)
    user: str | None = None


class _Handler(socketserver.StreamRequestHandler):
    server: _Server
    timeout = 10

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("utf-8") + b"\r\n")

    def readline(self) -> str | None:
        raw = self.rfile.readline(65536)
        return raw.decode("utf-8", errors="replace").rstrip("\r\n") if raw else None

    def handle(self) -> None:
        fake = self.server.owner
        self.reply("220 fake.smtp.test ESMTP ready")
        session = _Session()
        while (line := self.readline()) is not None:
            fake.commands.append(line)
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                extensions = ["250-fake.smtp.test", "250-8BITMIME"]
                if fake.user is not None:
                    extensions.append("250-AUTH PLAIN LOGIN")
                self.wfile.write(("\r\n".join([*extensions, "250 SMTPUTF8"]) + "\r\n").encode())
            elif verb == "HELO" or verb == "NOOP":
                self.reply("250 ok")
            elif verb == "AUTH":
                self.auth(arg, session)
            elif verb == "MAIL":
                if fake.user is not None and session.user is None:
                    self.reply("530 5.7.0 authentication required")
                elif (code := fake.take("MAIL")) is not None:
                    self.reply(f"{code} MAIL refused by fault")
                else:
                    session.mail_from, session.rcpt_to = _address(arg), []
                    self.reply("250 ok")
            elif verb == "RCPT":
                address = _address(arg)
                if session.mail_from is None:
                    self.reply("503 need MAIL first")
                elif (code := fake.take("RCPT")) is not None:
                    self.reply(f"{code} recipient refused by fault")
                else:
                    session.rcpt_to.append(address)
                    self.reply("250 ok")
            elif verb == "DATA":
                if not session.rcpt_to:
                    self.reply("503 need RCPT first")
                elif (code := fake.take("DATA")) is not None:
                    self.reply(f"{code} DATA refused by fault")
                else:
                    self.reply("354 end with <CRLF>.<CRLF>")
                    if not self.data(session):
                        return
                    session.mail_from, session.rcpt_to = None, []
            elif verb == "RSET":
                session.mail_from, session.rcpt_to = None, []
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 command not implemented")

    def auth(self, arg: str, session: _Session) -> None:
        fake = self.server.owner
        mechanism, _, initial = arg.partition(" ")
        if mechanism.upper() == "PLAIN":
            if not initial:
                self.reply("334 ")
                initial = self.readline() or ""
            parts = base64.b64decode(initial).decode("utf-8").split("\0")
            user, password = parts[1], parts[2]
        elif mechanism.upper() == "LOGIN":
            self.reply("334 " + base64.b64encode(b"Username:").decode())
            user = base64.b64decode(self.readline() or "").decode("utf-8")
            self.reply("334 " + base64.b64encode(b"Password:").decode())
            password = base64.b64decode(self.readline() or "").decode("utf-8")
        else:
            self.reply("504 unrecognized authentication type")
            return
        if (user, password) == (fake.user, fake.password):
            session.user = user
            self.reply("235 2.7.0 authentication successful")
        else:
            # Real servers are not this careless; echoing the user name lets tests check redaction.
            self.reply(f"535 5.7.8 authentication failed for {user}")

    def data(self, session: _Session) -> bool:
        fake = self.server.owner
        lines: list[bytes] = []
        while True:
            raw = self.rfile.readline(1 << 20)
            if not raw:
                return False
            if raw in (b".\r\n", b".\n"):
                break
            lines.append(raw[1:] if raw.startswith(b"..") else raw)
        fault = fake.take_fault("END")
        if fault is not None and not fault.lose:
            self.reply(f"{fault.code} message refused by fault")
            return True
        assert session.mail_from is not None
        with fake.lock:
            fake.messages.append(Received(session.mail_from, list(session.rcpt_to), b"".join(lines)))
        if fault is not None:  # lose: stored, but the answer never comes
            return False
        self.reply("250 2.0.0 queued as FAKE1")
        return True


def _address(arg: str) -> str:
    _, _, rest = arg.partition(":")
    return rest.strip().split(" ")[0].strip("<>")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeSMTP


class FakeSMTP(LoopbackServer):
    """See the module docstring. Use as a context manager; ``port`` is where it listens."""

    def __init__(self, *, user: str | None = None, password: str | None = None) -> None:
        self.user = user
        self.password = password
        self.messages: list[Received] = []
        self.commands: list[str] = []
        self.lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._listen(_Server, _Handler)

    def fail(self, times: int = 1, code: int = 451, *, at: str = "MAIL") -> None:
        """Answer the next ``times`` commands of stage ``at`` (MAIL, RCPT, DATA, END) with ``code``."""
        self._faults.append(_Fault(at, times, code))

    def lose_after_data(self, times: int = 1) -> None:
        """Store the next ``times`` messages, then drop the connection instead of answering."""
        self._faults.append(_Fault("END", times, lose=True))

    def take_fault(self, at: str) -> _Fault | None:
        """Use up one matching fault, if any."""
        with self.lock:
            for fault in self._faults:
                if fault.times > 0 and fault.at == at:
                    fault.times -= 1
                    return fault
        return None

    def take(self, at: str) -> int | None:
        """The code of a matching status fault, if any."""
        fault = self.take_fault(at)
        return fault.code if fault is not None else None
