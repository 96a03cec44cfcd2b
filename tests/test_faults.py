"""Fault injection: the real trustpilot spider against a misbehaving local server, plus retry unit tests.

Every crawl runs ``scrapy crawl trustpilot`` in a subprocess (as production does) and checks three
things: the process did not crash, the feed holds exactly the complete reviews expected, and the run
manifest tells ingest the truth about completeness and errors. The crawls run in parallel once per
module, so the whole file takes about as long as its slowest fault.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from faultserver import (
    FaultServer,
    Reply,
    iter_lines,
    layout_changed_page,
    make_review,
    review_id,
    review_page,
    truncated_page,
    with_raw_bytes,
)
from scrapy import Spider
from scrapy.exceptions import DownloadTimeoutError, IgnoreRequest
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from crawlers.middlewares import GIVE_UP_META, BackoffRetryMiddleware, backoff_delay, parse_retry_after

ROOT = Path(__file__).resolve().parents[1]

# Short timeouts and backoffs keep the module quick; RETRY_TIMES=2 means three attempts in all.
DOWNLOAD_TIMEOUT = 2
RETRY_TIMES = 2
CRAWL_SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "0",
    "DOWNLOAD_TIMEOUT": str(DOWNLOAD_TIMEOUT),
    "REVIEWDESK_BACKOFF_BASE": "0.1",
    "REVIEWDESK_BACKOFF_MAX": "0.5",
    "REVIEWDESK_RETRY_AFTER_MAX": "5",
    "RETRY_TIMES": str(RETRY_TIMES),
    "TELNETCONSOLE_ENABLED": "0",
    "REMOTE_CONTROL_ENABLED": "0",
    "LOG_LEVEL": "INFO",
}
CRAWL_TIMEOUT = 40

RAW_MARKER = "@@RAW_BYTES@@"
# cp1252 "é", "ï", curly quotes, then bytes that are invalid UTF-8 (a broken 2-byte sequence, 0xFF).
RAW_BYTES = b"caf\xe9 na\xefve \x93quoted\x94 broken:\xc3\x28\xff"
HUGE_TEXT = "All work and no play makes Jack a dull boy. " * (5_000_000 // 44 + 1)
MARKUP_TEXTS = [
    "<script>alert(1)</script> stole my card",
    "This is <b>html</b> & more",
    "[bold]x[/bold] [link=https://evil.example]click[/link]",
]


@dataclass
class Case:
    """One fault: how the server answers a path, and the crawl's extra settings."""

    replies: list[Reply]
    reviews: int = 0
    settings: dict[str, str] = field(default_factory=dict)
    robots_blocked: bool = False


@dataclass
class Crawl:
    """What a finished crawl left behind."""

    returncode: int
    items: list[dict[str, Any]]
    manifest: dict[str, Any]
    log: str
    hits: list[float]
    seconds: float

    def error_kinds(self) -> list[str]:
        """Kinds of the errors the manifest recorded."""
        return [error["kind"] for error in self.manifest.get("errors", [])]


def _page(tag: str, count: int = 3, texts: list[str] | None = None, json_ld: bool = True) -> bytes:
    reviews = [make_review(tag, n, text) for n, text in enumerate(texts or [None] * count)]
    return review_page(reviews, json_ld=json_ld).encode("utf-8")


def _truncated(tag: str, json_ld: bool = True) -> bytes:
    return truncated_page(_page(tag, json_ld=json_ld).decode()).encode()


def _raw_page(tag: str) -> bytes:
    return with_raw_bytes(review_page([make_review(tag, 0, f"Nice {RAW_MARKER} end")]), RAW_MARKER, RAW_BYTES)


