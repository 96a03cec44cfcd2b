"""Page objects: each turns one response into review items and knows nothing of requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from crawlers.items import ReviewItem


@dataclass
class ParsedPage:
    """What a parser found on one page: its reviews and where the next page is."""

    items: list[ReviewItem]
    next_url: str | None = None
    page_number: int | None = None
    total_count: int | None = None
    warnings: list[str] = field(default_factory=list)
