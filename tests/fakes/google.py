"""Fake Google Business Profile API (My Business v4 reviews) plus its OAuth token endpoint.

- ``GET /v4/accounts/{a}/locations/{l}/reviews/{r}`` -> ``Review`` with ``reviewReply`` when there is one;
- ``PUT /v4/accounts/{a}/locations/{l}/reviews/{r}/reply`` body {"comment"} -> ``ReviewReply``
  {comment, updateTime}; a comment over 4096 UTF-8 bytes is a 400 INVALID_ARGUMENT;
- ``POST /token`` (grant_type=refresh_token) -> {"access_token", "expires_in", "token_type"};
- anything without ``Authorization: Bearer <token>`` -> 401 UNAUTHENTICATED, unknown reviews -> 404.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

from fakes.base import Answer, FakePlatform, json_answer

_REVIEW = re.compile(r"^/v4/(accounts/[^/]+/locations/[^/]+/reviews/[^/]+)(/reply)?$")
TIME = "2026-01-02T03:04:05.000000Z"


def _error(code: int, status: str, message: str) -> Answer:
    return json_answer(code, {"error": {"code": code, "message": message, "status": status}})


class FakeGoogle(FakePlatform):
    """See the module docstring; ``reviews`` limits which review names exist (None: every name)."""

    def __init__(
        self,
        token: str = "ya29.fake-google-access-token",
        *,
        refresh_token: str | None = None,
        client_id: str = "client-1.apps.googleusercontent.com",
        client_secret: str = "google-client-secret-xyz",
        reviews: set[str] | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.refresh_token = refresh_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.reviews = reviews

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Route one request."""
        if path == "/token" and method == "POST":
            return self._token(headers, body)
        match = _REVIEW.match(path)
        if match is None:
            return _error(404, "NOT_FOUND", "Requested entity was not found.")
        if headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        name, reply = match.group(1), match.group(2)
        if self.reviews is not None and name not in self.reviews:
            return _error(404, "NOT_FOUND", "Requested entity was not found.")
        if reply and method == "PUT":
            return self._put_reply(name, headers, body)
        if not reply and method == "GET":
            review = {
                "name": name,
                "reviewId": name.rsplit("/", 1)[-1],
                "reviewer": {"displayName": "A reviewer"},
                "starRating": "TWO",
                "comment": "The delivery was late.",
                "createTime": TIME,
                "updateTime": TIME,
            }
            if name in self.replies:
                review["reviewReply"] = {"comment": self.replies[name], "updateTime": TIME}
            return json_answer(200, review)
        return _error(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed here")

    def _put_reply(self, name: str, headers: dict[str, str], body: bytes) -> Answer:
        if not headers.get("content-type", "").startswith("application/json"):
            return _error(400, "INVALID_ARGUMENT", "expected a JSON body")
        try:
            data = json.loads(body)
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if not isinstance(data, dict) or set(data) - {"comment", "updateTime"} or not isinstance(
            data.get("comment"), str
        ) or not data["comment"]:
            return _error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
        if len(data["comment"].encode("utf-8")) > 4096:
            return _error(400, "INVALID_ARGUMENT", "comment exceeds the maximum length of 4096 bytes")
        self.store_reply(name, data["comment"])
        return json_answer(200, {"comment": data["comment"], "updateTime": TIME})

    def _token(self, headers: dict[str, str], body: bytes) -> Answer:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if (
            headers.get("content-type") != "application/x-www-form-urlencoded"
            or form.get("grant_type") != "refresh_token"
            or self.refresh_token is None
            or form.get("refresh_token") != self.refresh_token
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return json_answer(400, {"error": "invalid_grant", "error_description": "Bad Request"})
        return json_answer(200, {"access_token": self.token, "expires_in": 3599, "token_type": "Bearer",
                                 "scope": "https://www.googleapis.com/auth/business.manage"})
