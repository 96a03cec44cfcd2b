"""The DuckDB store: the only module with SQL. Bound parameters only; migrations are append-only.

DuckDB lets one process open a file for writing at a time. Every access here is a short
transaction: take an advisory file lock (so processes queue instead of failing), open the
database, do the work, commit, close. A lock held by a process that does not use our lock file
(a DuckDB shell, say) is retried with backoff until ``lock_timeout`` runs out, and only then
reported, as ``StoreBusy`` with a plain message.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from crawlers.items import CONTENT_FIELDS
from pipeline.store.alerts import AlertsSQL
from pipeline.store.drafting import DraftingSQL
from pipeline.store.outbox import OutboxSQL
from pipeline.store.responses import ResponsesSQL
from pipeline.store.runs import RunsSQL
from pipeline.store.trends import TrendsSQL


class StoreError(Exception):
    """A database problem, phrased for the person running the command."""


class StoreBusy(StoreError):
    """Another process kept the database locked longer than the lock timeout (transient)."""


class StoreCorrupt(StoreError):
    """The file is not a DuckDB database or is damaged (terminal)."""


# --- migrations ------------------------------------------------------------------------------
# Append-only: never edit a migration that has shipped; add a new one.


def _m001_core(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SEQUENCE source_id_seq START 1")
    con.execute("CREATE SEQUENCE review_id_seq START 1")
    con.execute("CREATE SEQUENCE crawl_run_id_seq START 1")
    con.execute(
        """
        CREATE TABLE businesses (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )"""
    )
    con.execute(
        """
        CREATE TABLE sources (
            id INTEGER PRIMARY KEY DEFAULT nextval('source_id_seq'),
            name TEXT NOT NULL UNIQUE,
            business_id TEXT NOT NULL,
            platform TEXT NOT NULL,
            target TEXT,
            language TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )"""
    )
    con.execute(
        """
        CREATE TABLE reviews (
            id BIGINT PRIMARY KEY DEFAULT nextval('review_id_seq'),
            source_id INTEGER NOT NULL,
            external_id TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            rating DOUBLE NOT NULL,
            title TEXT,
            text TEXT NOT NULL,
            language TEXT,
            author_name TEXT,
            author_country TEXT,
            published_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ,
            experienced_at TIMESTAMPTZ,
            reply_text TEXT,
            reply_published_at TIMESTAMPTZ,
            url TEXT,
            page_url TEXT,
            extra JSON,
            crawled_at TIMESTAMPTZ NOT NULL,
            first_seen_at TIMESTAMPTZ NOT NULL,
            changed_at TIMESTAMPTZ NOT NULL,
            removed_at TIMESTAMPTZ,
            UNIQUE (source_id, external_id)
        )"""
    )
    con.execute(
        """
        CREATE TABLE review_versions (
            review_id BIGINT NOT NULL,
            version INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            rating DOUBLE NOT NULL,
            title TEXT,
            text TEXT NOT NULL,
            language TEXT,
            author_name TEXT,
            author_country TEXT,
            published_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ,
            experienced_at TIMESTAMPTZ,
            reply_text TEXT,
            reply_published_at TIMESTAMPTZ,
            url TEXT,
            extra JSON,
            crawled_at TIMESTAMPTZ NOT NULL,
            superseded_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (review_id, version)
        )"""
    )
    con.execute(
        """
        CREATE TABLE crawl_runs (
            id BIGINT PRIMARY KEY DEFAULT nextval('crawl_run_id_seq'),
            source_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            feed_path TEXT,
            pages INTEGER,
            items INTEGER,
            new INTEGER,
            updated INTEGER,
            unchanged INTEGER,
            removed INTEGER,
            restored INTEGER,
            rejected INTEGER,
            complete BOOLEAN,
            stop_reason TEXT,
            error TEXT
        )"""
    )


def _m002_feeds(con: duckdb.DuckDBPyConnection) -> None:
    # Remembering which feed files were loaded makes re-ingesting a feed a cheap no-op.
    con.execute(
        """
        CREATE TABLE ingested_feeds (
            sha256 TEXT PRIMARY KEY,
            run_id BIGINT NOT NULL,
            path TEXT NOT NULL,
            items INTEGER NOT NULL,
            ingested_at TIMESTAMPTZ NOT NULL
        )"""
    )
    con.execute("ALTER TABLE crawl_runs ADD COLUMN feed_sha256 TEXT")


def _m003_analyses(con: duckdb.DuckDBPyConnection) -> None:
    # Keyed by review and model version: a new model never overwrites what an older one said.
    con.execute(
        """
        CREATE TABLE analyses (
            review_id BIGINT NOT NULL,
            model_version TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            language TEXT,
            language_confidence DOUBLE,
            language_method TEXT,
            language_reason TEXT,
            sentiment TEXT,
            sentiment_scores JSON,
            stars DOUBLE,
            sentences JSON,
            topics JSON,
            severity JSON,
            unclassifiable TEXT,
            truncated BOOLEAN NOT NULL DEFAULT FALSE,
            analyzed_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (review_id, model_version)
        )"""
    )


def _m004_responses(con: duckdb.DuckDBPyConnection) -> None:
    # Drafts are one row per review reply; its 1-3 phrasings are draft_variants. A review edited after
    # drafting gets a new draft and the old pending one is superseded, never deleted.
    con.execute("CREATE SEQUENCE drafts_id_seq START 1")
    con.execute(
        """
        CREATE TABLE drafts (
            id BIGINT PRIMARY KEY DEFAULT nextval('drafts_id_seq'),
            review_id BIGINT NOT NULL,
            content_hash TEXT NOT NULL,
            model_version TEXT NOT NULL,
            playbook_hash TEXT NOT NULL,
            generator TEXT NOT NULL,
            language TEXT NOT NULL,
            review_language TEXT,
            language_fallback BOOLEAN NOT NULL DEFAULT FALSE,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            chosen_variant INTEGER,
            proposed_text TEXT,
            final_text TEXT,
            reject_reason TEXT,
            flags JSON,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            approved_at TIMESTAMPTZ,
            approved_by TEXT,
            published_at TIMESTAMPTZ
        )"""
    )
    con.execute(
        """
        CREATE TABLE draft_variants (
            draft_id BIGINT NOT NULL,
            variant INTEGER NOT NULL,
            text TEXT NOT NULL,
            passed BOOLEAN NOT NULL,
            problems JSON,
            PRIMARY KEY (draft_id, variant)
        )"""
    )
    con.execute("CREATE SEQUENCE escalations_id_seq START 1")
    con.execute(
        """
        CREATE TABLE escalations (
            id BIGINT PRIMARY KEY DEFAULT nextval('escalations_id_seq'),
            review_id BIGINT NOT NULL,
            content_hash TEXT NOT NULL,
            model_version TEXT NOT NULL,
            flags JSON NOT NULL,
            reason TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'open',
            created_at TIMESTAMPTZ NOT NULL,
            resolved_at TIMESTAMPTZ,
            resolved_by TEXT,
            note TEXT
        )"""
    )
    con.execute(
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            disabled BOOLEAN NOT NULL DEFAULT FALSE
        )"""
    )
    con.execute("CREATE SEQUENCE audit_log_id_seq START 1")
    con.execute(
        """
        CREATE TABLE audit_log (
            id BIGINT PRIMARY KEY DEFAULT nextval('audit_log_id_seq'),
            logged_at TIMESTAMPTZ NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            entity TEXT NOT NULL,
            entity_id BIGINT,
            from_state TEXT,
            to_state TEXT,
            detail JSON
        )"""
    )
    con.execute("CREATE SEQUENCE outbox_id_seq START 1")
    con.execute(
        """
        CREATE TABLE outbox (
            id BIGINT PRIMARY KEY DEFAULT nextval('outbox_id_seq'),
            draft_id BIGINT NOT NULL UNIQUE,
            idempotency_key TEXT NOT NULL UNIQUE,
            connector TEXT NOT NULL,
            target JSON,
            text TEXT NOT NULL,
            state TEXT NOT NULL,
            publish_after TIMESTAMPTZ NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TIMESTAMPTZ,
            last_error TEXT,
            external_id TEXT,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            published_at TIMESTAMPTZ
        )"""
    )


