"""Crawl logic shared by every review spider: arguments, incremental stop, page limits, errors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from crawlers.errors import EmptyPage, ExtractionError, PartialPage
from crawlers.items import utc_now_iso
from crawlers.middlewares import GIVE_UP_META
from crawlers.parsers import ParsedPage

DEFAULT_OVERLAP = 20


def _int_arg(name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"spider argument {name} must be a whole number, got {value!r}") from None
    if number < 0:
        raise ValueError(f"spider argument {name} must not be negative, got {number}")
    return number


class ReviewSpider(scrapy.Spider):
    """Base spider: follows pages, stops at known reviews or limits, records errors for the manifest.

    Arguments (``-a name=value``): ``start_url``, ``source`` (the configured source name),
    ``max_pages``, ``max_age_days``, ``known_ids`` (a file of already-stored review ids, one a line),
    ``overlap`` (how many consecutive known reviews end an incremental run; default 20).
    """

    platform: str = ""
    start_url: str | None = None
    # Retrying a truncated page this many times before reporting it.
    partial_page_retries: int = 2

    def __init__(
        self,
        start_url: str | None = None,
        source: str | None = None,
        max_pages: Any = None,
        max_age_days: Any = None,
        known_ids: str | None = None,
        overlap: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.start_url = start_url or self.start_url
        self.source = source or self.name
        self.max_pages = _int_arg("max_pages", max_pages)
        self.max_age_days = _int_arg("max_age_days", max_age_days)
        overlap_value = _int_arg("overlap", overlap)
        self.overlap = DEFAULT_OVERLAP if overlap_value is None else overlap_value
        self.known_ids: set[str] = set()
        if known_ids:
            path = Path(known_ids)
            if path.exists():
                self.known_ids = {line.strip() for line in path.read_text().splitlines() if line.strip()}
        if self.start_url:
            host = urlsplit(self.start_url).hostname
            # The allowed domain follows the start URL, so the demo site and tests on 127.0.0.1 work.
            if host:
                self.allowed_domains = [host]
        self.crawl_errors: list[dict[str, str]] = []
        self.pages_seen = 0
        self.consecutive_known = 0
        self.stop_reason: str | None = None
        self.reached_end = False
        self.started_at = utc_now_iso()
        self.cutoff: datetime | None = (
            datetime.now(UTC) - timedelta(days=self.max_age_days) if self.max_age_days else None
        )

    # -- subclasses ---------------------------------------------------------------------------

    def first_requests(self) -> Iterable[scrapy.Request]:
        """Requests that start the crawl; by default the start URL, parsed by ``parse``."""
        if not self.start_url:
            raise ValueError(f"spider {self.name} needs -a start_url=URL")
        yield scrapy.Request(
            self.start_url, callback=self.parse, errback=self.on_error, cb_kwargs={"page": 1}
        )

    def parse_page(self, response: Response) -> ParsedPage:
        """Turn one response into a ParsedPage (implemented with a parser class)."""
        raise NotImplementedError

    def next_request(self, response: Response, parsed: ParsedPage, page: int) -> scrapy.Request | None:
        """Request for the page after this one, or None at the end."""
        if not parsed.next_url:
            return None
        return response.follow(
            parsed.next_url, callback=self.parse, errback=self.on_error, cb_kwargs={"page": page + 1}
        )

    # -- shared crawl logic -------------------------------------------------------------------

    async def start(self) -> Any:
        """Scrapy 2.13+ entry point."""
        for request in self.first_requests():
            yield request

    def parse(self, response: Response, page: int = 1, **kwargs: Any) -> Iterator[Any]:
        """Parse a page with the page object, yield its reviews, decide whether to go on."""
        self.pages_seen += 1
        self.crawler.stats.inc_value("reviewdesk/pages")
        try:
            parsed = self.parse_page(response)
        except (PartialPage, EmptyPage) as exc:
            # A cut-off or empty body is often a hiccup of the server or the network: fetch it again.
            attempt = response.meta.get("partial_retry", 0)
            if attempt < self.partial_page_retries:
                self.crawler.stats.inc_value("reviewdesk/partial_page_retry")
                yield response.request.replace(
                    dont_filter=True, meta={**response.meta, "partial_retry": attempt + 1}
                )
                return
            kind = "partial_page" if isinstance(exc, PartialPage) else type(exc).__name__
            self.record_error(kind, f"{exc} (after {attempt} refetch(es))", response.url)
            return
        except ExtractionError as exc:
            self.record_error(type(exc).__name__, str(exc), response.url)
            return
        yield from self.handle_parsed(response, parsed, page)

    def handle_parsed(self, response: Response, parsed: ParsedPage, page: int) -> Iterator[Any]:
        """Yield a page's items and the next request, applying the incremental and limit rules."""
        crawled_at = utc_now_iso()
        too_old = False
        for item in parsed.items:
            if self.cutoff is not None and item.published_at < self.cutoff:
                too_old = True
                self.crawler.stats.inc_value("reviews/too_old")
                continue
            if item.review_id in self.known_ids:
                self.consecutive_known += 1
            else:
                self.consecutive_known = 0
            data = item.model_dump(mode="json")
            data["source"] = self.source
            data["page_url"] = data.get("page_url") or response.url
            data["crawled_at"] = crawled_at
            yield data
        for warning in parsed.warnings:
            self.logger.warning("%s: %s", response.url, warning)
        if self.known_ids and self.consecutive_known >= self.overlap:
            self.stop_reason = f"reached {self.consecutive_known} already stored reviews"
            return
        if too_old:
            self.stop_reason = f"reached reviews older than {self.max_age_days} days"
            return
        if self.max_pages is not None and page >= self.max_pages:
            if parsed.next_url:
                self.stop_reason = f"page limit {self.max_pages} reached"
            else:
                self.reached_end = True
            return
        request = self.next_request(response, parsed, page)
        if request is None:
            self.reached_end = True
            return
        yield request

    def on_error(self, failure: Any) -> None:
        """Errback: a request failed for good (after retries); the source is unhealthy."""
        request = getattr(failure, "request", None)
        response = getattr(failure.value, "response", None)
        url = request.url if request is not None else (self.start_url or "")
        if response is not None:
            # The retry middleware says why it did not retry (e.g. a Retry-After above the cap).
            gave_up = request.meta.get(GIVE_UP_META) if request is not None else None
            self.record_error("http_error", gave_up or f"HTTP {response.status} after retries", url)
        elif failure.check(IgnoreRequest) and "robots.txt" in failure.getErrorMessage():
            self.record_error("robots_txt", f"the site's robots.txt forbids {url}; not fetched", url)
        else:
            detail = failure.getErrorMessage() or "no detail given"
            self.record_error("download_error", f"{failure.type.__name__}: {detail}", url)

    def record_error(self, kind: str, message: str, url: str) -> None:
        """Remember an error for the run manifest and the source's health."""
        self.logger.error("%s at %s: %s", kind, url, message)
        self.crawler.stats.inc_value(f"reviewdesk/error/{kind}")
        self.crawl_errors.append({"kind": kind, "message": message, "url": url})

    def run_summary(self) -> dict[str, Any]:
        """Facts about this run that ingest needs: completeness, stop reason, errors."""
        return {
            "spider": self.name,
            "platform": self.platform,
            "source": self.source,
            "start_url": self.start_url,
            "started_at": self.started_at,
            "pages": self.pages_seen,
            "stop_reason": self.stop_reason,
            # Only a run that walked every page without error can tell which reviews disappeared.
            "complete": bool(self.reached_end and not self.crawl_errors and self.stop_reason is None),
            "errors": list(self.crawl_errors),
        }
