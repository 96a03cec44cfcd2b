"""A Trustpilot-like review site on 127.0.0.1, built from the bundled anonymised pages.

Each company's reviews (both saved snapshots, newest first) are served as ``/review/<company>?page=N``
in a real page layout: the reviews and pagination are substituted into the page's ``__NEXT_DATA__``
state, its JSON-LD Review list, its ``<link rel="next">`` and its pagination links. ``day`` moves the
site forward: from day 1 each company has one new review and one edited review; from day 2 one
older review has disappeared.
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import math
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

ORIGINAL_ORIGIN = "https://www.trustpilot.com"
PER_PAGE = 8
NEXT_DATA = re.compile(r'(<script id="__NEXT_DATA__" type="application/json">)(.*?)(</script>)', re.S)
JSON_LD = re.compile(r'(<script type="application/ld\+json" data-business-unit-json-ld="true">)(.*?)(</script>)', re.S)
CARDS = re.compile(r'(<section data-reviews-list="true">)(.*?)(</section>)', re.S)
NAV = re.compile(r'<nav role="navigation" aria-label="Pagination".*?</nav>', re.S)
PAGE_LINKS = re.compile(r'<link rel="(?:next|prev)"[^>]*>\n?')
CANONICAL = re.compile(r'<link rel="canonical"[^>]*>')


def script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element (``</script>`` or ``<!--`` in a review stays data)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


@dataclass(frozen=True)
class DemoCompany:
    """One company of the demo site: its page template (one real layout) and its reviews."""

    slug: str
    layout: str
    template: str
    reviews: tuple[dict[str, Any], ...]


@cache
def load_companies() -> dict[str, DemoCompany]:
    """The bundled companies, by slug (``beautytheshop.com`` ...)."""
    pages = resources.files("reviewdesk.demo_site") / "pages"
    manifest = json.loads((pages / "companies.json").read_text(encoding="utf-8"))
    companies = {}
    for entry in manifest:
        slug = entry["company"]
        companies[slug] = DemoCompany(
            slug=slug,
            layout=entry["layout"],
            template=(pages / f"{slug}.html").read_text(encoding="utf-8"),
            reviews=tuple(json.loads((pages / f"{slug}.reviews.json").read_text(encoding="utf-8"))),
        )
    return companies


def review_bodies() -> list[str]:
    """"Title. text" of every bundled review, companies sorted by slug: real review texts for benchmarks."""
    return [body for body, _ in rated_review_bodies()]


def rated_review_bodies() -> list[tuple[str, float | None]]:
    """(body, stars) of every bundled review, in :func:`review_bodies` order."""
    out: list[tuple[str, float | None]] = []
    companies = load_companies()
    for slug in sorted(companies):
        for r in companies[slug].reviews:
            body = f"{r.get('title') or ''}. {r.get('text') or ''}".strip(". ")
            if body:
                rating = r.get("rating")
                out.append((body, float(rating) if isinstance(rating, int | float) else None))
    return out


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def new_review_id(slug: str) -> str:
    """The id of the review that appears on day 1 (24 hex digits, like Trustpilot's)."""
    return hashlib.sha1(f"demo-new-review:{slug}".encode()).hexdigest()[:24]


EDIT_NOTE = "\n\nUpdate: the company contacted me afterwards and sorted it out."


def reviews_for_day(company: DemoCompany, day: int) -> list[dict[str, Any]]:
    """The company's reviews as the site shows them on ``day``, newest first."""
    reviews = copy.deepcopy(list(company.reviews))
    if day < 1 or not reviews:
        return reviews
    if day >= 2 and len(reviews) > 2:
        # From day 2 one older review is gone (deleted by its author): only a full crawl can tell.
        del reviews[len(reviews) // 2]
    newest = datetime.fromisoformat(reviews[0]["dates"]["publishedDate"])
    edited = reviews[0]
    edited["text"] = (edited.get("text") or "") + EDIT_NOTE
    edited["rating"] = min(5, int(edited["rating"]) + 1)
    edited["dates"]["updatedDate"] = _iso(newest + timedelta(hours=20))
    # Hostile on purpose: markup in a review must reach the feed as literal text.
    new = {
        "id": new_review_id(company.slug),
        "filtered": False,
        "pending": False,
        "text": 'Still no refund after 3 weeks. <script>alert("x")</script> </script><!-- & "quotes" -->',
        "rating": 2,
        "labels": {"merged": None, "verification": {"isVerified": False, "verificationSource": "organic"}},
        "title": "Waiting for my <b>refund</b>",
        "likes": 0,
        "dates": {
            "experiencedDate": _iso(newest.replace(hour=0, minute=0, second=0)),
            "publishedDate": _iso(newest + timedelta(days=1)),
            "updatedDate": None,
        },
        "report": None,
        "hasUnhandledReports": False,
        "consumer": {
            "id": hashlib.sha1(f"demo-consumer:{company.slug}".encode()).hexdigest()[:24],
            "displayName": "Demo Reviewer",
            "imageUrl": "",
            "numberOfReviews": 1,
            "countryCode": "GB",
            "hasImage": False,
            "isVerified": False,
        },
        "reply": None,
        "consumersReviewCountOnSameDomain": 1,
        "consumersReviewCountOnSameLocation": None,
        "productReviews": [],
        "language": "en",
        "location": None,
    }
    return [new, *reviews]


def _listing_url(origin: str, slug: str, page: int) -> str:
    path = f"{origin}/review/{quote(slug)}"
    return path if page <= 1 else f"{path}?page={page}"


def _ld_review(review: dict[str, Any], origin: str, slug: str) -> dict[str, Any]:
    consumer = review.get("consumer") or {}
    return {
        "@type": "Review",
        "@id": f"{origin}/#/schema/Review/{slug}/{review['id']}",
        "itemReviewed": {"@id": f"{origin}/#/schema/Organization/{slug}"},
        "author": {
            "@type": "Person",
            "name": consumer.get("displayName"),
            "url": f"{origin}/users/{consumer.get('id')}/",
        },
        "datePublished": review["dates"]["publishedDate"],
        "headline": review.get("title"),
        # The site's JSON-LD drops line breaks from the body.
        "reviewBody": (review.get("text") or "").replace("\n", ""),
        "reviewRating": {
            "@type": "Rating",
            "bestRating": "5",
            "worstRating": "1",
            "ratingValue": str(review["rating"]),
        },
        "publisher": {"@id": f"{origin}/#/schema/Organization/1"},
        "inLanguage": review.get("language"),
    }


def _text_html(text: str | None) -> str:
    return html.escape(text or "").replace("\n", "<br/>")


def _card(review: dict[str, Any], company_name: str) -> str:
    consumer = review.get("consumer") or {}
    name = html.escape(consumer.get("displayName") or "")
    rating = int(review["rating"])
    published = html.escape(review["dates"]["publishedDate"])
    reply = review.get("reply") or {}
    reply_html = ""
    if reply.get("message"):
        reply_html = (
            '<div class="styles_wrapper__reply"><p data-service-review-business-reply-title-typography="true">'
            f"Reply from {html.escape(company_name)}</p>"
            f'<time datetime="{html.escape(reply.get("publishedDate") or "")}"></time>'
            '<p data-service-review-business-reply-text-typography="true">'
            f"{_text_html(reply['message'])}</p></div>"
        )
    return (
        '<article class="styles_reviewCard" data-service-review-card-paper="true">'
        f'<aside aria-label="Info for {name}"><a href="/users/{html.escape(str(consumer.get("id")))}" '
        f'rel="nofollow"><span data-consumer-name-typography="true">{name}</span></a>'
        f'<span data-consumer-country-typography="true">{html.escape(consumer.get("countryCode") or "")}</span>'
        "</aside>"
        f'<section><div data-service-review-rating="{rating}"><img alt="Rated {rating} out of 5 stars" '
        f'src="https://cdn.trustpilot.net/brand-assets/4.1.0/stars/stars-{rating}.svg"/></div>'
        f'<time datetime="{published}" data-service-review-date-time-ago="true">{published[:10]}</time>'
        f'<a href="/reviews/{html.escape(review["id"])}" rel="nofollow" data-review-title-typography="true">'
        f'<h2 data-service-review-title-typography="true">{_text_html(review.get("title"))}</h2></a>'
        f'<p data-service-review-text-typography="true">{_text_html(review.get("text"))}</p></section>'
        f"{reply_html}</article>"
    )


def _nav(slug: str, page: int, pages: int) -> str:
    def link(name: str, label: str, target: int | None, rel: str = "") -> str:
        rel_attr = f' rel="{rel}"' if rel else ""
        if target is None:
            return f'<a tabindex="-1" aria-disabled="true"{rel_attr} name="{name}">{label}</a>'
        return f'<a href="{html.escape(_listing_url("", slug, target))}"{rel_attr} name="{name}">{label}</a>'

    parts = [link("pagination-button-previous", "Previous", page - 1 if page > 1 else None, "prev")]
    parts += [link(f"pagination-button-{number}", str(number), number) for number in range(1, pages + 1)]
    parts.append(link("pagination-button-next", "Next page", page + 1 if page < pages else None, "next"))
    return f'<nav role="navigation" aria-label="Pagination">{"".join(parts)}</nav>'


def render_listing(company: DemoCompany, day: int, page: int, origin: str, per_page: int = PER_PAGE) -> str | None:
    """One listing page of a company in its layout, or None past the last page."""
    reviews = reviews_for_day(company, day)
    pages = max(1, math.ceil(len(reviews) / per_page))
    if page < 1 or page > pages:
        return None
    shown = reviews[(page - 1) * per_page : page * per_page]
    url = _listing_url(origin, company.slug, page)
    # The template's own links point at the real site; the demo serves them itself.
    page_html = company.template.replace(ORIGINAL_ORIGIN, origin)

    state = json.loads(NEXT_DATA.search(page_html).group(2))  # type: ignore[union-attr]
    props = state["props"]["pageProps"]
    props["pageUrl"] = url
    props["reviews"] = shown
    filters = props.setdefault("filters", {})
    filters["pagination"] = {
        "currentPage": page,
        "perPage": per_page,
        "totalCount": len(reviews),
        "totalPages": pages,
    }
    filters["totalNumberOfFilteredReviews"] = len(reviews)
    state["query"] = {"businessUnit": company.slug, **({"page": str(page)} if page > 1 else {})}
    company_name = (props.get("businessUnit") or {}).get("displayName") or company.slug

    graph_doc = json.loads(JSON_LD.search(page_html).group(2))  # type: ignore[union-attr]
    graph = [node for node in graph_doc["@graph"] if node.get("@type") != "Review"]
    review_nodes = [_ld_review(review, origin, company.slug) for review in shown]
    for node in graph:
        if "review" in node:
            node["review"] = [{"@id": review_node["@id"]} for review_node in review_nodes]
    graph_doc["@graph"] = graph + review_nodes

    def sub(pattern: re.Pattern[str], content: str, text: str) -> str:
        return pattern.sub(lambda match: match.group(1) + content + match.group(3), text, count=1)

    page_html = sub(NEXT_DATA, script_json(state), page_html)
    page_html = sub(JSON_LD, script_json(graph_doc), page_html)
    page_html = sub(CARDS, "\n".join(_card(review, company_name) for review in shown), page_html)
    page_html = NAV.sub(lambda _: _nav(company.slug, page, pages), page_html, count=1)
    page_html = PAGE_LINKS.sub("", page_html)
    head_links = [f'<link rel="canonical" href="{html.escape(url)}"/>']
    if company.layout != "2024":  # the 2024 layout had no rel=prev/next links in its head
        if page > 1:
            head_links.append(f'<link rel="prev" href="{html.escape(_listing_url(origin, company.slug, page - 1))}"/>')
        if page < pages:
            head_links.append(f'<link rel="next" href="{html.escape(_listing_url(origin, company.slug, page + 1))}"/>')
    if CANONICAL.search(page_html):
        page_html = CANONICAL.sub(lambda _: "\n".join(head_links), page_html, count=1)
    else:
        page_html = page_html.replace("</head>", "\n".join(head_links) + "\n</head>", 1)
    return page_html


def render_index(companies: dict[str, DemoCompany]) -> str:
    """The home page: a link to each company's reviews."""
    items = "".join(
        f'<li><a href="/review/{html.escape(quote(slug))}">{html.escape(slug)}</a></li>' for slug in sorted(companies)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/><title>Reviewdesk demo site</title></head>'
        "<body><h1>Reviewdesk demo review site</h1>"
        "<p>Anonymised copies of saved public review pages, served for crawler demos and tests.</p>"
        f"<ul>{items}</ul></body></html>"
    )


ROBOTS_TXT = "User-agent: *\nAllow: /\n"


class _Handler(BaseHTTPRequestHandler):
    site: DemoSite  # set on a per-site subclass
    server_version = "ReviewdeskDemo/1.0"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, send_body: bool) -> None:
        status, content_type, body = self.site.handle(self.path, self._origin())
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if send_body:
            self.wfile.write(data)

    def _origin(self) -> str:
        host = self.headers.get("Host")
        # Only our own address is trusted as a link origin: the Host header is client data.
        if host and host in self.site.hosts:
            return f"http://{host}"
        return self.site.url

    def log_message(self, format: str, *args: Any) -> None:
        if self.site.verbose:
            super().log_message(format, *args)


class DemoSite:
    """The demo review site on a local port: ``with DemoSite() as site: site.url``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, day: int = 0, per_page: int = PER_PAGE, verbose: bool = False
    ) -> None:
        self.day = day
        self.per_page = per_page
        self.verbose = verbose
        self.companies = load_companies()
        handler = type("DemoSiteHandler", (_Handler,), {"site": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        bound_host, bound_port = self._server.server_address[:2]
        self.port = int(bound_port)
        self.url = f"http://{bound_host}:{self.port}"
        self.hosts = {f"{bound_host}:{self.port}", f"localhost:{self.port}"}

    def company_url(self, slug: str) -> str:
        """The first listing page of a company."""
        return _listing_url(self.url, slug, 1)

    def reviews(self, slug: str) -> list[dict[str, Any]]:
        """The reviews a company shows today, newest first (``__NEXT_DATA__`` form)."""
        return reviews_for_day(self.companies[slug], self.day)

    def handle(self, target: str, origin: str) -> tuple[int, str, str]:
        """Status, content type and body for a request target such as ``/review/x?page=2``."""
        parts = urlsplit(target)
        path = parts.path
        if path == "/robots.txt":
            return HTTPStatus.OK, "text/plain; charset=utf-8", ROBOTS_TXT
        if path in ("/", "/index.html"):
            return HTTPStatus.OK, "text/html; charset=utf-8", render_index(self.companies)
        extra = self._extra_platforms(path, origin)
        if extra is not None:
            return extra
        match = re.fullmatch(r"/review/([^/]+)/?", path)
        company = self.companies.get(match.group(1)) if match else None
        if company is not None:
            values = parse_qs(parts.query).get("page", ["1"])
            page = int(values[-1]) if values[-1].isdigit() else 0
            body = render_listing(company, self.day, page, origin, self.per_page)
            if body is not None:
                return HTTPStatus.OK, "text/html; charset=utf-8", body
        return HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", "Not found\n"

    def _extra_platforms(self, path: str, origin: str) -> tuple[int, str, str] | None:
        """The schema.org shop and the App Store feed (see extra.py)."""
        from reviewdesk.demo_site import extra

        if path == "/shop/sitemap.xml":
            return HTTPStatus.OK, "application/xml", extra.render_sitemap(origin)
        if path == "/shop/about":
            return HTTPStatus.OK, "text/html; charset=utf-8", extra.render_about()
        product = re.fullmatch(r"/shop/p/([a-z0-9-]+)", path)
        if product:
            body = extra.render_product(self.companies[extra.SHOP_COMPANY], product.group(1), origin)
            return (HTTPStatus.OK, "text/html; charset=utf-8", body) if body else None
        feed = re.fullmatch(
            r"/appstore/([a-z]{2})/rss/customerreviews/page=(\d+)/id=(\d+)/sortby=mostrecent/json", path
        )
        if feed and feed.group(3) == extra.APP_ID:
            company = self.companies[extra.APP_COMPANY]
            return HTTPStatus.OK, "application/json", extra.render_app_feed(
                company, feed.group(1), int(feed.group(2)), origin)
        return None

    def start(self) -> DemoSite:
        """Serve in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="demo-site", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the foreground until interrupted."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> DemoSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
