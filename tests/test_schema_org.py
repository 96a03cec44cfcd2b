"""Generic schema.org reviews: the page object over fixture folders, and real crawls of a local site."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from httpfixtures import XML, StaticServer, scrapy_crawl
from scrapy.http import HtmlResponse

from crawlers.errors import EmptyPage, ExtractionError, PartialPage
from crawlers.parsers.schema_org import SchemaOrgPage, normalise_rating, parse_date
from crawlers.spiders.schema_org import SchemaOrgSpider, read_urls

FIXTURES = Path(__file__).parent / "fixtures" / "schema_org"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "input.html").exists())
# Set to rewrite output.json from the current parser (then review the diff by hand).
UPDATE = bool(os.environ.get("REVIEWDESK_UPDATE_FIXTURES"))


def response_for(case: str, url: str | None = None) -> HtmlResponse:
    """An HtmlResponse built from a fixture folder, at the URL it was saved from."""
    folder = FIXTURES / case
    meta = json.loads((folder / "meta.json").read_text())
    return HtmlResponse(url=url or meta["url"], body=(folder / "input.html").read_bytes(), encoding="utf-8")


def page_html(body: str, head: str = "") -> HtmlResponse:
    """A response for an inline test page."""
    html = f"<html lang='en'><head>{head}</head><body>{body}</body></html>"
    return HtmlResponse(url="https://site.example/reviews", body=html.encode(), encoding="utf-8")


def jsonld(data: Any) -> str:
    """A JSON-LD script element."""
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def as_json(page: SchemaOrgPage) -> dict[str, Any]:
    """What a page yields, as output.json stores it (or the name of the error it raises)."""
    try:
        parsed = page.parse()
    except ExtractionError as exc:
        return {"error": type(exc).__name__}
    aggregate = page.aggregate_rating()
    return {
        "items": [item.model_dump(mode="json") for item in parsed.items],
        "next_url": parsed.next_url,
        "total_count": parsed.total_count,
        "aggregate_rating": aggregate.__dict__ if aggregate else None,
        "warnings": parsed.warnings,
    }


def expected(case: str) -> dict[str, Any]:
    """The case's output.json."""
    return json.loads((FIXTURES / case / "output.json").read_text())


@pytest.mark.parametrize("case", CASES)
def test_page_matches_fixture(case: str) -> None:
    got = as_json(SchemaOrgPage(response_for(case)))
    if UPDATE:
        (FIXTURES / case / "output.json").write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert got == expected(case)


def test_fixtures_cover_the_cases() -> None:
    outputs = {case: expected(case) for case in CASES}
    syntaxes = {item["extra"]["syntax"] for out in outputs.values() for item in out.get("items", [])}
    assert syntaxes == {"json-ld", "microdata", "rdfa"}
    assert outputs["no_markup"] == {"error": "LayoutChanged"}
    assert outputs["empty_body"] == {"error": "EmptyPage"}
    assert outputs["rel_next_page1"]["next_url"] == "https://localguide.example/reviews/acme-plumbing?page=2"
    assert [item["rating"] for item in outputs["ten_point_scale"]["items"]] == [4.1, 4.2, 1.4]
    djmania = outputs["trustpilot_djmania_2025"]
    assert len(djmania["items"]) == 4 and djmania["aggregate_rating"]["review_count"] == 194
    assert {item["author_name"] for item in djmania["items"]} == {f"Reviewer {n}" for n in range(1, 5)}


@pytest.mark.parametrize(
    ("value", "best", "worst", "rating"),
    [
        ("4", None, None, 4.0),
        (8, 10, 0, 4.2),
        ("8", "10", None, 4.1),  # schema.org's worstRating defaults to 1
        ("4,5", "5", "1", 4.5),
        (0, 5, 0, 1.0),
        (100, 100, 0, 5.0),
    ],
)
def test_normalise_rating(value: Any, best: Any, worst: Any, rating: float) -> None:
    assert normalise_rating(value, best, worst) == rating


@pytest.mark.parametrize(("value", "best", "worst"), [("6", None, None), ("x", None, None), (3, 5, 5), (0, None, None)])
def test_unusable_ratings_are_rejected(value: Any, best: Any, worst: Any) -> None:
    with pytest.raises(ValueError):
        normalise_rating(value, best, worst)


