"""Fake App Store Connect API: customer review responses, authorised by a verified ES256 JWT.

- ``POST /v1/customerReviewResponses`` with a ``CustomerReviewResponseV1CreateRequest`` JSON:API document
  -> 201 ``CustomerReviewResponseV1Response``;
- ``GET /v1/customerReviews/{id}/response`` -> 200 with the response, or 404 when there is none;
- the bearer token must be a JWT signed (ES256) by the private key matching ``public_key``, with the
  expected ``kid``, ``iss``, ``aud`` = appstoreconnect-v1 and a lifetime of at most 20 minutes; or, when
  ``static_token`` is set, exactly that token. Otherwise 401 NOT_AUTHORIZED.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from fakes.base import Answer, FakePlatform, json_answer

_RESPONSE_OF = re.compile(r"^/v1/customerReviews/([^/]+)/response$")


def _errors(status: int, code: str, title: str, detail: str) -> Answer:
    return json_answer(status, {"errors": [{"status": str(status), "code": code, "title": title, "detail": detail}]})


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeAppStoreConnect(FakePlatform):
    """See the module docstring."""

    def __init__(
        self,
        public_key: ec.EllipticCurvePublicKey | None = None,
        *,
        key_id: str = "2X9R4HXF34",
        issuer_id: str = "57246542-96fe-1a63-e053-0824d011072a",
        static_token: str | None = None,
    ) -> None:
        super().__init__()
        self.public_key = public_key
        self.key_id = key_id
        self.issuer_id = issuer_id
        self.static_token = static_token
        self.response_ids: dict[str, str] = {}
        self.jwt_payloads: list[dict[str, Any]] = []

    def _authorised(self, header: str | None) -> str | None:
        """None if the Authorization header is acceptable, else why not."""
        if not header or not header.startswith("Bearer "):
            return "missing bearer token"
        token = header.removeprefix("Bearer ")
        if self.static_token is not None:
            return None if token == self.static_token else "wrong token"
        if self.public_key is None:
            return "no key configured"
        try:
            head_b64, payload_b64, sig_b64 = token.split(".")
            head = json.loads(_b64decode(head_b64))
            payload = json.loads(_b64decode(payload_b64))
            sig = _b64decode(sig_b64)
        except ValueError:
            return "not a JWT"
        if head != {"alg": "ES256", "kid": self.key_id, "typ": "JWT"}:
            return f"bad header {head}"
        if payload.get("iss") != self.issuer_id or payload.get("aud") != "appstoreconnect-v1":
            return "bad iss/aud"
        now = time.time()
        if not (payload["iat"] - 60 <= now < payload["exp"]) or payload["exp"] - payload["iat"] > 20 * 60:
            return "expired or too long-lived"
        if len(sig) != 64:
            return "signature is not raw r||s"
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        try:
            self.public_key.verify(der, f"{head_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return "bad signature"
        self.jwt_payloads.append(payload)
        return None

    def _document(self, review_id: str) -> dict[str, Any]:
        response_id = self.response_ids[review_id]
        return {
            "data": {
                "type": "customerReviewResponses",
                "id": response_id,
                "attributes": {
                    "responseBody": self.replies[review_id],
                    "lastModifiedDate": "2026-01-02T03:04:05-08:00",
                    "state": "PENDING_PUBLISH",
                },
                "relationships": {"review": {"data": {"type": "customerReviews", "id": review_id}}},
                "links": {"self": f"{self.base}/v1/customerReviewResponses/{response_id}"},
            },
            "links": {"self": f"{self.base}/v1/customerReviewResponses/{response_id}"},
        }

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Route one request."""
        why = self._authorised(headers.get("authorization"))
        if why is not None:
            return _errors(401, "NOT_AUTHORIZED", "Authentication credentials are missing or invalid.",
                           "Provide a properly configured and signed bearer token, and make sure that it has "
                           f"not expired. ({why})")
        match = _RESPONSE_OF.match(path)
        if match and method == "GET":
            review_id = match.group(1)
            if review_id not in self.replies:
                return _errors(404, "NOT_FOUND", "The specified resource does not exist",
                               f"There is no resource of type 'customerReviewResponses' for review '{review_id}'")
            return json_answer(200, self._document(review_id))
        if path == "/v1/customerReviewResponses" and method == "POST":
            return self._create(headers, body)
        return _errors(404, "NOT_FOUND", "The specified resource does not exist", f"{method} {path}")

    def _create(self, headers: dict[str, str], body: bytes) -> Answer:
        if not headers.get("content-type", "").startswith("application/json"):
            return _errors(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type", "expected application/json")
        try:
            data = json.loads(body)["data"]
            ok = (
                data["type"] == "customerReviewResponses"
                and set(data) == {"type", "attributes", "relationships"}
                and set(data["attributes"]) == {"responseBody"}
                and isinstance(data["attributes"]["responseBody"], str)
                and data["relationships"]["review"]["data"]["type"] == "customerReviews"
            )
            review_id = data["relationships"]["review"]["data"]["id"]
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return _errors(422, "ENTITY_ERROR", "The request entity is invalid", "bad document")
        text = data["attributes"]["responseBody"]
        if len(text) > 5970:
            return _errors(409, "ENTITY_ERROR.ATTRIBUTE.INVALID", "An attribute value is invalid.",
                           "responseBody is too long")
        self.store_reply(review_id, text)
        self.response_ids.setdefault(review_id, str(uuid.uuid4()))
        return json_answer(201, self._document(review_id))
