"""Ingest throughput into DuckDB: first load, re-ingest, changed-content re-ingest, vs row-by-row inserts.

Run: python benchmarks/bench_ingest.py [--reviews 100000] [--baseline-rows 5000]
Prints reviews/s for each case and the ratios, all measured in this one run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.ingest import ingest_feed  # noqa: E402
from pipeline.store import Store  # noqa: E402

WORDS = [
    "delivery", "late", "refund", "order", "staff", "friendly", "great", "awful", "parcel", "support",
    "waited", "weeks", "quality", "price", "charged", "twice", "app", "crashed", "clean", "tasty", "cold",
    "rude", "helpful",
]


def make_feed(path: Path, n: int, crawled_at: str, seed: int = 7) -> Path:
    """A realistic feed: ~60-word reviews, a third with replies."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            item = {
                "source": "bench", "platform": "trustpilot", "review_id": f"{i:024x}",
                "rating": rng.randint(1, 5), "title": " ".join(rng.choices(WORDS, k=5)),
                "text": " ".join(rng.choices(WORDS, k=60)), "language": "en",
                "author_name": f"Reviewer {i}", "author_country": "GB",
                "published_at": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00Z",
                "experienced_at": "2025-01-01T00:00:00Z",
                "reply_text": "Thank you for the review." if i % 3 == 0 else None,
                "url": f"https://example.test/reviews/{i}", "crawled_at": crawled_at,
                "extra": {"likes": i % 7},
            }
            fh.write(json.dumps(item) + "\n")
    Path(f"{path}.meta.json").write_text(json.dumps(
        {"complete": False, "errors": [], "finish_reason": "finished", "pages": n // 20, "started_at": crawled_at}))
    return path


def row_by_row(path: Path, feed: Path, limit: int) -> float:
    """Baseline: one INSERT per review, as a naive loader would do."""
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("""CREATE TABLE reviews (source_id INT, external_id TEXT, rating DOUBLE, title TEXT, text TEXT,
                   language TEXT, author_name TEXT, published_at TIMESTAMPTZ, reply_text TEXT, url TEXT,
                   UNIQUE (source_id, external_id))""")
    start = time.perf_counter()
    with feed.open() as fh:
        for i, line in enumerate(fh):
            if i >= limit:
                break
            d = json.loads(line)
            con.execute("INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [1, d["review_id"], d["rating"], d["title"], d["text"], d["language"], d["author_name"],
                         d["published_at"], d["reply_text"], d["url"]])
    elapsed = time.perf_counter() - start
    con.close()
    return limit / elapsed


def main() -> None:
    """Run every case and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=5_000)
    args = parser.parse_args()
    n = args.reviews
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        feed1 = make_feed(tmpdir / "run1.jsonl", n, "2026-01-01T00:00:00+00:00")
        feed2 = make_feed(tmpdir / "run2.jsonl", n, "2026-01-02T00:00:00+00:00")
        store = Store(tmpdir / "bench.duckdb")
        with store.transaction() as tx:
            tx.upsert_business("b", "Bench", "own")
            tx.upsert_source("bench", "b", "trustpilot", "x", "en")

        def timed(feed: Path) -> tuple[float, object]:
            start = time.perf_counter()
            report = ingest_feed(store, "bench", feed)
            return time.perf_counter() - start, report

        t_first, r1 = timed(feed1)
        t_same, r2 = timed(feed1)          # the very same feed file again
        t_unchanged, r3 = timed(feed2)     # a new run whose reviews are all unchanged
        baseline = row_by_row(tmpdir / "naive.duckdb", feed1, args.baseline_rows)
        per_review = feed1.stat().st_size / n

    rows = [
        ("first ingest", t_first, f"new={r1.counts.new}"),
        ("re-ingest same feed", t_same, f"already_ingested={r2.already_ingested}"),
        ("new feed, all unchanged", t_unchanged, f"unchanged={r3.counts.unchanged} updated={r3.counts.updated}"),
    ]
    print(f"ingest benchmark, {n:,} reviews (~{per_review:.0f} bytes/review in the feed)")
    print(f"{'case':28} {'seconds':>8} {'reviews/s':>12}  note")
    for name, secs, note in rows:
        print(f"{name:28} {secs:8.3f} {n / secs:12,.0f}  {note}")
    print(f"{'baseline: row-by-row INSERT':28} {'':8} {baseline:12,.0f}  ({args.baseline_rows:,} rows)")
    print(f"ratio first ingest / row-by-row:          {n / t_first / baseline:6.1f}x")
    print(f"ratio first / re-ingest same feed:        {t_first / t_same:6.1f}x faster")
    print(f"ratio first / new feed all unchanged:     {t_first / t_unchanged:6.1f}x faster")


if __name__ == "__main__":
    main()
