"""App Store Connect: customer review responses (JSON:API), authorised by an ES256 JWT from the .p8 key.

Shapes (App Store Connect API):
- https://developer.apple.com/documentation/appstoreconnectapi/post-v1-customerreviewresponses
  ``POST /v1/customerReviewResponses`` "Create or update a response to a customer review" (it overwrites an
  existing response, so we read first). Body ``CustomerReviewResponseV1CreateRequest``:
  {"data": {"type": "customerReviewResponses", "attributes": {"responseBody": ...},
            "relationships": {"review": {"data": {"type": "customerReviews", "id": ...}}}}};
  answer ``CustomerReviewResponseV1Response`` {"data": {"type", "id", "attributes": {"responseBody",
  "lastModifiedDate", "state"}}} with 201 Created.
- https://developer.apple.com/documentation/appstoreconnectapi/get-v1-customerreviews-_id_-response
  ``GET /v1/customerReviews/{id}/response``: the same document. Assumed, not confirmed in the docs we could
  read: a review without a response answers 404 (or ``"data": null``); both mean "no reply yet".
- https://developer.apple.com/documentation/appstoreconnectapi/generating-tokens-for-api-requests
  JWT header {alg: ES256, kid: key id, typ: JWT}, payload {iss: issuer id, iat, exp (at most 20 minutes
  later), aud: "appstoreconnect-v1"}, signed with the .p8 private key. Signed here with `cryptography`
  (already installed, a dependency of Scrapy); a pre-generated ``bearer_token`` can be given instead.
- The 5970-character limit for a response is the figure in the project brief; Apple's reference pages we
  could read do not state one.
- The review id is the App Store Connect ``customerReviews`` resource id; ids from the public RSS feed may
  differ, in which case Apple answers 404/409 and the draft fails with that message.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import quote

from responses.publish.connectors.base import (
    Connector,
    ConnectorUnavailable,
    ExistingReply,
    Http,
    Posted,
    PostTarget,
    TerminalError,
    TransientError,
)
from responses.publish.credentials import ConnectorCredentials, CredentialsError

AUDIENCE = "appstoreconnect-v1"
TOKEN_LIFETIME_S = 15 * 60  # Apple accepts at most 20 minutes


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def es256_jwt(private_key_pem: str, *, key_id: str, issuer_id: str, now: float | None = None) -> str:
    """An App Store Connect API token: ES256 over header.payload, signature as raw r||s (RFC 7518 3.4)."""
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    except ImportError:  # pragma: no cover - cryptography ships with Scrapy
        raise CredentialsError(
            "signing App Store Connect tokens needs the 'cryptography' package; or set bearer_token"
        ) from None
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        # The loader's message is generic, but never pass key material into an exception.
        raise CredentialsError("the App Store Connect private key is not a PEM (.p8) EC private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CredentialsError("the App Store Connect private key must be a P-256 (ES256) EC key")
    issued = int(now if now is not None else time.time())
    header = {"alg": "ES256", "kid": key_id, "typ": "JWT"}
    payload = {"iss": issuer_id, "iat": issued, "exp": issued + TOKEN_LIFETIME_S, "aud": AUDIENCE}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(payload, separators=(",", ":")).encode())
    )
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class AppStoreConnectConnector(Connector):
    """Responses to App Store customer reviews."""

    name = "appstore_connect"
    label = "App Store Connect"
    limit = 5970

    def __init__(self, creds: ConnectorCredentials, http: Http, base_url: str) -> None:
        self.http = http
        self.base_url = base_url
        self._bearer = creds.secret("bearer_token")
        self._key = creds.secret("private_key")
        self._key_id = creds.id("key_id")
        self._issuer_id = creds.id("issuer_id")
        if not self._bearer and not (self._key and self._key_id and self._issuer_id):
            raise ConnectorUnavailable(
                "no App Store Connect credentials: set appstore_connect.issuer_id, key_id and private_key_file "
                "(or bearer_token) in the secrets file or REVIEWDESK_APPSTORE_* variables"
            )
        if self._key and self._key_id and self._issuer_id:
            try:
                es256_jwt(self._key.reveal(), key_id=self._key_id, issuer_id=self._issuer_id)
            except CredentialsError as exc:
                # A broken key is a setup problem: the rows wait instead of failing one by one.
                raise ConnectorUnavailable(str(exc)) from None

    def _headers(self) -> dict[str, str]:
        if self._key and self._key_id and self._issuer_id:
            # A fresh token per request: they are cheap and never outlive Apple's 20-minute limit.
            token = es256_jwt(self._key.reveal(), key_id=self._key_id, issuer_id=self._issuer_id)
        else:
            assert self._bearer is not None
            token = self._bearer.reveal()
        return {"Authorization": f"Bearer {token}"}

    def existing_reply(self, target: PostTarget) -> ExistingReply | None:
        """GET the review's response; 404 or null data means there is none."""
        url = f"{self.base_url}/v1/customerReviews/{quote(target.review_id, safe='')}/response"
        resp = self.http.send("GET", url, headers=self._headers())
        if resp.status == 404:
            return None
        data = self.http.check(resp, "App Store Connect customerReviews/response").json()
        item = data.get("data") if isinstance(data, dict) else None
        if not isinstance(item, dict):
            return None
        body = (item.get("attributes") or {}).get("responseBody")
        return ExistingReply(str(body), item.get("id")) if body else None

    def post_reply(self, target: PostTarget, text: str) -> Posted:
        """POST a customerReviewResponses document; 201 with the created resource."""
        body = {
            "data": {
                "type": "customerReviewResponses",
                "attributes": {"responseBody": text},
                "relationships": {"review": {"data": {"type": "customerReviews", "id": target.review_id}}},
            }
        }
        resp = self.http.check(
            self.http.send("POST", f"{self.base_url}/v1/customerReviewResponses", headers=self._headers(),
                           json_body=body),
            "App Store Connect customerReviewResponses",
        )
        data = resp.json()
        item = data.get("data") if isinstance(data, dict) else None
        if not isinstance(item, dict) or item.get("type") != "customerReviewResponses":
            raise TransientError("App Store Connect: the answer is not a customerReviewResponses document")
        if not item.get("id"):
            raise TerminalError("App Store Connect: the created response has no id")
        return Posted(str(item["id"]))
