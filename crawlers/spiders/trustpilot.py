"""Trustpilot company review pages, newest first, through the shared ReviewSpider crawl logic."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from scrapy.http import Response

from crawlers.parsers import ParsedPage
from crawlers.parsers.trustpilot import TrustpilotPage
from crawlers.spiders.base import ReviewSpider


class TrustpilotSpider(ReviewSpider):
    """``-a start_url=https://www.trustpilot.com/review/<domain>`` or ``-a business_id=<domain>``."""

    name = "trustpilot"
    platform = "trustpilot"
    base_url = "https://www.trustpilot.com"

    def __init__(self, business_id: str | None = None, start_url: str | None = None, **kwargs: Any) -> None:
        if business_id and not start_url:
            # Incremental runs stop at known reviews, so they need the newest reviews first.
            start_url = f"{self.base_url}/review/{quote(business_id, safe='.')}?sort=recency"
        super().__init__(start_url=start_url, **kwargs)

    def parse_page(self, response: Response) -> ParsedPage:
        """Parse one listing page with TrustpilotPage."""
        return TrustpilotPage(response).parse()
