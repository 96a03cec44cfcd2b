"""Test helpers for publishing: reviews and approved drafts in a real store, configs, env snapshots."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import review, write_feed

from pipeline.ingest import ingest_feed
from pipeline.store import Store
from pipeline.store.drafting import VariantRow
from responses.publish.settings import PublishEnv, read_env
from reviewdesk.config import Config, parse_config

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

GOOGLE_SOURCE = {
    "name": "acme-google", "platform": "import",
    "reply": {"connector": "google", "params": {"account": "111", "location": "222"}},
}
APPSTORE_SOURCE = {"name": "acme-ios", "platform": "appstore", "app_id": "284882215", "reply": {"connector":
                   "appstore_connect"}}
TRUSTPILOT_SOURCE = {
    "name": "acme-tp", "platform": "trustpilot", "url": "http://127.0.0.1/review/acme",
    "reply": {"connector": "trustpilot", "params": {"business_user_id": "507f191e810c19729de860ea"}},
}
MANUAL_SOURCE = {"name": "acme-site", "platform": "schema_org", "urls": ["http://127.0.0.1/reviews"]}


def config_data(
    sources: list[dict[str, Any]], *, delay_minutes: float = 10, max_attempts: int = 5, enabled: bool = True,
    database: str = "db.duckdb", secrets_file: str | None = None,
) -> dict[str, Any]:
    """Config file data with one own business holding ``sources``."""
    publish: dict[str, Any] = {"delay_minutes": delay_minutes, "max_attempts": max_attempts, "enabled": enabled}
    if secrets_file:
        publish["secrets_file"] = secrets_file
    return {
        "settings": {"database": database},
        "publish": publish,
        "businesses": [{"id": "acme", "name": "Acme", "role": "own", "sources": sources}],
    }


def make_config(sources: list[dict[str, Any]], **kwargs: Any) -> Config:
    """A validated Config (see `config_data`)."""
    return parse_config(config_data(sources, **kwargs))


def toml(data: dict[str, Any]) -> str:
    """Just enough TOML for `config_data` output (tables, arrays of tables, strings, numbers, bools)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines: list[str] = []
    for section in ("settings", "publish"):
        lines.append(f"[{section}]")
        lines += [f"{k} = {value(v)}" for k, v in data[section].items()]
    for business in data["businesses"]:
        lines.append("[[businesses]]")
        lines += [f"{k} = {value(v)}" for k, v in business.items() if k != "sources"]
        for source in business["sources"]:
            lines.append("[[businesses.sources]]")
            lines += [f"{k} = {value(v)}" for k, v in source.items()]
    return "\n".join(lines) + "\n"


def env(values: dict[str, str] | None = None) -> PublishEnv:
    """A PublishEnv built from ``values`` only (the real environment is never read)."""
    return read_env(values or {})


def add_source(store: Store, source: dict[str, Any]) -> None:
    """Register a config source dict in the store (business acme)."""
    with store.transaction() as tx:
        tx.upsert_business("acme", "Acme", "own")
        tx.upsert_source(source["name"], "acme", source["platform"], "test", "en")


def add_reviews(store: Store, tmp_path: Path, source: dict[str, Any], review_ids: list[str]) -> dict[str, int]:
    """Ingest reviews with these external ids into a source; returns external id -> reviews.id."""
    add_source(store, source)
    feed = tmp_path / f"{source['name']}-{len(os.listdir(tmp_path))}.jsonl"
    items = [review(i, source=source["name"], platform=source["platform"], review_id=rid)
             for i, rid in enumerate(review_ids)]
    ingest_feed(store, source["name"], write_feed(feed, items))
    with store.transaction() as tx:
        rows = tx._con.execute(
            "SELECT r.external_id, r.id FROM reviews r JOIN sources s ON s.id = r.source_id WHERE s.name = ?",
            [source["name"]],
        ).fetchall()
    return {ext: int(rid) for ext, rid in rows}


def make_draft(store: Store, review_id: int, text: str, *, now: datetime = T0) -> int:
    """A pending draft with one passing variant, made the way the drafter makes them."""
    with store.transaction() as tx:
        content_hash = tx._con.execute("SELECT content_hash FROM reviews WHERE id = ?", [review_id]).fetchone()[0]
        return tx.save_draft(
            review_id=review_id, content_hash=content_hash, model_version="test", playbook_hash="p",
            generator="test", language="en", review_language="en", language_fallback=False, kind="negative",
            variants=[VariantRow(1, text, True)], flags={}, now=now,
        )


def approve(store: Store, draft_id: int, *, at: datetime = T0, by: str = "alice", text: str | None = None) -> None:
    """Approve a draft through the approval engineer's ``ResponsesSQL.approve_draft`` (variant 1's text)."""
    with store.transaction() as tx:
        draft = tx.draft(draft_id)
        assert draft is not None
        variant = tx.draft_variants(draft_id)[0]["text"]
        assert tx.approve_draft(draft_id, expected_updated_at=draft["updated_at"], chosen_variant=1,
                                proposed_text=variant, final_text=text if text is not None else variant,
                                actor=by, now=at)


def approved_draft(
    store: Store, tmp_path: Path, source: dict[str, Any], review_id: str, text: str, *, at: datetime = T0
) -> int:
    """One review in ``source`` with an approved draft of ``text``; returns the draft id."""
    ids = add_reviews(store, tmp_path, source, [review_id])
    draft_id = make_draft(store, ids[review_id], text, now=at)
    approve(store, draft_id, at=at)
    return draft_id


def add_user(store: Store, name: str, role: str, *, disabled: bool = False) -> None:
    """A Reviewdesk user (the users table helpers belong to the approval service)."""
    with store.transaction() as tx:
        tx._con.execute("INSERT INTO users (name, role, created_at, disabled) VALUES (?, ?, ?, ?)",
                        [name, role, T0, disabled])


def outbox(store: Store, draft_id: int) -> dict[str, Any]:
    """The outbox row of a draft (asserting there is one)."""
    with store.transaction() as tx:
        row = tx.outbox_for_draft(draft_id)
    assert row is not None
    return row


def audit(store: Store) -> list[dict[str, Any]]:
    """Every audit entry."""
    with store.transaction() as tx:
        return tx.audit_entries()