def _cases() -> dict[str, Case]:
    slow = Reply(body=b"<html></html>", delay=DOWNLOAD_TIMEOUT + 2)
    return {
        "ok": Case([Reply(body=_page("ok"))], reviews=3),
        "retry_after_429": Case(
            [Reply(429, headers={"Retry-After": "2"}), Reply(body=_page("retry_after_429"))], reviews=3
        ),
        "retry_after_date_503": Case(
            [Reply(503, retry_after_date=2), Reply(body=_page("retry_after_date_503"))], reviews=3
        ),
        "retry_after_over_cap": Case([Reply(429, headers={"Retry-After": "3600"})]),
        "closing_during_wait": Case(
            [Reply(429, headers={"Retry-After": "60"})],
            settings={"REVIEWDESK_RETRY_AFTER_MAX": "120", "CLOSESPIDER_TIMEOUT": "1"},
        ),
        "autothrottle_429": Case(
            [Reply(429, headers={"Retry-After": "1"}), Reply(body=_page("autothrottle_429"))],
            reviews=3,
            settings={"AUTOTHROTTLE_ENABLED": "1", "AUTOTHROTTLE_START_DELAY": "0.2", "AUTOTHROTTLE_DEBUG": "1"},
        ),
        "error_500_then_ok": Case([Reply(500), Reply(body=_page("error_500_then_ok"))], reviews=3),
        "always_500": Case([Reply(500)]),
        "timeout": Case([slow]),
        "timeout_then_ok": Case([slow, Reply(body=_page("timeout_then_ok"))], reviews=3),
        "reset_then_ok": Case([Reply(action="reset"), Reply(body=_page("reset_then_ok"))], reviews=3),
        "always_reset": Case([Reply(action="reset")]),
        "data_loss": Case([Reply(body=_page("data_loss"), action="short_body")]),
        "truncated": Case([Reply(body=_truncated("truncated"))]),
        "truncated_then_ok": Case(
            [Reply(body=_truncated("truncated_then_ok")), Reply(body=_page("truncated_then_ok"))], reviews=3
        ),
        # Without the schema.org copy the parser has nothing to fall back on: the spider's own
        # PartialPage retry is what is tested here.
        "truncated_no_ld": Case([Reply(body=_truncated("truncated_no_ld", json_ld=False))]),
        "truncated_no_ld_then_ok": Case(
            [
                Reply(body=_truncated("truncated_no_ld_then_ok", json_ld=False)),
                Reply(body=_page("truncated_no_ld_then_ok", json_ld=False)),
            ],
            reviews=3,
        ),
        "empty": Case([Reply(body=b"")]),
        "layout_changed": Case([Reply(body=layout_changed_page().encode())]),
        "bytes_utf8_header": Case([Reply(body=_raw_page("bytes_utf8_header"))], reviews=1),
        "bytes_no_charset": Case([Reply(body=_raw_page("bytes_no_charset"), content_type="text/html")], reviews=1),
        "bytes_cp1252_header": Case(
            [Reply(body=_raw_page("bytes_cp1252_header"), content_type="text/html; charset=windows-1252")],
            reviews=1,
        ),
        "huge_review": Case([Reply(body=_page("huge_review", texts=[HUGE_TEXT, "short one"]))], reviews=2),
        "markup": Case([Reply(body=_page("markup", texts=MARKUP_TEXTS))], reviews=3),
        "robots_disallowed": Case([Reply(body=_page("robots_disallowed"))], robots_blocked=True),
    }


def _path(name: str) -> str:
    # Trustpilot-shaped URLs, so the spider meets the paths it expects in production.
    return f"/review/{name.replace('_', '-')}.example.com"


def _run_crawl(url: str, out: Path, settings: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    args = [sys.executable, "-m", "scrapy", "crawl", "trustpilot", "-a", f"start_url={url}", "-O", str(out)]
    for key, value in {**CRAWL_SETTINGS, **settings}.items():
        args += ["-s", f"{key}={value}"]
    started = time.monotonic()
    try:
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=CRAWL_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        # A hung crawl fails its own test (returncode -1), not the whole module's fixture.
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        done = subprocess.CompletedProcess(args, -1, "", f"crawl timed out after {CRAWL_TIMEOUT}s\n{stderr}")
    return done, time.monotonic() - started


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Crawl]:
    """Run every fault case's crawl once, in parallel, against two fault servers."""
    cases = _cases()
    out_dir = tmp_path_factory.mktemp("fault_feeds")
    blocked = [_path(name) for name, case in cases.items() if case.robots_blocked]
    with FaultServer() as server, FaultServer(robots_disallow=blocked) as strict_server:
        jobs: dict[str, tuple[FaultServer, str]] = {}
        for name, case in cases.items():
            host = strict_server if case.robots_blocked else server
            jobs[name] = (host, host.route(_path(name), *case.replies))
        # Slow cases first so they overlap with everything else; two CPUs run the rest meanwhile.
        order = sorted(cases, key=lambda name: name not in {"timeout", "timeout_then_ok", "closing_during_wait"})
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = {
                name: pool.submit(_run_crawl, jobs[name][1], out_dir / f"{name}.jsonl", cases[name].settings)
                for name in order
            }
            results: dict[str, Crawl] = {}
            for name, future in futures.items():
                done, seconds = future.result()
                out = out_dir / f"{name}.jsonl"
                meta = Path(f"{out}.meta.json")
                results[name] = Crawl(
                    returncode=done.returncode,
                    items=list(iter_lines(out)) if out.exists() else [],
                    manifest=json.loads(meta.read_text()) if meta.exists() else {},
                    log=done.stderr,
                    hits=jobs[name][0].hits(_path(name)),
                    seconds=seconds,
                )
    return results


