"""TrustpilotPage on saved, trimmed pages (web-poet style: input.html + output.json per case)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import HtmlResponse

from crawlers.errors import EmptyPage, LayoutChanged, PartialPage
from crawlers.parsers.trustpilot import TrustpilotPage, page_url_with
from crawlers.spiders.trustpilot import TrustpilotSpider
from reviewdesk.demo_site.server import script_json

FIXTURES = Path(__file__).parent / "fixtures" / "trustpilot"
CASES = sorted(path.name for path in FIXTURES.iterdir() if (path / "input.html").exists())
NEXT_DATA = re.compile(r'(<script id="__NEXT_DATA__" type="application/json">)(.*?)(</script>)', re.S)
JSON_LD = re.compile(r'<script type="application/ld\+json"[^>]*>.*?</script>', re.S)


def load(case: str) -> tuple[str, dict[str, Any]]:
    """The input page and the expected output of a fixture case."""
    folder = FIXTURES / case
    return (folder / "input.html").read_text(encoding="utf-8"), json.loads((folder / "output.json").read_text())


def response(html: str, url: str = "https://www.trustpilot.com/review/example.com") -> HtmlResponse:
    """A Scrapy response as the downloader would make it."""
    return HtmlResponse(url=url, body=html.encode("utf-8"), encoding="utf-8")


def with_state(html: str, change: Any) -> str:
    """The page with its ``__NEXT_DATA__`` state changed by ``change(state)``."""
    state = json.loads(NEXT_DATA.search(html).group(2))
    change(state)
    return NEXT_DATA.sub(lambda match: match.group(1) + script_json(state) + match.group(3), html, count=1)


def test_all_cases_present() -> None:
    assert len(CASES) == 8
    assert {case.rsplit("_", 1)[1] for case in CASES} == {"2024", "2025"}


@pytest.mark.parametrize("case", CASES)
def test_fixture_output(case: str) -> None:
    html, expected = load(case)
    page = TrustpilotPage(response(html, expected["url"]))
    parsed = page.parse()
    assert [item.model_dump(mode="json") for item in parsed.items] == expected["items"]
    assert parsed.next_url == expected["next_url"]
    assert parsed.page_number == expected["page_number"]
    assert parsed.total_count == expected["total_count"]
    assert parsed.warnings == expected["warnings"] == []
    company = page.company()
    assert company is not None and asdict(company) == expected["company"]


@pytest.mark.parametrize("case", CASES)
def test_items_agree_with_json_ld(case: str) -> None:
    """Both sources on the page tell the same story: ids, ratings, dates, order."""
    html, expected = load(case)
    graph = [
        node
        for block in re.findall(r'data-business-unit-json-ld="true">(.*?)</script>', html, re.S)
        for node in json.loads(block)["@graph"]
        if node.get("@type") == "Review"
    ]
    items = TrustpilotPage(expected["url"], html).parse().items
    assert [item.review_id for item in items] == [node["@id"].rsplit("/", 1)[1] for node in graph]
    assert [item.rating for item in items] == [float(node["reviewRating"]["ratingValue"]) for node in graph]
    assert [item.published_at.isoformat().replace("+00:00", "") for item in items] == [
        node["datePublished"].replace(".000Z", "") for node in graph
    ]
    for item in items:
        assert item.platform == "trustpilot"
        assert item.url == f"https://www.trustpilot.com/reviews/{item.review_id}"
        assert re.fullmatch(r"Reviewer \d+", item.author_name or "")


@pytest.mark.parametrize("case", CASES)
def test_company_matches_fakepilot_expectations(case: str) -> None:
    html, expected = load(case)
    company_name, year = case.rsplit("_", 1)
    wanted = json.loads((FIXTURES / "company_expected.json").read_text())[
        f"{company_name}{'_2025' if year == '2025' else ''}.html"
    ]
    page = TrustpilotPage(expected["url"], html)
    company = page.company()
    assert company is not None
    assert company.name == wanted["name"]
    assert [company.number_of_reviews, company.trust_score] == wanted["rating_stats"]
    assert set(company.categories) == {name for name in wanted["categories"] if name}
    assert company.email == wanted["email"]
    assert company.phone == wanted["phone"]
    squash = (lambda text: text.replace(", ", ",")) if wanted["address"] else (lambda text: text)
    assert (company.address and squash(company.address)) == (wanted["address"] and squash(wanted["address"]))
    assert len(page.parse().items) == wanted["nreviews"]


@pytest.mark.parametrize("case", CASES)
def test_json_ld_fallback_without_next_data(case: str) -> None:
    html, expected = load(case)
    stripped = NEXT_DATA.sub("", html)
    assert "__NEXT_DATA__" not in stripped
    parsed = TrustpilotPage(response(stripped, expected["url"])).parse()
    assert parsed.warnings and "schema.org" in parsed.warnings[0]
    assert len(parsed.items) == len(expected["items"])
    for item, want in zip(parsed.items, expected["items"], strict=True):
        assert item.review_id == want["review_id"]
        assert item.rating == want["rating"]
        assert item.published_at.isoformat().replace("+00:00", "Z") == want["published_at"]
        # The site's JSON-LD drops the line breaks of the review body, nothing else.
        assert item.text == want["text"].replace("\n", "")
        assert item.title == want["title"]
        assert item.language == want["language"]
        assert item.url == want["url"]
    # Pagination then comes from <link rel="next"> (2025) or the pagination links (2024).
    assert parsed.next_url == expected["next_url"]


def test_truncated_next_data_without_json_ld_is_partial() -> None:
    html, expected = load("twenix.es_2025")
    html = JSON_LD.sub("", html)
    start = html.index('<script id="__NEXT_DATA__"')
    truncated = html[: start + (len(html) - start) // 2]
    with pytest.raises(PartialPage):
        TrustpilotPage(response(truncated, expected["url"])).parse()


def test_invalid_next_data_without_json_ld_is_partial() -> None:
    html, expected = load("djmania.es_2025")
    html = NEXT_DATA.sub(lambda match: match.group(1) + match.group(2)[:3000] + match.group(3), JSON_LD.sub("", html))
    with pytest.raises(PartialPage, match="not valid JSON"):
        TrustpilotPage(response(html, expected["url"])).parse()


@pytest.mark.parametrize("case", ["beautytheshop.com_2024", "twenix.es_2025"])
def test_truncated_download_is_partial_even_with_json_ld(case: str) -> None:
    """JSON-LD in <head> survives a cut body, but its copies lack replies and dates: retry instead."""
    html, expected = load(case)
    start = html.index('<script id="__NEXT_DATA__"')
    with pytest.raises(PartialPage, match="cut off"):
        TrustpilotPage(response(html[: start + (len(html) - start) // 2], expected["url"])).parse()


def test_page_cut_before_next_data_is_partial() -> None:
    html, expected = load("djmania.es_2025")
    with pytest.raises(PartialPage, match="cut off"):
        TrustpilotPage(response(html[: html.index("<body")], expected["url"])).parse()


def test_broken_next_data_falls_back_to_json_ld() -> None:
    """A whole page whose state is invalid JSON (a site bug, not a cut download) uses the JSON-LD."""
    html, expected = load("beautytheshop.com_2024")
    broken = NEXT_DATA.sub(lambda match: match.group(1) + match.group(2)[:5000] + match.group(3), html)
    parsed = TrustpilotPage(response(broken, expected["url"])).parse()
    assert "not valid JSON" in parsed.warnings[0]
    assert [item.review_id for item in parsed.items] == [item["review_id"] for item in expected["items"]]


@pytest.mark.parametrize("body", ["", "   \n\t"])
def test_empty_body(body: str) -> None:
    with pytest.raises(EmptyPage):
        TrustpilotPage(response(body)).parse()


def test_page_without_review_data_is_layout_changed() -> None:
    html = "<!DOCTYPE html><html><head><title>Reviews</title></head><body><h1>Hello</h1></body></html>"
    with pytest.raises(LayoutChanged, match=r"no __NEXT_DATA__ reviews and no schema\.org Review found"):
        TrustpilotPage(response(html)).parse()


def test_next_data_without_reviews_key_and_no_json_ld_is_layout_changed() -> None:
    html, expected = load("djmania.es_2025")
    html = with_state(JSON_LD.sub("", html), lambda state: state["props"]["pageProps"].pop("reviews"))
    with pytest.raises(LayoutChanged):
        TrustpilotPage(response(html, expected["url"])).parse()


def test_empty_review_list_on_page_one_with_total_is_layout_changed() -> None:
    html, expected = load("burgerking.no_2025")
    html = with_state(html, lambda state: state["props"]["pageProps"].update(reviews=[]))
    with pytest.raises(LayoutChanged, match="lists none"):
        TrustpilotPage(response(html, expected["url"])).parse()


def test_incomplete_reviews_are_skipped_with_a_warning() -> None:
    html, expected = load("twenix.es_2024")

    def damage(state: dict[str, Any]) -> None:
        reviews = state["props"]["pageProps"]["reviews"]
        del reviews[0]["id"]
        reviews[1]["rating"] = None
        reviews[2]["dates"]["publishedDate"] = None
        reviews[3]["rating"] = 9
        reviews[4]["dates"]["publishedDate"] = "last Tuesday"

    parsed = TrustpilotPage(response(with_state(html, damage), expected["url"])).parse()
    assert [item.review_id for item in parsed.items] == [item["review_id"] for item in expected["items"][5:]]
    assert len(parsed.warnings) == 5
    assert all(warning.startswith("skipped review") for warning in parsed.warnings)


@pytest.mark.parametrize("strip_next_data", [False, True])
def test_markup_in_review_text_stays_literal(strip_next_data: bool) -> None:
    html, expected = load("djmania.es_2025")
    hostile_text = 'Bad <script>alert("x")</script></script><!-- &amp; <b>bold</b> {{7*7}} ${x}'
    hostile_title = "<img src=x onerror=alert(1)>"

    def inject(state: dict[str, Any]) -> None:
        state["props"]["pageProps"]["reviews"][0].update(text=hostile_text, title=hostile_title)

    html = with_state(html, inject)
    ld_block = re.search(r'(data-business-unit-json-ld="true">)(.*?)(</script>)', html, re.S)
    graph = json.loads(ld_block.group(2))
    first = next(node for node in graph["@graph"] if node.get("@type") == "Review")
    first.update(reviewBody=hostile_text, headline=hostile_title)
    html = html[: ld_block.start(2)] + script_json(graph) + html[ld_block.end(2) :]
    if strip_next_data:
        html = NEXT_DATA.sub("", html)
    item = TrustpilotPage(response(html, expected["url"])).parse().items[0]
    assert item.text == hostile_text
    assert item.title == hostile_title


def test_next_url_keeps_other_query_parameters() -> None:
    html, _ = load("twenix.es_2025")

    def paginate(state: dict[str, Any]) -> None:
        state["props"]["pageProps"]["filters"]["pagination"].update(currentPage=3, totalPages=5)

    url = "https://www.trustpilot.com/review/twenix.es?languages=all&sort=recency&page=3#top"
    parsed = TrustpilotPage(response(with_state(html, paginate), url)).parse()
    assert parsed.next_url == "https://www.trustpilot.com/review/twenix.es?languages=all&sort=recency&page=4"
    assert parsed.page_number == 3
    assert page_url_with("http://h/review/x?page=2&stars=1", 1) == "http://h/review/x?stars=1"


def test_last_page_has_no_next_url() -> None:
    html, expected = load("twenix.es_2025")

    def last(state: dict[str, Any]) -> None:
        state["props"]["pageProps"]["filters"]["pagination"].update(currentPage=3, totalPages=3)

    assert TrustpilotPage(response(with_state(html, last), expected["url"] + "?page=3")).parse().next_url is None


def test_permalinks_and_next_url_follow_the_page_host() -> None:
    html, _ = load("beautytheshop.com_2025")
    parsed = TrustpilotPage("http://127.0.0.1:8765/review/beautytheshop.com", html).parse()
    assert parsed.items[0].url == f"http://127.0.0.1:8765/reviews/{parsed.items[0].review_id}"
    assert parsed.next_url == "http://127.0.0.1:8765/review/beautytheshop.com?page=2"


def test_url_and_text_constructor_matches_response_constructor() -> None:
    html, expected = load("burgerking.no_2024")
    from_text = TrustpilotPage(expected["url"], html).parse()
    from_response = TrustpilotPage(response(html, expected["url"])).parse()
    assert from_text.items == from_response.items


@pytest.mark.parametrize("case", CASES)
def test_fixtures_are_small_and_anonymised(case: str) -> None:
    html, _ = load(case)
    assert len(html.encode("utf-8")) < 100_000
    names = set(re.findall(r'data-consumer-name-typography="true">([^<]*)<', html))
    names |= set(re.findall(r'"displayName":"([^"]*)","imageUrl"', html))
    assert names and all(re.fullmatch(r"Reviewer \d+", name) for name in names)


def test_spider_parse_page_uses_the_page_object() -> None:
    html, expected = load("djmania.es_2024")
    spider = TrustpilotSpider(start_url=expected["url"])
    parsed = spider.parse_page(response(html, expected["url"]))
    assert [item.review_id for item in parsed.items] == [item["review_id"] for item in expected["items"]]
    assert spider.allowed_domains == ["www.trustpilot.com"]


def test_spider_business_id_argument_builds_a_newest_first_start_url() -> None:
    spider = TrustpilotSpider(business_id="twenix.es")
    assert spider.start_url == "https://www.trustpilot.com/review/twenix.es?sort=recency"
    assert spider.platform == "trustpilot"
