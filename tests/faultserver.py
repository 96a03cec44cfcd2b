"""A local HTTP server that misbehaves on purpose, for crawling tests that never touch the network.

``FaultServer`` serves scripted replies per path (the last reply of a script repeats), records when
each request arrived, and serves a robots.txt. The page helpers build Trustpilot-like review pages
(a ``__NEXT_DATA__`` JSON script), based on a saved real page from ``tests/fixtures/trustpilot``
when one exists so the markup around the data stays realistic.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
import socket
import struct
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "trustpilot"
HTML_UTF8 = "text/html; charset=utf-8"

Action = Literal["send", "reset", "short_body"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status and body, optionally after a delay or as a broken connection.

    ``action``: ``send`` answers normally; ``reset`` reads the request and aborts the TCP connection
    (RST, no response); ``short_body`` announces the full Content-Length but sends half, then closes.
    ``retry_after_date``: send Retry-After as an HTTP-date this many seconds after the request.
    """

    status: int = 200
    body: bytes = b""
    content_type: str | None = HTML_UTF8
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    action: Action = "send"
    retry_after_date: float | None = None


@dataclass
class _Route:
    replies: list[Reply]
    served: int = 0

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.server.owner._record(path)
        if path == "/robots.txt":
            self._send(Reply(200, self.server.owner.robots_txt().encode(), "text/plain"))
            return
        route = self.server.owner._route(path)
        if route is None:
            self._send(Reply(404, b"<html><body>not found</body></html>"))
            return
        self._send(route)

    def _send(self, reply: Reply) -> None:
        if reply.delay:
            # An Event wait, so closing the server releases a sleeping handler at once.
            self.server.owner._stopping.wait(reply.delay)
        if reply.action == "reset":
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN: a "connection reset".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # Close now: the server's own teardown would shutdown(SHUT_WR) first, i.e. a clean FIN.
            # The read buffer holds a reference to the socket, so it goes first.
            self.rfile.close()
            self.connection.close()
            self.close_connection = True
            return
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.retry_after_date is not None:
            self.send_header("Retry-After", formatdate(time.time() + reply.retry_after_date, usegmt=True))
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        body = reply.body[: len(reply.body) // 2] if reply.action == "short_body" else reply.body
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: pytest output should show the test's failures, not an access log.
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its download timeout fired) is an expected fault, not a server bug.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FaultServer:
    """Fault-injecting HTTP server on 127.0.0.1 (random port), used as a context manager."""

    def __init__(self, robots_disallow: Sequence[str] = ()) -> None:
        self.robots_disallow = list(robots_disallow)
        self._routes: dict[str, _Route] = {}
        self._hits: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="faultserver", daemon=True)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and release sleeping handlers."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        """Absolute URL of a path on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, *replies: Reply) -> str:
        """Script a path's replies (the last one repeats); returns the path's URL."""
        if not replies:
            raise ValueError("a route needs at least one reply")
        with self._lock:
            self._routes[path] = _Route(list(replies))
        return self.url(path)

    def hits(self, path: str) -> list[float]:
        """``time.monotonic()`` arrival times of the requests for a path, in order."""
        with self._lock:
            return list(self._hits.get(path, []))

    def robots_txt(self) -> str:
        """The robots.txt served: allow everything except the configured paths."""
        lines = ["User-agent: *"]
        lines += [f"Disallow: {path}" for path in self.robots_disallow] or ["Disallow:"]
        return "\n".join(lines) + "\n"

    def _record(self, path: str) -> None:
        with self._lock:
            self._hits[path].append(time.monotonic())

    def _route(self, path: str) -> Reply | None:
        with self._lock:
            route = self._routes.get(path)
            return route.next_reply() if route is not None else None


# -- pages ------------------------------------------------------------------------------------------

_SCRIPT_FLAGS = re.DOTALL | re.IGNORECASE
_NEXT_DATA_RE = re.compile(r'(<script[^>]*id="__NEXT_DATA__"[^>]*>)(.*?)(</script>)', _SCRIPT_FLAGS)

_JSON_LD_RE = re.compile(r'(<script[^>]*type="application/ld\+json"[^>]*>)(.*?)(</script>)', _SCRIPT_FLAGS)

