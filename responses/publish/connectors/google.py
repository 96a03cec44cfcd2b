"""Google Business Profile: reply with ``accounts.locations.reviews.updateReply``, check with ``reviews.get``.

Shapes (Google My Business API v4):
- https://developers.google.com/my-business/reference/rest/v4/accounts.locations.reviews/updateReply
  ``PUT https://mybusiness.googleapis.com/v4/{name=accounts/*/locations/*/reviews/*}/reply``, body and answer
  a ``ReviewReply`` {comment, updateTime}; "A reply is created if one does not exist", so a PUT never
  duplicates, but it does overwrite: we read first and never replace a reply somebody else wrote.
- https://developers.google.com/my-business/reference/rest/v4/accounts.locations.reviews/get
  ``GET .../v4/{name=accounts/*/locations/*/reviews/*}`` answers a ``Review`` whose ``reviewReply`` is the
  current reply, if any.
- ``ReviewReply.comment``: "The maximum length is 4096 bytes" (the reference says bytes, so UTF-8 bytes are
  counted: a Cyrillic reply fits about 2048 characters).
- OAuth 2 bearer token (scope https://www.googleapis.com/auth/business.manage). A stored access token is
  used as is; with refresh_token + client_id + client_secret a fresh one is fetched from the token endpoint
  (RFC 6749 section 6, https://developers.google.com/identity/protocols/oauth2/web-server#offline).
"""

from __future__ import annotations

from urllib.parse import quote

from responses.publish.connectors.base import (
    AuthError,
    Connector,
    ConnectorUnavailable,
    ExistingReply,
    Http,
    Posted,
    PostTarget,
    TerminalError,
    TransientError,
)
from responses.publish.credentials import ConnectorCredentials, Secret


def _strip(value: str, prefix: str) -> str:
    return value[len(prefix):] if value.startswith(prefix) else value


class GoogleConnector(Connector):
    """Google Business Profile reviews (My Business API v4)."""

    name = "google"
    label = "Google Business Profile"
    limit = 4096
    unit = "bytes"
    required_params = ("account", "location")

    def __init__(self, creds: ConnectorCredentials, http: Http, base_url: str, token_url: str) -> None:
        self.http = http
        self.base_url = base_url
        self.token_url = token_url
        self._token: Secret | None = creds.secret("access_token")
        self._refresh = creds.secret("refresh_token")
        self._client_id = creds.id("client_id")
        self._client_secret = creds.secret("client_secret")
        if not self._token and not (self._refresh and self._client_id and self._client_secret):
            raise ConnectorUnavailable(
                "no Google credentials: set google.access_token, or refresh_token + client_id + client_secret "
                "(secrets file or REVIEWDESK_GOOGLE_* variables)"
            )
        self._refreshed = False

    @classmethod
    def target_problem(cls, target: PostTarget) -> str | None:
        """A full review name (accounts/.../reviews/...) needs no params; a bare review id needs both."""
        if target.review_id.startswith("accounts/"):
            return None
        return super().target_problem(target)

    @staticmethod
    def review_name(target: PostTarget) -> str:
        """``accounts/{a}/locations/{l}/reviews/{r}`` for the target review."""
        if target.review_id.startswith("accounts/"):
            return target.review_id
        account = _strip(target.params["account"], "accounts/")
        location = _strip(target.params["location"], "locations/")
        return f"accounts/{account}/locations/{location}/reviews/{target.review_id}"

    def _access_token(self) -> str:
        if self._token and (self._refreshed or not self._refresh):
            return self._token.reveal()
        if self._refresh and self._client_id and self._client_secret:
            resp = self.http.check(
                self.http.send("POST", self.token_url, headers={}, form={
                    "grant_type": "refresh_token",
                    "refresh_token": self._refresh.reveal(),
                    "client_id": self._client_id,
                    "client_secret": self._client_secret.reveal(),
                }),
                "Google token refresh",
            )
            data = resp.json()
            if not isinstance(data, dict) or not data.get("access_token"):
                raise AuthError("Google token refresh: the answer has no access_token")
            self._token = Secret(str(data["access_token"]))
            self._refreshed = True
            return self._token.reveal()
        assert self._token is not None
        return self._token.reveal()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access_token()}"}

    def _url(self, name: str) -> str:
        return f"{self.base_url}/v4/{quote(name, safe='/')}"

    def existing_reply(self, target: PostTarget) -> ExistingReply | None:
        """The review's current ``reviewReply`` (GET review); a missing review is a terminal error."""
        name = self.review_name(target)
        resp = self.http.send("GET", self._url(name), headers=self._headers())
        if resp.status == 404:
            raise TerminalError(f"Google review {name} not found (deleted, or wrong account/location params)")
        data = self.http.check(resp, "Google reviews.get").json()
        if not isinstance(data, dict):
            raise TransientError("Google reviews.get: unexpected answer")
        reply = data.get("reviewReply")
        if isinstance(reply, dict) and reply.get("comment"):
            return ExistingReply(str(reply["comment"]), f"{name}/reply")
        return None

    def post_reply(self, target: PostTarget, text: str) -> Posted:
        """PUT the ReviewReply; the answer must echo a comment."""
        name = self.review_name(target)
        resp = self.http.check(
            self.http.send("PUT", self._url(name) + "/reply", headers=self._headers(), json_body={"comment": text}),
            "Google updateReply",
        )
        data = resp.json()
        if not isinstance(data, dict) or "comment" not in data:
            raise TransientError("Google updateReply: the answer is not a ReviewReply")
        return Posted(f"{name}/reply")