def _check(crawl: Crawl, tag: str, reviews: int, complete: bool) -> None:
    """Common assertions: no crash, exactly the expected whole items, an honest manifest."""
    assert crawl.returncode == 0, crawl.log[-3000:]
    assert "Traceback" not in crawl.log, crawl.log[-3000:]
    assert crawl.manifest, "no manifest written"
    assert sorted(item["review_id"] for item in crawl.items) == sorted(review_id(tag, n) for n in range(reviews))
    for item in crawl.items:
        # Never a degraded item: every field the page's review data holds made it into the feed
        # (make_review fills all of these; the schema.org copy lacks country and experienced date).
        assert item["platform"] == "trustpilot" and item["rating"] and item["published_at"]
        assert item["author_name"] and item["author_country"] == "GB" and item["experienced_at"], item
    assert crawl.manifest["items"] == reviews
    assert crawl.manifest["complete"] is complete, crawl.manifest
    if complete:
        assert crawl.manifest["errors"] == []


def _gaps(hits: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(hits)]


# -- end-to-end faults --------------------------------------------------------------------------


@pytest.mark.slow
def test_healthy_page_is_complete(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["ok"]
    _check(crawl, "ok", 3, complete=True)
    assert crawl.manifest["retries"] == 0
    assert len(crawl.hits) == 1


@pytest.mark.slow
def test_429_waits_for_retry_after_seconds(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["retry_after_429"]
    _check(crawl, "retry_after_429", 3, complete=True)
    assert len(crawl.hits) == 2
    # Retry-After: 2 was honoured (a little slack for timer granularity), not the 0.1 s backoff.
    assert _gaps(crawl.hits)[0] >= 1.9
    assert crawl.manifest["retries"] == 1
    assert crawl.manifest["status_counts"] == {"429": 1, "200": 2}  # page + robots.txt


@pytest.mark.slow
def test_503_waits_for_retry_after_http_date(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["retry_after_date_503"]
    _check(crawl, "retry_after_date_503", 3, complete=True)
    assert len(crawl.hits) == 2
    # An HTTP-date has whole-second resolution: "now + 2 s" may mean anything above 1 s from now.
    assert _gaps(crawl.hits)[0] >= 0.9


@pytest.mark.slow
def test_retry_after_above_cap_gives_up_at_once(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["retry_after_over_cap"]
    _check(crawl, "retry_after_over_cap", 0, complete=False)
    assert len(crawl.hits) == 1
    assert crawl.manifest["retries"] == 0
    [error] = crawl.manifest["errors"]
    assert error["kind"] == "http_error"
    assert "Retry-After 3600" in error["message"] and "cap" in error["message"]


@pytest.mark.slow
def test_closing_crawl_does_not_sit_out_a_retry_wait(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["closing_during_wait"]
    _check(crawl, "closing_during_wait", 0, complete=False)
    assert len(crawl.hits) == 1
    # CLOSESPIDER_TIMEOUT=1 ended the run long before the 60 s Retry-After was up.
    assert crawl.seconds < 30
    assert crawl.manifest["finish_reason"] == "closespider_timeout"
    assert any("abandoned" in error["message"] for error in crawl.manifest["errors"])


@pytest.mark.slow
def test_autothrottle_still_adjusts_with_retries(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["autothrottle_429"]
    _check(crawl, "autothrottle_429", 3, complete=True)
    assert _gaps(crawl.hits)[0] >= 0.9
    assert "slot:" in crawl.log  # AUTOTHROTTLE_DEBUG lines: the extension saw the responses


@pytest.mark.slow
def test_transient_500_is_retried(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["error_500_then_ok"]
    _check(crawl, "error_500_then_ok", 3, complete=True)
    assert crawl.manifest["retries"] == 1
    assert len(crawl.hits) == 2


@pytest.mark.slow
def test_permanent_500_is_an_http_error(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["always_500"]
    _check(crawl, "always_500", 0, complete=False)
    assert len(crawl.hits) == 1 + RETRY_TIMES
    [error] = crawl.manifest["errors"]
    assert error["kind"] == "http_error" and "500" in error["message"]
    assert crawl.manifest["status_counts"]["500"] == 1 + RETRY_TIMES


@pytest.mark.slow
def test_timeout_is_a_download_error(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["timeout"]
    _check(crawl, "timeout", 0, complete=False)
    assert len(crawl.hits) == 1 + RETRY_TIMES
    [error] = crawl.manifest["errors"]
    assert error["kind"] == "download_error" and "DownloadTimeoutError" in error["message"]


@pytest.mark.slow
def test_timeout_then_ok_recovers(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["timeout_then_ok"]
    _check(crawl, "timeout_then_ok", 3, complete=True)
    assert crawl.manifest["retries"] == 1


@pytest.mark.slow
def test_connection_reset_then_ok_recovers(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["reset_then_ok"]
    _check(crawl, "reset_then_ok", 3, complete=True)
    assert crawl.manifest["retries"] == 1
    assert len(crawl.hits) == 2


@pytest.mark.slow
def test_persistent_connection_reset_is_a_download_error(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["always_reset"]
    _check(crawl, "always_reset", 0, complete=False)
    assert len(crawl.hits) == 1 + RETRY_TIMES
    assert crawl.error_kinds() == ["download_error"]
    assert "ConnectionLost" in crawl.manifest["errors"][0]["message"]


@pytest.mark.slow
def test_short_body_is_retried_then_a_download_error(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["data_loss"]
    _check(crawl, "data_loss", 0, complete=False)
    assert len(crawl.hits) == 1 + RETRY_TIMES
    assert crawl.error_kinds() == ["download_error"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["truncated", "truncated_no_ld"])
def test_truncated_page_is_refetched_then_reported(crawls: dict[str, Crawl], name: str) -> None:
    # With or without the schema.org copy in <head>, a cut-off page is retried, never read half.
    crawl = crawls[name]
    _check(crawl, name, 0, complete=False)
    assert crawl.error_kinds() == ["partial_page"]
    # The spider re-fetched the truncated page (partial_page_retries=2) before giving up.
    assert len(crawl.hits) == 3


@pytest.mark.slow
@pytest.mark.parametrize("name", ["truncated_then_ok", "truncated_no_ld_then_ok"])
def test_truncated_page_then_whole_page_recovers(crawls: dict[str, Crawl], name: str) -> None:
    crawl = crawls[name]
    _check(crawl, name, 3, complete=True)
    assert len(crawl.hits) == 2


@pytest.mark.slow
def test_empty_body_is_refetched_then_an_error(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["empty"]
    _check(crawl, "empty", 0, complete=False)
    assert crawl.error_kinds() == ["EmptyPage"]
    # An empty body may be a hiccup: fetched again twice before the source is reported.
    assert len(crawl.hits) == 3


@pytest.mark.slow
def test_changed_layout_is_reported(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["layout_changed"]
    _check(crawl, "layout_changed", 0, complete=False)
    assert crawl.error_kinds() == ["LayoutChanged"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bytes_utf8_header", "bytes_no_charset"])
def test_invalid_utf8_is_decoded_with_replacement(crawls: dict[str, Crawl], name: str) -> None:
    crawl = crawls[name]
    _check(crawl, name, 1, complete=True)
    text = crawl.items[0]["text"]
    assert text.startswith("Nice caf") and text.endswith(" end")
    assert "\ufffd" in text


@pytest.mark.slow
def test_declared_cp1252_is_decoded_exactly(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["bytes_cp1252_header"]
    _check(crawl, "bytes_cp1252_header", 1, complete=True)
    assert crawl.items[0]["text"] == "Nice café naïve “quoted” broken:Ã(ÿ end"


@pytest.mark.slow
def test_huge_review_is_stored_whole(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["huge_review"]
    _check(crawl, "huge_review", 2, complete=True)
    texts = {item["review_id"]: item["text"] for item in crawl.items}
    assert texts[review_id("huge_review", 0)] == HUGE_TEXT
    assert texts[review_id("huge_review", 1)] == "short one"


@pytest.mark.slow
def test_markup_in_reviews_stays_literal_text(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["markup"]
    _check(crawl, "markup", 3, complete=True)
    texts = {item["review_id"]: item["text"] for item in crawl.items}
    assert [texts[review_id("markup", n)] for n in range(3)] == MARKUP_TEXTS


@pytest.mark.slow
def test_robots_disallow_is_obeyed(crawls: dict[str, Crawl]) -> None:
    crawl = crawls["robots_disallowed"]
    _check(crawl, "robots_disallowed", 0, complete=False)
    assert crawl.hits == []
    assert crawl.error_kinds() == ["robots_txt"]
    assert "robots.txt" in crawl.manifest["errors"][0]["message"]


# -- middleware unit tests (no subprocess) ------------------------------------------------------


def test_parse_retry_after_forms() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(b" 7 ") == 7
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    # A date in the past means "retry now", never a negative wait.
    assert parse_retry_after("Sat, 01 Mar 2025 11:00:00 GMT", now=now) == 0
    for unusable in (None, "", "soon", "-5", "nan", "inf"):
        assert parse_retry_after(unusable) is None


def test_backoff_grows_with_jitter_and_cap() -> None:
    rng = random.Random(1)
    for attempt in range(8):
        nominal = min(10.0, 0.5 * 2**attempt)
        delays = [backoff_delay(attempt, 0.5, 10.0, rng) for _ in range(50)]
        assert all(nominal / 2 <= delay <= nominal for delay in delays)
        assert len(set(delays)) > 1  # jittered


def _middleware(**settings: Any) -> BackoffRetryMiddleware:
    crawler = get_crawler(
        Spider,
        {
            "RETRY_TIMES": 2,
            "REVIEWDESK_BACKOFF_BASE": 0.01,
            "REVIEWDESK_BACKOFF_MAX": 0.05,
            "REVIEWDESK_RETRY_AFTER_MAX": 1,
            **settings,
        },
    )
    crawler.spider = Spider.from_crawler(crawler, name="unit")
    crawler.stats.open_spider()
    return BackoffRetryMiddleware.from_crawler(crawler)


def _response(request: Request, status: int, headers: dict[str, str] | None = None) -> HtmlResponse:
    return HtmlResponse(request.url, status=status, headers=headers, body=b"", request=request)


def test_middleware_honours_retry_after_without_blocking() -> None:
    middleware = _middleware()
    request = Request("http://127.0.0.1/review/x")

    async def scenario() -> tuple[Any, float, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        result = await middleware.process_response(request, _response(request, 429, {"Retry-After": "0.3"}))
        elapsed = time.monotonic() - started
        task.cancel()
        return result, elapsed, ticks

    result, elapsed, ticks = asyncio.run(scenario())
    assert isinstance(result, Request) and result.meta["retry_times"] == 1
    assert elapsed >= 0.3
    # The event loop kept running other work during the wait: the sleep is not time.sleep.
    assert ticks >= 5
    stats = middleware.crawler.stats
    assert stats.get_value("retry/count") == 1
    assert stats.get_value("reviewdesk/backoff_seconds") >= 0.3


def test_middleware_gives_up_on_long_retry_after_and_after_retry_times() -> None:
    middleware = _middleware()
    request = Request("http://127.0.0.1/review/x")
    response = _response(request, 503, {"Retry-After": "60"})
    assert asyncio.run(middleware.process_response(request, response)) is response
    assert "Retry-After 60s" in request.meta[GIVE_UP_META]

    request = Request("http://127.0.0.1/review/y", meta={"retry_times": 2})
    response = _response(request, 500)
    assert asyncio.run(middleware.process_response(request, response)) is response
    assert middleware.crawler.stats.get_value("retry/max_reached") == 1

    request = Request("http://127.0.0.1/review/z")
    not_found = _response(request, 404)
    assert asyncio.run(middleware.process_response(request, not_found)) is not_found


def test_middleware_retries_network_errors_only() -> None:
    middleware = _middleware()
    request = Request("http://127.0.0.1/review/x")
    retry = asyncio.run(middleware.process_exception(request, DownloadTimeoutError("slow")))
    assert isinstance(retry, Request) and retry.dont_filter
    assert asyncio.run(middleware.process_exception(request, IgnoreRequest("robots"))) is None
    no_retry = Request("http://127.0.0.1/review/x", meta={"dont_retry": True})
    assert asyncio.run(middleware.process_exception(no_retry, DownloadTimeoutError("slow"))) is None