_MINIMAL_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Example Ltd Reviews | Trustpilot</title></head>
<body><main><h1>Example Ltd</h1><section>Reviews</section></main>
<script id="__NEXT_DATA__" type="application/json">
{"props":{"pageProps":{}},"page":"/review/[businessUnit]"}</script>
</body></html>
"""


def fixture_pages() -> list[Path]:
    """Saved real Trustpilot pages (``tests/fixtures/trustpilot/*/input.html``), newest layout last."""
    return sorted(FIXTURES.glob("*/input.html"), key=lambda p: (p.parent.name.rsplit("_", 1)[-1], p))


def _template_html() -> str:
    pages = fixture_pages()
    return _read(pages[-1]) if pages else _MINIMAL_PAGE


@functools.cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _template_data(html: str) -> dict[str, Any]:
    match = _NEXT_DATA_RE.search(html)
    if match is None:
        raise ValueError("template page has no __NEXT_DATA__ script")
    return json.loads(match.group(2))


def review_id(tag: str, n: int) -> str:
    """A stable Trustpilot-like review id (24 hex digits) for review ``n`` of a test case."""
    return hashlib.sha1(f"{tag}-{n}".encode()).hexdigest()[:24]


def make_review(tag: str, n: int, text: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A review in Trustpilot's ``__NEXT_DATA__`` shape (shaped like the fixture's first review)."""
    base: dict[str, Any] = {}
    reviews = _template_data(_template_html()).get("props", {}).get("pageProps", {}).get("reviews")
    if reviews:
        base = copy.deepcopy(reviews[0])
    day = 1 + n % 28
    base.update(
        {
            "id": review_id(tag, n),
            "rating": 1 + n % 5,
            "title": f"Review {n} of {tag}",
            "text": text if text is not None else f"Text of review {n} for {tag}.",
            "language": "en",
            "dates": {
                "experiencedDate": f"2025-01-{day:02d}T00:00:00.000Z",
                "publishedDate": f"2025-02-{day:02d}T10:00:00.000Z",
                "updatedDate": None,
                "submittedDate": None,
            },
            "consumer": {
                **(base.get("consumer") or {}),
                "id": review_id(f"{tag}-consumer", n),
                "displayName": f"Reviewer {n}",
                "countryCode": "GB",
            },
            "reply": None,
        }
    )
    base.update(overrides)
    return base


def _escape_json_for_html(data: Any) -> str:
    # As Next.js does: no literal <, > or & inside the script, so "</script>" in a review cannot end it.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def review_page(reviews: list[dict[str, Any]], json_ld: bool = True) -> str:
    """A one-page Trustpilot-like page with ``reviews`` in ``__NEXT_DATA__`` (and JSON-LD, if asked)."""
    html = _template_html()
    data = _template_data(html)
    props = data.setdefault("props", {}).setdefault("pageProps", {})
    props["reviews"] = reviews
    filters = props.setdefault("filters", {})
    filters["pagination"] = {
        "currentPage": 1,
        "perPage": max(20, len(reviews)),
        "totalCount": len(reviews),
        "totalPages": 1,
    }
    # A single page: drop any "next page" link the saved page had, so a crawl ends here.
    html = re.sub(r'<link[^>]*rel="next"[^>]*>', "", html)
    html = re.sub(r'<a[^>]*name="pagination-button-next"[^>]*>.*?</a>', "", html, flags=re.DOTALL)
    html = _with_json_ld_reviews(html, reviews) if json_ld else _JSON_LD_RE.sub("", html)
    match = _NEXT_DATA_RE.search(html)
    assert match is not None
    return html[: match.start(2)] + _escape_json_for_html(data) + html[match.end(2) :]


def _json_ld_review(template: dict[str, Any], review: dict[str, Any]) -> dict[str, Any]:
    node = copy.deepcopy(template)
    prefix = str(template.get("@id", "https://www.trustpilot.com/#/schema/Review/example.com/x"))
    node.update(
        {
            "@id": f"{prefix.rsplit('/', 1)[0]}/{review['id']}",
            "author": {"@type": "Person", "name": review["consumer"]["displayName"]},
            "datePublished": review["dates"]["publishedDate"],
            "headline": review["title"],
            "reviewBody": review["text"],
            "reviewRating": {
                "@type": "Rating",
                "bestRating": "5",
                "worstRating": "1",
                "ratingValue": str(review["rating"]),
            },
            "inLanguage": review["language"],
        }
    )
    return node


def _with_json_ld_reviews(html: str, reviews: list[dict[str, Any]]) -> str:
    # A real page repeats its reviews as schema.org JSON-LD in <head>; keep that copy consistent
    # with ours, so a parser falling back to it finds the same reviews, not the saved page's.
    def replace(match: re.Match[str]) -> str:
        data = json.loads(match.group(2))
        graph = data.get("@graph") if isinstance(data, dict) else None
        if not isinstance(graph, list):
            return match.group(0)
        old = [node for node in graph if isinstance(node, dict) and node.get("@type") == "Review"]
        if not old:
            return match.group(0)
        kept = [node for node in graph if node not in old]
        data["@graph"] = kept + [_json_ld_review(old[0], review) for review in reviews]
        return match.group(1) + _escape_json_for_html(data) + match.group(3)

    return _JSON_LD_RE.sub(replace, html)


def truncated_page(html: str) -> str:
    """The page cut off in the middle of its ``__NEXT_DATA__`` JSON (a partial download)."""
    match = _NEXT_DATA_RE.search(html)
    if match is None:
        raise ValueError("page has no __NEXT_DATA__ script")
    return html[: match.start(2) + (match.end(2) - match.start(2)) // 2]


def layout_changed_page() -> str:
    """A whole, valid page with no review data anywhere (the site was redesigned)."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Example Ltd Reviews</title>"
        "</head><body><main><h1>Example Ltd</h1><div class='reviews-v2'><article><p>Great</p>"
        "</article></div></main></body></html>"
    )


def with_raw_bytes(html: str, marker: str, raw: bytes) -> bytes:
    """Encode a page as UTF-8, then splice raw (non-UTF-8) bytes where ``marker`` stands."""
    encoded = html.encode("utf-8")
    if marker.encode() not in encoded:
        raise ValueError(f"marker {marker!r} not in page")
    return encoded.replace(marker.encode(), raw)


def iter_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL feed file."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
