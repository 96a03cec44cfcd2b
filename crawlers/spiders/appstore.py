"""App Store customer reviews of one app in one storefront, from Apple's public JSON feed."""

from __future__ import annotations

import re
from typing import Any

from scrapy.http import Response

from crawlers.parsers import ParsedPage
from crawlers.parsers.appstore import AppstoreFeedPage, feed_url
from crawlers.spiders.base import ReviewSpider

DEFAULT_FEED_BASE = "https://itunes.apple.com"


class AppstoreSpider(ReviewSpider):
    """``-a app_id=<number> [-a country=us] [-a feed_base=URL]`` or ``-a start_url=<feed URL>``."""

    name = "appstore"
    platform = "appstore"

    def __init__(
        self,
        app_id: str | None = None,
        country: str | None = None,
        feed_base: str | None = None,
        start_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        if country is not None and not re.fullmatch(r"[A-Za-z]{2}", country):
            raise ValueError(f"spider argument country must be a two-letter storefront code, got {country!r}")
        self.country = country.lower() if country else None
        if not start_url:
            if not app_id:
                raise ValueError("spider appstore needs -a app_id=NUMBER or -a start_url=FEED_URL")
            app = re.sub(r"^id", "", str(app_id).strip())
            if not app.isdigit():
                raise ValueError(f"spider argument app_id must be the app's number, got {app_id!r}")
            start_url = feed_url(feed_base or DEFAULT_FEED_BASE, self.country or "us", app)
        super().__init__(start_url=start_url, **kwargs)

    def parse_page(self, response: Response) -> ParsedPage:
        """Parse one feed page with AppstoreFeedPage."""
        return AppstoreFeedPage(response, country=self.country, source=self.source).parse()
