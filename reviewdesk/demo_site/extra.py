"""More platforms on the demo site: a shop with schema.org review markup and an App Store feed.

Both reuse the demo companies' real (anonymised) review texts, so every spider has something
realistic to read on 127.0.0.1: ``/shop/sitemap.xml`` lists product pages whose JSON-LD carries
``Product`` + ``AggregateRating`` + ``Review``; ``/appstore/<cc>/rss/customerreviews/page=N/id=<app>/
sortby=mostrecent/json`` answers in the public feed's documented shape, 10 entries a page.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from reviewdesk.demo_site.server import DemoCompany, script_json

SHOP_COMPANY = "beautytheshop.com"
SHOP_PRODUCTS = ("perfume-gift-set", "hair-serum", "sun-cream")
SHOP_REVIEWS_PER_PRODUCT = 6
# The beauty shop's own app: its reviews are the shop's (those not on the product pages), never a burger chain's.
APP_COMPANY = SHOP_COMPANY
APP_ID = "1499999999"
APP_PER_PAGE = 10
APP_MAX_PAGES = 10  # the real feed never offers more than 10 pages


def _product_reviews(company: DemoCompany, index: int) -> list[dict[str, Any]]:
    start = index * SHOP_REVIEWS_PER_PRODUCT
    return list(company.reviews[start:start + SHOP_REVIEWS_PER_PRODUCT])


def render_sitemap(origin: str) -> str:
    """A sitemap listing the shop's product pages (and one page without reviews, filtered out)."""
    urls = [f"{origin}/shop/p/{slug}" for slug in SHOP_PRODUCTS] + [f"{origin}/shop/about"]
    body = "".join(f"<url><loc>{escape(u)}</loc></url>" for u in urls)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'


def render_product(company: DemoCompany, slug: str, origin: str) -> str | None:
    """A product page with schema.org JSON-LD reviews, or None for an unknown product."""
    if slug not in SHOP_PRODUCTS:
        return None
    reviews = _product_reviews(company, SHOP_PRODUCTS.index(slug))
    url = f"{origin}/shop/p/{slug}"
    ratings = [float(r["rating"]) for r in reviews] or [0.0]
    product = {
        "@context": "https://schema.org",
        "@type": "Product",
        "@id": f"{url}#product",
        "name": slug.replace("-", " ").title(),
        "aggregateRating": {
            "@type": "AggregateRating",
            "ratingValue": round(sum(ratings) / len(ratings), 1),
            "reviewCount": len(reviews),
            "bestRating": 5,
        },
        "review": [
            {
                "@type": "Review",
                # A host-free id: the demo's port changes between runs, a review's identity must not.
                "identifier": r["id"],
                "name": r.get("title"),
                "reviewBody": r.get("text"),
                "datePublished": r["dates"]["publishedDate"],
                "inLanguage": r.get("language"),
                "author": {"@type": "Person", "name": r["consumer"]["displayName"]},
                "reviewRating": {"@type": "Rating", "ratingValue": r["rating"], "bestRating": 5, "worstRating": 1},
            }
            for r in reviews
        ],
    }
    title = escape(str(product["name"]))
    cards = "".join(
        f"<article><h3>{escape(r.get('title') or '')}</h3><p>{escape(r.get('text') or '')}</p></article>"
        for r in reviews
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<script type="application/ld+json">{script_json(product)}</script></head>'
        f"<body><h1>{title}</h1>{cards}</body></html>"
    )


def render_about() -> str:
    """A shop page without any review markup (a sitemap filter keeps it out of crawls)."""
    return '<!DOCTYPE html><html lang="en"><head><title>About</title></head><body>About us</body></html>'


def app_feed_url(origin: str, country: str, page: int) -> str:
    """The demo feed's URL for one page."""
    return f"{origin}/appstore/{country}/rss/customerreviews/page={page}/id={APP_ID}/sortby=mostrecent/json"


def render_app_feed(company: DemoCompany, country: str, page: int, origin: str) -> str:
    """One page of the App Store customer-reviews feed (documented JSON shape)."""
    reviews = list(company.reviews)
    if company.slug == SHOP_COMPANY:
        reviews = reviews[SHOP_REVIEWS_PER_PRODUCT * len(SHOP_PRODUCTS):]  # the product pages show the first ones
    last = min(APP_MAX_PAGES, max(1, -(-len(reviews) // APP_PER_PAGE)))
    links = [
        {"attributes": {"rel": "alternate", "type": "text/html", "href": f"{origin}/app/id{APP_ID}"}},
        {"attributes": {"rel": "self", "href": app_feed_url(origin, country, page)}},
        {"attributes": {"rel": "first", "href": app_feed_url(origin, country, 1)}},
        {"attributes": {"rel": "last", "href": app_feed_url(origin, country, last)}},
    ]
    if page > 1:
        links.append({"attributes": {"rel": "previous", "href": app_feed_url(origin, country, page - 1)}})
    if page < last:
        links.append({"attributes": {"rel": "next", "href": app_feed_url(origin, country, page + 1)}})
    feed: dict[str, Any] = {
        "author": {"name": {"label": "iTunes Store"}, "uri": {"label": "http://www.apple.com/us/itunes/"}},
        "updated": {"label": reviews[0]["dates"]["publishedDate"] if reviews else ""},
        "link": links,
        "id": {"label": app_feed_url(origin, country, page)},
        "title": {"label": "iTunes Store: Customer Reviews"},
    }
    chunk = reviews[(page - 1) * APP_PER_PAGE: page * APP_PER_PAGE] if 1 <= page <= last else []
    entries = [
        {
            "author": {"uri": {"label": f"{origin}/reviews/id{r['consumer']['id']}"},
                       "name": {"label": r["consumer"]["displayName"]}, "label": ""},
            "updated": {"label": r["dates"]["publishedDate"]},
            "im:rating": {"label": str(r["rating"])},
            "im:version": {"label": "5.2.0"},
            "id": {"label": str(int(r["id"][:12], 16))},
            "title": {"label": r.get("title") or ""},
            "content": {"label": r.get("text") or "", "attributes": {"type": "text"}},
            "link": {"attributes": {"rel": "related", "href": f"{origin}/app/id{APP_ID}"}},
            "im:voteSum": {"label": "0"},
            "im:contentType": {"attributes": {"term": "Application", "label": "Application"}},
            "im:voteCount": {"label": "0"},
        }
        for r in chunk
    ]
    if len(entries) == 1:
        feed["entry"] = entries[0]  # the real feed gives a bare object when there is one entry
    elif entries:
        feed["entry"] = entries
    return json.dumps({"feed": feed}, ensure_ascii=False)
