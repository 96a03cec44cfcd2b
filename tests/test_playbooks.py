"""Playbooks per business type (issue 21): what each type asks for and offers, money never for "too expensive",
signatures in the reply's language, and a reviewer's name never blocking a draft."""

from __future__ import annotations

import pytest
import yaml

from models.topics import business_type_file, business_types
from responses.compose import PhrasebookGenerator, ReplyPlan, TopicPoint, choose_offers
from responses.phrasing import available_languages, load_phrasing
from responses.playbook import (
    MONEY_KINDS,
    Offer,
    load_playbook,
    parse_playbook,
    playbook_types,
    type_playbook,
)
from responses.verify import VerifyContext, verify_text

ASKS = {"restaurant": "visit", "hotel": "booking", "shop": "order", "app": "account", "local_service": "visit"}


def test_every_business_type_has_a_playbook() -> None:
    assert playbook_types() == sorted(business_types()) == sorted(ASKS)


@pytest.mark.parametrize("kind", sorted(ASKS))
def test_type_playbook_fits_its_type(kind: str) -> None:
    book = load_playbook(type_playbook(kind))
    assert book.type == kind and book.ask_for == ASKS[kind]
    # Offers only for topics the type can find (a hotel has no delivery, a restaurant no website).
    allowed = set(yaml.safe_load(business_type_file(kind).read_text(encoding="utf-8"))["type"]["topics"])
    topics = {key.split(".")[0] for key in book.solutions} - {"default"}
    assert topics <= allowed, topics - allowed
    # No money for a price found too high, and no unconditional money for a plain price complaint either.
    assert not {o.kind for o in book.offers_for("price_billing", "price_billing.too_expensive")} & set(MONEY_KINDS)
    assert not {o.kind for o in book.offers_for("price_billing")} & set(MONEY_KINDS)
    if kind in ("restaurant", "hotel", "local_service"):
        assert "redelivery" not in {o.kind for o in book.all_offers()}
        assert book.ask_kind("food_drink") != "order" and book.ask_kind(None) != "order"


def test_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(Exception, match="expected one of app, hotel"):
        type_playbook("bakery")


BASE = {"business": "Acme", "signature": {"en": "Anna, Acme"}, "contact": {"email": "care@acme.example"},
        "solutions": {"default": [{"kind": "investigate", "days": 2}],
                      "price_billing": [{"kind": "refund", "days": 14}],
                      "price_billing.too_expensive": [{"kind": "refund", "days": 14}, {"kind": "team_feedback"}],
                      "delivery.late": [{"kind": "voucher", "amount": "10 EUR"}]},
        "never_promise": ["compensation"]}


def test_offers_per_detail_and_never_money_for_too_expensive() -> None:
    book = parse_playbook(BASE)
    expensive = [TopicPoint("price_billing", "negative", "price_billing.too_expensive")]
    # The playbook lists a refund for it, the built-in rule removes it.
    assert [o.kind for o in choose_offers(book, expensive)] == ["team_feedback"]
    assert [o.kind for o in choose_offers(book, [TopicPoint("delivery", "negative", "delivery.late")])] == ["voucher"]
    assert [o.kind for o in choose_offers(book, [TopicPoint("delivery", "negative")])] == ["investigate"]
    with pytest.raises(Exception, match=r"topic or topic\.detail"):
        parse_playbook({**BASE, "solutions": {**BASE["solutions"], "Bad Key": []}})


def _plan(book: object, **kw: object) -> ReplyPlan:
    values = dict(review_id="r1", kind="negative", language="en", language_fallback=False, tone="formal",
                  name=None, complaints=[TopicPoint("price_billing", "negative")], praises=[], offers=[],
                  ask="visit", contact="care@acme.example", signature="Anna, Acme", business="Acme", max_chars=2048)
    values.update(kw)
    return ReplyPlan(**values)  # type: ignore[arg-type]


def test_verifier_refuses_money_for_a_price_found_too_high() -> None:
    book = parse_playbook(BASE)
    text = PhrasebookGenerator().generate(_plan(book, offers=[Offer(kind="refund", days=14)]), 1)[0]
    ctx = dict(kind="negative", language="en", playbook=book, max_chars=2048)
    assert not verify_text(text, VerifyContext(**ctx))  # type: ignore[arg-type]
    problems = verify_text(text, VerifyContext(**ctx, money_allowed=False))  # type: ignore[arg-type]
    assert any(p.startswith("money offered for a price found too high") for p in problems), problems


def test_a_name_never_blocks_a_draft() -> None:
    # A reviewer called "Compensation" used to fail every variant on `never_promise: compensation`.
    book = parse_playbook(BASE)
    plan = _plan(book, name="Compensation", offers=[Offer(kind="investigate", days=2)])
    text = PhrasebookGenerator().generate(plan, 1)[0]
    assert "Compensation" in text.splitlines()[0]
    ctx = dict(kind="negative", language="en", playbook=book, max_chars=2048)
    assert any("never_promise" in p for p in verify_text(text, VerifyContext(**ctx)))  # type: ignore[arg-type]
    assert not verify_text(text, VerifyContext(**ctx, name="Compensation"))  # type: ignore[arg-type]
    # The phrase itself is still refused anywhere else in the reply.
    promised = text.replace("We hope", "We promise compensation and hope", 1) if "We hope" in text else text + \
        "\nWe promise compensation."
    problems = verify_text(promised, VerifyContext(**ctx, name="Compensation"))  # type: ignore[arg-type]
    assert any("never_promise" in p for p in problems)


@pytest.mark.parametrize("lang", sorted(available_languages()))
def test_signature_in_the_reply_language(lang: str) -> None:
    book = parse_playbook(BASE)  # signs in English only
    phrasing = load_phrasing(lang)
    assert phrasing is not None and phrasing.team_signature and "{business}" in phrasing.team_signature
    expected = "Anna, Acme" if lang == "en" else phrasing.team_signature.replace("{business}", "Acme")
    assert book.signature_for(lang) == expected
    assert parse_playbook({**BASE, "signature": "Anna"}).signature_for(lang) == "Anna"  # one text: every language


def test_verifier_refuses_a_bare_public_refund() -> None:
    # What a language model (or an edit) might write: money promised before anyone has checked the case.
    book = parse_playbook(BASE)
    plan = _plan(book, offers=[Offer(kind="refund", days=14)])
    text = PhrasebookGenerator().generate(plan, 1)[0]
    ctx = VerifyContext(kind="negative", language="en", playbook=book, max_chars=2048)
    assert not verify_text(text, ctx)  # the phrasing's refund sentence names the check first
    sentence = next(s for s in text.replace("\n", " ").split(". ") if "refund" in s.lower())
    bare = text.replace(sentence, "We will refund you in full within 14 days")
    assert "money promised before a check: refund" in verify_text(bare, ctx)
