"""Reputation trends: every metric checked against numbers worked out by hand from a small fixed store.

The fixture (Europe/Warsaw, UTC+1 in January and February 2025; Warsaw time in brackets):

    own business "acme": sources acme-tp and acme-g; competitor "rival": source rival-tp.
    weeks W1 = Mon 2025-01-20, W2 = Mon 2025-01-27, W3 = Mon 2025-02-03; months January, February.

    #   source    published (UTC)    Warsaw        ★  latest sentiment  negative topics   reply
    r1  acme-tp   01-20 09:00        W1 Jan        5  positive          -                 ours 01-20 13:00 (4 h)
    r2  acme-tp   01-21 10:00        W1 Jan        1  negative (v2)     delivery, price   upstream 01-22 10:00 (24 h)
    r3  acme-tp   01-22 12:00        W1 Jan        3  neutral           delivery          - (removed 02-10)
    r7  acme-g    01-23 10:00        W1 Jan        4  (not analysed)    -                 upstream, no time
    r4  acme-tp   01-26 23:30 (Sun)  W2 Jan (Mon)  2  negative          delivery          ours 01-27 11:30 (12 h)
    r5  acme-tp   01-28 08:00        W2 Jan        5  positive (edited) - (staff is +)    -
    r6  acme-tp   01-31 23:30        W2 Feb (1st)  3  negative          price             -
    r8  acme-g    02-04 10:00        W3 Feb        1  negative          delivery, staff   draft approved, not published
    r9  acme-g    02-05 10:00        W3 Feb        5  positive          -                 - (removed 02-06: not counted)
    r10 rival-tp  01-21 12:00        W1 Jan        2  negative          price             upstream 01-21 18:00 (6 h)
    r11 rival-tp  01-29 12:00        W2 Jan        5  positive          -                 -
    r12 rival-tp  02-03 12:00        W3 Feb        4  neutral           delivery          -

The report runs at 2025-02-06 12:00 UTC, so W3 and February are still running (complete = false).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import review, run_cli, write_feed

from pipeline.ingest import ingest_feed
from pipeline.store import ANALYSIS_SCHEMA, Store
from pipeline.store.trends import TREND_SCHEMA
from pipeline.trends import (
    business_labels,
    compute_trends,
    default_since,
    read_csv,
    render_html,
    report,
    write_csv,
    write_parquet,
)

TZ = "Europe/Warsaw"
NOW = datetime(2025, 2, 6, 12, 0, tzinfo=UTC)
W1, W2, W3 = date(2025, 1, 20), date(2025, 1, 27), date(2025, 2, 3)
JAN, FEB = date(2025, 1, 1), date(2025, 2, 1)

# external id -> (source, published_at, rating, upstream reply_published_at or "untimed" or None)
REVIEWS: dict[str, tuple[str, str, int, str | None]] = {
    "r1": ("acme-tp", "2025-01-20T09:00:00Z", 5, None),
    "r2": ("acme-tp", "2025-01-21T10:00:00Z", 1, "2025-01-22T10:00:00Z"),
    "r3": ("acme-tp", "2025-01-22T12:00:00Z", 3, None),
    "r4": ("acme-tp", "2025-01-26T23:30:00Z", 2, "2025-01-27T11:35:00Z"),
    "r5": ("acme-tp", "2025-01-28T08:00:00Z", 5, None),
    "r6": ("acme-tp", "2025-01-31T23:30:00Z", 3, None),
    "r7": ("acme-g", "2025-01-23T10:00:00Z", 4, "untimed"),
    "r8": ("acme-g", "2025-02-04T10:00:00Z", 1, None),
    "r9": ("acme-g", "2025-02-05T10:00:00Z", 5, None),
    "r10": ("rival-tp", "2025-01-21T12:00:00Z", 2, "2025-01-21T18:00:00Z"),
    "r11": ("rival-tp", "2025-01-29T12:00:00Z", 5, None),
    "r12": ("rival-tp", "2025-02-03T12:00:00Z", 4, None),
}

# external id -> (sentiment, [(topic, polarity)]); r7 has no analysis at all.
ANALYSES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "r1": ("positive", []),
    "r2": ("negative", [("delivery", "negative"), ("price", "negative"), ("delivery", "negative")]),
    "r3": ("neutral", [("delivery", "negative"), ("staff", "neutral")]),
    "r4": ("negative", [("delivery", "negative")]),
    "r5": ("positive", [("staff", "positive")]),
    "r6": ("negative", [("price", "negative")]),
    "r8": ("negative", [("delivery", "negative"), ("staff", "negative")]),
    "r9": ("positive", []),
    "r10": ("negative", [("price", "negative")]),
    "r11": ("positive", []),
    "r12": ("neutral", [("delivery", "negative")]),
}


def _items(source: str, edited: bool = False) -> list[dict[str, Any]]:
    items = []
    for i, (ext, (src, published, rating, reply)) in enumerate(REVIEWS.items()):
        if src != source:
            continue
        item = review(i, source=src, review_id=ext, rating=rating, published_at=published,
                      crawled_at="2025-02-06T00:00:00+00:00")
        if reply:
            item["reply_text"] = "Thank you for your review."
            if reply != "untimed":
                item["reply_published_at"] = reply
        if edited and ext == "r5":
            item["text"] = "Edited: even better on a second visit"
            item["crawled_at"] = "2025-02-06T06:00:00+00:00"
        items.append(item)
    return items


def _analysis(review_id: int, content_hash: str, version: str, sentiment: str, topics: list[tuple[str, str]],
              at: datetime) -> dict[str, Any]:
    return {
        "review_id": review_id, "model_version": version, "content_hash": content_hash, "language": "en",
        "language_confidence": 0.99, "language_method": "detected", "language_reason": None,
        "sentiment": sentiment, "sentiment_scores": json.dumps({sentiment: 0.9}), "stars": None, "sentences": "[]",
        "topics": json.dumps([{"name": n, "polarity": p, "evidence": "…", "score": 0.8} for n, p in topics]),
        "severity": "[]", "unclassifiable": None, "truncated": False, "analyzed_at": at,
    }


def _add_draft(tx: Any, review_id: int, state: str, published_at: datetime | None) -> None:
    # Test-only shortcut: a draft row in its final state, as the approval workflow would leave it.
    tx._con.execute(
        """INSERT INTO drafts (review_id, content_hash, model_version, playbook_hash, generator, language, kind,
                               state, created_at, updated_at, approved_at, published_at)
           VALUES (?, 'h', 'v2', 'p', 'phrasebook-v1', 'en', 'complaint', ?, ?, ?, ?, ?)""",
        [review_id, state, NOW, NOW, NOW, published_at],
    )


def build_store(path: Path, rival_name: str = "Rival", extra_topic: str | None = None) -> Store:
    """The fixture store described in the module docstring (``extra_topic``: one more negative topic on r12)."""
    store = Store(path / "trends.duckdb", lock_timeout=30)
    with store.transaction() as tx:
        tx.upsert_business("acme", "Acme", "own")
        tx.upsert_business("rival", rival_name, "competitor")
        tx.upsert_source("acme-tp", "acme", "trustpilot", "http://127.0.0.1/acme", "en")
        tx.upsert_source("acme-g", "acme", "import", None, "en")
        tx.upsert_source("rival-tp", "rival", "trustpilot", "http://127.0.0.1/rival", "en")
    for source in ("acme-tp", "acme-g", "rival-tp"):
        ingest_feed(store, source, write_feed(path / f"{source}.jsonl", _items(source)))
    # A second crawl edits r5: still one review, now version 2.
    ingest_feed(store, "acme-tp", write_feed(path / "acme-tp-2.jsonl", _items("acme-tp", edited=True)))
    with store.transaction() as tx:
        rows = tx._con.execute("SELECT external_id, id, content_hash, version FROM reviews").fetchall()
        ids = {ext: (rid, h, v) for ext, rid, h, v in rows}
        assert ids["r5"][2] == 2 and len(ids) == 12
        early, late = datetime(2025, 2, 6, 1, tzinfo=UTC), datetime(2025, 2, 6, 2, tzinfo=UTC)
        analyses = {**ANALYSES}
        if extra_topic:
            analyses["r12"] = ("neutral", [*ANALYSES["r12"][1], (extra_topic, "negative")])
        records = [_analysis(ids[e][0], ids[e][1], "v2", s, t, late) for e, (s, t) in analyses.items()]
        # An older analysis of r2 said positive; only the latest one (negative) may count.
        records.append(_analysis(ids["r2"][0], ids["r2"][1], "v1", "positive", [("staff", "negative")], early))
        tx.save_analyses(pa.Table.from_pylist(records, schema=ANALYSIS_SCHEMA))
        _add_draft(tx, ids["r1"][0], "published", datetime(2025, 1, 20, 13, tzinfo=UTC))
        _add_draft(tx, ids["r4"][0], "published", datetime(2025, 1, 27, 11, 30, tzinfo=UTC))
        _add_draft(tx, ids["r8"][0], "approved", None)
        tx._con.execute("UPDATE reviews SET removed_at = ? WHERE external_id = 'r3'",
                        [datetime(2025, 2, 10, tzinfo=UTC)])
        tx._con.execute("UPDATE reviews SET removed_at = ? WHERE external_id = 'r9'",
                        [datetime(2025, 2, 6, 9, tzinfo=UTC)])
    return store


@pytest.fixture
def trend_store(tmp_path: Path) -> Store:
    """The hand-computed fixture store."""
    return build_store(tmp_path)


def values(table: pa.Table, kind: str, scope: str, key: str | None, metric: str,
           topic: str | None = None) -> dict[date, tuple[float | None, int]]:
    """period_start -> (value, n) of one series; key is the business id, source name or role."""
    out = {}
    for r in table.to_pylist():
        if (r["period_kind"], r["scope"], r["metric"], r["topic"]) != (kind, scope, metric, topic):
            continue
        if key is not None and key != {"role": r["role"], "business": r["business_id"], "source": r["source"]}[scope]:
            continue
        out[r["period_start"]] = (None if r["value"] is None else round(r["value"], 4), r["n"])
    return out


def test_weekly_metrics_per_business(trend_store: Store) -> None:
    t = compute_trends(trend_store, timezone=TZ, kinds=["week"], now=NOW)
    acme = dict(kind="week", scope="business", key="acme")
    # W1 r1 r2 r3 r7 (r3 was removed only after W1 ended); W2 r4 (Sunday 23:30 UTC is Monday in Warsaw) r5
    # (edited, once) r6; W3 r8 (r9 was removed in W3 itself, so it never counts).
    assert values(t, **acme, metric="volume") == {W1: (4, 4), W2: (3, 3), W3: (1, 1)}
    # W1 (5+1+3+4)/4 = 3.25; W2 (2+5+3)/3 = 3.3333; W3 1.
    assert values(t, **acme, metric="avg_rating") == {W1: (3.25, 4), W2: (3.3333, 3), W3: (1.0, 1)}
    # Analysed: W1 r1 r2 r3 (r7 has no analysis) = 3; W2 3; W3 1.
    assert values(t, **acme, metric="positive_share") == {W1: (0.3333, 3), W2: (0.3333, 3), W3: (0.0, 1)}
    assert values(t, **acme, metric="neutral_share") == {W1: (0.3333, 3), W2: (0.0, 3), W3: (0.0, 1)}
    assert values(t, **acme, metric="negative_share") == {W1: (0.3333, 3), W2: (0.6667, 3), W3: (1.0, 1)}
    # Net = positive - negative: W1 1/3 - 1/3 = 0; W2 1/3 - 2/3; W3 0 - 1.
    assert values(t, **acme, metric="net_sentiment") == {W1: (0.0, 3), W2: (-0.3333, 3), W3: (-1.0, 1)}
    # NPS proxy: W1 promoters r1, detractors r2 r3 -> (1 - 2) / 4 * 100 = -25; W2 r5 vs r4 r6 -> -33.33;
    # W3 r8 -> -100. r7 (4 stars) is passive.
    assert values(t, **acme, metric="nps_proxy") == {W1: (-25.0, 4), W2: (-33.3333, 3), W3: (-100.0, 1)}
    # Replies: W1 r1 (ours) r2 (upstream) r7 (upstream, untimed) = 3/4; W2 r4 = 1/3; W3 r8's draft is unpublished.
    assert values(t, **acme, metric="response_rate") == {W1: (0.75, 4), W2: (0.3333, 3), W3: (0.0, 1)}
    # Hours: W1 r1 4 h, r2 24 h -> median 14 (n 2); W2 r4: ours at 12 h beats the upstream copy at 12 h 05.
    assert values(t, **acme, metric="median_response_hours") == {W1: (14.0, 2), W2: (12.0, 1), W3: (None, 0)}

    # Negative topics (n = analysed): W1 delivery r2 r3 = 2/3 (r2 mentions it twice: once), price r2 = 1/3;
    # staff is only neutral or positive until W3. W2 delivery r4 = 1/3, price r6 = 1/3. W3 delivery r8 = 1,
    # staff r8 = 1, price listed at 0 because W2 had it.
    assert values(t, **acme, metric="topic_negative_share", topic="delivery") == {
        W1: (0.6667, 3), W2: (0.3333, 3), W3: (1.0, 1)}
    assert values(t, **acme, metric="topic_negative_share", topic="price") == {
        W1: (0.3333, 3), W2: (0.3333, 3), W3: (0.0, 1)}
    assert values(t, **acme, metric="topic_negative_share", topic="staff") == {W3: (1.0, 1)}
    # Change vs previous week: W1 has no previous week with reviews (empty); delivery W2 1/3 - 2/3, W3 1 - 1/3.
    assert values(t, **acme, metric="topic_negative_share_change", topic="delivery") == {
        W1: (None, 3), W2: (-0.3333, 3), W3: (0.6667, 1)}
    assert values(t, **acme, metric="topic_negative_share_change", topic="price") == {
        W1: (None, 3), W2: (0.0, 3), W3: (-0.3333, 1)}
    assert values(t, **acme, metric="topic_negative_share_change", topic="staff") == {W3: (1.0, 1)}

    rival = dict(kind="week", scope="business", key="rival")
    assert values(t, **rival, metric="volume") == {W1: (1, 1), W2: (1, 1), W3: (1, 1)}
    assert values(t, **rival, metric="nps_proxy") == {W1: (-100.0, 1), W2: (100.0, 1), W3: (0.0, 1)}
    assert values(t, **rival, metric="response_rate") == {W1: (1.0, 1), W2: (0.0, 1), W3: (0.0, 1)}
    assert values(t, **rival, metric="median_response_hours") == {W1: (6.0, 1), W2: (None, 0), W3: (None, 0)}
    # price: W1 1/1, W2 0/1 (listed: mentioned the week before), W3 not listed; delivery appears in W3.
    assert values(t, **rival, metric="topic_negative_share", topic="price") == {W1: (1.0, 1), W2: (0.0, 1)}
    assert values(t, **rival, metric="topic_negative_share_change", topic="price") == {W1: (None, 1), W2: (-1.0, 1)}
    assert values(t, **rival, metric="topic_negative_share_change", topic="delivery") == {W3: (1.0, 1)}

    # Periods that have ended are complete; the running week is not.
    done = {(r["period_start"], r["complete"]) for r in t.to_pylist()}
    assert done == {(W1, True), (W2, True), (W3, False)}


def test_per_source_and_role(trend_store: Store) -> None:
    t = compute_trends(trend_store, timezone=TZ, kinds=["week"], now=NOW)
    # acme-g: W1 r7, W2 nothing (a zero, not a gap), W3 r8.
    assert values(t, "week", "source", "acme-g", "volume") == {W1: (1, 1), W2: (0, 0), W3: (1, 1)}
    assert values(t, "week", "source", "acme-g", "avg_rating") == {W1: (4.0, 1), W2: (None, 0), W3: (1.0, 1)}
    # r7 has no analysis: shares are undefined, not 0.
    assert values(t, "week", "source", "acme-g", "positive_share") == {W1: (None, 0), W2: (None, 0), W3: (0.0, 1)}
    assert values(t, "week", "source", "acme-g", "response_rate") == {W1: (1.0, 1), W2: (None, 0), W3: (0.0, 1)}
    assert values(t, "week", "source", "acme-tp", "volume") == {W1: (3, 3), W2: (3, 3), W3: (0, 0)}
    # Own vs competitor: own is acme alone, competitors rival alone.
    assert values(t, "week", "role", "own", "nps_proxy") == values(t, "week", "business", "acme", "nps_proxy")
    assert values(t, "week", "role", "competitor", "net_sentiment") == {
        W1: (-1.0, 1), W2: (1.0, 1), W3: (0.0, 1)}
    scopes = {(r["scope"], r["role"], r["business_id"], r["source"]) for r in t.to_pylist()}
    assert scopes == {
        ("role", "own", None, None), ("role", "competitor", None, None),
        ("business", "own", "acme", None), ("business", "competitor", "rival", None),
        ("source", "own", "acme", "acme-tp"), ("source", "own", "acme", "acme-g"),
        ("source", "competitor", "rival", "rival-tp"),
    }


def test_monthly_metrics(trend_store: Store) -> None:
    t = compute_trends(trend_store, timezone=TZ, kinds=["month"], now=NOW)
    acme = dict(kind="month", scope="business", key="acme")
    # January (Warsaw): r1 r2 r3 r7 r4 r5; February: r6 (Jan 31 23:30 UTC is Feb 1 in Warsaw) r8.
    assert values(t, **acme, metric="volume") == {JAN: (6, 6), FEB: (2, 2)}
    # (5+1+3+4+2+5)/6 = 3.3333; (3+1)/2 = 2.
    assert values(t, **acme, metric="avg_rating") == {JAN: (3.3333, 6), FEB: (2.0, 2)}
    # January analysed 5: positive r1 r5, negative r2 r4 -> net 0.
    assert values(t, **acme, metric="net_sentiment") == {JAN: (0.0, 5), FEB: (-1.0, 2)}
    # January: promoters r1 r5, detractors r2 r3 r4 -> (2 - 3) / 6 * 100 = -16.67; February (0 - 2) / 2 = -100.
    assert values(t, **acme, metric="nps_proxy") == {JAN: (-16.6667, 6), FEB: (-100.0, 2)}
    # January replies r1 r2 r4 r7 = 4/6; hours 4, 24, 12 -> median 12.
    assert values(t, **acme, metric="response_rate") == {JAN: (0.6667, 6), FEB: (0.0, 2)}
    assert values(t, **acme, metric="median_response_hours") == {JAN: (12.0, 3), FEB: (None, 0)}
    # delivery: Jan r2 r3 r4 = 3/5, Feb r8 = 1/2 -> change -0.1; price Jan 1/5, Feb r6 1/2 -> +0.3.
    assert values(t, **acme, metric="topic_negative_share", topic="delivery") == {JAN: (0.6, 5), FEB: (0.5, 2)}
    assert values(t, **acme, metric="topic_negative_share_change", topic="delivery") == {
        JAN: (None, 5), FEB: (-0.1, 2)}
    assert values(t, **acme, metric="topic_negative_share_change", topic="price") == {JAN: (None, 5), FEB: (0.3, 2)}
    assert values(t, **acme, metric="topic_negative_share_change", topic="staff") == {FEB: (0.5, 2)}


def test_time_zone_decides_the_week(trend_store: Store) -> None:
    # r4 (Sunday 2025-01-26 23:30 UTC) is Monday 00:30 in Warsaw: week of the 27th there, of the 20th in UTC.
    warsaw = compute_trends(trend_store, timezone=TZ, kinds=["week"], now=NOW, business="acme")
    utc = compute_trends(trend_store, timezone="UTC", kinds=["week"], now=NOW, business="acme")
    assert values(warsaw, "week", "source", "acme-tp", "volume") == {W1: (3, 3), W2: (3, 3), W3: (0, 0)}
    assert values(utc, "week", "source", "acme-tp", "volume") == {W1: (4, 4), W2: (2, 2), W3: (0, 0)}
    # Likewise r6 (Friday Jan 31 23:30 UTC) belongs to February in Warsaw and to January in UTC.
    months = compute_trends(trend_store, timezone="UTC", kinds=["month"], now=NOW, business="acme")
    assert values(months, "month", "business", "acme", "volume") == {JAN: (7, 7), FEB: (1, 1)}


def test_since_and_business_filter(trend_store: Store) -> None:
    t = compute_trends(trend_store, timezone=TZ, now=NOW, since=date(2025, 1, 29), business="rival")
    # --since picks whole periods: the week and the month containing Jan 29; changes still use the week before.
    assert values(t, "week", "business", "rival", "volume") == {W2: (1, 1), W3: (1, 1)}
    assert values(t, "week", "business", "rival", "topic_negative_share_change", "price") == {W2: (-1.0, 1)}
    assert values(t, "month", "business", "rival", "volume") == {JAN: (2, 2), FEB: (1, 1)}
    assert set(t["business_id"].to_pylist()) == {"rival", None}
    assert set(t["role"].to_pylist()) == {"competitor"}
    assert default_since(3, TZ, NOW) == W1  # the current week and the two before it


def test_csv_and_parquet_round_trip(trend_store: Store, tmp_path: Path) -> None:
    t = compute_trends(trend_store, timezone=TZ, now=NOW)
    assert t.schema == TREND_SCHEMA and t.num_rows > 100
    back_csv = read_csv(write_csv(t, tmp_path / "out" / "t.csv"))
    back_parquet = pq.read_table(write_parquet(t, tmp_path / "out" / "t.parquet"))
    assert back_parquet.equals(t)
    assert back_csv.schema == t.schema
    assert back_csv.to_pylist() == t.to_pylist()
    header = (tmp_path / "out" / "t.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.replace('"', "") == ",".join(TREND_SCHEMA.names)


class _Tags(HTMLParser):
    """Every start tag of a page with its attribute names."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, [name for name, _ in attrs]))


