"""Trustpilot company review pages (2024 and 2025 layouts) as a page object.

The embedded Next.js state (``<script id="__NEXT_DATA__">``) is read first: it carries every review
field and the pagination. The schema.org JSON-LD ``Review`` list is the fallback when that state is
missing or invalid; a state cut off mid-download raises PartialPage so the spider fetches the page again.
All text is kept verbatim as data: nothing is unescaped, stripped of tags or evaluated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from pydantic import ValidationError
from scrapy.http import HtmlResponse, Response, TextResponse

from crawlers.errors import EmptyPage, LayoutChanged, PartialPage
from crawlers.items import ReviewItem
from crawlers.parsers import ParsedPage

PLATFORM = "trustpilot"
NEXT_DATA_CLOSED = re.compile(r"<script[^>]*\bid=[\"']?__NEXT_DATA__\b[^>]*>.*?</script\s*>", re.S | re.I)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """A string field, or None for anything else (hostile JSON may put lists or numbers anywhere)."""
    return value if isinstance(value, str) else None


def _blank_to_none(value: Any) -> str | None:
    text = _text(value)
    return text if text and text.strip() else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _date(value: Any) -> datetime | None:
    """Parse an ISO 8601 timestamp (Trustpilot writes ``2024-06-11T16:08:24.000Z``), None if unusable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def page_url_with(url: str, page: int) -> str:
    """The same listing URL with ``page=N`` set and every other query parameter kept."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != "page"]
    if page > 1:
        query.append(("page", str(page)))
    return urlunsplit(parts._replace(query=urlencode(query), fragment=""))


@dataclass
class TrustpilotCompany:
    """Company-level facts shown on a Trustpilot review page."""

    name: str | None
    identifying_name: str | None = None
    trust_score: float | None = None
    stars: float | None = None
    number_of_reviews: int | None = None
    website: str | None = None
    categories: list[str] = field(default_factory=list)
    email: str | None = None
    phone: str | None = None
    address: str | None = None


class TrustpilotPage:
    """One Trustpilot review listing page: ``TrustpilotPage(response)`` or ``TrustpilotPage(url, html)``."""

    def __init__(self, response: Response | str, html: str | None = None) -> None:
        if isinstance(response, str):
            response = HtmlResponse(url=response, body=(html or "").encode("utf-8"), encoding="utf-8")
        elif not isinstance(response, TextResponse):
            response = HtmlResponse(url=response.url, body=response.body, encoding="utf-8")
        self.response: TextResponse = response
        self.url: str = response.url
        parts = urlsplit(self.url)
        self.origin = f"{parts.scheme}://{parts.netloc}"

    # -- raw sources --------------------------------------------------------------------------

    @cached_property
    def _next_data_state(self) -> tuple[str, dict[str, Any] | None]:
        """("missing" | "truncated" | "broken" | "ok", parsed JSON)."""
        raw = self.response.css("script#__NEXT_DATA__::text").get()
        if raw is None:
            return "missing", None
        try:
            data = json.loads(raw)
        except ValueError:
            # An unclosed script element means the download was cut short, not that the site changed.
            closed = NEXT_DATA_CLOSED.search(self.response.text) is not None
            return ("broken" if closed else "truncated"), None
        if not isinstance(data, dict):
            return "broken", None
        return "ok", data

    @property
    def page_props(self) -> dict[str, Any]:
        """``props.pageProps`` of the Next.js state, empty when absent."""
        _, data = self._next_data_state
        return _as_dict(_as_dict(_as_dict(data).get("props")).get("pageProps"))

    @cached_property
    def json_ld_nodes(self) -> list[dict[str, Any]]:
        """Every JSON-LD object on the page, ``@graph`` flattened."""
        nodes: list[dict[str, Any]] = []
        for raw in self.response.css('script[type="application/ld+json"]::text').getall():
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            stack = data if isinstance(data, list) else [data]
            for node in stack:
                if not isinstance(node, dict):
                    continue
                graph = node.get("@graph")
                if isinstance(graph, list):
                    nodes.extend(item for item in graph if isinstance(item, dict))
                elif isinstance(graph, dict):
                    nodes.append(graph)
                else:
                    nodes.append(node)
        return nodes

    @staticmethod
    def _has_type(node: dict[str, Any], name: str) -> bool:
        kind = node.get("@type")
        return kind == name or (isinstance(kind, list) and name in kind)

    # -- public API ---------------------------------------------------------------------------

    def parse(self) -> ParsedPage:
        """Reviews on this page, the next page's URL and counts; raises a named ExtractionError."""
        if not self.response.body.strip():
            raise EmptyPage(f"empty response body from {self.url}")
        state, _ = self._next_data_state
        props = self.page_props
        reviews = props.get("reviews")
        warnings: list[str] = []
        pagination = _as_dict(_as_dict(props.get("filters")).get("pagination"))
        page_number = _int(pagination.get("currentPage")) or self._page_from_url()
        total_count = _int(pagination.get("totalCount"))

        if state == "truncated" or (state == "missing" and "</html" not in self.response.text.lower()):
            # Retry rather than fall back: JSON-LD lacks replies, countries and dates, and such
            # degraded copies would later look like edits of the stored reviews.
            raise PartialPage(f"page or its __NEXT_DATA__ is cut off (truncated download) at {self.url}")
        if isinstance(reviews, list):
            if not reviews and total_count and page_number == 1:
                raise LayoutChanged(f"__NEXT_DATA__ reports {total_count} reviews but page 1 lists none at {self.url}")
            items = [item for raw in reviews if (item := self._item_from_next(raw, warnings))]
            if not reviews and total_count:
                warnings.append(f"page {page_number} lists no reviews (past the last page?)")
        else:
            ld_reviews = [node for node in self.json_ld_nodes if self._has_type(node, "Review")]
            if not ld_reviews:
                if state == "broken":
                    raise PartialPage(
                        f"__NEXT_DATA__ is not valid JSON (truncated page?) and no schema.org Review "
                        f"found at {self.url}"
                    )
                raise LayoutChanged(f"no __NEXT_DATA__ reviews and no schema.org Review found at {self.url}")
            reason = {"missing": "missing", "broken": "not valid JSON"}.get(state, "without reviews")
            warnings.append(f"__NEXT_DATA__ {reason}; read {len(ld_reviews)} schema.org Review items")
            items = [item for node in ld_reviews if (item := self._item_from_json_ld(node, warnings))]

        return ParsedPage(
            items=items,
            next_url=self._next_url(pagination),
            page_number=page_number,
            total_count=total_count,
            warnings=warnings,
        )

    def company(self) -> TrustpilotCompany | None:
        """Company name, trust score, review count and contact details, or None if the page has none."""
        unit = _as_dict(self.page_props.get("businessUnit"))
        if unit:
            contact = _as_dict(unit.get("contactInfo"))
            sidebar = _as_dict(
                _as_dict(_as_dict(self.page_props.get("sidebarData")).get("infoBusinessUnitBox")).get("contact")
            )
            country = _blank_to_none(sidebar.get("country")) or _blank_to_none(contact.get("country"))
            parts = [
                _blank_to_none(contact.get("address")),
                _blank_to_none(contact.get("zipCode")),
                _blank_to_none(contact.get("city")),
                country if _blank_to_none(contact.get("address")) else None,
            ]
            categories = [
                name
                for category in unit.get("categories") or []
                if (name := _blank_to_none(_as_dict(category).get("name")))
            ]
            return TrustpilotCompany(
                name=_text(unit.get("displayName")),
                identifying_name=_text(unit.get("identifyingName")),
                trust_score=_number(unit.get("trustScore")),
                stars=_number(unit.get("stars")),
                number_of_reviews=_int(unit.get("numberOfReviews")),
                website=_blank_to_none(unit.get("websiteUrl")),
                categories=categories,
                email=_blank_to_none(contact.get("email")),
                phone=_blank_to_none(contact.get("phone")),
                address=", ".join(part for part in parts if part) or None,
            )
        for node in self.json_ld_nodes:
            rating = _as_dict(node.get("aggregateRating"))
            if rating and (self._has_type(node, "LocalBusiness") or self._has_type(node, "Organization")):
                address = _as_dict(node.get("address"))
                parts = [
                    _blank_to_none(address.get(key))
                    for key in ("streetAddress", "postalCode", "addressLocality", "addressCountry")
                ]
                return TrustpilotCompany(
                    name=_text(node.get("name")),
                    trust_score=_number(rating.get("ratingValue")),
                    number_of_reviews=_int(rating.get("reviewCount")),
                    website=_blank_to_none(node.get("sameAs")),
                    email=_blank_to_none(node.get("email")),
                    phone=_blank_to_none(node.get("telephone")),
                    address=", ".join(part for part in parts if part) or None,
                )
        return None

    # -- helpers ------------------------------------------------------------------------------

    def _page_from_url(self) -> int:
        for key, value in parse_qsl(urlsplit(self.url).query):
            if key == "page" and value.isdigit():
                return int(value)
        return 1

    def _permalink(self, review_id: str) -> str:
        return f"{self.origin}/reviews/{quote(review_id, safe='')}"

    def _next_url(self, pagination: dict[str, Any]) -> str | None:
        current, pages = _int(pagination.get("currentPage")), _int(pagination.get("totalPages"))
        if current is not None and pages is not None:
            # The state's own pagination is authoritative; built on our URL so any host works.
            return page_url_with(self.url, current + 1) if current < pages else None
        href = self.response.css('link[rel="next"]::attr(href)').get()
        if not href:
            href = self.response.css('a[name="pagination-button-next"]:not([aria-disabled="true"])::attr(href)').get()
        return urljoin(self.url, href.strip()) if href and href.strip() else None

    def _build(self, fields: dict[str, Any], review_id: str, warnings: list[str]) -> ReviewItem | None:
        try:
            return ReviewItem(source=PLATFORM, platform=PLATFORM, review_id=review_id, **fields)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            warnings.append(f"skipped review {review_id}: {where}: {error['msg']}")
            return None

    def _item_from_next(self, raw: Any, warnings: list[str]) -> ReviewItem | None:
        review = _as_dict(raw)
        dates = _as_dict(review.get("dates"))
        review_id = review.get("id")
        review_id = str(review_id) if isinstance(review_id, str | int) and str(review_id).strip() else None
        rating = _number(review.get("rating"))
        published = _date(dates.get("publishedDate"))
        missing = [
            name
            for name, value in (("id", review_id), ("rating", rating), ("publishedDate", published))
            if value is None
        ]
        if missing or review_id is None:
            warnings.append(f"skipped review {review_id or '?'}: missing or invalid {', '.join(missing)}")
            return None
        consumer = _as_dict(review.get("consumer"))
        reply = _as_dict(review.get("reply"))
        verification = _as_dict(_as_dict(review.get("labels")).get("verification"))
        extra = {
            "likes": _int(review.get("likes")),
            "verified": verification.get("isVerified") if isinstance(verification.get("isVerified"), bool) else None,
            "verification_source": _text(verification.get("verificationSource")),
            "consumer_review_count": _int(consumer.get("numberOfReviews")),
            "consumer_review_count_on_domain": _int(review.get("consumersReviewCountOnSameDomain")),
        }
        fields = {
            "rating": rating,
            "title": _text(review.get("title")),
            "text": _text(review.get("text")) or "",
            "language": _blank_to_none(review.get("language")),
            "author_name": _text(consumer.get("displayName")),
            "author_country": _blank_to_none(consumer.get("countryCode")),
            "published_at": published,
            "updated_at": _date(dates.get("updatedDate")),
            "experienced_at": _date(dates.get("experiencedDate")),
            "reply_text": _text(reply.get("message")),
            "reply_published_at": _date(reply.get("publishedDate")),
            "url": self._permalink(review_id),
            "page_url": self.url,
            "extra": {key: value for key, value in extra.items() if value is not None},
        }
        return self._build(fields, review_id, warnings)

    def _item_from_json_ld(self, node: dict[str, Any], warnings: list[str]) -> ReviewItem | None:
        node_id = _text(node.get("@id")) or ""
        review_id = node_id.rstrip("/").rsplit("/", 1)[-1] if node_id.strip() else None
        rating = _number(_as_dict(node.get("reviewRating")).get("ratingValue"))
        published = _date(node.get("datePublished"))
        missing = [
            name
            for name, value in (("@id", review_id), ("ratingValue", rating), ("datePublished", published))
            if value is None
        ]
        if missing or review_id is None:
            warnings.append(f"skipped review {review_id or '?'}: missing or invalid {', '.join(missing)}")
            return None
        fields = {
            "rating": rating,
            "title": _text(node.get("headline")),
            "text": _text(node.get("reviewBody")) or "",
            "language": _blank_to_none(node.get("inLanguage")),
            "author_name": _text(_as_dict(node.get("author")).get("name")),
            "published_at": published,
            "url": self._permalink(review_id),
            "page_url": self.url,
        }
        return self._build(fields, review_id, warnings)
