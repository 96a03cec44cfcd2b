"""Page object for one page of the App Store's public customer-reviews JSON feed.

Feed URL: ``https://itunes.apple.com/{country}/rss/customerreviews/page={n}/id={app_id}/sortby=mostrecent/json``
(at most 10 pages of 50 reviews). Each value is wrapped as ``{"label": ...}``; ``feed.entry`` is a list,
a single dict when there is one review, or missing past the last page.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from scrapy.http import Response

from crawlers.errors import EmptyPage, LayoutChanged, PartialPage
from crawlers.items import ReviewItem
from crawlers.parsers import ParsedPage

PLATFORM = "appstore"
# Apple serves no page after the tenth, whatever the feed's links say.
MAX_FEED_PAGES = 10
_PAGE = re.compile(r"/page=(\d+)")
_APP_ID = re.compile(r"/id=?(\d+)")
_COUNTRY = re.compile(r"^/([a-zA-Z]{2})/rss/")


def feed_url(base: str, country: str, app_id: str, page: int = 1) -> str:
    """The JSON feed URL of one page of an app's most recent reviews in one storefront."""
    return f"{base.rstrip('/')}/{country}/rss/customerreviews/page={page}/id={app_id}/sortby=mostrecent/json"


def page_of(url: str) -> int | None:
    """The page number in a feed URL (``/page=N/``), or None."""
    match = _PAGE.search(url)
    return int(match.group(1)) if match else None


def with_page(url: str, page: int) -> str:
    """The same feed URL (host, storefront, format) for another page."""
    if _PAGE.search(url):
        return _PAGE.sub(f"/page={page}", url, count=1)
    return url.replace("/customerreviews/", f"/customerreviews/page={page}/", 1)


def _label(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("label")
    if isinstance(value, str):
        return value.strip() or None
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _content(value: Any) -> str:
    # Some feeds carry the text twice, as type "text" and "html": the plain text is the review.
    parts = [part for part in _as_list(value) if isinstance(part, dict)]
    for part in parts:
        if (part.get("attributes") or {}).get("type") == "text" and _label(part):
            return _label(part) or ""
    return next((text for text in map(_label, parts) if text), "")


def _int(value: Any) -> int | None:
    text = _label(value)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class AppstoreFeedPage:
    """The reviews on one page of an app's customer-reviews feed, and the next page's URL."""

    platform = PLATFORM

    def __init__(self, response: Response, country: str | None = None, source: str | None = None) -> None:
        self.response = response
        path = re.sub(r"^https?://[^/]+", "", response.url)
        match = _COUNTRY.search(path)
        self.country = (country or (match.group(1) if match else "us")).lower()
        app = _APP_ID.search(path.split("/customerreviews", 1)[-1])
        self.app_id = app.group(1) if app else None
        self.source = source or PLATFORM

    def feed(self) -> dict[str, Any]:
        """The decoded ``feed`` object; empty body -> EmptyPage, cut-off JSON -> PartialPage."""
        body = self.response.body
        if not body.strip():
            raise EmptyPage(f"empty body at {self.response.url}")
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise PartialPage(f"feed JSON is broken at {self.response.url}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("feed"), dict):
            raise LayoutChanged(f"no customer-reviews feed object at {self.response.url}")
        return data["feed"]

    def links(self, feed: dict[str, Any]) -> dict[str, str]:
        """The feed's links by rel (first, last, next, previous, self, alternate)."""
        found: dict[str, str] = {}
        for link in _as_list(feed.get("link")):
            attributes = link.get("attributes") if isinstance(link, dict) else None
            if isinstance(attributes, dict) and attributes.get("rel") and attributes.get("href"):
                found.setdefault(str(attributes["rel"]), str(attributes["href"]))
        return found

    def next_url(self, feed: dict[str, Any], page: int) -> str | None:
        """The JSON URL of the page after ``page`` on this host, or None at the end."""
        links = self.links(feed)
        # Apple's next/last links point at the XML flavour on its own host: keep only their numbers.
        last = page_of(links.get("last", ""))
        upcoming = page_of(links.get("next", ""))
        if upcoming is None and last is not None:
            upcoming = page + 1
        if upcoming is None or upcoming <= page or upcoming > MAX_FEED_PAGES:
            return None
        if last is not None and upcoming > last:
            return None
        return with_page(self.response.url, upcoming)

    def item(self, entry: dict[str, Any]) -> ReviewItem:
        """A ReviewItem from one entry; ValueError when it lacks an id, a rating or a date."""
        review_id = _label(entry.get("id"))
        if not review_id:
            raise ValueError("entry without id")
        rating_text = _label(entry.get("im:rating"))
        try:
            rating = float(rating_text) if rating_text else None
        except ValueError:
            rating = None
        if rating is None or not 1 <= rating <= 5:
            raise ValueError(f"review {review_id}: unusable rating {rating_text!r}")
        updated = _label(entry.get("updated"))
        try:
            published = datetime.fromisoformat(updated) if updated else None
        except ValueError:
            published = None
        if published is None:
            raise ValueError(f"review {review_id}: unusable date {updated!r}")
        published = published.replace(tzinfo=UTC) if published.tzinfo is None else published.astimezone(UTC)
        author = entry.get("author") if isinstance(entry.get("author"), dict) else {}
        extra: dict[str, Any] = {"country": self.country}
        if self.app_id:
            extra["app_id"] = self.app_id
        for key, name in (("im:version", "app_version"), ("im:voteSum", "vote_sum"), ("im:voteCount", "vote_count")):
            value = _int(entry.get(key)) if key != "im:version" else _label(entry.get(key))
            if value is not None:
                extra[name] = value
        return ReviewItem(
            source=self.source,
            platform=PLATFORM,
            review_id=review_id,
            rating=rating,
            title=_label(entry.get("title")),
            text=_content(entry.get("content")),
            # The feed does not say which language a review is in, only the storefront.
            language=None,
            author_name=_label(author.get("name")),
            author_country=self.country.upper(),
            published_at=published,
            # The entry's link is the app's review page, the same for every entry: not a permalink.
            url=None,
            page_url=self.response.url,
            extra=extra,
        )

    def parse(self) -> ParsedPage:
        """Reviews of this page (app metadata entries skipped), next page URL, warnings."""
        feed = self.feed()
        page = page_of(self.response.url) or 1
        entries = _as_list(feed.get("entry"))
        items: list[ReviewItem] = []
        warnings: list[str] = []
        for entry in entries:
            if not isinstance(entry, dict):
                warnings.append(f"entry is not an object: {entry!r:.80}")
                continue
            if "im:rating" not in entry and "im:name" in entry:
                # Older feeds start page 1 with the app itself.
                continue
            try:
                items.append(self.item(entry))
            except ValueError as exc:
                warnings.append(f"skipped {exc}")
        # A page without entries is the end of the feed, whatever its links say.
        next_url = self.next_url(feed, page) if entries else None
        return ParsedPage(items=items, next_url=next_url, page_number=page, warnings=warnings)