HOSTILE = "<script>alert(1)</script>"
HOSTILE_TOPIC = '<img src=x onerror="alert(2)">'


def test_html_is_offline_and_escapes_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import models.sentiment

    # A language the sentiment model reads poorly (Hebrew until sentiment-5; the training command writes the list).
    monkeypatch.setattr(models.sentiment, "low_confidence_languages", lambda: {"he": "8 of 16 complaints"})
    store = build_store(tmp_path, rival_name=HOSTILE, extra_topic=HOSTILE_TOPIC)
    t = compute_trends(store, timezone=TZ, now=NOW)
    page = render_html(t, business_labels(store), timezone=TZ, generated_at=NOW)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the name is shown, as text
    assert "&lt;img src=x onerror=" in page  # in the topic table and the topic chart
    assert "<script" not in page.lower() and "<img" not in page.lower()
    # No fetch and no script of any kind: no URL, no CSS import, url() only to in-page ids; and, parsed as a
    # browser would, no tag that loads or runs anything and no src/href/on* attribute.
    assert not re.search(r"https?://|//cdn|@import|url\((?!#)", page, re.IGNORECASE)
    tags = _Tags()
    tags.feed(page)
    names = {tag for tag, _ in tags.found}
    assert "svg" in names and not names & {"script", "img", "iframe", "link", "object", "embed", "image", "use"}
    attributes = {name for _, attrs in tags.found for name in attrs}
    assert not {a for a in attributes if a in ("src", "srcset", "href", "xlink:href", "action") or a.startswith("on")}
    assert page.count("<svg") == 6  # per kind: own vs competitors, per business, topics
    assert "NPS proxy" in page and "NOT a survey NPS" in page
    # The sentiment model's known blind spot is stated next to the definitions (MODEL_CARD.md), and only then.
    assert "Sentiment figures of reviews in he overstate praise" in page
    monkeypatch.setattr(models.sentiment, "low_confidence_languages", dict)
    assert "overstate praise" not in render_html(t, business_labels(store), timezone=TZ, generated_at=NOW)


