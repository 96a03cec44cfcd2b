"""Any site that marks up its reviews with schema.org, from a URL list or a sitemap."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit

import scrapy
from scrapy.http import Response
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap

from crawlers.parsers import ParsedPage
from crawlers.parsers.schema_org import SchemaOrgPage
from crawlers.spiders.base import ReviewSpider

LISTING = "reviewdesk_listing"


def read_urls(value: str | None) -> list[str]:
    """URLs from a comma-separated list or from a file with one URL a line (# starts a comment)."""
    if not value:
        return []
    path = Path(value)
    if "://" not in value and path.is_file():
        lines = (line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
    else:
        lines = iter(value.split(","))
    return [line.strip() for line in lines if line.strip()]


class SchemaOrgSpider(ReviewSpider):
    """Review pages marked up with schema.org: ``-a start_url=``, ``-a urls=`` or ``-a sitemap=``.

    ``urls`` is a comma-separated list or a file of URLs; ``sitemap`` is a sitemap or sitemap index
    URL, narrowed with ``sitemap_filter`` (a regex searched in each page URL). Every page is the start
    of its own listing, followed through ``rel=next``; page limits and the incremental stop apply
    per listing.
    """

    name = "schema_org"
    platform = "schema_org"

    def __init__(
        self,
        urls: str | None = None,
        sitemap: str | None = None,
        sitemap_filter: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.urls = list(dict.fromkeys(read_urls(urls)))
        self.sitemap = sitemap
        self.sitemap_filter = re.compile(sitemap_filter) if sitemap_filter else None
        hosts = {urlsplit(url).hostname for url in [self.start_url, *self.urls, sitemap] if url}
        # Each host the source names is allowed; sitemaps may only list pages of their own host.
        self.allowed_domains = sorted(host for host in hosts if host)
        self.requested: set[str] = set()
        self.listing_known: dict[str, int] = {}
        self.open_listings: set[str] = set()

    # -- requests -----------------------------------------------------------------------------

    def first_requests(self) -> Iterable[scrapy.Request]:
        """One listing per start URL and URL-list entry; the sitemap adds more as it is read."""
        pages = [self.start_url] if self.start_url else []
        pages += self.urls
        if not pages and not self.sitemap:
            raise ValueError("spider schema_org needs -a start_url=URL, -a urls=LIST|FILE or -a sitemap=URL")
        for url in pages:
            request = self.listing_request(url)
            if request is not None:
                yield request
        if self.sitemap:
            yield scrapy.Request(self.sitemap, callback=self.parse_sitemap, errback=self.on_error)

    def listing_request(self, url: str) -> scrapy.Request | None:
        """The first page of a listing, unless that page was already requested."""
        key = urldefrag(url).url
        if key in self.requested:
            return None
        self.requested.add(key)
        self.open_listings.add(key)
        return scrapy.Request(
            key, callback=self.parse, errback=self.on_error, cb_kwargs={"page": 1}, meta={LISTING: key}
        )

    def next_request(self, response: Response, parsed: ParsedPage, page: int) -> scrapy.Request | None:
        """The rel=next page, unless it is already being crawled (e.g. listed in the sitemap too)."""
        if not parsed.next_url:
            return None
        key = urldefrag(response.urljoin(parsed.next_url)).url
        # The dupe filter would drop it silently and leave this listing open for ever.
        if key in self.requested:
            return None
        request = super().next_request(response, parsed, page)
        if request is None:
            return None
        self.requested.add(key)
        return request.replace(meta={**request.meta, LISTING: response.meta.get(LISTING)})

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        """Follow a sitemap index to its sitemaps; start a listing for each matching page URL."""
        body = response.body
        if body[:2] == b"\x1f\x8b":
            body = gunzip(body, max_size=self.settings.getint("DOWNLOAD_MAXSIZE"))
        try:
            sitemap = Sitemap(body)
        except Exception as exc:  # lxml raises several types on garbage; this sitemap is unusable
            self.record_error("sitemap_error", f"unreadable sitemap: {exc}", response.url)
            return
        locations = [entry["loc"] for entry in sitemap if entry.get("loc")]
        if sitemap.type == "sitemapindex":
            for loc in locations:
                yield scrapy.Request(response.urljoin(loc), callback=self.parse_sitemap, errback=self.on_error)
            return
        if sitemap.type != "urlset":
            self.record_error("sitemap_error", f"not a sitemap (root <{sitemap.type}>)", response.url)
            return
        pages = [loc for loc in locations if not self.sitemap_filter or self.sitemap_filter.search(loc)]
        if not pages:
            self.logger.warning("%s: no page URLs%s", response.url, " match the filter" if locations else "")
        for loc in pages:
            request = self.listing_request(response.urljoin(loc))
            if request is not None:
                yield request

    # -- pages --------------------------------------------------------------------------------

    def parse_page(self, response: Response) -> ParsedPage:
        """Parse one page with SchemaOrgPage."""
        return SchemaOrgPage(response, source=self.source).parse()

    def handle_parsed(self, response: Response, parsed: ParsedPage, page: int) -> Iterator[Any]:
        """The base rules, with the run of known reviews counted per listing, not across listings."""
        listing = response.meta.get(LISTING, response.url)
        self.consecutive_known = self.listing_known.get(listing, 0)
        # Run the base logic to the end at once: the shared counters must not interleave with
        # another listing's page while this generator is suspended.
        output = list(super().handle_parsed(response, parsed, page))
        self.listing_known[listing] = self.consecutive_known
        if not any(isinstance(out, scrapy.Request) for out in output):
            self.open_listings.discard(listing)
        # Complete only when every listing ran to its end (a stop or error is recorded by the base).
        self.reached_end = not self.open_listings
        yield from output
