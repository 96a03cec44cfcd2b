"""Credentials: env variables over a private secrets file, unsafe files refused, and no secret ever in logs,
exceptions, stored errors or the audit log."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from fakes.google import FakeGoogle
from fakes.publishing import GOOGLE_SOURCE, T0, TRUSTPILOT_SOURCE, approved_draft, audit, env, make_config, outbox
from fakes.trustpilot import FakeTrustpilot

from pipeline.store import Store
from responses.publish import run_publish
from responses.publish.connectors import AuthError, ConnectorSet, PostTarget
from responses.publish.credentials import CredentialsError, Secret, load_credentials, redact
from responses.publish.settings import read_env

TOKEN = "tp-secret-token-3f9a8b7c6d5e4f3a"
TEXT = "Thank you for the review; we are sorry and will call you back within 24 hours."


def secrets_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_env_overrides_the_secrets_file(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, '[trustpilot]\naccess_token = "from-file-123456"\n'
                                  '[google]\naccess_token = "google-from-file-123"\n')
    creds = load_credentials(env({"REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN": "from-env-654321"}), path)
    assert creds.get("trustpilot").secret("access_token").reveal() == "from-env-654321"
    assert creds.get("google").secret("access_token").reveal() == "google-from-file-123"
    assert creds.get("appstore_connect").secret("bearer_token") is None


def test_secrets_file_from_env_variable(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, '[trustpilot]\naccess_token = "from-env-file-99"\n')
    creds = load_credentials(read_env({"REVIEWDESK_SECRETS_FILE": str(path)}), None)
    assert creds.get("trustpilot").secret("access_token").reveal() == "from-env-file-99"


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o666, 0o602])
def test_world_readable_or_writable_secrets_file_is_refused(tmp_path: Path, mode: int) -> None:
    path = secrets_file(tmp_path, f'[trustpilot]\naccess_token = "{TOKEN}"\n', mode)
    with pytest.raises(CredentialsError) as exc:
        load_credentials(env(), path)
    assert "chmod 600" in str(exc.value) and str(path) in str(exc.value)
    assert TOKEN not in str(exc.value)


def test_owner_and_group_only_files_are_accepted(tmp_path: Path) -> None:
    for mode in (0o600, 0o400, 0o640):
        path = secrets_file(tmp_path, f'[trustpilot]\naccess_token = "{TOKEN}"\n', mode)
        assert load_credentials(env(), path).get("trustpilot").secret("access_token").reveal() == TOKEN


def test_world_readable_private_key_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "AuthKey.p8"
    key.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    key.chmod(0o644)
    path = secrets_file(tmp_path, '[appstore_connect]\nissuer_id = "iss"\nkey_id = "kid"\n'
                                  'private_key_file = "AuthKey.p8"\n')
    with pytest.raises(CredentialsError, match=r"private key file .*AuthKey\.p8"):
        load_credentials(env(), path)
    key.chmod(0o600)  # relative to the secrets file, and read once it is private
    creds = load_credentials(env(), path).get("appstore_connect")
    assert creds.secret("private_key").reveal().startswith("-----BEGIN PRIVATE KEY-----")
    assert creds.id("key_id") == "kid" and creds.id("issuer_id") == "iss"


def test_broken_secrets_file_never_quotes_its_content(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, f'[trustpilot]\naccess_token = "{TOKEN}\n')  # unterminated string
    with pytest.raises(CredentialsError) as exc:
        load_credentials(env(), path)
    assert "not valid TOML" in str(exc.value) and TOKEN not in str(exc.value)
    path = secrets_file(tmp_path, f'[trustpilot]\ntoken = "{TOKEN}"\n')
    with pytest.raises(CredentialsError, match="unknown key"):
        load_credentials(env(), path)
    path = secrets_file(tmp_path, '[facebook]\naccess_token = "x"\n')
    with pytest.raises(CredentialsError, match="unknown section"):
        load_credentials(env(), path)


def test_secret_wrappers_never_show_values() -> None:
    secret = Secret(TOKEN)
    assert TOKEN not in f"{secret} {secret!r} {[secret]}"
    snapshot = read_env({"REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN": TOKEN})
    assert TOKEN not in repr(snapshot) and TOKEN not in str(snapshot)
    creds = load_credentials(snapshot)
    assert TOKEN not in repr(creds)
    assert redact(f"Bearer {TOKEN} rejected", [TOKEN]) == "Bearer *** rejected"


def test_secrets_stay_out_of_logs_errors_and_audit(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeTrustpilot(token=TOKEN) as fake:
        # A platform that echoes the credential back in its error body.
        fake.fail(1, 401, method="GET", body={"message": f"token {TOKEN} has expired"})
        draft_id = approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, "64b7f0c2e1d2a3b4c5d6e7f8", TEXT)
        e = env({"REVIEWDESK_TRUSTPILOT_API_BASE": fake.base, "REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN": TOKEN})
        connectors = ConnectorSet(e, lambda: load_credentials(e))
        run = run_publish(store, make_config([TRUSTPILOT_SOURCE], delay_minutes=0), connectors, env=e, now=T0)
        assert [o.state for o in run.sent] == ["failed"]
        row = outbox(store, draft_id)
        assert "HTTP 401" in row["last_error"] and "***" in row["last_error"]
        # The exception a connector raises is redacted too.
        fake.fail(1, 401, method="POST", body={"message": f"token {TOKEN} has expired"})
        target = PostTarget("acme-tp", "x", {"business_user_id": fake.business_user_id})
        with pytest.raises(AuthError) as exc:
            connectors.get("trustpilot").post_reply(target, TEXT)
        assert TOKEN not in str(exc.value) and TOKEN not in repr(exc.value)
    everything = " ".join(
        [caplog.text, row["last_error"], *(o.detail for o in run.outcomes)]
        + [f"{a['actor']} {a['detail']}" for a in audit(store)]
    )
    assert "HTTP 401" in caplog.text
    assert TOKEN not in everything


def test_google_refresh_secrets_stay_out_of_errors(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    refresh, client_secret = "1//refresh-secret-value-77", "client-secret-value-88"
    with FakeGoogle(refresh_token="a-different-refresh-token") as fake:
        fake.fail(1, 400, method="POST", body={"error": "invalid_grant",
                                               "error_description": f"bad {refresh} / {client_secret}"})
        draft_id = approved_draft(store, tmp_path, GOOGLE_SOURCE, "AbCdEf", TEXT)
        e = env({
            "REVIEWDESK_GOOGLE_API_BASE": fake.base, "REVIEWDESK_GOOGLE_TOKEN_URL": f"{fake.base}/token",
            "REVIEWDESK_GOOGLE_REFRESH_TOKEN": refresh, "REVIEWDESK_GOOGLE_CLIENT_ID": fake.client_id,
            "REVIEWDESK_GOOGLE_CLIENT_SECRET": client_secret,
        })
        run = run_publish(store, make_config([GOOGLE_SOURCE], delay_minutes=0),
                          ConnectorSet(e, lambda: load_credentials(e)), env=e, now=T0 + timedelta(minutes=1))
    assert [o.state for o in run.sent] == ["failed"]
    error = outbox(store, draft_id)["last_error"]
    assert "Google token refresh: HTTP 400" in error
    everything = caplog.text + error + " ".join(str(a["detail"]) for a in audit(store))
    assert refresh not in everything and client_secret not in everything