def test_report_writes_three_files(trend_store: Store, tmp_path: Path) -> None:
    class Settings:
        timezone = TZ
        output_dir = tmp_path / "reports"
        weeks = 2

    files = report(trend_store, Settings(), now=NOW)
    assert files.csv.name == "trends-2025-02-06.csv" and files.html.exists()
    table = pq.read_table(files.parquet)
    assert table.num_rows == files.rows
    # Two weeks back from W3 is W2; the monthly series starts with the month that contains W2's Monday.
    assert sorted(set(zip(table["period_kind"].to_pylist(), table["period_start"].to_pylist(), strict=True))) == [
        ("month", JAN), ("month", FEB), ("week", W2), ("week", W3)]


@pytest.mark.slow
def test_cli(tmp_path: Path) -> None:
    build_store(tmp_path, rival_name="Rival [bold]Co[/bold]")
    config = tmp_path / "reviewdesk.toml"
    config.write_text(
        f"""[settings]
database = "{tmp_path / 'trends.duckdb'}"

[report]
timezone = "{TZ}"
output_dir = "{tmp_path / 'reports'}"
weeks = 520

[[businesses]]
id = "acme"
name = "Acme"

[[businesses.sources]]
name = "acme-tp"
platform = "trustpilot"
url = "http://127.0.0.1/acme"

[[businesses]]
id = "rival"
name = "Rival [bold]Co[/bold]"
role = "competitor"
""",
        encoding="utf-8",
    )
    shown = run_cli("trends", "-c", str(config), "--since", "2025-01-20", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Rival [bold]Co[/bold]" in shown.stdout and "NPS proxy" in shown.stdout
    assert "2025-01-20" in shown.stdout and "-25" in shown.stdout
    out = tmp_path / "m.parquet"
    written = run_cli("trends", "-c", str(config), "--period", "month", "--business", "acme", "--format", "parquet",
                      "-o", str(out), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    table = pq.read_table(out)
    assert set(table["period_kind"].to_pylist()) == {"month"} and set(table["role"].to_pylist()) == {"own"}
    html = run_cli("trends", "-c", str(config), "--format", "html", cwd=tmp_path)
    assert html.returncode == 0, html.stderr
    assert (tmp_path / "reports" / "trends-week.html").exists()
    bad = run_cli("trends", "-c", str(config), "--business", "nobody", cwd=tmp_path)
    assert bad.returncode == 2 and "acme" in bad.stderr
    bad = run_cli("trends", "-c", str(config), "--since", "last week", cwd=tmp_path)
    assert bad.returncode == 2 and "--since" in bad.stderr
