"""A tiny local HTTP server for end-to-end crawl tests: fixed files by path, a robots.txt, a request log.

Use as a context manager: ``with StaticServer({"/a": (body, "text/html")}) as server: server.url("/a")``.
It listens on 127.0.0.1 on a free port, serves in a thread and stops on exit. Paths are matched with
their query string (``/reviews?page=2``); anything else is a 404.
"""

from __future__ import annotations

import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
XML = "application/xml; charset=utf-8"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.owner.requests.append(self.path)
        if self.path == "/robots.txt":
            body, content_type = b"User-agent: *\nDisallow:\n", "text/plain; charset=utf-8"
        elif self.path in self.server.owner.routes:
            body, content_type = self.server.owner.routes[self.path]
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Keep pytest output clean; the request log is on the server object.
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: StaticServer


class LoopbackServer:
    """A socketserver on 127.0.0.1 (any free port) in a daemon thread, used as a context manager.

    Subclasses set their own state, then call ``_listen``; handlers reach the subclass as ``server.owner``.
    """

    def _listen(self, server_class: type[socketserver.BaseServer], handler: type) -> None:
        self._server = server_class(("127.0.0.1", 0), handler)
        self._server.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1."""
        return int(self._server.server_address[1])

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        return f"http://127.0.0.1:{self.port}"


class StaticServer(LoopbackServer):
    """Serve fixed bodies by path on 127.0.0.1 and remember every requested path."""

    def __init__(self, routes: Mapping[str, tuple[bytes, str]] | None = None) -> None:
        self.routes: dict[str, tuple[bytes, str]] = dict(routes or {})
        self.requests: list[str] = []
        self._listen(_Server, _Handler)

    def url(self, path: str) -> str:
        """Absolute URL of a path on this server."""
        return self.base + path

    def add(self, path: str, body: bytes | str, content_type: str = HTML) -> str:
        """Serve ``body`` at ``path``; returns its URL."""
        self.routes[path] = (body.encode("utf-8") if isinstance(body, str) else body, content_type)
        return self.url(path)


def scrapy_crawl(
    spider: str, out: Path, *args: str, settings: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``scrapy crawl SPIDER -a ... -O OUT`` in the project root, fast and quiet."""
    command = [sys.executable, "-m", "scrapy", "crawl", spider]
    for arg in args:
        command += ["-a", arg]
    command += ["-O", str(out), "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "LOG_LEVEL=INFO"]
    for key, value in (settings or {}).items():
        command += ["-s", f"{key}={value}"]
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
