"""App Store feed: the page object over fixture folders, and a real crawl against a local server."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from httpfixtures import JSON, StaticServer, scrapy_crawl
from scrapy.http import TextResponse

from crawlers.errors import EmptyPage, LayoutChanged, PartialPage
from crawlers.parsers import ParsedPage
from crawlers.parsers.appstore import AppstoreFeedPage, feed_url, page_of, with_page
from crawlers.spiders.appstore import AppstoreSpider

FIXTURES = Path(__file__).parent / "fixtures" / "appstore"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "input.json").exists())
APP = "1234567890"
# Set to rewrite output.json from the current parser (then review the diff by hand).
UPDATE = bool(os.environ.get("REVIEWDESK_UPDATE_FIXTURES"))


def response_for(case: str, url: str | None = None) -> TextResponse:
    """A TextResponse built from a fixture folder, at the URL it was served from."""
    folder = FIXTURES / case
    meta = json.loads((folder / "meta.json").read_text())
    body = (folder / "input.json").read_bytes()
    return TextResponse(url=url or meta["url"], body=body, encoding="utf-8")


def as_json(parsed: ParsedPage) -> dict[str, Any]:
    """A ParsedPage as output.json stores it."""
    return {
        "items": [item.model_dump(mode="json") for item in parsed.items],
        "next_url": parsed.next_url,
        "page_number": parsed.page_number,
        "total_count": parsed.total_count,
        "warnings": parsed.warnings,
    }


@pytest.mark.parametrize("case", CASES)
def test_feed_page_matches_fixture(case: str) -> None:
    got = as_json(AppstoreFeedPage(response_for(case)).parse())
    expected_path = FIXTURES / case / "output.json"
    if UPDATE:
        expected_path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert got == json.loads(expected_path.read_text())


def test_fixture_cases_cover_the_documented_shapes() -> None:
    single = json.loads((FIXTURES / "single_entry" / "input.json").read_text())
    assert isinstance(single["feed"]["entry"], dict)
    first = json.loads((FIXTURES / "app_metadata_first" / "input.json").read_text())["feed"]["entry"][0]
    assert "im:name" in first and "im:rating" not in first
    assert "entry" not in json.loads((FIXTURES / "past_end" / "input.json").read_text())["feed"]


def test_next_url_keeps_host_and_json_format() -> None:
    # The feed's own next link is Apple's XML flavour on itunes.apple.com.
    local = "http://127.0.0.1:8123/us/rss/customerreviews/page=1/id=1234567890/sortby=mostrecent/json"
    parsed = AppstoreFeedPage(response_for("two_pages_p1", url=local)).parse()
    assert parsed.next_url == local.replace("page=1", "page=2")


def test_url_helpers() -> None:
    assert feed_url("https://itunes.apple.com/", "fr", "42", 3) == (
        "https://itunes.apple.com/fr/rss/customerreviews/page=3/id=42/sortby=mostrecent/json"
    )
    plain = "https://itunes.apple.com/us/rss/customerreviews/id=42/sortBy=mostRecent/json"
    assert with_page(plain, 2) == "https://itunes.apple.com/us/rss/customerreviews/page=2/id=42/sortBy=mostRecent/json"
    assert page_of(with_page(plain, 2)) == 2
    assert page_of(plain) is None


def _feed(entries: Any, links: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps({"feed": {"entry": entries, "link": links or []}}).encode()


def _link(rel: str, page: int) -> dict[str, Any]:
    href = f"https://itunes.apple.com/us/rss/customerreviews/page={page}/id=1/sortby=mostrecent/xml"
    return {"attributes": {"rel": rel, "href": href}}


def _entry(review_id: str, rating: str = "4", updated: str = "2025-01-02T03:04:05-07:00") -> dict[str, Any]:
    return {
        "id": {"label": review_id},
        "im:rating": {"label": rating},
        "updated": {"label": updated},
        "title": {"label": "t"},
        "content": {"label": "c", "attributes": {"type": "text"}},
        "author": {"name": {"label": "a"}},
    }


def _page(body: bytes, page: int = 1) -> AppstoreFeedPage:
    url = f"https://itunes.apple.com/us/rss/customerreviews/page={page}/id=1/sortby=mostrecent/json"
    return AppstoreFeedPage(TextResponse(url=url, body=body, encoding="utf-8"))


def test_unusable_entries_become_warnings() -> None:
    parsed = _page(_feed([_entry("1"), _entry("2", rating="0"), _entry("3", updated="yesterday")])).parse()
    assert [item.review_id for item in parsed.items] == ["1"]
    assert len(parsed.warnings) == 2
    assert "unusable rating" in parsed.warnings[0] and "unusable date" in parsed.warnings[1]


def test_no_page_after_the_tenth_or_after_last() -> None:
    assert _page(_feed([_entry("1")], [_link("next", 11), _link("last", 12)]), page=10).parse().next_url is None
    assert _page(_feed([_entry("1")], [_link("next", 4), _link("last", 3)]), page=3).parse().next_url is None
    # Without a next link, the last link alone tells there is more.
    nxt = _page(_feed([_entry("1")], [_link("last", 3)]), page=1).parse().next_url
    assert nxt is not None and page_of(nxt) == 2


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"", EmptyPage), (b'{"feed": {"entry": [', PartialPage), (b'{"error": "not found"}', LayoutChanged)],
)
def test_broken_pages_raise_named_errors(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        _page(body).parse()


def test_spider_arguments() -> None:
    spider = AppstoreSpider(app_id="id1234567890", country="GB")
    assert (
        spider.start_url
        == "https://itunes.apple.com/gb/rss/customerreviews/page=1/id=1234567890/sortby=mostrecent/json"
    )
    assert spider.allowed_domains == ["itunes.apple.com"]
    assert (spider.name, spider.platform) == ("appstore", "appstore")
    with pytest.raises(ValueError):
        AppstoreSpider(app_id="1", country="usa")
    with pytest.raises(ValueError):
        AppstoreSpider()


@pytest.mark.slow
def test_crawl_walks_every_feed_page(tmp_path: Path) -> None:
    pages = {1: "two_pages_p1", 2: "two_pages_p2", 3: "past_end"}
    with StaticServer() as server:
        for number, case in pages.items():
            server.add(
                f"/us/rss/customerreviews/page={number}/id={APP}/sortby=mostrecent/json",
                (FIXTURES / case / "input.json").read_bytes(),
                JSON,
            )
        out = tmp_path / "appstore.jsonl"
        result = scrapy_crawl("appstore", out, f"app_id={APP}", f"feed_base={server.base}", "source=tidewater-us")
        requested = list(server.requests)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [
        item
        for case in ("two_pages_p1", "two_pages_p2")
        for item in json.loads((FIXTURES / case / "output.json").read_text())["items"]
    ]
    assert [line["review_id"] for line in lines] == [item["review_id"] for item in expected]
    for line, item in zip(lines, expected, strict=True):
        assert isinstance(line["review_id"], str) and isinstance(line["rating"], float)
        assert line["source"] == "tidewater-us" and line["crawled_at"]
        assert line["page_url"].startswith(server.base)
        ignored = {"source", "page_url", "crawled_at"}
        assert {k: v for k, v in line.items() if k not in ignored} == {
            k: v for k, v in item.items() if k not in ignored
        }
    # Page 2 is the last one: the crawl ends there without asking for page 3.
    assert [path for path in requested if "customerreviews" in path] == [
        f"/us/rss/customerreviews/page={n}/id={APP}/sortby=mostrecent/json" for n in (1, 2)
    ]
    manifest = json.loads(Path(f"{out}.meta.json").read_text())
    assert manifest["complete"] is True and manifest["pages"] == 2 and manifest["errors"] == []
