"""Page object for any page that marks up reviews with schema.org (JSON-LD, microdata or RDFa)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import extruct
from extruct.utils import parse_xmldom_html
from scrapy.http import Response, TextResponse

from crawlers.errors import EmptyPage, LayoutChanged, PartialPage
from crawlers.items import ReviewItem
from crawlers.parsers import ParsedPage

PLATFORM = "schema_org"
SYNTAXES: tuple[str, ...] = ("json-ld", "microdata", "rdfa")
REVIEW_TYPES = frozenset({"Review", "UserReview", "CriticReview", "EmployerReview", "Recommendation"})
AGGREGATE_TYPES = frozenset({"AggregateRating", "EmployerAggregateRating"})
# Properties under which a thing lists its reviews; their values may be bare {"@id": ...} references.
REVIEW_KEYS = frozenset({"review", "reviews"})
_SCHEMA_PREFIXES = ("http://schema.org/", "https://schema.org/", "schema:")
_REF_KEYS = frozenset({"@id", "@type"})
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d.%m.%Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y")
_RELNEXT = "contains(concat(' ', normalize-space(@rel), ' '), ' next ')"

Node = dict[str, Any]


class _Skip(Exception):
    """A review node that cannot become a complete ReviewItem."""


@dataclass(frozen=True)
class AggregateRating:
    """The page item's overall rating as the site declares it (on the site's own scale)."""

    rating_value: float | None
    review_count: int | None
    best_rating: float | None
    worst_rating: float | None = None
    rating_count: int | None = None


def _strip_prefix(name: str) -> str:
    for prefix in _SCHEMA_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _types(node: Node) -> set[str]:
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return {_strip_prefix(v) for v in values if isinstance(v, str)}


def _is_schema_type(name: str) -> bool:
    # After prefix stripping a schema.org type is a bare name; other vocabularies keep their URI.
    return bool(name) and ":" not in name and "/" not in name


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        try:
            return float(text)
        except ValueError:
            return None
    if isinstance(value, list) and value:
        return _number(value[0])
    if isinstance(value, dict) and "@value" in value:
        return _number(value["@value"])
    return None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def rating_scale(best: Any = None, worst: Any = None) -> tuple[float, float]:
    """(worst, best) of a Rating; schema.org's defaults are 1 and 5."""
    bottom = 1.0 if worst in (None, "") else _number(worst)
    top = 5.0 if best in (None, "") else _number(best)
    if top is None or bottom is None or top <= bottom:
        raise ValueError(f"rating scale {worst!r}-{best!r} is unusable")
    return bottom, top


def normalise_rating(value: Any, best: Any = None, worst: Any = None) -> float:
    """Map a rating on its [worst, best] scale onto 1-5, rounded to one decimal."""
    rating = _number(value)
    if rating is None:
        raise ValueError(f"rating {value!r} is not a number")
    bottom, top = rating_scale(best, worst)
    if not bottom <= rating <= top:
        raise ValueError(f"rating {rating:g} is outside its scale {bottom:g}-{top:g}")
    return round(1 + (rating - bottom) * 4 / (top - bottom), 1)


def parse_date(value: Any) -> datetime | None:
    """A schema.org date or datetime as an aware UTC datetime (naive values are taken as UTC)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("@value")
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            try:
                parsed = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        for entry in value:
            found = _text(entry)
            if found:
                return found
        return None
    if isinstance(value, dict):
        return _text(value.get("@value"))
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _compact_rdfa(nodes: list[Node]) -> list[Node]:
    """Turn extruct's expanded RDFa nodes into schema.org-style dicts; references stay {"@id": ...}."""
    compacted: list[Node] = []
    for node in nodes:
        out: Node = {}
        for key, values in node.items():
            if key == "@id":
                out["@id"] = values
                continue
            if key == "@type":
                out["@type"] = [_strip_prefix(t) for t in values] if isinstance(values, list) else values
                continue
            plain = [v.get("@value", v) if isinstance(v, dict) and "@value" in v else v for v in values]
            out[_strip_prefix(key)] = plain[0] if len(plain) == 1 else plain
        compacted.append(out)
    return compacted


