"""The publishing commands through the real CLI (subprocesses) against a loopback Trustpilot fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from fakes.publishing import (
    MANUAL_SOURCE,
    TRUSTPILOT_SOURCE,
    add_user,
    approved_draft,
    audit,
    config_data,
    outbox,
    toml,
)
from fakes.trustpilot import FakeTrustpilot

from pipeline.store import Store

TEXT = "Thank you for writing.\nWe are sorry the parcel arrived late; our team will contact you today."
EARLIER = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
def tp() -> Iterator[FakeTrustpilot]:
    with FakeTrustpilot() as fake:
        yield fake


def setup(tmp_path: Path, **publish: Any) -> tuple[Path, Store]:
    db = tmp_path / "db.duckdb"
    data = config_data([TRUSTPILOT_SOURCE, MANUAL_SOURCE], database=str(db), **{"delay_minutes": 0, **publish})
    path = tmp_path / "reviewdesk.toml"
    path.write_text(toml(data))
    return path, Store(db)


def cli(tp: FakeTrustpilot, *args: str, cwd: Path, **extra: str) -> Any:
    env = {"REVIEWDESK_TRUSTPILOT_API_BASE": tp.base, "REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN": tp.token,
           "REVIEWDESK_PUBLISH_DISABLED": "", "REVIEWDESK_SECRETS_FILE": "", **extra}
    return run_cli(*args, cwd=cwd, env=env)


def test_publish_posts_due_replies_and_lists_the_outbox(tmp_path: Path, tp: FakeTrustpilot) -> None:
    config, store = setup(tmp_path)
    auto = approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, "64b7f0c2e1d2a3b4c5d6e7f8", TEXT, at=EARLIER)
    manual = approved_draft(store, tmp_path, MANUAL_SOURCE, "site-review-1", TEXT, at=EARLIER)
    result = cli(tp, "publish", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "published" in result.stdout and "acme-tp" in result.stdout and "trustpilot" in result.stdout
    assert "1 reply(ies) to post by hand" in result.stdout and str(manual) in result.stdout
    assert tp.replies == {"64b7f0c2e1d2a3b4c5d6e7f8": TEXT}

    listing = cli(tp, "outbox", "--config", str(config), cwd=tmp_path)
    assert listing.returncode == 0 and "queued (manual)" in listing.stdout and "published" in listing.stdout
    as_json = cli(tp, "outbox", "--state", "published", "--json", "--config", str(config), cwd=tmp_path)
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(r["draft_id"], r["state"], r["connector"]) for r in rows] == [(auto, "published", "trustpilot")]
    again = cli(tp, "publish", "--config", str(config), cwd=tmp_path)
    assert again.returncode == 0 and len(tp.requests_for("POST")) == 1


def test_publish_waits_for_the_delay(tmp_path: Path, tp: FakeTrustpilot) -> None:
    config, store = setup(tmp_path, delay_minutes=30)
    approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, "64b7f0c2e1d2a3b4c5d6e7f8", TEXT, at=datetime.now(UTC))
    result = cli(tp, "publish", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "queued" in result.stdout and "waiting for their publish time" in result.stdout
    assert tp.requests == []


@pytest.mark.parametrize("how", ["env", "config"])
def test_publish_kill_switch_says_so_and_posts_nothing(tmp_path: Path, tp: FakeTrustpilot, how: str) -> None:
    config, store = setup(tmp_path, enabled=how != "config")
    draft_id = approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, "64b7f0c2e1d2a3b4c5d6e7f8", TEXT, at=EARLIER)
    extra = {"REVIEWDESK_PUBLISH_DISABLED": "1"} if how == "env" else {}
    result = cli(tp, "publish", "--config", str(config), cwd=tmp_path, **extra)
    assert result.returncode == 0, result.stderr
    message = " ".join(result.stdout.split())
    assert "KILL SWITCH" in message and "nothing was posted" in message
    assert ("REVIEWDESK_PUBLISH_DISABLED" if how == "env" else "publish.enabled = false") in message
    assert tp.requests == [] and outbox(store, draft_id)["state"] == "queued"


def test_publish_failure_is_visible_and_exits_1(tmp_path: Path, tp: FakeTrustpilot) -> None:
    config, store = setup(tmp_path)
    draft_id = approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, "64b7f0c2e1d2a3b4c5d6e7f8", TEXT, at=EARLIER)
    tp.fail(1, 400, method="POST", body={"message": "Reply contains a URL"})
    result = cli(tp, "publish", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert "failed" in result.stdout and "Reply contains a URL" in result.stdout
    listing = cli(tp, "outbox", "--state", "failed", "--config", str(config), cwd=tmp_path)
    assert "Reply contains a URL" in listing.stdout
    assert outbox(store, draft_id)["draft_state"] == "failed"


def test_dry_run_changes_nothing(tmp_path: Path, tp: FakeTrustpilot) -> None:
    config, store = setup(tmp_path)
    draft_id = approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, "64b7f0c2e1d2a3b4c5d6e7f8", TEXT, at=EARLIER)
    result = cli(tp, "publish", "--dry-run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0 and "would_queue" in result.stdout
    with store.transaction() as tx:
        assert tx.count("outbox") == 0 and tx.draft_state(draft_id) == "approved"
    assert tp.requests == []


def test_copy_and_mark_posted_for_manual_sources(tmp_path: Path, tp: FakeTrustpilot) -> None:
    config, store = setup(tmp_path)
    manual = approved_draft(store, tmp_path, MANUAL_SOURCE, "site-review-1", TEXT, at=EARLIER)
    auto = approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, "64b7f0c2e1d2a3b4c5d6e7f8", TEXT, at=EARLIER)
    add_user(store, "vera", "viewer")
    add_user(store, "rita", "responder")

    copied = cli(tp, "copy", str(manual), "--config", str(config), cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout == TEXT + "\n"  # exactly the approved text, ready to paste
    assert f"mark-posted {manual}" in copied.stderr

    refused = cli(tp, "copy", str(auto), "--config", str(config), cwd=tmp_path)
    assert refused.returncode == 1 and "posted automatically through trustpilot" in " ".join(refused.stderr.split())

    for user, reason in (("nobody", "no Reviewdesk user named 'nobody'"), ("vera", "is a viewer")):
        denied = cli(tp, "mark-posted", str(manual), "--as", user, "--config", str(config), cwd=tmp_path)
        assert denied.returncode == 1 and reason in " ".join(denied.stderr.split())
        assert "Traceback" not in denied.stderr

    url = "https://acme.example/reviews#reply-1"
    done = cli(tp, "mark-posted", str(manual), "--as", "rita", "--url", url, "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    row = outbox(store, manual)
    assert row["state"] == "published" and row["draft_state"] == "published" and row["external_id"] == url
    entries = [a for a in audit(store) if a["action"] == "publish" and a["entity_id"] in (manual, row["id"])]
    assert entries and all(a["actor"] == "rita" for a in entries)

    twice = cli(tp, "mark-posted", str(manual), "--as", "rita", "--config", str(config), cwd=tmp_path)
    assert twice.returncode == 1 and "already published" in twice.stderr
    assert tp.requests == []  # nothing manual ever reaches a platform


def test_failed_automatic_post_can_be_posted_by_hand(tmp_path: Path, tp: FakeTrustpilot) -> None:
    config, store = setup(tmp_path)
    draft_id = approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, "64b7f0c2e1d2a3b4c5d6e7f8", TEXT, at=EARLIER)
    add_user(store, "ada", "admin")
    tp.fail(1, 400, method="POST", body={"message": "Rejected by moderation"})
    assert cli(tp, "publish", "--config", str(config), cwd=tmp_path).returncode == 1
    copied = cli(tp, "copy", str(draft_id), "--config", str(config), cwd=tmp_path)
    assert copied.stdout == TEXT + "\n" and "Rejected by moderation" in copied.stderr
    done = cli(tp, "mark-posted", str(draft_id), "--as", "ada", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0 and outbox(store, draft_id)["state"] == "published"


def test_world_readable_secrets_file_is_refused(tmp_path: Path, tp: FakeTrustpilot) -> None:
    config, store = setup(tmp_path, secrets_file="secrets.toml")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[trustpilot]\naccess_token = "{tp.token}"\n')
    secrets.chmod(0o644)
    approved_draft(store, tmp_path, TRUSTPILOT_SOURCE, "64b7f0c2e1d2a3b4c5d6e7f8", TEXT, at=EARLIER)
    result = cli(tp, "publish", "--config", str(config), cwd=tmp_path, REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN="")
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "readable or writable by every user" in message and "chmod 600" in message
    assert tp.token not in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert tp.requests == []
    secrets.chmod(0o600)
    ok = cli(tp, "publish", "--config", str(config), cwd=tmp_path, REVIEWDESK_TRUSTPILOT_ACCESS_TOKEN="")
    assert ok.returncode == 0, ok.stderr
    assert tp.replies == {"64b7f0c2e1d2a3b4c5d6e7f8": TEXT}


def test_outbox_rejects_unknown_state(tmp_path: Path, tp: FakeTrustpilot) -> None:
    config, _ = setup(tmp_path)
    result = cli(tp, "outbox", "--state", "sent", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2 and "expected one of queued" in result.stderr
