"""Fake Trustpilot private reviews API.

- ``POST /v1/private/reviews/{id}/reply`` body {"authorBusinessUserId", "message"} -> 201 Created;
- ``GET /v1/private/reviews/{id}`` -> the review with ``companyReply`` {text, authorBusinessUserId,
  createdAt} or null;
- without ``Authorization: Bearer <token>`` -> 401; unknown reviews (when ``reviews`` is given) -> 404.
"""

from __future__ import annotations

import json
import re

from fakes.base import Answer, FakePlatform, json_answer

_REVIEW = re.compile(r"^/v1/private/reviews/([^/]+)(/reply)?$")


class FakeTrustpilot(FakePlatform):
    """See the module docstring."""

    def __init__(
        self,
        token: str = "tp-fake-access-token-123456",
        *,
        business_user_id: str = "507f191e810c19729de860ea",
        reviews: set[str] | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.business_user_id = business_user_id
        self.reviews = reviews

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Route one request."""
        if headers.get("authorization") != f"Bearer {self.token}":
            return json_answer(401, {"message": "Unauthorized", "errorCode": 401})
        match = _REVIEW.match(path)
        if match is None:
            return json_answer(404, {"message": "Not found"})
        review_id, reply = match.group(1), match.group(2)
        if self.reviews is not None and review_id not in self.reviews:
            return json_answer(404, {"message": "Review not found"})
        if reply and method == "POST":
            try:
                data = json.loads(body)
            except ValueError:
                return json_answer(400, {"message": "Invalid JSON"})
            if (
                not headers.get("content-type", "").startswith("application/json")
                or not isinstance(data, dict)
                or set(data) != {"authorBusinessUserId", "message"}
                or not isinstance(data["message"], str)
                or not data["message"]
            ):
                return json_answer(400, {"message": "Invalid request body"})
            if data["authorBusinessUserId"] != self.business_user_id:
                return json_answer(403, {"message": "Business user has no access to this review"})
            self.store_reply(review_id, data["message"])
            return 201, {}, b""
        if not reply and method == "GET":
            company_reply = None
            if review_id in self.replies:
                company_reply = {
                    "text": self.replies[review_id],
                    "authorBusinessUserId": self.business_user_id,
                    "createdAt": "2026-01-02T03:04:05Z",
                }
            return json_answer(200, {"id": review_id, "stars": 2, "title": "Late", "text": "It was late.",
                                     "companyReply": company_reply})
        return json_answer(405, {"message": "Method not allowed"})
