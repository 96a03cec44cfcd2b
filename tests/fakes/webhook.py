"""A Slack-compatible incoming webhook on 127.0.0.1 that records every post.

- ``POST /services/T0FAKE/B0FAKE/<token>`` with a JSON object holding a string ``text`` -> 200 ``ok``;
- a wrong path -> 404 ``no_service``; a body that is not such JSON -> 400 ``invalid_payload`` (Slack's answers);
- faults come from `FakePlatform`: ``fail(n, 503)``, ``fail(n, 404, body=b"no_service")``, ``drop(n)`` ...

``posts`` holds the accepted payloads in order; ``url`` is the secret to put in the webhook variable.
"""

from __future__ import annotations

import json
from typing import Any

from fakes.base import Answer, FakePlatform


class FakeWebhook(FakePlatform):
    """See the module docstring."""

    def __init__(self, token: str = "xoxFAKEsecretWebhookToken0123456789") -> None:
        super().__init__()
        self.token = token
        self.posts: list[dict[str, Any]] = []

    @property
    def path(self) -> str:
        """The secret path of the hook."""
        return f"/services/T0FAKE/B0FAKE/{self.token}"

    @property
    def url(self) -> str:
        """The full webhook URL (a secret, like Slack's)."""
        return self.base + self.path

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Accept a well-formed post on the hook's path."""
        text = {"Content-Type": "text/plain"}
        if method != "POST" or path != self.path:
            return 404, text, b"no_service"
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return 400, text, b"invalid_payload"
        if not headers.get("content-type", "").startswith("application/json") or not isinstance(data, dict) \
                or not isinstance(data.get("text"), str):
            return 400, text, b"invalid_payload"
        self.posts.append(data)
        return 200, text, b"ok"
