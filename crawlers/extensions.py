"""Scrapy extension that writes a run manifest beside the feed: what ingest needs to judge a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy import Spider, signals
from scrapy.crawler import Crawler

from crawlers.items import utc_now_iso


def manifest_path_for(feed_path: str | Path) -> Path:
    """Where the manifest of a feed file lives."""
    return Path(f"{feed_path}.meta.json")


class RunManifest:
    """On close, write ``<feed>.meta.json`` with the spider's run summary and key stats."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunManifest:
        """Connect to the spider_closed signal."""
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def _target(self, spider: Spider) -> Path | None:
        explicit = getattr(spider, "manifest", None) or self.crawler.settings.get("REVIEWDESK_MANIFEST")
        if explicit:
            return Path(explicit)
        for uri in self.crawler.settings.getdict("FEEDS"):
            parts = urlsplit(str(uri))
            if parts.scheme in ("", "file") and "%(" not in str(uri):
                return manifest_path_for(parts.path if parts.scheme == "file" else str(uri))
        return None

    def spider_closed(self, spider: Spider, reason: str) -> None:
        """Write the manifest (atomically: a reader never sees half a file)."""
        target = self._target(spider)
        if target is None:
            return
        stats: dict[str, Any] = self.crawler.stats.get_stats() if self.crawler.stats else {}
        summary = spider.run_summary() if hasattr(spider, "run_summary") else {"spider": spider.name}
        summary.update(
            {
                "finished_at": utc_now_iso(),
                "finish_reason": reason,
                "items": int(stats.get("item_scraped_count", 0)),
                "items_dropped": int(stats.get("item_dropped_count", 0)),
                "requests": int(stats.get("downloader/request_count", 0)),
                "retries": int(stats.get("retry/count", 0)),
                "status_counts": {
                    key.rsplit("/", 1)[-1]: value
                    for key, value in stats.items()
                    if key.startswith("downloader/response_status_count/")
                },
            }
        )
        if reason != "finished":
            summary["complete"] = False
            summary.setdefault("errors", []).append(
                {"kind": "aborted", "message": f"crawl ended early: {reason}", "url": ""}
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(summary, indent=2, default=str))
        tmp.replace(target)