def test_parse_date_forms() -> None:
    assert parse_date("2025-01-30") == datetime(2025, 1, 30, tzinfo=UTC)
    assert parse_date("2025-04-30T11:15:13.000Z") == datetime(2025, 4, 30, 11, 15, 13, tzinfo=UTC)
    assert parse_date("2025-03-02T17:20:00+01:00") == datetime(2025, 3, 2, 16, 20, tzinfo=UTC)
    assert parse_date("March 2, 2025") == datetime(2025, 3, 2, tzinfo=UTC)
    assert parse_date("last week") is None
    assert parse_date(None) is None


def _review(**overrides: Any) -> dict[str, Any]:
    data = {
        "@type": "Review",
        "author": {"@type": "Person", "name": "A"},
        "datePublished": "2025-01-01",
        "reviewBody": "Fine.",
        "reviewRating": {"@type": "Rating", "ratingValue": "4"},
    }
    data.update(overrides)
    return data


def test_an_id_shared_by_several_reviews_identifies_none() -> None:
    # Some shops put the product URL into every review's "url".
    reviews = [_review(url="/reviews", reviewBody="One"), _review(url="/reviews", reviewBody="Two")]
    items = SchemaOrgPage(page_html(jsonld({"@context": "https://schema.org", "@graph": reviews}))).parse().items
    assert len(items) == 2 and len({item.review_id for item in items}) == 2
    assert all(len(item.review_id) == 40 for item in items)


def test_the_same_review_in_two_syntaxes_is_one_review() -> None:
    microdata = """<div itemscope itemtype="https://schema.org/Review" itemid="https://site.example/r/1">
      <span itemprop="author">A</span><meta itemprop="datePublished" content="2025-01-01">
      <div itemprop="reviewRating" itemscope itemtype="https://schema.org/Rating">
      <meta itemprop="ratingValue" content="4"></div><p itemprop="reviewBody">Fine.</p></div>"""
    head = jsonld({"@context": "https://schema.org", **_review(**{"@id": "https://site.example/r/1"})})
    items = SchemaOrgPage(page_html(microdata, head)).parse().items
    assert [item.review_id for item in items] == ["https://site.example/r/1"]


def test_hash_id_is_stable_and_language_falls_back_to_the_page() -> None:
    html = jsonld({"@context": "https://schema.org", **_review()})
    first, second = (SchemaOrgPage(page_html(html)).parse().items[0] for _ in range(2))
    assert first.review_id == second.review_id
    assert first.language == "en" and first.author_name == "A"


def test_relative_id_is_made_absolute() -> None:
    html = jsonld({"@context": "https://schema.org", **_review(**{"@id": "#r3"})})
    assert SchemaOrgPage(page_html(html)).parse().items[0].review_id == "https://site.example/reviews#r3"


def test_broken_json_ld_is_salvaged_or_partial() -> None:
    good = jsonld({"@context": "https://schema.org", **_review()})
    broken = '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Rev</script>'
    parsed = SchemaOrgPage(page_html("", good + broken)).parse()
    assert len(parsed.items) == 1 and "not valid JSON" in parsed.warnings[0]
    with pytest.raises(PartialPage):
        SchemaOrgPage(page_html("", broken)).parse()


def test_link_rel_next_and_aggregate_only_pages() -> None:
    product = {"@context": "https://schema.org", "@type": "Product", "name": "P"}
    rated = {**product, "aggregateRating": {"@type": "AggregateRating", "ratingValue": 4.4, "ratingCount": 9}}
    page = SchemaOrgPage(page_html("", jsonld(rated) + '<link rel="next" href="?page=2">'))
    parsed = page.parse()
    assert parsed.items == [] and parsed.warnings == [] and parsed.total_count == 9
    assert parsed.next_url == "https://site.example/reviews?page=2"
    assert page.aggregate_rating() is not None and page.aggregate_rating().rating_value == 4.4
    # schema.org markup without any review data: empty, with a warning rather than an error.
    assert SchemaOrgPage(page_html("", jsonld(product))).parse().warnings
    with pytest.raises(EmptyPage):
        SchemaOrgPage(HtmlResponse(url="https://site.example/", body=b"  \n")).parse()


