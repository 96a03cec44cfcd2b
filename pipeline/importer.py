"""Import review exports from other platforms (CSV or JSONL, columns mapped in the config).

Good rows are kept and bad rows are reported with their line numbers and reasons. The mapped rows
are written as a normal feed under the raw layer first, so an import is re-playable like a crawl.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from crawlers.items import ReviewItem
from pipeline.ingest import IngestReport, Progress, RowError, ingest_feed, read_feed
from pipeline.store import Store

DATE_FIELDS = ("published_at", "updated_at", "experienced_at", "reply_published_at", "crawled_at")


class ImportFileError(Exception):
    """The export file as a whole cannot be read (missing, wrong format, no header)."""


@dataclass
class ImportResult:
    """Rows read, the feed written and the ingest report."""

    rows: int
    feed: Path
    report: IngestReport


def _detect_format(path: Path, declared: str | None) -> str:
    if declared:
        return declared
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ImportFileError(f"{path}: cannot tell the format from the suffix {suffix!r}; set `format` in the source")


def iter_rows(path: Path, fmt: str, delimiter: str = ",") -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (line number where the row starts, row dict or RowError) for an export file."""
    if fmt == "jsonl":
        for entry in read_feed(path):
            yield (entry.line, entry) if isinstance(entry, RowError) else entry
        return
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFileError(f"{path}: the CSV file is empty (expected a header row)") from None
        header = [h.strip() for h in header]
        start = reader.line_num + 1
        for record in reader:
            line_no = start
            start = reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                yield line_no, RowError(
                    line_no, f"expected {len(header)} columns like the header, found {len(record)}"
                )
                continue
            yield line_no, dict(zip(header, record, strict=True))


def map_row(row: dict[str, Any], source: Any) -> dict[str, Any]:
    """Apply the source's column mapping, rating scale and date format to one export row."""
    out: dict[str, Any] = {"source": source.name, "platform": "import"}
    mapping: dict[str, str] = dict(source.columns)
    missing = [f"{field} (column {col!r})" for field, col in mapping.items() if col not in row]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    for field in ReviewItem.model_fields:
        if field in ("source", "platform", "extra"):
            continue
        column = mapping.get(field, field)
        value = row.get(column)
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                value = None
        if value is not None:
            out[field] = value
    if out.get("rating") is not None:
        try:
            rating = float(str(out["rating"]).replace(",", "."))
        except ValueError:
            raise ValueError(f"rating: expected a number, got {out['rating']!r}") from None
        scale = float(source.rating_scale)
        if scale != 5:
            if not 1 <= rating <= scale:
                raise ValueError(f"rating: expected 1 to {scale:g}, got {rating:g}")
            rating = round(1 + (rating - 1) * 4 / (scale - 1), 2)
        out["rating"] = rating
    if source.date_format:
        for field in DATE_FIELDS:
            if isinstance(out.get(field), str):
                try:
                    out[field] = datetime.strptime(out[field], source.date_format).replace(tzinfo=UTC)
                except ValueError:
                    raise ValueError(
                        f"{field}: expected a date like {source.date_format!r}, got {out[field]!r}"
                    ) from None
    out.setdefault("text", "")
    if "review_id" not in out:
        # Exports without ids get a stable one, so importing the same file again is idempotent.
        basis = "\x1f".join(str(out.get(k, "")) for k in ("author_name", "published_at", "title", "text"))
        out["review_id"] = "sha1:" + hashlib.sha1(basis.encode("utf-8")).hexdigest()
    return out


def import_file(
    store: Store,
    path: Path,
    source: Any,
    data_dir: Path,
    *,
    progress: Progress | None = None,
) -> ImportResult:
    """Map, validate and ingest an export file for one configured source."""
    if not path.exists():
        raise ImportFileError(f"{path}: file not found")
    fmt = _detect_format(path, getattr(source, "format", None))
    started = datetime.now(UTC)
    folder = data_dir / "feeds" / source.name
    folder.mkdir(parents=True, exist_ok=True)
    feed = folder / f"import-{started.strftime('%Y%m%dT%H%M%S%fZ')}.jsonl"
    rejected: list[RowError] = []
    rows = 0
    with feed.open("w", encoding="utf-8") as out:
        for line_no, row in iter_rows(path, fmt, getattr(source, "delimiter", ",")):
            rows += 1
            if progress is not None:
                progress(1)
            if isinstance(row, RowError):
                rejected.append(row)
                continue
            try:
                mapped = map_row(row, source)
                item = ReviewItem.model_validate(mapped)
            except ValueError as exc:
                reason = exc.errors()[0] if isinstance(exc, ValidationError) else None
                if reason is not None:
                    loc = ".".join(str(p) for p in reason["loc"])
                    rejected.append(RowError(line_no, f"{loc}: {reason['msg']}"))
                else:
                    rejected.append(RowError(line_no, str(exc)))
                continue
            data = item.model_dump(mode="json")
            data["extra"] = {"import_file": path.name, "import_line": line_no}
            out.write(json.dumps(data, ensure_ascii=False) + "\n")
    # The feed's line numbers are not the export's: report bad rows by the export's lines.
    report = ingest_feed(store, source.name, feed, kind="import", started_at=started, extra_rejected=rejected)
    return ImportResult(rows=rows, feed=feed, report=report)
