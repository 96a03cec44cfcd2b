"""Load a spider's JSONL feed (the raw layer) into DuckDB, idempotently."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from crawlers.extensions import manifest_path_for
from crawlers.items import ReviewItem
from pipeline.store import (
    INCOMING_SCHEMA,
    REVIEW_CONTENT_COLUMNS,
    MergeResult,
    RunRecord,
    Store,
    read_clean_feed,
)

Progress = Callable[[int], None]


@dataclass
class RowError:
    """A feed or export line that could not be used, and why."""

    line: int
    reason: str


@dataclass
class IngestReport:
    """The outcome of loading one feed for one source."""

    source: str
    status: str
    counts: MergeResult = field(default_factory=MergeResult)
    items: int = 0
    rejected: list[RowError] = field(default_factory=list)
    error: str | None = None
    already_ingested: bool = False
    run_id: int | None = None
    feed_path: str | None = None

    @property
    def healthy(self) -> bool:
        """True when the run fully succeeded."""
        return self.status == "ok"

    def row(self) -> dict[str, Any]:
        """This outcome as a plain dict (what the collect flow records and the crawl table shows)."""
        return {
            "source": self.source, "status": self.status, "new": self.counts.new, "updated": self.counts.updated,
            "unchanged": self.counts.unchanged, "removed": self.counts.removed, "rejected": len(self.rejected),
            "note": self.error or ("feed already ingested" if self.already_ingested else ""),
        }


def feed_fingerprint(path: Path, source: str) -> str:
    """SHA-256 over the source name, the feed's bytes and its manifest's bytes.

    The manifest carries the run's timestamps, so two runs that both found nothing (empty feeds)
    still differ, while loading the very same run twice is recognised.
    """
    digest = hashlib.sha256(source.encode("utf-8") + b"\0")
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    manifest = manifest_path_for(path)
    if manifest.exists():
        digest.update(b"\0manifest\0" + manifest.read_bytes())
    return digest.hexdigest()


def _error_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "line"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def validate_items(
    records: Iterable[tuple[int, dict[str, Any]]],
    *,
    source: str,
    default_crawled_at: datetime,
) -> tuple[list[tuple[int, ReviewItem]], list[RowError]]:
    """Validate (line number, dict) pairs into ReviewItems; bad ones become RowErrors."""
    good: list[tuple[int, ReviewItem]] = []
    bad: list[RowError] = []
    for line_no, data in records:
        data = {**data, "source": source}
        try:
            item = ReviewItem.model_validate(data)
        except ValidationError as exc:
            bad.append(RowError(line_no, _error_reason(exc)))
            continue
        if item.crawled_at is None:
            item.crawled_at = default_crawled_at
        good.append((line_no, item))
    return good, bad


def read_feed(path: Path, progress: Progress | None = None) -> Iterable[tuple[int, dict[str, Any]] | RowError]:
    """Yield (line number, object) for each JSON line of a feed, or a RowError for a broken line."""
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if progress is not None:
                progress(len(raw))
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield RowError(line_no, f"not valid JSON: {exc}")
                continue
            if not isinstance(obj, dict):
                yield RowError(line_no, "expected a JSON object")
                continue
            yield line_no, obj


def to_arrow(items: list[tuple[int, ReviewItem]]) -> pa.Table:
    """Columns for Store.merge_reviews (which computes the content hashes)."""
    cols: dict[str, list[Any]] = {name: [] for name in INCOMING_SCHEMA.names}
    for line_no, item in items:
        cols["external_id"].append(item.review_id)
        for name in REVIEW_CONTENT_COLUMNS:
            cols[name].append(getattr(item, name))
        cols["page_url"].append(item.page_url)
        cols["extra"].append(json.dumps(item.extra, ensure_ascii=False, sort_keys=True))
        cols["crawled_at"].append(item.crawled_at)
        cols["line_no"].append(line_no)
    return pa.Table.from_pydict(cols, schema=INCOMING_SCHEMA)


def read_manifest(feed: Path) -> dict[str, Any] | None:
    """The run manifest a spider wrote beside its feed, if any."""
    path = manifest_path_for(feed)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def judge_run(manifest: dict[str, Any] | None, items: int, kind: str) -> tuple[str, str | None]:
    """Decide a run's status and the message a person should read.

    'ok' only when the spider finished without errors; a page that held no recognisable reviews
    is 'unhealthy' (layout changed), never a quiet "0 new reviews".
    """
    if kind != "crawl":
        return "ok", None
    if manifest is None:
        return "failed", "the spider wrote no run manifest (it crashed or was killed); see its log"
    errors = manifest.get("errors") or []
    if errors:
        first = errors[0]
        kinds = sorted({e.get("kind", "error") for e in errors})
        message = f"{first.get('kind')}: {first.get('message')} ({first.get('url')})"
        if len(errors) > 1:
            message += f"; {len(errors) - 1} more error(s): {', '.join(kinds)}"
        if "LayoutChanged" in kinds:
            message = "layout changed, reviews expected but none found: " + message
        return ("partial" if items else "failed"), message
    if manifest.get("finish_reason") not in (None, "finished"):
        return "failed", f"crawl ended early: {manifest.get('finish_reason')}"
    if items == 0 and not manifest.get("stop_reason") and int(manifest.get("pages") or 0) == 0:
        return "failed", "the crawl fetched no page (robots.txt, offsite or a network failure?)"
    return "ok", None


def ingest_feed(
    store: Store,
    source_id_or_name: str,
    feed: Path,
    *,
    kind: str = "crawl",
    started_at: datetime | None = None,
    extra_rejected: list[RowError] | None = None,
    progress: Progress | None = None,
    force: bool = False,
    process_error: str | None = None,
) -> IngestReport:
    """Load one feed file for one configured source; the same feed twice changes nothing."""
    source = source_id_or_name
    now = datetime.now(UTC)
    sha = feed_fingerprint(feed, source)
    with store.transaction() as tx:
        source_id = tx.source_id(source)
        if source_id is None:
            raise ValueError(f"unknown source {source!r}: it is not in the database (is it in the config?)")
        earlier = None if force else tx.feed_already_ingested(sha)
    if earlier is not None:
        # The exact same bytes were loaded before: nothing to do, and nothing is recorded twice.
        report = IngestReport(
            source=source, status="ok", already_ingested=True, feed_path=str(feed),
            rejected=list(extra_rejected or []),
        )
        report.items = int(earlier["items"])
        report.counts.unchanged = report.items
        report.run_id = int(earlier["run_id"])
        return report

    manifest = read_manifest(feed) if kind == "crawl" else None
    crawled_default = now
    if manifest and manifest.get("started_at"):
        with contextlib.suppress(ValueError):
            crawled_default = datetime.fromisoformat(str(manifest["started_at"]))
    rejected: list[RowError] = list(extra_rejected or [])
    # Fast path: a clean feed is parsed and checked inside DuckDB; otherwise line by line.
    table = read_clean_feed(feed, crawled_default)
    if table is None:
        rows: list[tuple[int, dict[str, Any]]] = []
        for entry in read_feed(feed, progress):
            if isinstance(entry, RowError):
                rejected.append(entry)
            else:
                rows.append(entry)
        good, bad = validate_items(rows, source=source, default_crawled_at=crawled_default)
        rejected.extend(bad)
        rejected.sort(key=lambda e: e.line)
        table = to_arrow(good)
    item_count = table.num_rows
    status, error = judge_run(manifest, item_count, kind)
    if process_error is not None:
        status = "partial" if item_count else "failed"
        error = process_error if error is None else f"{process_error}; {error}"
    complete = bool(manifest and manifest.get("complete")) and status == "ok" and not rejected
    run = RunRecord(
        source=source,
        kind=kind,
        status=status,
        started_at=started_at or crawled_default,
        finished_at=now,
        feed_path=str(feed),
        feed_sha256=sha,
        pages=int(manifest.get("pages") or 0) if manifest else None,
        items=item_count,
        rejected=len(rejected),
        complete=complete,
        stop_reason=(manifest or {}).get("stop_reason"),
        error=error,
    )
    with store.transaction() as tx:
        if not force and tx.feed_already_ingested(sha) is not None:
            # Another process loaded this feed while we parsed it.
            return ingest_feed(store, source, feed, kind=kind, started_at=started_at)
        counts = tx.merge_reviews(source_id, table, complete=complete, now=now) if item_count else MergeResult()
        run.counts = counts
        run_id = tx.record_run(source_id, run)
        if not force:
            tx.record_feed(sha, run_id, str(feed), item_count, now)
    return IngestReport(
        source=source,
        status=status,
        counts=counts,
        items=item_count,
        rejected=rejected,
        error=error,
        run_id=run_id,
        feed_path=str(feed),
    )


def register_sources(store: Store, config: Any) -> None:
    """Make the config's businesses and sources known to the database."""
    with store.transaction() as tx:
        for business in config.businesses:
            tx.upsert_business(business.id, business.name, business.role)
        for business, source in config.all_sources():
            tx.upsert_source(source.name, business.id, source.platform, source.target(), source.language)
