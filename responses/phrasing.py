"""Per-language reply phrasing: the sentences drafts are assembled from, validated on load.

One YAML file per language under ``responses/phrasing/`` (layout: ``docs/responses.md``). Phrases are
written by people; code only picks among them and fills a closed set of placeholders with values from the
playbook (never with review text), so nothing a reviewer writes is ever treated as a template.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.topics import BUILTIN_TOPICS

PHRASING_DIR = Path(__file__).parent / "phrasing"

TOPICS = BUILTIN_TOPICS
# Finer complaints inside a topic; detected from the evidence sentence (responses/details.py).
DETAILS = {
    "delivery": ("late", "damaged", "lost"),
    "product_quality": ("defective", "not_as_described"),
    "price_billing": ("overcharged", "refund_missing", "too_expensive"),
    "staff_attitude": ("rude", "unhelpful"),
    "waiting_time": ("long_wait",),
    "no_reply": ("unanswered",),
    "order_returns": ("wrong_item", "missing_item", "return_refused"),
    "website_app": ("app_crash", "login", "checkout"),
    "cleanliness_ambience": ("dirty", "noisy"),
    "food_drink": ("cold", "poor_taste"),
}
# What the business can offer; the playbook lists which of these it really does, per topic.
SOLUTION_KINDS = {
    "refund": ("days",),
    "partial_refund": ("days",),
    "replacement": (),
    "redelivery": (),
    "repair": (),
    "free_return": ("days",),
    "callback": ("hours",),
    "voucher": ("amount",),
    "discount": ("percent",),
    "investigate": ("days",),
    "manager_review": (),
    "team_feedback": (),
    "fix_in_update": (),
}
ASK_KINDS = ("order", "visit", "booking", "account")
PLACEHOLDERS = {"name", "contact", "days", "hours", "amount", "percent", "business"}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

Variants = list[str]


class PhrasingError(Exception):
    """A phrasing file is missing, unreadable or breaks the layout; the message names file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Named(_Strict):
    named: Variants = Field(min_length=2)
    anonymous: Variants = Field(min_length=2)


class Greeting(_Strict):
    """Salutation per tone, with and without the reviewer's name."""

    formal: _Named
    friendly: _Named


class ByTone(_Strict):
    """One list per tone."""

    formal: Variants = Field(min_length=2)
    friendly: Variants = Field(min_length=2)


class Closing(_Strict):
    """Last sentence before the sign-off."""

    negative: Variants = Field(min_length=2)
    positive: Variants = Field(min_length=2)
    neutral: Variants = Field(min_length=2)


class Markers(_Strict):
    """Lower-case fragments the verifier looks for in any draft (also a generator's) in this language."""

    apology: list[str] = Field(min_length=1)
    thanks: list[str] = Field(min_length=1)
    invite: list[str] = Field(min_length=1)
    # Money only after a check ("once we have checked the details with you, ..."): every refund and partial_refund
    # sentence contains one of these, in this file and in any generator's draft.
    conditional: list[str] = Field(min_length=1)
    # Words that make a sentence an offer, per solution kind: an offer of a kind the playbook lacks fails.
    offers: dict[str, list[str]]
    # Arguing, blaming the customer, asking to change or remove the review: never allowed.
    forbidden: list[str] = Field(min_length=3)