def _m005_monitoring(con: duckdb.DuckDBPyConnection) -> None:
    # `runs`: one row per flow run (what the scheduled, unattended runs did); `alerts` one row per event,
    # keyed so a rerun can never raise the same alert twice; `alert_deliveries` one row per channel.
    con.execute("CREATE SEQUENCE runs_id_seq START 1")
    con.execute(
        """
        CREATE TABLE runs (
            id BIGINT PRIMARY KEY DEFAULT nextval('runs_id_seq'),
            flow TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            duration_s DOUBLE,
            params JSON,
            counts JSON,
            errors JSON,
            prefect_run_id TEXT
        )"""
    )
    con.execute("CREATE SEQUENCE alerts_id_seq START 1")
    con.execute(
        """
        CREATE TABLE alerts (
            id BIGINT PRIMARY KEY DEFAULT nextval('alerts_id_seq'),
            event_key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            business_id TEXT,
            review_id BIGINT,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            payload JSON,
            created_at TIMESTAMPTZ NOT NULL
        )"""
    )
    con.execute(
        """
        CREATE TABLE alert_deliveries (
            alert_id BIGINT NOT NULL,
            channel TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            updated_at TIMESTAMPTZ NOT NULL,
            sent_at TIMESTAMPTZ,
            PRIMARY KEY (alert_id, channel)
        )"""
    )