def test_read_urls(tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("# reviews\nhttps://a.example/r\n\nhttps://b.example/r  # second\n")
    assert read_urls(str(listing)) == ["https://a.example/r", "https://b.example/r"]
    assert read_urls("https://a.example/1, https://a.example/2") == ["https://a.example/1", "https://a.example/2"]
    assert read_urls(None) == []


def test_spider_allows_the_hosts_it_is_given() -> None:
    spider = SchemaOrgSpider(urls="https://a.example/r,https://b.example/r", sitemap="https://c.example/sitemap.xml")
    assert spider.allowed_domains == ["a.example", "b.example", "c.example"]
    assert (spider.name, spider.platform) == ("schema_org", "schema_org")
    with pytest.raises(ValueError):
        list(SchemaOrgSpider().first_requests())


# -- end to end: scrapy crawl against a local site --------------------------------------------

PAGES = {
    "/reviews/acme-plumbing": "rel_next_page1",
    "/reviews/acme-plumbing?page=2": "rel_next_page2",
    "/p/aurora-coffee-maker": "jsonld_product",
    "/bewertungen/sonnenkorn": "microdata_localbusiness",
    "/avis": "rdfa_reviews",
    "/hotel-marisol/reviews": "ten_point_scale",
    "/review/djmania.es": "trustpilot_djmania_2025",
    "/northwind/reviews": "no_markup",
}


def _sitemap(kind: str, locations: list[str]) -> str:
    tag = "sitemap" if kind == "sitemapindex" else "url"
    entries = "".join(f"<{tag}><loc>{loc.replace('&', '&amp;')}</loc></{tag}>" for loc in locations)
    return f'<?xml version="1.0" encoding="UTF-8"?><{kind} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</{kind}>'


def _site() -> StaticServer:
    server = StaticServer()
    for path, case in PAGES.items():
        server.add(path, (FIXTURES / case / "input.html").read_bytes())
    server.add("/about", "<html><body>About us</body></html>")
    return server


def _key(item: dict[str, Any]) -> tuple[Any, ...]:
    return (item["published_at"], item["rating"], item["title"] or "", item["author_name"] or "")


def _expected_items(cases: list[str]) -> list[tuple[Any, ...]]:
    return sorted(_key(item) for case in cases for item in expected(case)["items"])


def _read_feed(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    return lines, json.loads(Path(f"{out}.meta.json").read_text())


@pytest.mark.slow
def test_sitemap_crawl_reads_every_listing_once(tmp_path: Path) -> None:
    listed = [p for p in PAGES if p != "/northwind/reviews"]
    with _site() as server:
        server.add(
            "/sitemap.xml",
            _sitemap("sitemapindex", [server.url("/sitemap-reviews.xml"), server.url("/sitemap-pages.xml")]),
            XML,
        )
        # Page 2 of the paginated listing is in the sitemap too: it must still be read only once.
        server.add("/sitemap-reviews.xml", _sitemap("urlset", [server.url(p) for p in listed]), XML)
        server.add("/sitemap-pages.xml", _sitemap("urlset", [server.url("/about")]), XML)
        out = tmp_path / "site.jsonl"
        result = scrapy_crawl(
            "schema_org",
            out,
            f"sitemap={server.url('/sitemap.xml')}",
            r"sitemap_filter=/(reviews?|p|bewertungen|avis)\b",
        )
        requested = list(server.requests)
    assert result.returncode == 0, result.stderr[-3000:]
    lines, manifest = _read_feed(out)
    assert sorted(_key(line) for line in lines) == _expected_items([PAGES[p] for p in listed])
    assert len({line["review_id"] for line in lines}) == len(lines)
    assert all(isinstance(line["review_id"], str) and isinstance(line["rating"], float) for line in lines)
    assert "/about" not in requested
    assert requested.count("/reviews/acme-plumbing?page=2") == 1
    assert manifest["complete"] is True, manifest
    assert manifest["pages"] == len(listed) and manifest["items_dropped"] == 0


@pytest.mark.slow
def test_url_list_crawl_records_a_layout_change(tmp_path: Path) -> None:
    with _site() as server:
        urls = tmp_path / "urls.txt"
        urls.write_text(f"{server.url('/reviews/acme-plumbing')}\n{server.url('/northwind/reviews')}\n")
        out = tmp_path / "list.jsonl"
        result = scrapy_crawl("schema_org", out, f"urls={urls}", "source=local-guide", "max_pages=1")
    assert result.returncode == 0, result.stderr[-3000:]
    lines, manifest = _read_feed(out)
    # max_pages=1 applies per listing: only page 1 of the paginated one.
    assert sorted(_key(line) for line in lines) == _expected_items(["rel_next_page1"])
    assert {line["source"] for line in lines} == {"local-guide"}
    assert manifest["complete"] is False
    assert [error["kind"] for error in manifest["errors"]] == ["LayoutChanged"]
    assert manifest["stop_reason"] == "page limit 1 reached"