class Phrasing(_Strict):
    """Every phrase of one language."""

    language: str = Field(pattern=r"^[a-z]{2,3}$")
    name: str
    direction: Literal["ltr", "rtl"] = "ltr"
    greeting: Greeting
    thanks_feedback: Variants = Field(min_length=3)
    apology: dict[str, Variants]
    apology_also: dict[str, Variants]
    apology_detail: dict[str, Variants]
    interest: Variants = Field(min_length=3)
    ask: dict[str, Variants]
    invite: Variants = Field(min_length=3)
    solution: dict[str, Variants]
    thanks_positive: Variants = Field(min_length=3)
    praise: dict[str, Variants]
    mixed_bridge: Variants = Field(min_length=2)
    neutral_thanks: Variants = Field(min_length=2)
    question_thanks: Variants = Field(min_length=2)
    question_invite: Variants = Field(min_length=2)
    closing: Closing
    sign_off: ByTone
    # Signs a reply in this language when the playbook has no signature for it (an English signature under a Polish
    # reply reads as a form letter): "The {business} team" in the language's own words.
    team_signature: str = Field(min_length=1, max_length=120)
    markers: Markers

    @field_validator("apology", "apology_also", "praise")
    @classmethod
    def _every_topic(cls, value: dict[str, Variants]) -> dict[str, Variants]:
        missing = [t for t in (*TOPICS, "general") if t not in value]
        unknown = [t for t in value if t not in (*TOPICS, "general")]
        if missing or unknown:
            raise ValueError(f"expected one list per topic and 'general'; missing {missing}, unknown {unknown}")
        return _min_variants(value, 2)

    @field_validator("apology_detail")
    @classmethod
    def _every_detail(cls, value: dict[str, Variants]) -> dict[str, Variants]:
        expected = {f"{t}.{d}" for t, ds in DETAILS.items() for d in ds}
        missing, unknown = sorted(expected - set(value)), sorted(set(value) - expected)
        if missing or unknown:
            raise ValueError(f"expected one list per topic.detail; missing {missing}, unknown {unknown}")
        return _min_variants(value, 2)

    @field_validator("ask")
    @classmethod
    def _every_ask(cls, value: dict[str, Variants]) -> dict[str, Variants]:
        missing = [k for k in ASK_KINDS if k not in value]
        if missing or set(value) - set(ASK_KINDS):
            raise ValueError(f"expected keys {list(ASK_KINDS)}; missing {missing}")
        return _min_variants(value, 2)

    @field_validator("solution")
    @classmethod
    def _every_solution(cls, value: dict[str, Variants]) -> dict[str, Variants]:
        missing = [k for k in SOLUTION_KINDS if k not in value]
        if missing or set(value) - set(SOLUTION_KINDS):
            raise ValueError(f"expected keys {list(SOLUTION_KINDS)}; missing {missing}")
        for kind, variants in value.items():
            for text in variants:
                needed = set(SOLUTION_KINDS[kind])
                if not needed <= set(_PLACEHOLDER.findall(text)):
                    raise ValueError(f"{kind}: {text!r} must use {sorted(needed)}")
        return _min_variants(value, 2)

    @model_validator(mode="after")
    def _placeholders_known(self) -> Phrasing:
        for key, text in self.all_phrases():
            used = set(_PLACEHOLDER.findall(text))
            if used - PLACEHOLDERS:
                raise ValueError(f"{key}: unknown placeholder(s) {sorted(used - PLACEHOLDERS)} in {text!r}")
            if "{name}" in text and not key.startswith("greeting") and not key.startswith("sign_off"):
                raise ValueError(f"{key}: {{name}} is only allowed in greetings")
            if "{{" in text or "{%" in text:
                raise ValueError(f"{key}: template syntax is not allowed in {text!r}")
        missing = [k for k in SOLUTION_KINDS if k not in self.markers.offers]
        if missing:
            raise ValueError(f"markers.offers: missing {missing}")
        return self

    def all_phrases(self) -> list[tuple[str, str]]:
        """Every phrase with a dotted key saying where it lives (markers excluded)."""
        out: list[tuple[str, str]] = []

        def walk(prefix: str, node: object) -> None:
            if isinstance(node, str):
                out.append((prefix, node))
            elif isinstance(node, list):
                for i, item in enumerate(node):
                    walk(f"{prefix}[{i}]", item)
            elif isinstance(node, dict):
                for k, v in node.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)

        data = self.model_dump(exclude={"markers", "language", "name", "direction"})
        walk("", data)
        return out


def _min_variants(value: dict[str, Variants], n: int) -> dict[str, Variants]:
    short = [k for k, v in value.items() if len(v) < n]
    if short:
        raise ValueError(f"expected at least {n} variants each; too few for {short}")
    return value


def available_languages(directory: Path = PHRASING_DIR) -> list[str]:
    """Language codes that have a phrasing file."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_phrasing_file(path: Path) -> Phrasing:
    """Read and validate one phrasing file; errors name the file and the key."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PhrasingError(f"{path}: cannot read phrasing: {exc}") from None
    try:
        phrasing = Phrasing.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(str(p) for p in e['loc']) or '<top>'}: {e['msg']}" for e in exc.errors()]
        raise PhrasingError("\n".join(lines)) from None
    if phrasing.language != path.stem:
        raise PhrasingError(f"{path}: language: expected {path.stem!r} (the file name), got {phrasing.language!r}")
    return phrasing


@cache
def load_phrasing(language: str, directory: Path = PHRASING_DIR) -> Phrasing | None:
    """The phrasing for a language, or None when we have none for it."""
    path = directory / f"{language}.yaml"
    return load_phrasing_file(path) if path.exists() else None
