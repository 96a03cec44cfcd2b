"""Store: migrations build the expected schema, upgrades keep data, errors are plain."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline.store import MIGRATIONS, Store, StoreBusy, StoreError

EXPECTED_SCHEMA = {
    "analyses": [
        "review_id", "model_version", "content_hash", "language", "language_confidence", "language_method",
        "language_reason", "sentiment", "sentiment_scores", "stars", "sentences", "topics", "severity",
        "unclassifiable", "truncated", "analyzed_at",
    ],
    "businesses": ["id", "name", "role", "created_at"],
    "alert_deliveries": ["alert_id", "channel", "state", "attempts", "last_error", "updated_at", "sent_at"],
    "alerts": ["id", "event_key", "kind", "business_id", "review_id", "title", "body", "payload", "created_at"],
    "runs": [
        "id", "flow", "status", "started_at", "finished_at", "duration_s", "params", "counts", "errors",
        "prefect_run_id",
    ],
    "audit_log": ["id", "logged_at", "actor", "action", "entity", "entity_id", "from_state", "to_state", "detail"],
    "draft_variants": ["draft_id", "variant", "text", "passed", "problems"],
    "drafts": [
        "id", "review_id", "content_hash", "model_version", "playbook_hash", "generator", "language",
        "review_language", "language_fallback", "kind", "state", "chosen_variant", "proposed_text", "final_text",
        "reject_reason", "flags", "created_at", "updated_at", "approved_at", "approved_by", "published_at",
    ],
    "escalations": [
        "id", "review_id", "content_hash", "model_version", "flags", "reason", "state", "created_at",
        "resolved_at", "resolved_by", "note",
    ],
    "outbox": [
        "id", "draft_id", "idempotency_key", "connector", "target", "text", "state", "publish_after", "attempts",
        "next_attempt_at", "last_error", "external_id", "created_at", "updated_at", "published_at",
    ],
    "users": ["name", "role", "created_at", "disabled"],
    "crawl_runs": [
        "id",
        "source_id",
        "kind",
        "status",
        "started_at",
        "finished_at",
        "feed_path",
        "pages",
        "items",
        "new",
        "updated",
        "unchanged",
        "removed",
        "restored",
        "rejected",
        "complete",
        "stop_reason",
        "error",
        "feed_sha256",
    ],
    "ingested_feeds": ["sha256", "run_id", "path", "items", "ingested_at"],
    "migrations": ["name", "applied_at"],
    "review_versions": [
        "review_id",
        "version",
        "content_hash",
        "rating",
        "title",
        "text",
        "language",
        "author_name",
        "author_country",
        "published_at",
        "updated_at",
        "experienced_at",
        "reply_text",
        "reply_published_at",
        "url",
        "extra",
        "crawled_at",
        "superseded_at",
    ],
    "reviews": [
        "id",
        "source_id",
        "external_id",
        "content_hash",
        "version",
        "rating",
        "title",
        "text",
        "language",
        "author_name",
        "author_country",
        "published_at",
        "updated_at",
        "experienced_at",
        "reply_text",
        "reply_published_at",
        "url",
        "page_url",
        "extra",
        "crawled_at",
        "first_seen_at",
        "changed_at",
        "removed_at",
    ],
    "sources": ["id", "name", "business_id", "platform", "target", "language", "created_at"],
}


def test_blank_database_migrates_to_expected_schema(tmp_path: Path) -> None:
    store = Store(tmp_path / "blank.duckdb")
    with store.transaction() as tx:
        schema = tx.schema()
        applied = tx.applied_migrations()
    assert {table: [c for c, _ in cols] for table, cols in schema.items()} == EXPECTED_SCHEMA
    assert applied == [name for name, _ in MIGRATIONS]
    types = dict(schema["reviews"])
    assert types["published_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["rating"] == "DOUBLE"
    assert types["extra"] == "JSON"


def test_migrations_run_once(tmp_path: Path) -> None:
    path = tmp_path / "again.duckdb"
    assert Store(path).migrate() == [name for name, _ in MIGRATIONS]
    assert Store(path).migrate() == []


def test_upgrade_keeps_existing_data(tmp_path: Path) -> None:
    """A database created by the first migration, with data, upgrades to the latest without loss."""
    path = tmp_path / "old.duckdb"
    first = MIGRATIONS[0][0]
    assert Store(path).migrate(upto=first) == [first]
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO businesses (id, name, role) VALUES ('acme', 'Acme', 'own')")
    con.execute(
        "INSERT INTO sources (name, business_id, platform, target) VALUES ('acme-tp', 'acme', 'trustpilot', 'x')"
    )
    con.execute(
        """INSERT INTO reviews (source_id, external_id, content_hash, rating, text, published_at, crawled_at,
                                first_seen_at, changed_at)
           VALUES (1, 'r1', 'h', 4, 'Kept across upgrades: żółć ё', TIMESTAMPTZ '2025-01-01 00:00:00+00',
                   now(), now(), now())"""
    )
    con.execute("INSERT INTO crawl_runs (source_id, kind, status, started_at) VALUES (1, 'crawl', 'ok', now())")
    con.close()

    store = Store(path)
    with store.transaction() as tx:
        assert tx.applied_migrations() == [name for name, _ in MIGRATIONS]
        rows = tx.search_reviews()
        assert [(r["external_id"], r["text"], r["rating"]) for r in rows] == [
            ("r1", "Kept across upgrades: żółć ё", 4.0)
        ]
        assert tx.count("crawl_runs") == 1
        assert "feed_sha256" in [c for c, _ in tx.schema()["crawl_runs"]]
        assert tx.source_id("acme-tp") == 1


def test_transaction_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.upsert_business("ghost", "Ghost", "own")
        raise RuntimeError("boom")
    with store.transaction() as tx:
        assert tx.count("businesses") == 1


def test_foreign_lock_holder_gives_plain_busy_error(tmp_path: Path) -> None:
    """A process outside our lock file holding DuckDB's lock is waited for, then reported plainly."""
    import subprocess
    import sys

    path = tmp_path / "held.duckdb"
    Store(path).migrate()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('ok', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(StoreBusy, match="stayed busy"), Store(path, lock_timeout=0.5).transaction():
            pass
    finally:
        holder.kill()
        holder.wait()
    with Store(path, lock_timeout=5).transaction() as tx:
        assert tx.count("reviews") == 0


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"junk\.duckdb.*not a valid DuckDB database"), Store(path).transaction():
        pass
