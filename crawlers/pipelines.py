"""Item pipelines: tiny, one concern each (listed once in settings.py)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawlers.items import ReviewItem


class _StatsPipeline:
    """Keeps the crawler (Scrapy 2.13+ no longer passes the spider to process_item)."""

    def __init__(self, crawler: Crawler | None = None) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        """Build the pipeline with access to the crawler's stats."""
        return cls(crawler)

    def inc(self, key: str) -> None:
        """Increment a stats counter (no-op outside a crawl)."""
        if self.crawler is not None and self.crawler.stats is not None:
            self.crawler.stats.inc_value(key)


class ValidateReview(_StatsPipeline):
    """Drop an item that does not satisfy ReviewItem: no half-empty review reaches a feed."""

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        """Validate and pass through, or drop with a namespaced counter."""
        try:
            ReviewItem.model_validate(item)
        except ValidationError as exc:
            self.inc("reviews/invalid")
            raise DropItem(f"invalid review {item.get('review_id')!r}: {exc.errors()[0]['msg']}") from None
        return item


class DropDuplicates(_StatsPipeline):
    """Drop a review id seen earlier in the same run (pages can shift while we crawl)."""

    def __init__(self, crawler: Crawler | None = None) -> None:
        super().__init__(crawler)
        self.seen: set[tuple[str, str]] = set()

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        """Pass the first copy of each (source, review id), drop the rest."""
        key = (str(item.get("source")), str(item.get("review_id")))
        if key in self.seen:
            self.inc("reviews/duplicate")
            raise DropItem(f"duplicate review {key[1]!r}")
        self.seen.add(key)
        return item
