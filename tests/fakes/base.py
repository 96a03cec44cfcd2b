"""A scriptable fake platform API on 127.0.0.1: records every request, stores replies, injects faults.

Subclasses route requests (``handle``) the way the real API does: they check the method, path, auth header
and body, and answer with the documented success shapes. Faults apply to the next matching requests:

- ``fail(times, status, headers, body, method)``: answer with that status instead (503, 429 + Retry-After,
  401, 400 ...);
- ``drop(times, method)``: close the connection without an answer (a network error before processing);
- ``lose_response(times, method)``: process the request (the reply is stored!) and then close the
  connection without answering, the way a crash or timeout after the platform accepted a post looks.

``writes[review]`` counts accepted replies per review, and ``duplicates`` lists reviews that received a
write while they already had a reply: exactly-once means every count is 1 and ``duplicates`` is empty.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from httpfixtures import LoopbackServer

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body) if self.body else None


@dataclass
class _Fault:
    kind: Literal["status", "drop", "lose"]
    times: int
    method: str | None
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def json_answer(status: int, data: Any, headers: dict[str, str] | None = None) -> Answer:
    """A JSON answer."""
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.owner._dispatch(self.command, self.path, dict(self.headers.items()), body)
        if answer is None:
            # Simulated network failure: no status line at all, connection closed.
            self.close_connection = True
            return
        status, headers, payload = answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakePlatform


class FakePlatform(LoopbackServer):
    """Base of the fake APIs; see the module docstring."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: dict[str, str] = {}
        self.writes: dict[str, int] = {}
        self.duplicates: list[str] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._listen(_Server, _Handler)

    # -- faults --------------------------------------------------------------------------------

    def fail(
        self,
        times: int = 1,
        status: int = 503,
        *,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | dict[str, Any] = b"",
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``."""
        payload = json.dumps(body).encode() if isinstance(body, dict) else body
        hdrs = {"Content-Type": "application/json", **(headers or {})} if payload else dict(headers or {})
        self._faults.append(_Fault("status", times, method, status, hdrs, payload))

    def drop(self, times: int = 1, *, method: str | None = None) -> None:
        """Close the connection of the next ``times`` matching requests without processing them."""
        self._faults.append(_Fault("drop", times, method))

    def lose_response(self, times: int = 1, *, method: str | None = None) -> None:
        """Process the next ``times`` matching requests, then close the connection without answering."""
        self._faults.append(_Fault("lose", times, method))

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and (fault.method is None or fault.method == method):
                fault.times -= 1
                return fault
        return None

    # -- requests ------------------------------------------------------------------------------

    def requests_for(self, method: str) -> list[Recorded]:
        """Recorded requests with this method."""
        return [r for r in self.requests if r.method == method]

    def store_reply(self, review: str, text: str) -> None:
        """Accept a reply write, counting duplicates."""
        if review in self.replies:
            self.duplicates.append(review)
        self.replies[review] = text
        self.writes[review] = self.writes.get(review, 0) + 1

    def _dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer | None:
        with self._lock:
            self.requests.append(Recorded(method, path, headers, body))
            fault = self._take_fault(method)
            if fault is not None and fault.kind == "drop":
                return None
            if fault is not None and fault.kind == "status":
                return fault.status, fault.headers, fault.body
            answer = self.handle(method, path, {k.lower(): v for k, v in headers.items()}, body)
            return None if fault is not None and fault.kind == "lose" else answer

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Route one request (headers with lower-case names); subclasses implement the platform."""
        raise NotImplementedError