def _walk(value: Any, under_review_key: bool = False) -> Iterator[tuple[Node, bool]]:
    """Every dict in a JSON tree, with whether it sits directly under a ``review`` property."""
    if isinstance(value, list):
        for entry in value:
            yield from _walk(entry, under_review_key)
    elif isinstance(value, dict):
        yield value, under_review_key
        for key, child in value.items():
            yield from _walk(child, _strip_prefix(key) in REVIEW_KEYS)


class SchemaOrgPage:
    """Reviews and the aggregate rating that one HTML page declares with schema.org markup."""

    platform = PLATFORM

    def __init__(self, response: Response, source: str | None = None) -> None:
        self.response = response
        self.source = source or PLATFORM
        # Problems reading the markup (found once); skipped reviews are listed by reviews().
        self.warnings: list[str] = []
        self.review_warnings: list[str] = []
        self._broken_jsonld = 0

    # -- extraction ---------------------------------------------------------------------------

    @cached_property
    def _trees(self) -> list[tuple[str, Any]]:
        """(syntax, extracted data) per syntax; empty body -> EmptyPage, broken JSON-LD -> noted."""
        if not self.response.body.strip():
            raise EmptyPage(f"empty body at {self.response.url}")
        if not isinstance(self.response, TextResponse):
            raise LayoutChanged(f"not an HTML page at {self.response.url}")
        try:
            tree = parse_xmldom_html(self.response.body, encoding=self.response.encoding)
        except Exception as exc:  # lxml raises several unrelated types for garbage input
            raise PartialPage(f"unparseable HTML at {self.response.url}: {exc}") from exc
        trees: list[tuple[str, Any]] = []
        for syntax in SYNTAXES:
            try:
                data = extruct.extract(
                    tree, base_url=self.response.url, syntaxes=[syntax], uniform=True, errors="strict"
                )[syntax]
            except Exception as exc:  # extractors raise assorted types; one syntax must not hide the rest
                if syntax == "json-ld" and isinstance(exc, ValueError):
                    # One broken script makes extruct drop every JSON-LD block: keep the readable ones.
                    data = self._salvage_jsonld(tree)
                else:
                    self.warnings.append(f"{syntax} markup could not be read: {exc}")
                    data = []
            if syntax == "rdfa":
                data = _compact_rdfa(data)
            elif syntax == "microdata":
                data = [self._microdata_ids(node) for node in data]
            trees.append((syntax, data))
        return trees

    def _salvage_jsonld(self, tree: Any) -> list[Any]:
        found: list[Any] = []
        for script in tree.xpath('//script[@type="application/ld+json"]'):
            text = script.xpath("string()").strip()
            for wrapper in ("<!--", "//<![CDATA[", "<![CDATA["):
                text = text.removeprefix(wrapper)
            for wrapper in ("-->", "//]]>", "]]>"):
                text = text.removesuffix(wrapper)
            try:
                found.append(json.loads(text, strict=False))
            except ValueError:
                self._broken_jsonld += 1
        if self._broken_jsonld:
            self.warnings.append(f"{self._broken_jsonld} JSON-LD block(s) are not valid JSON")
        return found

    def _microdata_ids(self, value: Any) -> Any:
        # extruct's uniform microdata keeps itemid as a relative "id"; make it a JSON-LD style @id.
        if isinstance(value, list):
            return [self._microdata_ids(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: self._microdata_ids(v) for k, v in value.items() if k != "id"}
        if isinstance(value.get("id"), str) and "@type" in value:
            out["@id"] = self.response.urljoin(value["id"])
        return out

    @cached_property
    def _index(self) -> dict[str, Node]:
        """Nodes with content by @id, so bare references ({"@id": ...}) can be followed."""
        index: dict[str, Node] = {}
        for _syntax, data in self._trees:
            for node, _ in _walk(data):
                ident = node.get("@id")
                if isinstance(ident, str) and set(node) - _REF_KEYS:
                    index.setdefault(ident, node)
        return index

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("@id"), str) and not set(value) - _REF_KEYS:
            return self._index.get(value["@id"], value)
        return value

    def _typed_nodes(self) -> Iterator[tuple[str, Node, bool]]:
        for syntax, data in self._trees:
            for node, under_review in _walk(data):
                yield syntax, node, under_review

    @cached_property
    def has_schema_org(self) -> bool:
        """Whether the page declares any schema.org thing at all."""
        return any(any(_is_schema_type(t) for t in _types(node)) for _, node, _ in self._typed_nodes())

    def _review_nodes(self) -> list[tuple[str, Node]]:
        seen: set[int] = set()
        found: list[tuple[str, Node]] = []
        for syntax, node, under_review in self._typed_nodes():
            if not (_types(node) & REVIEW_TYPES or under_review):
                continue
            target = self._resolve(node)
            # A reference nobody resolves, or a thing that is not a review, is not a review.
            if not isinstance(target, dict) or not set(target) - _REF_KEYS:
                continue
            if _types(target) and not _types(target) & REVIEW_TYPES:
                continue
            if id(target) not in seen:
                seen.add(id(target))
                found.append((syntax, target))
        return found

    # -- mapping ------------------------------------------------------------------------------

    def _author(self, value: Any) -> tuple[str | None, str | None]:
        """(name, country) of a review's author: a string, a Person/Organization or a list."""
        value = self._resolve(value)
        if isinstance(value, list):
            people = [self._author(v) for v in value]
            names = [name for name, _ in people if name]
            countries = [country for _, country in people if country]
            return (", ".join(names) or None, countries[0] if countries else None)
        if isinstance(value, dict):
            address = self._resolve(value.get("address"))
            country = address.get("addressCountry") if isinstance(address, dict) else None
            country = self._resolve(country)
            if isinstance(country, dict):
                country = country.get("name")
            return _text(value.get("name")), _text(country)
        return _text(value), None

    def _language(self, value: Any) -> str | None:
        value = self._resolve(value)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, dict):
            value = _text(value.get("alternateName")) or _text(value.get("name"))
        return _text(value) or self.page_language

    @cached_property
    def page_language(self) -> str | None:
        """The page's declared language (``<html lang>``)."""
        return _text(self.response.xpath("/html/@lang | /html/@xml:lang").get())

    def _own_id(self, node: Node) -> str | None:
        ident = node.get("@id")
        # Blank nodes (RDFa "_:N...") are renamed on every parse: never an id.
        if isinstance(ident, str) and ident and not ident.startswith("_:"):
            # A relative @id ("#review-3") names the review only together with its page.
            return ident if urlsplit(ident).scheme else self.response.urljoin(ident)
        url = _text(node.get("url"))
        if url:
            return self.response.urljoin(url)
        identifier = self._resolve(node.get("identifier"))
        if isinstance(identifier, dict):
            identifier = identifier.get("value")
        return _text(identifier)

    def _rating(self, node: Node) -> tuple[float, dict[str, Any] | None]:
        rating = self._resolve(node.get("reviewRating"))
        if isinstance(rating, list):
            rating = self._resolve(rating[0]) if rating else None
        if isinstance(rating, dict):
            value, best, worst = rating.get("ratingValue"), rating.get("bestRating"), rating.get("worstRating")
        else:
            value, best, worst = rating, None, None
        if value is None:
            raise _Skip("no reviewRating.ratingValue")
        try:
            normalised = normalise_rating(value, best, worst)
        except ValueError as exc:
            raise _Skip(str(exc)) from None
        bottom, top = rating_scale(best, worst)
        if (bottom, top) == (1.0, 5.0):
            return normalised, None
        # Keep what the site said when we rescaled, so a wrong guess about its scale can be undone.
        return normalised, {"value": _number(value), "best": top, "worst": bottom}

    def _map(self, syntax: str, node: Node) -> tuple[ReviewItem, str | None]:
        """A ReviewItem for a review node plus its own id (None when it has none)."""
        rating, original = self._rating(node)
        published = parse_date(node.get("datePublished"))
        if published is None:
            raw = node.get("datePublished")
            raise _Skip("no datePublished" if raw is None else f"unreadable datePublished {raw!r}")
        author_name, author_country = self._author(node.get("author"))
        text = _text(node.get("reviewBody")) or _text(node.get("description")) or ""
        extra: dict[str, Any] = {"syntax": syntax}
        reviewed = self._resolve(node.get("itemReviewed"))
        if isinstance(reviewed, dict) and _text(reviewed.get("name")):
            extra["item_reviewed"] = _text(reviewed.get("name"))
        if original:
            extra["original_rating"] = original
        url = _text(node.get("url"))
        digest = hashlib.sha1("\x1f".join([author_name or "", published.isoformat(), text]).encode("utf-8")).hexdigest()
        item = ReviewItem(
            source=self.source,
            platform=PLATFORM,
            review_id=digest,
            rating=rating,
            title=_text(node.get("name")) or _text(node.get("headline")),
            text=text,
            language=self._language(node.get("inLanguage")),
            author_name=author_name,
            author_country=author_country,
            published_at=published,
            updated_at=parse_date(node.get("dateModified")),
            url=self.response.urljoin(url) if url else None,
            page_url=self.response.url,
            extra=extra,
        )
        return item, self._own_id(node)

    # -- public -------------------------------------------------------------------------------

    def reviews(self) -> list[ReviewItem]:
        """The page's complete reviews; incomplete ones become warnings."""
        mapped: list[tuple[ReviewItem, str | None]] = []
        self.review_warnings = []
        for syntax, node in self._review_nodes():
            try:
                mapped.append(self._map(syntax, node))
            except _Skip as exc:
                label = self._own_id(node) or _text(node.get("name")) or "without id"
                self.review_warnings.append(f"skipped review {label}: {exc}")
        # RDFa comes back as a graph in no stable order: newest first, as review listings show them.
        rdfa = sorted(
            (pair for pair in mapped if pair[0].extra.get("syntax") == "rdfa"),
            key=lambda pair: (-pair[0].published_at.timestamp(), pair[0].review_id),
        )
        mapped = [pair for pair in mapped if pair[0].extra.get("syntax") != "rdfa"] + rdfa
        # Several different reviews sharing one "id" (often the page URL) means it identifies none.
        owners = Counter(own for _item, own in {(i.review_id, o) for i, o in mapped} if own)
        items: list[ReviewItem] = []
        ids: set[str] = set()
        for item, own in mapped:
            if own and owners[own] == 1:
                item = item.model_copy(update={"review_id": own})
            # The same review marked up twice (JSON-LD and microdata) is one review.
            if item.review_id not in ids:
                ids.add(item.review_id)
                items.append(item)
        return items

    def aggregate_rating(self) -> AggregateRating | None:
        """The AggregateRating of the page's item (the first one declared), or None."""
        for _syntax, node, _ in self._typed_nodes():
            rating = self._resolve(node.get("aggregateRating")) if "aggregateRating" in node else None
            if rating is None and _types(node) & AGGREGATE_TYPES:
                rating = node
            if isinstance(rating, list):
                rating = self._resolve(rating[0]) if rating else None
            if isinstance(rating, dict):
                return AggregateRating(
                    rating_value=_number(rating.get("ratingValue")),
                    review_count=_whole(rating.get("reviewCount")),
                    best_rating=_number(rating.get("bestRating")),
                    worst_rating=_number(rating.get("worstRating")),
                    rating_count=_whole(rating.get("ratingCount")),
                )
        return None

    def next_url(self) -> str | None:
        """Absolute URL of the next page from ``<link rel="next">`` or ``<a rel="next">``."""
        href = self.response.xpath(f"//link[{_RELNEXT}]/@href | //a[{_RELNEXT}]/@href").get()
        return self.response.urljoin(href.strip()) if href and href.strip() else None

    def parse(self) -> ParsedPage:
        """Everything the spider needs from this page."""
        if not self.has_schema_org:
            if self._broken_jsonld:
                raise PartialPage(f"only broken JSON-LD at {self.response.url}")
            raise LayoutChanged(f"no schema.org markup at {self.response.url}")
        items = self.reviews()
        warnings = self.warnings + self.review_warnings
        aggregate = self.aggregate_rating()
        if not items and aggregate is None and not warnings:
            warnings.append("schema.org markup holds no Review or AggregateRating")
        total = None
        if aggregate is not None:
            total = aggregate.review_count if aggregate.review_count is not None else aggregate.rating_count
        return ParsedPage(items=items, next_url=self.next_url(), total_count=total, warnings=warnings)
