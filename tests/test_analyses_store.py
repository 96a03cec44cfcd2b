"""Analyses in the store: only new or changed reviews are picked; a new model version only on request."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from conftest import review, write_feed

from pipeline.ingest import ingest_feed
from pipeline.store import ANALYSIS_SCHEMA, Store


def _save(store: Store, rows: list[dict], version: str) -> None:
    now = datetime.now(UTC)
    records = [
        {
            "review_id": r["id"], "model_version": version, "content_hash": r["content_hash"], "language": "en",
            "language_confidence": 0.99, "language_method": "detected", "language_reason": None,
            "sentiment": "negative", "sentiment_scores": json.dumps({"negative": 0.9}), "stars": 1.4,
            "sentences": "[]", "topics": json.dumps([{"name": "delivery"}]), "severity": "[]",
            "unclassifiable": None, "truncated": False, "analyzed_at": now,
        }
        for r in rows
    ]
    table = pa.Table.from_pylist(records, schema=ANALYSIS_SCHEMA)
    with store.transaction() as tx:
        assert tx.save_analyses(table) == len(rows)


def test_incremental_analysis_selection(store: Store, tmp_path: Path) -> None:
    ingest_feed(store, "acme-tp", write_feed(tmp_path / "a.jsonl", [review(i) for i in range(6)]))
    with store.transaction() as tx:
        todo = tx.reviews_to_analyze("v1")
    assert len(todo) == 6 and {"text", "title", "declared_language", "source_language"} <= set(todo[0])
    _save(store, todo, "v1")
    with store.transaction() as tx:
        assert tx.reviews_to_analyze("v1") == []
        stored = tx.analyses(model_version="v1")
    assert len(stored) == 6 and json.loads(stored[0]["topics"]) == [{"name": "delivery"}]

    edited = [review(i, crawled_at="2026-02-01T00:00:00+00:00") for i in range(6)]
    edited[3] = review(3, text="Edited later", crawled_at="2026-02-01T00:00:00+00:00")
    ingest_feed(store, "acme-tp", write_feed(tmp_path / "b.jsonl", edited))
    with store.transaction() as tx:
        again = tx.reviews_to_analyze("v1")
    assert [r["text"] for r in again] == ["Edited later"]
    _save(store, again, "v1")  # replaces the v1 row of that review, no duplicate key

    with store.transaction() as tx:
        assert tx.reviews_to_analyze("v2") == []  # a new model version waits until asked
        assert len(tx.reviews_to_analyze("v2", reanalyze=True)) == 6
        assert tx.count("analyses") == 6
    _save(store, [{"id": r["id"], "content_hash": r["content_hash"]} for r in again], "v2")
    with store.transaction() as tx:
        assert tx.count("analyses") == 7  # v1 rows are kept beside v2
        assert len(tx.reviews_to_analyze("v2", reanalyze=True)) == 5


def test_reanalysis_uses_each_sources_own_version(store: Store, tmp_path: Path) -> None:
    """A business with its own topic files has its own analysis version; --reanalyze compares against it."""
    with store.transaction() as tx:
        tx.upsert_business("bistro", "Bistro", "competitor")
        tx.upsert_source("acme-gm", "bistro", "trustpilot", "http://127.0.0.1/review/bistro", "en")
    ingest_feed(store, "acme-tp", write_feed(tmp_path / "a.jsonl", [review(i) for i in range(3)]))
    ingest_feed(store, "acme-gm", write_feed(tmp_path / "g.jsonl", [review(i, source="acme-gm") for i in range(2)]))
    with store.transaction() as tx:
        todo = tx.reviews_to_analyze("v1")
    assert {r["source"] for r in todo} == {"acme-tp", "acme-gm"}
    _save(store, [r for r in todo if r["source"] == "acme-tp"], "v1")
    _save(store, [r for r in todo if r["source"] == "acme-gm"], "v1-gm")
    with store.transaction() as tx:
        assert tx.reviews_to_analyze("v1", reanalyze=True, versions_by_source={"acme-gm": "v1-gm"}) == []
        # Without the per-source version, acme-gm's rows look outdated.
        assert {r["source"] for r in tx.reviews_to_analyze("v1", reanalyze=True)} == {"acme-gm"}
        # Its topic files changed: only its reviews are redone.
        again = tx.reviews_to_analyze("v1", reanalyze=True, versions_by_source={"acme-gm": "v2-gm"})
        assert {r["source"] for r in again} == {"acme-gm"} and len(again) == 2
        # Without --reanalyze the versions do not matter.
        assert tx.reviews_to_analyze("v9", versions_by_source={"acme-gm": "v9-gm"}) == []
