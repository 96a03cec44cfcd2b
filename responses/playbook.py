"""The business playbook: what a reply may offer per topic, how to reach the business, who signs.

A YAML file per business (``responses/example_playbook.yaml`` is the commented example that
``reviewdesk init`` writes). Validated with pydantic; every error names the file and the key.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from responses.phrasing import ASK_KINDS, SOLUTION_KINDS, load_phrasing

EXAMPLE_PLAYBOOK = Path(__file__).parent / "example_playbook.yaml"
_IDENT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")
PLAYBOOK_DIR = Path(__file__).parent / "playbooks"
# Offers that pay money. A reviewer who finds the prices too high is never offered money for it (the price is the
# price: a refund for "too expensive" is a gift to anyone who complains); the verifier enforces it as well.
MONEY_KINDS = ("refund", "partial_refund", "voucher", "discount")
NO_MONEY_DETAILS = ("price_billing.too_expensive",)


class PlaybookError(Exception):
    """The playbook is missing or invalid; the message names the file, the key and what was expected."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Offer(_Strict):
    """One thing the business really offers, with its limits."""

    kind: str = Field(description=f"One of: {', '.join(SOLUTION_KINDS)}")
    days: int | None = Field(default=None, ge=1, le=365)
    hours: int | None = Field(default=None, ge=1, le=720)
    percent: int | None = Field(default=None, ge=1, le=100)
    amount: str | None = Field(default=None, min_length=1, max_length=40, description="Formatted, e.g. '20 EUR'.")

    @model_validator(mode="after")
    def _params(self) -> Offer:
        if self.kind not in SOLUTION_KINDS:
            raise ValueError(f"kind {self.kind!r} is not a known offer; expected one of {', '.join(SOLUTION_KINDS)}")
        needed = SOLUTION_KINDS[self.kind]
        missing = [p for p in needed if getattr(self, p) is None]
        if missing:
            raise ValueError(f"offer {self.kind!r} needs {', '.join(missing)}")
        extra = [p for p in ("days", "hours", "percent", "amount") if p not in needed and getattr(self, p) is not None]
        if extra:
            raise ValueError(f"offer {self.kind!r} takes no {', '.join(extra)}")
        return self

    def params(self) -> dict[str, str]:
        """Placeholder values for the phrasing."""
        return {p: str(getattr(self, p)) for p in SOLUTION_KINDS[self.kind]}


class Contact(_Strict):
    """Private channels the reply invites the reviewer to."""

    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 ()\-]{5,20}$")
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    preferred: Literal["email", "phone", "url"] = "email"

    @model_validator(mode="after")
    def _preferred_set(self) -> Contact:
        if getattr(self, self.preferred) is None:
            raise ValueError(f"preferred channel {self.preferred!r} is not filled in")
        return self

    def channel(self) -> str:
        """The channel named in replies."""
        return str(getattr(self, self.preferred))


