"""Item pipelines: tiny, one concern each (listed once in settings.py)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scrapy import Spider
from scrapy.exceptions import DropItem

from crawlers.items import ReviewItem


class ValidateReview:
    """Drop an item that does not satisfy ReviewItem: no half-empty review reaches a feed."""

    def process_item(self, item: dict[str, Any], spider: Spider) -> dict[str, Any]:
        """Validate and pass through, or drop with a namespaced counter."""
        try:
            ReviewItem.model_validate(item)
        except ValidationError as exc:
            spider.crawler.stats.inc_value("reviews/invalid")
            raise DropItem(f"invalid review {item.get('review_id')!r}: {exc.errors()[0]['msg']}") from None
        return item


class DropDuplicates:
    """Drop a review id seen earlier in the same run (pages can shift while we crawl)."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def process_item(self, item: dict[str, Any], spider: Spider) -> dict[str, Any]:
        """Pass the first copy of each (source, review id), drop the rest."""
        key = (str(item.get("source")), str(item.get("review_id")))
        if key in self.seen:
            spider.crawler.stats.inc_value("reviews/duplicate")
            raise DropItem(f"duplicate review {key[1]!r}")
        self.seen.add(key)
        return item