MIGRATIONS: list[tuple[str, Callable[[duckdb.DuckDBPyConnection], None]]] = [
    ("001_core", _m001_core),
    ("002_feeds", _m002_feeds),
    ("003_analyses", _m003_analyses),
    ("004_responses", _m004_responses),
    ("005_monitoring", _m005_monitoring),
]

ANALYSIS_SCHEMA = pa.schema(
    [
        ("review_id", pa.int64()),
        ("model_version", pa.string()),
        ("content_hash", pa.string()),
        ("language", pa.string()),
        ("language_confidence", pa.float64()),
        ("language_method", pa.string()),
        ("language_reason", pa.string()),
        ("sentiment", pa.string()),
        ("sentiment_scores", pa.string()),
        ("stars", pa.float64()),
        ("sentences", pa.string()),
        ("topics", pa.string()),
        ("severity", pa.string()),
        ("unclassifiable", pa.string()),
        ("truncated", pa.bool_()),
        ("analyzed_at", pa.timestamp("us", tz="UTC")),
    ]
)
_JSON_ANALYSIS_COLUMNS = ("sentiment_scores", "sentences", "topics", "severity")

# Columns copied on every edit: the review's content plus its permalink.
REVIEW_CONTENT_COLUMNS = (*CONTENT_FIELDS, "url")

# The Arrow schema ingest hands to ``Store.merge_reviews``.
INCOMING_SCHEMA = pa.schema(
    [
        ("external_id", pa.string()),
        ("rating", pa.float64()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("language", pa.string()),
        ("author_name", pa.string()),
        ("author_country", pa.string()),
        ("published_at", pa.timestamp("us", tz="UTC")),
        ("updated_at", pa.timestamp("us", tz="UTC")),
        ("experienced_at", pa.timestamp("us", tz="UTC")),
        ("reply_text", pa.string()),
        ("reply_published_at", pa.timestamp("us", tz="UTC")),
        ("url", pa.string()),
        ("page_url", pa.string()),
        ("extra", pa.string()),
        ("crawled_at", pa.timestamp("us", tz="UTC")),
        ("line_no", pa.int64()),
    ]
)


def _hash_part(column: str) -> str:
    if column in ("published_at", "updated_at", "experienced_at", "reply_published_at"):
        # Sessions run in UTC (set on connect), so the text form of an instant never varies.
        value = f"strftime({column}, '%Y-%m-%dT%H:%M:%S.%f')"
    elif column == "rating":
        value = "printf('%.4f', rating)"
    else:
        value = column
    # chr(0) marks NULL so that NULL and '' hash differently.
    return f"coalesce({value}, chr(0))"


# One definition of "same content", computed by DuckDB for a whole feed at once.
_CONTENT_HASH_SQL = "md5(concat_ws(chr(31), " + ", ".join(_hash_part(c) for c in CONTENT_FIELDS) + "))"

# Feed columns as DuckDB reads them; types are checked after reading so a bad value names its line.
_FEED_COLUMNS = {name: "VARCHAR" for name in (
    "platform", "review_id", "rating", "title", "text", "language", "author_name", "author_country",
    "published_at", "updated_at", "experienced_at", "reply_text", "reply_published_at", "url", "page_url",
    "crawled_at",
)} | {"extra": "JSON"}
_TIMESTAMPS = ("published_at", "updated_at", "experienced_at", "reply_published_at", "crawled_at")
_BLANK_LINE = re.compile(rb"(^|\n)[ \t\r]*(\n|$)")


def read_clean_feed(path: Path, default_crawled_at: datetime) -> pa.Table | None:
    """Parse and check a feed inside DuckDB (fast path), or None when it needs the exact path.

    Spider feeds are validated before they are written, so nearly every feed is clean. Any
    doubt (a blank or malformed line, a value that does not cast) returns None, and the caller
    validates line by line in Python to report each bad line with its number and reason.
    """
    with path.open("rb") as fh:
        data = fh.read()
    if not data.strip():
        return INCOMING_SCHEMA.empty_table()
    # DuckDB skips blank lines, which would shift line numbers; leave such files to the exact path.
    if _BLANK_LINE.search(data.rstrip(b"\n")):
        return None
    del data
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            "CREATE TEMP TABLE raw AS SELECT row_number() OVER () AS line_no, * "
            "FROM read_json(?, format = 'newline_delimited', columns = ?)",
            [str(path), _FEED_COLUMNS],
        )
        checks = [
            "review_id IS NULL OR review_id = ''",
            "platform IS NULL OR platform = ''",
            "try_cast(rating AS DOUBLE) IS NULL OR NOT (try_cast(rating AS DOUBLE) BETWEEN 1 AND 5)",
            "try_cast(published_at AS TIMESTAMPTZ) IS NULL",
            *(f"({c} IS NOT NULL AND try_cast({c} AS TIMESTAMPTZ) IS NULL)" for c in _TIMESTAMPS[1:]),
        ]
        bad = con.execute(f"SELECT count(*) FROM raw WHERE {' OR '.join(checks)}").fetchall()
        if bad[0][0]:
            return None
        table = con.sql(
            """SELECT review_id AS external_id, rating::DOUBLE AS rating, title, coalesce(text, '') AS text,
                      language, author_name, author_country,
                      published_at::TIMESTAMPTZ AS published_at, updated_at::TIMESTAMPTZ AS updated_at,
                      experienced_at::TIMESTAMPTZ AS experienced_at, reply_text,
                      reply_published_at::TIMESTAMPTZ AS reply_published_at, url, page_url,
                      coalesce(extra, '{}')::VARCHAR AS extra,
                      coalesce(crawled_at::TIMESTAMPTZ, ?) AS crawled_at, line_no::BIGINT AS line_no
               FROM raw ORDER BY line_no""",
            params=[default_crawled_at],
        ).to_arrow_table()
        return table.cast(INCOMING_SCHEMA)
    except (duckdb.InvalidInputException, duckdb.ConversionException):
        return None
    finally:
        con.close()


