"""Ingest: idempotent, edits become versions, disappearances are marked, bad lines reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from conftest import review, write_feed

from pipeline.ingest import ingest_feed
from pipeline.store import Store, read_clean_feed


def _all(store: Store) -> dict[str, dict]:
    with store.transaction() as tx:
        return {r["external_id"]: r for r in tx.search_reviews(limit=10_000, include_removed=True)}


def test_first_ingest_then_same_feed_changes_nothing(store: Store, tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "a.jsonl", [review(i) for i in range(30)])
    first = ingest_feed(store, "acme-tp", feed)
    assert (first.status, first.counts.new, first.counts.updated, first.counts.unchanged) == ("ok", 30, 0, 0)
    before = _all(store)
    with store.transaction() as tx:
        runs_before = tx.count("crawl_runs")
    second = ingest_feed(store, "acme-tp", feed)
    assert second.already_ingested and second.counts.new == 0 and second.counts.unchanged == 30
    assert _all(store) == before
    with store.transaction() as tx:
        assert tx.count("crawl_runs") == runs_before
        assert tx.count("review_versions") == 0


def test_same_content_in_a_new_feed_is_unchanged(store: Store, tmp_path: Path) -> None:
    ingest_feed(store, "acme-tp", write_feed(tmp_path / "a.jsonl", [review(i) for i in range(10)]))
    before = _all(store)
    again = ingest_feed(
        store,
        "acme-tp",
        write_feed(
            tmp_path / "b.jsonl",
            [review(i, crawled_at="2026-02-01T00:00:00+00:00") for i in range(10)],
            started_at="2026-02-01T00:00:00+00:00",
        ),
    )
    assert (again.counts.new, again.counts.updated, again.counts.unchanged) == (0, 0, 10)
    assert _all(store) == before


def test_edit_updates_row_and_keeps_previous_version(store: Store, tmp_path: Path) -> None:
    ingest_feed(store, "acme-tp", write_feed(tmp_path / "a.jsonl", [review(i) for i in range(5)]))
    edited = [review(i, crawled_at="2026-02-01T00:00:00+00:00") for i in range(5)]
    edited[2] = review(2, text="Edited: the refund finally came", rating=4, crawled_at="2026-02-01T00:00:00+00:00")
    report = ingest_feed(store, "acme-tp", write_feed(tmp_path / "b.jsonl", edited))
    assert (report.counts.new, report.counts.updated, report.counts.unchanged) == (0, 1, 4)
    row = _all(store)["r2"]
    assert row["text"] == "Edited: the refund finally came" and row["rating"] == 4 and row["version"] == 2
    with store.transaction() as tx:
        versions = tx.review_versions(row["id"])
    assert [(v["version"], v["text"], v["rating"]) for v in versions] == [(1, "Review text number 2", 3.0)]


def test_older_feed_never_reverts_a_newer_version(store: Store, tmp_path: Path) -> None:
    ingest_feed(
        store,
        "acme-tp",
        write_feed(tmp_path / "new.jsonl", [review(1, text="newer text", crawled_at="2026-03-01T00:00:00+00:00")]),
    )
    report = ingest_feed(
        store,
        "acme-tp",
        write_feed(
            tmp_path / "old.jsonl",
            [review(1, text="older text", crawled_at="2026-01-01T00:00:00+00:00")],
            complete=False,
        ),
    )
    assert report.counts.stale == 1 and report.counts.updated == 0
    assert _all(store)["r1"]["text"] == "newer text"


def test_disappeared_review_is_marked_not_deleted_and_can_return(store: Store, tmp_path: Path) -> None:
    ingest_feed(store, "acme-tp", write_feed(tmp_path / "a.jsonl", [review(i) for i in range(4)]))
    later = "2026-02-01T00:00:00+00:00"
    # An incremental (incomplete) run that did not see r3 proves nothing: r3 stays.
    partial = ingest_feed(
        store,
        "acme-tp",
        write_feed(tmp_path / "b.jsonl", [review(i, crawled_at=later) for i in range(2)], complete=False),
    )
    assert partial.counts.removed == 0 and _all(store)["r3"]["removed_at"] is None
    # A complete run without r3: marked removed, still stored.
    full = ingest_feed(
        store,
        "acme-tp",
        write_feed(tmp_path / "c.jsonl", [review(i, crawled_at=later) for i in range(3)], started_at=later),
    )
    assert full.counts.removed == 1
    rows = _all(store)
    assert rows["r3"]["removed_at"] is not None and rows["r3"]["text"] == "Review text number 3"
    with store.transaction() as tx:
        assert [r["external_id"] for r in tx.search_reviews(limit=100)].count("r3") == 0
    # It comes back.
    back = ingest_feed(
        store,
        "acme-tp",
        write_feed(tmp_path / "d.jsonl", [review(i, crawled_at="2026-03-01T00:00:00+00:00") for i in range(4)]),
    )
    assert back.counts.restored == 1 and _all(store)["r3"]["removed_at"] is None


def test_bad_lines_reported_good_lines_kept(store: Store, tmp_path: Path) -> None:
    feed = write_feed(
        tmp_path / "a.jsonl",
        [review(1), review(2, rating=7), review(3, published_at="yesterday"), review(4)],
        raw_lines=['{"review_id": "x", "rating": 3', "[1, 2]"],
    )
    report = ingest_feed(store, "acme-tp", feed)
    assert report.counts.new == 2
    assert [r.line for r in report.rejected] == [2, 3, 5, 6]
    reasons = {r.line: r.reason for r in report.rejected}
    assert "rating" in reasons[2] and "published_at" in reasons[3]
    assert "not valid JSON" in reasons[5] and "JSON object" in reasons[6]
    assert set(_all(store)) == {"r1", "r4"}


def test_hostile_text_is_stored_verbatim(store: Store, tmp_path: Path) -> None:
    nasty = "<script>alert(1)</script> <b>bold</b> [red]rich[/red] {{ 7*7 }} '; DROP TABLE reviews; --"
    big = "Ж" * (5 * 1024 * 1024 // 2)
    ingest_feed(
        store,
        "acme-tp",
        write_feed(tmp_path / "a.jsonl", [review(1, text=nasty, title="<i>t</i>"), review(2, text=big)]),
    )
    rows = _all(store)
    assert rows["r1"]["text"] == nasty and rows["r1"]["title"] == "<i>t</i>"
    assert rows["r2"]["text"] == big
    with store.transaction() as tx:
        assert tx.count("reviews") == 2
        assert [r["external_id"] for r in tx.search_reviews(text="DROP TABLE")] == ["r1"]
        # The search text is data, not a LIKE pattern.
        assert tx.search_reviews(text="%") == []


def test_layout_change_is_unhealthy_not_zero_new(store: Store, tmp_path: Path) -> None:
    feed = write_feed(
        tmp_path / "a.jsonl",
        [],
        complete=False,
        errors=[{"kind": "LayoutChanged", "message": "no review data found", "url": "http://127.0.0.1/review/acme"}],
    )
    report = ingest_feed(store, "acme-tp", feed)
    assert report.status == "failed"
    assert report.error is not None and "layout changed" in report.error
    with store.transaction() as tx:
        status = tx.source_status()[0]
    assert status["healthy"] is False and "layout changed" in status["last_error"]


def test_duplicate_ids_in_one_feed_keep_the_last(store: Store, tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "a.jsonl", [review(1, text="first"), review(1, text="second")])
    report = ingest_feed(store, "acme-tp", feed)
    assert report.counts.new == 1 and _all(store)["r1"]["text"] == "second"


def test_fast_and_exact_paths_agree(store: Store, tmp_path: Path) -> None:
    """A feed with a blank line takes the line-by-line path; the same reviews via DuckDB are unchanged."""
    items = [review(i, reply_text="Thanks" if i % 2 else None, updated_at="2025-02-01T08:00:00.123Z",
                    author_country="PL", text=f"Zażółć gęślą jaźń {i} <b>x</b>") for i in range(20)]
    slow = tmp_path / "slow.jsonl"
    write_feed(slow, items[:10])
    with slow.open("a") as fh:
        fh.write("\n")
    with slow.open("a") as fh:
        for item in items[10:]:
            fh.write(json.dumps(item) + "\n")
    first = ingest_feed(store, "acme-tp", slow)
    assert first.counts.new == 20 and first.rejected == []
    before = _all(store)
    fast = write_feed(tmp_path / "fast.jsonl", [{**i, "crawled_at": "2026-05-01T00:00:00+00:00"} for i in items])
    assert read_clean_feed(fast, datetime.now(UTC)) is not None
    assert read_clean_feed(slow, datetime.now(UTC)) is None
    second = ingest_feed(store, "acme-tp", fast)
    assert (second.counts.new, second.counts.updated, second.counts.unchanged) == (0, 0, 20)
    assert _all(store) == before
