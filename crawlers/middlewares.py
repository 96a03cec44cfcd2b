"""Downloader middleware: retries with exponential backoff that honour ``Retry-After``.

Replaces Scrapy's RetryMiddleware (see ``DOWNLOADER_MIDDLEWARES`` in settings.py). The wait happens in
an ``async`` hook awaiting a reactor-friendly sleep, so other requests keep flowing meanwhile.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import sleep
from scrapy.utils.misc import load_object
from scrapy.utils.response import response_status_message

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

logger = logging.getLogger(__name__)

# Statuses whose Retry-After header tells us when to come back (RFC 9110 §10.2.3).
RETRY_AFTER_STATUSES = frozenset({429, 503})
# Request meta key holding a human-readable reason when a retry was refused; the spider's errback
# puts it in the run manifest instead of a generic "HTTP 429".
GIVE_UP_META = "reviewdesk_give_up"
# Longest single sleep step while waiting, so a closing crawl is noticed quickly.
CLOSE_CHECK_INTERVAL = 0.5


def parse_retry_after(value: str | bytes | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # nan/inf and negatives are not delta-seconds; treat as a missing header.
        return seconds if 0 <= seconds < float("inf") else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110 HTTP-dates are always GMT.
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    # A date in the past means "now"; clock skew must not turn into a negative wait.
    return max(0.0, (when - now).total_seconds())


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff ``base * 2**attempt`` capped at ``cap``, with jitter in its upper half."""
    nominal = min(cap, base * (2 ** max(0, attempt)))
    # "Equal jitter": never shorter than half the nominal wait, yet spread so parallel retries
    # from many requests do not hit the server in lockstep.
    return (rng or random).uniform(nominal / 2, nominal)


class BackoffRetryMiddleware:
    """Retry transient HTTP statuses and network errors, waiting with backoff or ``Retry-After``."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.max_retry_times = settings.getint("RETRY_TIMES")
        self.retry_http_codes = {int(code) for code in settings.getlist("RETRY_HTTP_CODES")}
        self.priority_adjust = settings.getint("RETRY_PRIORITY_ADJUST")
        self.exceptions_to_retry: tuple[type[BaseException], ...] = tuple(
            load_object(path) for path in settings.getlist("RETRY_EXCEPTIONS")
        )
        self.backoff_base = settings.getfloat("REVIEWDESK_BACKOFF_BASE", 2.0)
        self.backoff_max = settings.getfloat("REVIEWDESK_BACKOFF_MAX", 120.0)
        self.retry_after_max = settings.getfloat("REVIEWDESK_RETRY_AFTER_MAX", 300.0)
        self.rng = random.Random()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        """Build from the crawler's settings."""
        return cls(crawler)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        """Retry a retryable status after a wait; otherwise pass the response on."""
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        reason = response_status_message(response.status)
        retry_after: float | None = None
        if response.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
            if retry_after is not None and retry_after > self.retry_after_max:
                # Waiting that long would stall the crawl; a later scheduled run is the better retry.
                message = (
                    f"HTTP {response.status} with Retry-After {retry_after:.0f}s, above the "
                    f"{self.retry_after_max:.0f}s cap (REVIEWDESK_RETRY_AFTER_MAX): not retried"
                )
                logger.warning("%s: %s", request.url, message)
                self._stats_inc("retry/retry_after_too_long")
                request.meta[GIVE_UP_META] = message
                return response
        retry = self._retry(request, reason)
        if retry is None:
            return response
        if not await self._wait(request, retry_after, reason):
            request.meta[GIVE_UP_META] = f"HTTP {response.status}: retry abandoned, the crawl is closing"
            return response
        return retry

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:
        """Retry a network error (timeout, refused, reset, data loss) after a backoff wait."""
        if request.meta.get("dont_retry", False) or not isinstance(exception, self.exceptions_to_retry):
            return None
        retry = self._retry(request, exception)
        if retry is None or not await self._wait(request, None, type(exception).__name__):
            return None
        return retry

    # -- helpers ----------------------------------------------------------------------------------

    def _retry(self, request: Request, reason: str | Exception) -> Request | None:
        spider = self.crawler.spider
        assert spider is not None
        return get_retry_request(
            request,
            spider=spider,
            reason=reason,
            max_retry_times=request.meta.get("max_retry_times", self.max_retry_times),
            priority_adjust=request.meta.get("priority_adjust", self.priority_adjust),
            logger=logger,
        )

    async def _wait(self, request: Request, retry_after: float | None, reason: str) -> bool:
        """Wait before a retry; False if the crawl started closing meanwhile (then do not retry)."""
        attempt = int(request.meta.get("retry_times", 0))
        delay = backoff_delay(attempt, self.backoff_base, self.backoff_max, self.rng)
        if retry_after is not None:
            # The server said when to come back: never earlier, and later only if our own backoff
            # already asks for more.
            delay = max(retry_after, delay)
            self._stats_inc("retry/retry_after_honoured")
        logger.info("Retrying %s in %.2fs (attempt %d, %s)", request.url, delay, attempt + 1, reason)
        started = time.monotonic()
        deadline = started + delay
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                # The engine waits for this request before it closes the spider: sleeping in short
                # steps lets Ctrl-C or CLOSESPIDER_TIMEOUT end the crawl without sitting out the wait.
                if self._closing():
                    self._stats_inc("retry/abandoned_on_close")
                    logger.info("Not retrying %s: the crawl is closing", request.url)
                    return False
                # A non-blocking sleep on the running reactor/event loop: the download slot is
                # already free, so other requests proceed while this one waits.
                await sleep(min(remaining, CLOSE_CHECK_INTERVAL))
        finally:
            self._stats_inc("reviewdesk/backoff_seconds", round(time.monotonic() - started, 3))
        return True

    def _closing(self) -> bool:
        try:
            engine = self.crawler.engine
        except RuntimeError:  # no engine yet: nothing is closing
            return False
        if engine is None:
            return False
        # ``_slot.closing`` is set by close_spider (e.g. CLOSESPIDER_*); ``running`` by a stop (Ctrl-C).
        slot = getattr(engine, "_slot", None)
        return not engine.running or getattr(slot, "closing", None) is not None

    def _stats_inc(self, key: str, count: Any = 1) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key, count)
