"""Trustpilot: business replies to service reviews (Service Reviews API, private endpoints, OAuth bearer).

Shapes:
- ``POST https://api.trustpilot.com/v1/private/reviews/{reviewId}/reply`` with
  {"authorBusinessUserId": ..., "message": ...}; 201 Created on success (developers.trustpilot.com,
  "Reply to a review"; the same request is shown at
  https://raw.githubusercontent.com/api-evangelist/trustpilot/refs/heads/main/examples/trustpilot-create-review-reply-example.json).
- Check: ``GET https://api.trustpilot.com/v1/private/reviews/{reviewId}`` ("Get private review"), whose
  ``companyReply`` {text, createdAt, ...} is the current reply. Assumed from Trustpilot's reference as we
  remember it; not confirmed by a document we could read here. ``message`` is also accepted as the text key.
- Reply length: no documented limit found; 2048 characters is assumed (override with reply.max_chars).
- ``authorBusinessUserId`` is the business user the reply is posted as: reply.params.business_user_id.
- The access token is a Trustpilot business-user OAuth token (obtained outside Reviewdesk).
"""

from __future__ import annotations

from urllib.parse import quote

from responses.publish.connectors.base import (
    Connector,
    ConnectorUnavailable,
    ExistingReply,
    Http,
    Posted,
    PostTarget,
    TerminalError,
)
from responses.publish.credentials import ConnectorCredentials


class TrustpilotConnector(Connector):
    """Business replies to Trustpilot service reviews."""

    name = "trustpilot"
    label = "Trustpilot"
    limit = 2048
    required_params = ("business_user_id",)

    def __init__(self, creds: ConnectorCredentials, http: Http, base_url: str) -> None:
        self.http = http
        self.base_url = base_url
        self._token = creds.secret("access_token")
        if not self._token:
            raise ConnectorUnavailable(
                "no Trustpilot credentials: set trustpilot.access_token (secrets file) or "
                "REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN"
            )

    def _headers(self) -> dict[str, str]:
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token.reveal()}"}

    def _review_url(self, target: PostTarget) -> str:
        return f"{self.base_url}/v1/private/reviews/{quote(target.review_id, safe='')}"

    def existing_reply(self, target: PostTarget) -> ExistingReply | None:
        """The review's ``companyReply``, if any; a missing review is a terminal error."""
        resp = self.http.send("GET", self._review_url(target), headers=self._headers())
        if resp.status == 404:
            raise TerminalError(f"Trustpilot review {target.review_id} not found (deleted?)")
        data = self.http.check(resp, "Trustpilot get private review").json()
        reply = data.get("companyReply") if isinstance(data, dict) else None
        if isinstance(reply, dict):
            text = reply.get("text") or reply.get("message")
            if text:
                return ExistingReply(str(text), target.review_id)
        return None

    def post_reply(self, target: PostTarget, text: str) -> Posted:
        """POST the reply as the configured business user."""
        body = {"authorBusinessUserId": target.params["business_user_id"], "message": text}
        self.http.check(
            self.http.send("POST", self._review_url(target) + "/reply", headers=self._headers(), json_body=body),
            "Trustpilot reply",
        )
        return Posted(target.review_id)