@dataclass
class MergeResult:
    """What a merge of one feed did to the reviews of one source."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    restored: int = 0
    stale: int = 0


@dataclass
class RunRecord:
    """One crawl, ingest or import, as stored in crawl_runs."""

    source: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    feed_path: str | None = None
    feed_sha256: str | None = None
    pages: int | None = None
    items: int | None = None
    rejected: int | None = None
    complete: bool | None = None
    stop_reason: str | None = None
    error: str | None = None
    counts: MergeResult = field(default_factory=MergeResult)


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflict" in text or "could not set" in text)


class Connection(DraftingSQL, ResponsesSQL, OutboxSQL, AlertsSQL, RunsSQL, TrendsSQL):
    """A store transaction: the only handle through which code outside this module reaches data."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    # -- businesses and sources --------------------------------------------------------------

    def upsert_business(self, business_id: str, name: str, role: str) -> None:
        """Create or rename a business."""
        self._con.execute(
            """INSERT INTO businesses (id, name, role) VALUES (?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role""",
            [business_id, name, role],
        )

    def upsert_source(
        self, name: str, business_id: str, platform: str, target: str | None, language: str | None
    ) -> int:
        """Create or update a source from the config; returns its id."""
        row = self._con.execute("SELECT id FROM sources WHERE name = ?", [name]).fetchone()
        if row is None:
            row = self._con.execute(
                """INSERT INTO sources (name, business_id, platform, target, language)
                   VALUES (?, ?, ?, ?, ?) RETURNING id""",
                [name, business_id, platform, target, language],
            ).fetchone()
            assert row is not None
            return int(row[0])
        self._con.execute(
            "UPDATE sources SET business_id = ?, platform = ?, target = ?, language = ? WHERE id = ?",
            [business_id, platform, target, language, row[0]],
        )
        return int(row[0])

    def source_id(self, name: str) -> int | None:
        """The id of a source by name."""
        row = self._con.execute("SELECT id FROM sources WHERE name = ?", [name]).fetchone()
        return int(row[0]) if row else None

    def known_review_ids(self, source_id: int) -> list[str]:
        """External ids of a source's reviews still online, newest first (for incremental crawls)."""
        rows = self._con.execute(
            """SELECT external_id FROM reviews WHERE source_id = ? AND removed_at IS NULL
               ORDER BY published_at DESC""",
            [source_id],
        ).fetchall()
        return [r[0] for r in rows]

    # -- ingest ------------------------------------------------------------------------------

    def feed_already_ingested(self, sha256: str) -> dict[str, Any] | None:
        """The earlier ingest of a feed file with this content hash, if any."""
        row = self._con.execute(
            "SELECT run_id, path, items, ingested_at FROM ingested_feeds WHERE sha256 = ?", [sha256]
        ).fetchone()
        if row is None:
            return None
        return {"run_id": row[0], "path": row[1], "items": row[2], "ingested_at": row[3]}

    def merge_reviews(
        self, source_id: int, incoming: pa.Table, *, complete: bool, now: datetime
    ) -> MergeResult:
        """Merge one feed's reviews into ``reviews`` set-wise; edits keep the old row as a version.

        ``complete`` says the crawl saw every page: only then is a stored review missing from the
        feed marked as removed (never deleted).
        """
        result = MergeResult()
        con = self._con
        con.register("incoming_raw", incoming)
        try:
            # The last copy of a review in a feed wins (pages can shift during a crawl).
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE incoming AS
                   SELECT * EXCLUDE (rn), {_CONTENT_HASH_SQL} AS content_hash FROM (
                       SELECT *, row_number() OVER (PARTITION BY external_id ORDER BY line_no DESC) AS rn
                       FROM incoming_raw) WHERE rn = 1"""
            )
            con.execute(
                """CREATE OR REPLACE TEMP TABLE matched AS
                   SELECT i.external_id, r.id AS review_id, r.content_hash AS old_hash,
                          i.content_hash AS new_hash, r.crawled_at AS old_crawled,
                          i.crawled_at AS new_crawled, r.removed_at
                   FROM incoming i JOIN reviews r
                     ON r.source_id = ? AND r.external_id = i.external_id""",
                [source_id],
            )
            counts = con.execute(
                """SELECT
                     (SELECT count(*) FROM incoming) - (SELECT count(*) FROM matched),
                     count(*) FILTER (WHERE old_hash <> new_hash AND new_crawled >= old_crawled),
                     count(*) FILTER (WHERE old_hash = new_hash),
                     count(*) FILTER (WHERE old_hash <> new_hash AND new_crawled < old_crawled),
                     count(*) FILTER (WHERE removed_at IS NOT NULL AND new_crawled >= old_crawled)
                   FROM matched"""
            ).fetchone()
            assert counts is not None
            result.new, result.updated, result.unchanged, result.stale, result.restored = (
                int(c or 0) for c in counts
            )
            content = ", ".join(REVIEW_CONTENT_COLUMNS)
            if result.updated:
                con.execute(
                    f"""INSERT INTO review_versions
                        (review_id, version, content_hash, {content}, extra, crawled_at, superseded_at)
                        SELECT r.id, r.version, r.content_hash, {", ".join("r." + c for c in
                               REVIEW_CONTENT_COLUMNS)}, r.extra, r.crawled_at, ?
                        FROM reviews r JOIN matched m ON r.id = m.review_id
                        WHERE m.old_hash <> m.new_hash AND m.new_crawled >= m.old_crawled""",
                    [now],
                )
                assignments = ", ".join(f"{c} = i.{c}" for c in REVIEW_CONTENT_COLUMNS)
                con.execute(
                    f"""UPDATE reviews SET {assignments}, content_hash = i.content_hash,
                            version = reviews.version + 1, page_url = i.page_url,
                            extra = i.extra::JSON, crawled_at = i.crawled_at, changed_at = ?,
                            removed_at = NULL
                        FROM incoming i, matched m
                        WHERE reviews.id = m.review_id AND m.external_id = i.external_id
                          AND m.old_hash <> m.new_hash AND m.new_crawled >= m.old_crawled""",
                    [now],
                )
            # A review seen again after being marked removed is back online, edited or not.
            con.execute(
                """UPDATE reviews SET removed_at = NULL
                   FROM matched m
                   WHERE reviews.id = m.review_id AND m.removed_at IS NOT NULL
                     AND m.new_crawled >= m.old_crawled"""
            )
            if result.new:
                con.execute(
                    f"""INSERT INTO reviews (source_id, external_id, content_hash, {content}, page_url,
                                             extra, crawled_at, first_seen_at, changed_at)
                        SELECT ?, i.external_id, i.content_hash, {", ".join("i." + c for c in
                               REVIEW_CONTENT_COLUMNS)}, i.page_url, i.extra::JSON, i.crawled_at, ?, ?
                        FROM incoming i ANTI JOIN reviews r
                          ON r.source_id = ? AND r.external_id = i.external_id
                        ORDER BY i.line_no""",
                    [source_id, now, now, source_id],
                )
            if complete:
                row = con.execute(
                    """UPDATE reviews SET removed_at = ?
                       WHERE source_id = ? AND removed_at IS NULL
                         AND external_id NOT IN (SELECT external_id FROM incoming)
                       RETURNING id""",
                    [now, source_id],
                ).fetchall()
                result.removed = len(row)
        finally:
            con.unregister("incoming_raw")
            con.execute("DROP TABLE IF EXISTS incoming")
            con.execute("DROP TABLE IF EXISTS matched")
        return result

    def record_run(self, source_id: int, run: RunRecord) -> int:
        """Store one crawl/ingest/import run; returns its id."""
        c = run.counts
        row = self._con.execute(
            """INSERT INTO crawl_runs (source_id, kind, status, started_at, finished_at, feed_path,
                   feed_sha256, pages, items, new, updated, unchanged, removed, restored, rejected,
                   complete, stop_reason, error)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            [
                source_id, run.kind, run.status, run.started_at, run.finished_at, run.feed_path,
                run.feed_sha256, run.pages, run.items, c.new, c.updated, c.unchanged, c.removed,
                c.restored, run.rejected, run.complete, run.stop_reason, run.error,
            ],
        ).fetchone()
        assert row is not None
        return int(row[0])

    def record_feed(self, sha256: str, run_id: int, path: str, items: int, now: datetime) -> None:
        """Remember that a feed file was ingested."""
        self._con.execute(
            "INSERT INTO ingested_feeds (sha256, run_id, path, items, ingested_at) VALUES (?, ?, ?, ?, ?)",
            [sha256, run_id, path, items, now],
        )

    # -- analyses ----------------------------------------------------------------------------

    def reviews_to_analyze(
        self, model_version: str, *, reanalyze: bool = False, limit: int | None = None,
        versions_by_source: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Reviews never analysed, or changed since their latest analysis; with ``reanalyze``, also
        those whose latest analysis came from another model version (``versions_by_source`` gives the
        current version of sources whose business has its own topic files; the rest use ``model_version``)."""
        per_source = dict(versions_by_source or {})
        cursor = self._con.execute(
            """WITH latest AS (
                   SELECT review_id, arg_max(content_hash, analyzed_at) AS content_hash,
                          arg_max(model_version, analyzed_at) AS model_version
                   FROM analyses GROUP BY review_id),
               current AS (SELECT unnest(?::VARCHAR[]) AS source, unnest(?::VARCHAR[]) AS model_version)
               SELECT r.id, r.content_hash, r.title, r.text, r.rating, r.language AS declared_language,
                      s.language AS source_language, s.name AS source
               FROM reviews r JOIN sources s ON s.id = r.source_id
               LEFT JOIN latest l ON l.review_id = r.id
               LEFT JOIN current c ON c.source = s.name
               WHERE r.removed_at IS NULL
                 AND (l.review_id IS NULL OR l.content_hash <> r.content_hash
                      OR (? AND l.model_version <> coalesce(c.model_version, ?)))
               ORDER BY r.id
               LIMIT ?""",
            [list(per_source), list(per_source.values()), reanalyze, model_version,
             limit if limit is not None else 2**62],
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def save_analyses(self, rows: pa.Table) -> int:
        """Insert or replace analyses (one per review and model version); returns rows written."""
        self._con.register("analyses_in", rows.cast(ANALYSIS_SCHEMA))
        try:
            columns = ", ".join(ANALYSIS_SCHEMA.names)
            select = ", ".join(f"{c}::JSON" if c in _JSON_ANALYSIS_COLUMNS else c for c in ANALYSIS_SCHEMA.names)
            self._con.execute(f"INSERT OR REPLACE INTO analyses ({columns}) SELECT {select} FROM analyses_in")
        finally:
            self._con.unregister("analyses_in")
        return rows.num_rows

    def analyses(self, review_ids: list[int] | None = None, model_version: str | None = None) -> list[dict[str, Any]]:
        """Stored analyses, optionally of some reviews or one model version, newest first."""
        where, params = ["TRUE"], []
        if review_ids is not None:
            where.append("review_id IN (SELECT unnest(?))")
            params.append(review_ids)
        if model_version is not None:
            where.append("model_version = ?")
            params.append(model_version)
        cursor = self._con.execute(
            f"SELECT * FROM analyses WHERE {' AND '.join(where)} ORDER BY analyzed_at DESC, review_id", params
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # -- reading -----------------------------------------------------------------------------

    def source_status(self) -> list[dict[str, Any]]:
        """Per source: platform, reviews stored, last success, last error, health."""
        rows = self._con.execute(
            """
            WITH last_run AS (
                SELECT source_id, arg_max(status, id) AS status, arg_max(error, id) AS error,
                       max(finished_at) AS finished_at
                FROM crawl_runs GROUP BY source_id),
            last_ok AS (
                SELECT source_id, max(finished_at) AS at FROM crawl_runs
                WHERE status = 'ok' GROUP BY source_id),
            last_err AS (
                SELECT source_id, arg_max(error, id) AS error, max(finished_at) AS at
                FROM crawl_runs WHERE status <> 'ok' GROUP BY source_id),
            counts AS (
                SELECT source_id, count(*) AS total, count(*) FILTER (WHERE removed_at IS NOT NULL)
                       AS removed, max(published_at) AS newest
                FROM reviews GROUP BY source_id)
            SELECT s.name, s.business_id, b.role, s.platform, s.target,
                   coalesce(c.total, 0), coalesce(c.removed, 0), c.newest,
                   ok.at, err.at, err.error, lr.status, lr.error
            FROM sources s
            LEFT JOIN businesses b ON b.id = s.business_id
            LEFT JOIN last_run lr ON lr.source_id = s.id
            LEFT JOIN last_ok ok ON ok.source_id = s.id
            LEFT JOIN last_err err ON err.source_id = s.id
            LEFT JOIN counts c ON c.source_id = s.id
            ORDER BY s.business_id, s.name"""
        ).fetchall()
        keys = (
            "source", "business", "role", "platform", "target", "reviews", "removed", "newest_review",
            "last_success", "last_error_at", "last_error", "last_status", "last_run_error",
        )
        out = []
        for row in rows:
            item = dict(zip(keys, row, strict=True))
            item["healthy"] = item["last_status"] == "ok" if item["last_status"] else None
            out.append(item)
        return out

    def search_reviews(
        self,
        *,
        sources: list[str] | None = None,
        min_rating: float | None = None,
        max_rating: float | None = None,
        language: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        text: str | None = None,
        include_removed: bool = False,
        sentiment: str | None = None,
        topic: str | None = None,
        flagged: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Reviews matching every given filter, newest first, with their latest analysis if any."""
        where = ["TRUE"]
        params: list[Any] = []
        if sentiment:
            where.append("a.sentiment = ?")
            params.append(sentiment)
        if topic:
            where.append("list_contains(json_extract_string(a.topics, '$[*].name'), ?)")
            params.append(topic)
        if flagged:
            where.append("coalesce(json_array_length(a.severity), 0) > 0")
        if sources:
            where.append("s.name IN (SELECT unnest(?))")
            params.append(sources)
        if min_rating is not None:
            where.append("r.rating >= ?")
            params.append(min_rating)
        if max_rating is not None:
            where.append("r.rating <= ?")
            params.append(max_rating)
        if language:
            where.append("r.language = ?")
            params.append(language)
        if since is not None:
            where.append("r.published_at >= ?")
            params.append(since)
        if until is not None:
            where.append("r.published_at < ?")
            params.append(until)
        if text:
            # contains() on lower-cased text: the search string is data, never a LIKE pattern.
            where.append("(contains(lower(r.text), lower(?)) OR contains(lower(coalesce(r.title, '')), lower(?)))")
            params.extend([text, text])
        if not include_removed:
            where.append("r.removed_at IS NULL")
        params.extend([limit, offset])
        cursor = self._con.execute(
            f"""SELECT r.id, s.name AS source, r.external_id, r.rating, r.title, r.text, r.language,
                       r.author_name, r.author_country, r.published_at, r.updated_at,
                       r.experienced_at, r.reply_text, r.reply_published_at, r.url, r.version,
                       r.removed_at, a.sentiment, a.stars AS stars_estimate,
                       json_extract_string(a.topics, '$[*].name') AS topics,
                       list_distinct(json_extract_string(a.severity, '$[*].flag')) AS severity,
                       a.language AS detected_language
                FROM reviews r JOIN sources s ON s.id = r.source_id
                LEFT JOIN (
                    SELECT review_id, arg_max(sentiment, analyzed_at) AS sentiment,
                           arg_max(stars, analyzed_at) AS stars, arg_max(topics, analyzed_at) AS topics,
                           arg_max(severity, analyzed_at) AS severity, arg_max(language, analyzed_at) AS language
                    FROM analyses GROUP BY review_id) a ON a.review_id = r.id
                WHERE {" AND ".join(where)}
                ORDER BY r.published_at DESC, r.id DESC
                LIMIT ? OFFSET ?""",
            params,
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def review_versions(self, review_id: int) -> list[dict[str, Any]]:
        """Earlier versions of a review, oldest first."""
        cursor = self._con.execute(
            "SELECT * FROM review_versions WHERE review_id = ? ORDER BY version", [review_id]
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def recent_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest runs, newest first."""
        cursor = self._con.execute(
            """SELECT r.id, s.name AS source, r.kind, r.status, r.started_at, r.finished_at, r.items,
                      r.new, r.updated, r.unchanged, r.removed, r.rejected, r.stop_reason, r.error
               FROM crawl_runs r JOIN sources s ON s.id = r.source_id
               ORDER BY r.id DESC LIMIT ?""",
            [limit],
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def count(self, table: str) -> int:
        """Row count of one of the store's tables (for summaries and tests)."""
        if table not in _TABLES:
            raise ValueError(f"unknown table {table!r}")
        row = self._con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def schema(self) -> dict[str, list[tuple[str, str]]]:
        """Tables of the main schema with their (column, type) lists."""
        rows = self._con.execute(
            """SELECT table_name, column_name, data_type FROM information_schema.columns
               WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"""
        ).fetchall()
        out: dict[str, list[tuple[str, str]]] = {}
        for table, column, dtype in rows:
            out.setdefault(table, []).append((column, dtype))
        return out

    def applied_migrations(self) -> list[str]:
        """Names of the migrations recorded in this database."""
        return [r[0] for r in self._con.execute("SELECT name FROM migrations ORDER BY name").fetchall()]


_TABLES = {
    "businesses", "sources", "reviews", "review_versions", "crawl_runs", "ingested_feeds", "analyses",
    "drafts", "draft_variants", "escalations", "users", "audit_log", "outbox", "runs", "alerts", "alert_deliveries",
}


class Store:
    """One DuckDB file. ``with store.transaction() as tx:`` is the way in."""

    def __init__(self, path: Path | str, *, lock_timeout: float = 120.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._migrated = False

    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def _file_lock(self, deadline: float) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path(), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            delay = 0.005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreBusy(self._busy_message()) from None
                    time.sleep(delay + random.random() * delay)
                    delay = min(delay * 2, 0.2)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _busy_message(self) -> str:
        return (
            f"the database {self.path} stayed busy for {self.lock_timeout:.0f} s (another Reviewdesk "
            "process is writing); try again, or raise settings.lock_timeout_s"
        )

    def _connect(self, deadline: float) -> duckdb.DuckDBPyConnection:
        delay = 0.01
        while True:
            try:
                con = duckdb.connect(str(self.path))
                con.execute("SET TimeZone = 'UTC'")
                return con
            except duckdb.IOException as exc:
                if not _is_lock_error(exc):
                    raise StoreError(f"cannot open the database {self.path}: {exc}") from None
                # Held by a process outside our lock file (e.g. a DuckDB shell): wait and retry.
                if time.monotonic() > deadline:
                    raise StoreBusy(self._busy_message()) from None
                time.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 0.5)
            except duckdb.Error as exc:
                raise StoreCorrupt(f"{self.path} is not a readable DuckDB database: {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One short transaction; commits on success, rolls back on any exception."""
        deadline = time.monotonic() + self.lock_timeout
        with self._file_lock(deadline):
            con = self._connect(deadline)
            try:
                if not self._migrated:
                    _migrate(con)
                    self._migrated = True
                con.execute("BEGIN TRANSACTION")
                try:
                    yield Connection(con)
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            except duckdb.Error as exc:
                raise StoreError(f"database error in {self.path}: {exc}") from exc
            finally:
                con.close()

    def migrate(self, upto: str | None = None) -> list[str]:
        """Apply pending migrations (up to and including ``upto``); returns the names applied."""
        deadline = time.monotonic() + self.lock_timeout
        with self._file_lock(deadline):
            con = self._connect(deadline)
            try:
                applied = _migrate(con, upto)
            finally:
                con.close()
        if upto is None:
            self._migrated = True
        return applied


def _migrate(con: duckdb.DuckDBPyConnection, upto: str | None = None) -> list[str]:
    con.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ)")
    done = {r[0] for r in con.execute("SELECT name FROM migrations").fetchall()}
    applied = []
    for name, fn in MIGRATIONS:
        if name not in done:
            # Each migration and its record commit together: a crash leaves no half-applied step.
            con.execute("BEGIN TRANSACTION")
            try:
                fn(con)
                con.execute("INSERT INTO migrations VALUES (?, ?)", [name, datetime.now(UTC)])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            applied.append(name)
        if upto is not None and name == upto:
            break
    return applied