class Playbook(_Strict):
    """Everything a draft may say on behalf of one business."""

    business: str = Field(min_length=1, max_length=80)
    type: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$",
                             description="The business type this playbook was written for (documentation).")
    default_language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")
    tone: Literal["formal", "friendly"] = "formal"
    signature: str | dict[str, str] = Field(description="One signature, or one per language code.")
    contact: Contact
    use_name: bool = Field(default=True, description="Greet reviewers by the name the platform shows.")
    ask_for: Literal["order", "visit", "booking", "account"] = "order"
    ask_for_topics: dict[str, Literal["order", "visit", "booking", "account"]] = Field(default_factory=dict)
    solutions: dict[str, list[Offer]] = Field(description="Per topic (or 'default') the offers, best first.")
    max_offers: int = Field(default=2, ge=1, le=3, description="Offers named in one reply at most.")
    never_promise: list[str] = Field(default_factory=list, description="Phrases no reply may contain.")

    @field_validator("solutions")
    @classmethod
    def _topics(cls, value: dict[str, list[Offer]]) -> dict[str, list[Offer]]:
        bad = [k for k in value if not _IDENT.match(k)]
        if bad:
            raise ValueError(f"keys must be a topic or topic.detail in lower_case; got {bad}")
        if "default" not in value or not value["default"]:
            raise ValueError("needs a 'default' list: the offers for topics without their own")
        return value

    @field_validator("signature")
    @classmethod
    def _signature(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        texts = [value] if isinstance(value, str) else list(value.values())
        if not texts or any(not t.strip() or len(t) > 200 for t in texts):
            raise ValueError("expected a non-empty signature of at most 200 characters")
        return value

    @model_validator(mode="after")
    def _asks(self) -> Playbook:
        for topic, ask in self.ask_for_topics.items():
            if ask not in ASK_KINDS:
                raise ValueError(f"ask_for_topics.{topic}: expected one of {ASK_KINDS}")
        return self

    def offers_for(self, topic: str, detail: str | None = None) -> list[Offer]:
        """The offers for a topic's detail ("price_billing.overcharged"), else the topic, else the default list.

        No money for a price found too high, whatever the playbook lists.
        """
        key = detail if detail and "." in detail else f"{topic}.{detail}" if detail else None
        offers = list((key and self.solutions.get(key)) or self.solutions.get(topic) or self.solutions["default"])
        if key in NO_MONEY_DETAILS:
            offers = [o for o in offers if o.kind not in MONEY_KINDS]
        return offers

    def all_offers(self) -> list[Offer]:
        """Every offer the playbook makes, for any topic."""
        return [o for offers in self.solutions.values() for o in offers]

    def signature_for(self, language: str) -> str:
        """The signature in a language; else the language's "{business} team" (phrasing ``team_signature``), so a
        Polish reply is not signed in English; else the default language's. One text is used for every language."""
        if isinstance(self.signature, str):
            return self.signature
        if language in self.signature:
            return self.signature[language]
        phrasing = load_phrasing(language) if re.fullmatch(r"[a-z]{2,3}", language or "") else None
        if phrasing is not None and phrasing.team_signature:
            return phrasing.team_signature.replace("{business}", self.business)
        return self.signature.get(self.default_language) or next(iter(self.signature.values()))

    def ask_kind(self, topic: str | None) -> str:
        """What to ask the reviewer for (privately) about this topic."""
        return self.ask_for_topics.get(topic or "", self.ask_for)

    def fingerprint(self) -> str:
        """Stable hash of the playbook's content (stored with each draft)."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()[:16]


def playbook_types() -> list[str]:
    """Business types with a bundled playbook (``responses/playbooks/<type>.yaml``)."""
    return sorted(p.stem for p in PLAYBOOK_DIR.glob("*.yaml"))


def type_playbook(business_type: str) -> Path:
    """The bundled playbook for a business type; PlaybookError names the known types."""
    path = PLAYBOOK_DIR / f"{business_type}.yaml"
    if not _IDENT.match(business_type or "") or "." in business_type or not path.exists():
        raise PlaybookError(f"no bundled playbook for business type {business_type!r}; expected one of "
                            f"{', '.join(playbook_types())}")
    return path


def parse_playbook(data: object, path: Path | str = "<playbook>") -> Playbook:
    """Validate already-parsed playbook data."""
    if not isinstance(data, dict):
        raise PlaybookError(f"{path}: expected a mapping at the top (business, contact, solutions, ...)")
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            key = ".".join(str(p) for p in e["loc"]) or "<top>"
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{path}: {key}: {msg}")
        raise PlaybookError("\n".join(lines)) from None


def load_playbook(path: Path) -> Playbook:
    """Read and validate a playbook file."""
    if not path.exists():
        raise PlaybookError(f"{path}: playbook file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PlaybookError(f"{path}: not valid YAML: {exc}") from None
    return parse_playbook(data, path)
