"""Connectors against loopback fakes of Google Business Profile, App Store Connect and Trustpilot: the
documented request shapes (method, path, auth, body), the success answers, limits and the existing-reply check."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fakes.appstore import FakeAppStoreConnect
from fakes.google import FakeGoogle
from fakes.publishing import (
    APPSTORE_SOURCE,
    GOOGLE_SOURCE,
    MANUAL_SOURCE,
    T0,
    TRUSTPILOT_SOURCE,
    approved_draft,
    env,
    make_config,
    outbox,
)
from fakes.trustpilot import FakeTrustpilot

from pipeline.store import Store
from responses.publish import PublishRun, run_publish
from responses.publish.connectors import ConnectorSet
from responses.publish.connectors.appstore_connect import es256_jwt
from responses.publish.connectors.base import MAX_RETRY_AFTER_S, parse_retry_after
from responses.publish.credentials import Credentials, load_credentials
from responses.publish.settings import PublishEnv

LATER = T0 + timedelta(hours=1)
TEXT = "Thank you for your review. We are sorry about the wait and have passed it on to the team."


def publish(store: Store, sources: list[dict], e: PublishEnv, *, at: datetime = LATER) -> PublishRun:
    """Queue (delay 0) and post everything due at ``at``."""
    cfg = make_config(sources, delay_minutes=0)
    return run_publish(store, cfg, ConnectorSet(e, lambda: load_credentials(e)), env=e, now=at)


# -- Google Business Profile -----------------------------------------------------------------------


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle(reviews={"accounts/111/locations/222/reviews/AbCdEf", "accounts/9/locations/8/reviews/xyz"}) as f:
        yield f


def google_env(fake: FakeGoogle, **extra: str) -> PublishEnv:
    return env({"REVIEWDESK_GOOGLE_API_BASE": fake.base, "REVIEWDESK_GOOGLE_ACCESS_TOKEN": fake.token, **extra})


def test_google_update_reply_shape(store: Store, tmp_path: Path, google: FakeGoogle) -> None:
    draft_id = approved_draft(store, tmp_path, GOOGLE_SOURCE, "AbCdEf", TEXT)
    run = publish(store, [GOOGLE_SOURCE], google_env(google))
    assert [o.state for o in run.sent] == ["published"]
    get, put = google.requests
    assert (get.method, get.path) == ("GET", "/v4/accounts/111/locations/222/reviews/AbCdEf")
    assert (put.method, put.path) == ("PUT", "/v4/accounts/111/locations/222/reviews/AbCdEf/reply")
    assert put.headers["Authorization"] == f"Bearer {google.token}"
    assert put.json() == {"comment": TEXT}
    assert outbox(store, draft_id)["external_id"] == "accounts/111/locations/222/reviews/AbCdEf/reply"


def test_google_full_review_name_needs_no_params(store: Store, tmp_path: Path, google: FakeGoogle) -> None:
    source = {**GOOGLE_SOURCE, "reply": {"connector": "google"}}
    approved_draft(store, tmp_path, source, "accounts/9/locations/8/reviews/xyz", TEXT)
    assert [o.state for o in publish(store, [source], google_env(google)).sent] == ["published"]
    assert google.replies == {"accounts/9/locations/8/reviews/xyz": TEXT}


def test_google_unknown_review_fails(store: Store, tmp_path: Path, google: FakeGoogle) -> None:
    draft_id = approved_draft(store, tmp_path, GOOGLE_SOURCE, "gone", TEXT)
    assert [o.state for o in publish(store, [GOOGLE_SOURCE], google_env(google)).sent] == ["failed"]
    assert "not found" in outbox(store, draft_id)["last_error"]
    assert google.requests_for("PUT") == []


def test_google_limit_is_4096_utf8_bytes(store: Store, tmp_path: Path, google: FakeGoogle) -> None:
    too_long = approved_draft(store, tmp_path, GOOGLE_SOURCE, "AbCdEf", "ж" * 2049)  # 4098 bytes
    run = publish(store, [GOOGLE_SOURCE], google_env(google))
    assert run.queued[0].state == "failed"
    assert "4098 bytes (UTF-8); Google Business Profile allows at most 4096" in outbox(store, too_long)["last_error"]
    assert google.requests == []
    fits = approved_draft(store, tmp_path, GOOGLE_SOURCE, "accounts/9/locations/8/reviews/xyz", "ж" * 2048)
    assert [o.state for o in publish(store, [GOOGLE_SOURCE], google_env(google)).sent] == ["published"]
    assert outbox(store, fits)["state"] == "published"


def test_google_refresh_token_flow(store: Store, tmp_path: Path) -> None:
    with FakeGoogle(refresh_token="1//refresh-token-abcdef") as fake:
        approved_draft(store, tmp_path, GOOGLE_SOURCE, "AbCdEf", TEXT)
        e = env({
            "REVIEWDESK_GOOGLE_API_BASE": fake.base, "REVIEWDESK_GOOGLE_TOKEN_URL": f"{fake.base}/token",
            "REVIEWDESK_GOOGLE_REFRESH_TOKEN": fake.refresh_token, "REVIEWDESK_GOOGLE_CLIENT_ID": fake.client_id,
            "REVIEWDESK_GOOGLE_CLIENT_SECRET": fake.client_secret,
        })
        assert [o.state for o in publish(store, [GOOGLE_SOURCE], e).sent] == ["published"]
        token_calls = [r for r in fake.requests if r.path == "/token"]
        assert len(token_calls) == 1
        assert b"grant_type=refresh_token" in token_calls[0].body


# -- App Store Connect -----------------------------------------------------------------------------


@pytest.fixture
def ec_key(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "AuthKey_2X9R4HXF34.p8"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return key, path


def apple_env(fake: FakeAppStoreConnect, key_path: Path) -> PublishEnv:
    return env({
        "REVIEWDESK_APPSTORE_API_BASE": fake.base, "REVIEWDESK_APPSTORE_ISSUER_ID": fake.issuer_id,
        "REVIEWDESK_APPSTORE_KEY_ID": fake.key_id, "REVIEWDESK_APPSTORE_PRIVATE_KEY_FILE": str(key_path),
    })


def test_appstore_jwt_and_json_api_body(
    store: Store, tmp_path: Path, ec_key: tuple[ec.EllipticCurvePrivateKey, Path]
) -> None:
    key, key_path = ec_key
    review_id = "00000036-9d1e-4f5a-b4bb-0123456789ab"
    with FakeAppStoreConnect(key.public_key()) as fake:
        draft_id = approved_draft(store, tmp_path, APPSTORE_SOURCE, review_id, TEXT)
        run = publish(store, [APPSTORE_SOURCE], apple_env(fake, key_path))
        assert [o.state for o in run.sent] == ["published"]
        get, post = fake.requests
        assert (get.method, get.path) == ("GET", f"/v1/customerReviews/{review_id}/response")
        assert (post.method, post.path) == ("POST", "/v1/customerReviewResponses")
        assert post.json() == {"data": {
            "type": "customerReviewResponses",
            "attributes": {"responseBody": TEXT},
            "relationships": {"review": {"data": {"type": "customerReviews", "id": review_id}}},
        }}
        assert fake.jwt_payloads and all(p["aud"] == "appstoreconnect-v1" for p in fake.jwt_payloads)
        assert outbox(store, draft_id)["external_id"] == fake.response_ids[review_id]


def test_appstore_existing_same_reply_is_recorded_without_posting(
    store: Store, tmp_path: Path, ec_key: tuple[ec.EllipticCurvePrivateKey, Path]
) -> None:
    key, key_path = ec_key
    with FakeAppStoreConnect(key.public_key()) as fake:
        fake.replies["rev-1"], fake.response_ids["rev-1"] = TEXT + "\n", "resp-1"
        draft_id = approved_draft(store, tmp_path, APPSTORE_SOURCE, "rev-1", TEXT)
        assert [o.state for o in publish(store, [APPSTORE_SOURCE], apple_env(fake, key_path)).sent] == ["published"]
        assert fake.requests_for("POST") == []
        assert outbox(store, draft_id)["external_id"] == "resp-1"


def test_appstore_pre_generated_bearer_token(store: Store, tmp_path: Path) -> None:
    with FakeAppStoreConnect(static_token="eyJ.pre-generated.token-value") as fake:
        approved_draft(store, tmp_path, APPSTORE_SOURCE, "rev-2", TEXT)
        e = env({"REVIEWDESK_APPSTORE_API_BASE": fake.base,
                 "REVIEWDESK_APPSTORE_BEARER_TOKEN": "eyJ.pre-generated.token-value"})
        assert [o.state for o in publish(store, [APPSTORE_SOURCE], e).sent] == ["published"]


def test_appstore_broken_key_leaves_rows_waiting(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "AuthKey_BAD.p8"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    bad.chmod(0o600)
    with FakeAppStoreConnect() as fake:
        draft_id = approved_draft(store, tmp_path, APPSTORE_SOURCE, "rev-3", TEXT)
        run = publish(store, [APPSTORE_SOURCE], apple_env(fake, bad))
        assert [o.state for o in run.sent] == ["waiting"] and "not a PEM" in run.sent[0].detail
        assert outbox(store, draft_id)["attempts"] == 0 and fake.requests == []


def test_appstore_limit_is_5970(store: Store, tmp_path: Path, ec_key: tuple[ec.EllipticCurvePrivateKey, Path]) -> None:
    key, key_path = ec_key
    with FakeAppStoreConnect(key.public_key()) as fake:
        approved_draft(store, tmp_path, APPSTORE_SOURCE, "rev-4", "a" * 5971)
        approved_draft(store, tmp_path, APPSTORE_SOURCE, "rev-5", "b" * 5970)
        run = publish(store, [APPSTORE_SOURCE], apple_env(fake, key_path))
        assert sorted(o.state for o in run.queued) == ["failed", "queued"]
        assert set(fake.replies) == {"rev-5"}


def test_es256_jwt_verifies_with_the_public_key(ec_key: tuple[ec.EllipticCurvePrivateKey, Path]) -> None:
    key, key_path = ec_key
    token = es256_jwt(key_path.read_text(), key_id="KID", issuer_id="ISS", now=1_700_000_000)
    head, payload, sig = token.split(".")

    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    assert json.loads(decode(head)) == {"alg": "ES256", "kid": "KID", "typ": "JWT"}
    claims = json.loads(decode(payload))
    assert claims["iss"] == "ISS" and claims["aud"] == "appstoreconnect-v1"
    assert 0 < claims["exp"] - claims["iat"] <= 20 * 60
    raw = decode(sig)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.public_key().verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))


# -- Trustpilot ------------------------------------------------------------------------------------


def test_trustpilot_reply_shape(store: Store, tmp_path: Path) -> None:
    with FakeTrustpilot(reviews={"64b7f0c2e1d2a3b4c5d6e7f8"}) as fake:
        draft_id = approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, "64b7f0c2e1d2a3b4c5d6e7f8", TEXT)
        e = env({"REVIEWDESK_TRUSTPILOT_API_BASE": fake.base, "REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN": fake.token})
        assert [o.state for o in publish(store, [TRUSTPILOT_SOURCE], e).sent] == ["published"]
        get, post = fake.requests
        assert (get.method, get.path) == ("GET", "/v1/private/reviews/64b7f0c2e1d2a3b4c5d6e7f8")
        assert (post.method, post.path) == ("POST", "/v1/private/reviews/64b7f0c2e1d2a3b4c5d6e7f8/reply")
        assert post.headers["Authorization"] == f"Bearer {fake.token}"
        assert post.json() == {"authorBusinessUserId": "507f191e810c19729de860ea", "message": TEXT}
        assert outbox(store, draft_id)["state"] == "published"


def test_trustpilot_wrong_business_user_fails(store: Store, tmp_path: Path) -> None:
    with FakeTrustpilot(business_user_id="someone-else") as fake:
        draft_id = approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, "64b7f0c2e1d2a3b4c5d6e7f9", TEXT)
        e = env({"REVIEWDESK_TRUSTPILOT_API_BASE": fake.base, "REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN": fake.token})
        assert [o.state for o in publish(store, [TRUSTPILOT_SOURCE], e).sent] == ["failed"]
        assert "HTTP 403" in outbox(store, draft_id)["last_error"]


# -- manual and shared pieces ----------------------------------------------------------------------


def test_manual_rows_are_never_sent_and_need_no_credentials(store: Store, tmp_path: Path) -> None:
    draft_id = approved_draft(store, tmp_path, MANUAL_SOURCE, "page-review-1", TEXT)

    def no_credentials() -> Credentials:
        raise AssertionError("credentials must not be loaded for manual sources")

    e = env()
    cfg = make_config([MANUAL_SOURCE], delay_minutes=0)
    run = run_publish(store, cfg, ConnectorSet(e, no_credentials), env=e, now=LATER)
    assert [(o.state, o.connector) for o in run.queued] == [("queued", "manual")]
    assert run.sent == []
    assert outbox(store, draft_id)["state"] == "queued"


def test_parse_retry_after() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("99999999") == MAX_RETRY_AFTER_S
    assert parse_retry_after("-5") == 0


def test_base_url_overrides_come_only_from_settings() -> None:
    default = env()
    assert default.base_url("google") == "https://mybusiness.googleapis.com"
    assert default.base_url("appstore_connect") == "https://api.appstoreconnect.apple.com"
    assert default.base_url("trustpilot") == "https://api.trustpilot.com"
    assert env({"REVIEWDESK_TRUSTPILOT_API_BASE": "http://127.0.0.1:9/"}).base_url("trustpilot") == "http://127.0.0.1:9"
    # The snapshot is built from what it is given, not from the process environment.
    assert "REVIEWDESK_PUBLISH_DISABLED" not in os.environ or env().disabled is False
