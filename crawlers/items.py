"""The review item every spider yields, and its validation.

Spiders yield plain dicts (so ``scrapy crawl ... -O reviews.jsonl`` writes flat JSON lines);
``ReviewItem`` is the contract those dicts satisfy, checked once in an item pipeline and again
by ``pipeline.ingest`` when a feed is loaded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Fields that define a review's content: a change in any of them is an edit (a new version).
# The permalink is not content: a site moving hosts does not edit its reviews.
CONTENT_FIELDS: tuple[str, ...] = (
    "rating",
    "title",
    "text",
    "language",
    "author_name",
    "author_country",
    "published_at",
    "updated_at",
    "experienced_at",
    "reply_text",
    "reply_published_at",
)


class ReviewItem(BaseModel):
    """One public review as a spider or importer found it."""

    # Unknown keys are ignored, not rejected: a newer spider's extra field must not break ingest.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    source: str = Field(min_length=1, description="Configured source name (or the spider name).")
    platform: str = Field(min_length=1, description="trustpilot, schema_org, appstore, import ...")
    review_id: str = Field(min_length=1, description="The platform's own id for the review.")
    rating: float = Field(ge=1, le=5, description="Star rating on a 1-5 scale.")
    title: str | None = None
    text: str = ""
    language: str | None = Field(default=None, description="Language the platform declares.")
    author_name: str | None = None
    author_country: str | None = None
    published_at: datetime
    updated_at: datetime | None = None
    experienced_at: datetime | None = None
    reply_text: str | None = None
    reply_published_at: datetime | None = None
    url: str | None = Field(default=None, description="Permalink of the review.")
    page_url: str | None = Field(default=None, description="Page the review was read from.")
    crawled_at: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("published_at", "updated_at", "experienced_at", "reply_published_at", "crawled_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # Naive timestamps from exports are taken as UTC so comparisons never mix kinds.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("review_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # App Store and CSV exports give numeric ids; the key is always text.
        return str(value) if isinstance(value, int) else value


def utc_now_iso() -> str:
    """Current UTC time as an ISO 8601 string (second precision)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
