"""The bundled demo site: pages, pagination, escaping, and real `scrapy crawl trustpilot` runs against it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawlers.parsers.trustpilot import TrustpilotPage
from reviewdesk.demo_site import DemoSite, load_companies, new_review_id
from reviewdesk.demo_site.server import reviews_for_day

ROOT = Path(__file__).resolve().parents[1]
COMPANIES = {"beautytheshop.com": "2024", "djmania.es": "2024", "burgerking.no": "2025", "twenix.es": "2025"}


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    """The demo site on a free port, as it is on day 0."""
    with DemoSite() as demo:
        yield demo


def fetch(url: str) -> tuple[int, str]:
    """Status and body of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def walk(start_url: str) -> list[tuple[str, str]]:
    """Every listing page from the first, following the parser's next_url: (url, body)."""
    pages, url = [], start_url
    while url:
        status, body = fetch(url)
        assert status == 200, url
        pages.append((url, body))
        url = TrustpilotPage(url, body).parse().next_url
        assert len(pages) < 50
    return pages


def crawl(start_url: str, out: Path, *args: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the real `scrapy crawl trustpilot` and return its feed lines and run manifest."""
    command = [
        sys.executable, "-m", "scrapy", "crawl", "trustpilot", "-a", f"start_url={start_url}", "-O", str(out),
        "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "TELNETCONSOLE_ENABLED=0", *args,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    manifest = json.loads(Path(f"{out}.meta.json").read_text())
    return lines, manifest


def test_index_robots_and_not_found(site: DemoSite) -> None:
    assert site.url.startswith("http://127.0.0.1:")
    status, index = fetch(site.url + "/")
    assert status == 200
    for slug in COMPANIES:
        assert f'href="/review/{slug}"' in index
    assert fetch(site.url + "/robots.txt") == (200, "User-agent: *\nAllow: /\n")
    for path in ("/nope", "/review/unknown.example", "/review/twenix.es?page=99", "/review/twenix.es?page=0",
                 "/review/twenix.es?page=abc", "/review/twenix.es/extra"):  # fmt: skip
        assert fetch(site.url + path)[0] == 404, path


@pytest.mark.parametrize("slug", sorted(COMPANIES))
def test_pagination_serves_every_review_once_in_the_company_layout(site: DemoSite, slug: str) -> None:
    pages = walk(site.company_url(slug))
    expected = [review["id"] for review in site.reviews(slug)]
    assert len(pages) == -(-len(expected) // site.per_page) > 1
    seen: list[str] = []
    for number, (url, body) in enumerate(pages, start=1):
        parsed = TrustpilotPage(url, body).parse()
        assert parsed.warnings == []
        assert parsed.page_number == number
        assert parsed.total_count == len(expected)
        assert 0 < len(parsed.items) <= site.per_page
        seen += [item.review_id for item in parsed.items]
        # Same reviews in the JSON-LD list as in the page state.
        ld_ids = re.findall(r'"@type":"Review","@id":"[^"]*/schema/Review/[^"/]*/([0-9a-f]+)"', body)
        assert ld_ids == [item.review_id for item in parsed.items]
        last = number == len(pages)
        next_href = f'/review/{slug}?page={number + 1}"'
        assert (next_href in body) is not last
        # The 2025 layout announces the next page in <head>; the 2024 layout only in its links.
        link_next = re.search(r'<link rel="next" href="([^"]+)"', body)
        if COMPANIES[slug] == "2025" and not last:
            assert link_next and link_next.group(1) == f"{site.url}/review/{slug}?page={number + 1}"
        else:
            assert link_next is None
        assert ("businessunitprofile-consumersite-2.754" in body) is (COMPANIES[slug] == "2024")
    assert seen == expected
    dates = [review["dates"]["publishedDate"] for review in site.reviews(slug)]
    assert dates == sorted(dates, reverse=True)


def test_day_one_has_a_new_and_an_edited_review_and_escapes_markup() -> None:
    with DemoSite(day=1) as later:
        slug = "twenix.es"
        url = later.company_url(slug)
        _, body = fetch(url)
        items = TrustpilotPage(url, body).parse().items
        assert items[0].review_id == new_review_id(slug)
        assert "<script>alert(" in items[0].text and "</script><!--" in items[0].text
        assert items[0].title == "Waiting for my <b>refund</b>"
        day0 = reviews_for_day(load_companies()[slug], 0)
        assert items[1].review_id == day0[0]["id"]
        assert items[1].updated_at is not None and items[1].text.startswith(day0[0]["text"])
        assert items[1].text != day0[0]["text"]
        # The hostile text must not end any <script> element early.
        assert body.count("<script") == body.count("</script>")
        assert "<script>alert" not in body and "&lt;script&gt;alert(" in body
        # And the JSON-LD copy carries the same literal text.
        ld_only = re.sub(r'<script id="__NEXT_DATA__".*?</script>', "", body, flags=re.S)
        assert TrustpilotPage(url, ld_only).parse().items[0].text == items[0].text


@pytest.mark.slow
@pytest.mark.parametrize("slug", ["djmania.es", "burgerking.no"])
def test_scrapy_crawl_gets_every_review_exactly_once(site: DemoSite, slug: str, tmp_path: Path) -> None:
    lines, manifest = crawl(site.company_url(slug), tmp_path / "out.jsonl")
    expected = {review["id"]: float(review["rating"]) for review in site.reviews(slug)}
    assert sorted(line["review_id"] for line in lines) == sorted(expected)
    assert {line["review_id"]: line["rating"] for line in lines} == expected
    assert all(line["platform"] == "trustpilot" and line["source"] == "trustpilot" for line in lines)
    assert all(line["url"].startswith(f"{site.url}/reviews/") for line in lines)
    assert manifest["complete"] is True and manifest["errors"] == []
    assert manifest["pages"] == -(-len(expected) // site.per_page)


@pytest.mark.slow
def test_scrapy_crawl_max_pages_stops_after_one_page(site: DemoSite, tmp_path: Path) -> None:
    lines, manifest = crawl(site.company_url("beautytheshop.com"), tmp_path / "out.jsonl", "-a", "max_pages=1")
    assert [line["review_id"] for line in lines] == [r["id"] for r in site.reviews("beautytheshop.com")[:8]]
    assert manifest["pages"] == 1
    assert manifest["stop_reason"] == "page limit 1 reached"
    assert manifest["complete"] is False


@pytest.mark.slow
def test_scrapy_crawl_incremental_stops_at_known_reviews(site: DemoSite, tmp_path: Path) -> None:
    slug = "twenix.es"
    known = tmp_path / "known.txt"
    known.write_text("\n".join(review["id"] for review in site.reviews(slug)) + "\n")
    with DemoSite(day=1) as later:
        lines, manifest = crawl(
            later.company_url(slug), tmp_path / "out.jsonl", "-a", f"known_ids={known}", "-a", "overlap=3"
        )
    ids = [line["review_id"] for line in lines]
    assert ids[0] == new_review_id(slug)
    assert len(ids) == later.per_page  # page 1 only
    assert manifest["pages"] == 1
    assert manifest["stop_reason"].startswith("reached") and manifest["complete"] is False
    edited = lines[1]
    assert edited["updated_at"] is not None and "Update:" in edited["text"]
    assert lines[0]["text"].startswith("Still no refund") and "<script>" in lines[0]["text"]
