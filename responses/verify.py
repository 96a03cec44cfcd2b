"""The verifier: every draft, from any generator, is checked against the reply rules before anyone sees it.

Rules (each failure is a named problem, stored with the variant): structure complete for the reply's kind;
written in the expected language; every offer traceable to the playbook (kind and numbers); nothing from
``never_promise``; no personal data from the review echoed (e-mails, phone numbers, order or account
numbers) and no contact details other than the business's own; no markup or template syntax; no arguing,
blaming or asking to change the review; within the platform's length limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from responses.phrasing import Phrasing, load_phrasing
from responses.playbook import MONEY_KINDS, Playbook

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
# Phone numbers: 7+ digits with the usual separators.
_PHONE = re.compile(r"\+?\d[\d ()./-]{5,}\d")
# Order / booking / account numbers: a run of 5+ digits, or a code mixing letters and digits (AB-12345, #A1234).
_REFERENCE = re.compile(r"#?\b(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{4,}\b")
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>|\{\{|\}\}|\{%|%\}|\$\{|\{[a-z_]+\}|&[a-z]+;|&#\d+;")
_SENTENCE = re.compile(r"(?<=[.!?։׃])\s+|\n+")
_NUMBER = re.compile(r"\d+")
# Bidi isolates the composer puts around right-to-left placeholders: not content.
_ISOLATES = str.maketrans("", "", "\u2066\u2067\u2068\u2069")


@dataclass
class VerifyContext:
    """What a draft is checked against."""

    kind: str
    language: str
    playbook: Playbook
    max_chars: int
    review_text: str = ""
    check_language: bool = True
    extra: dict[str, str] = field(default_factory=dict)
    # The plan answers a question (ReplyPlan.question): the reply must give the business's channel for the answer.
    question: bool = False
    # False when the only complaint is a price found too high: no refund, voucher or discount may be offered for it.
    money_allowed: bool = True
    # The name the greeting uses: a reviewer called "Compensation" must not trip `never_promise`.
    name: str | None = None


def personal_data(text: str) -> set[str]:
    """E-mails, phone numbers and reference numbers found in a text (lower-cased)."""
    found = {m.group(0).lower() for m in _EMAIL.finditer(text)}
    found |= {re.sub(r"\D", "", m.group(0)) for m in _PHONE.finditer(text) if len(re.sub(r"\D", "", m.group(0))) >= 7}
    found |= {m.group(0).lstrip("#").lower() for m in _REFERENCE.finditer(text)}
    return {f for f in found if f}


def _has(text: str, fragments: list[str]) -> bool:
    return any(f in text for f in fragments)


def _structure(low: str, ctx: VerifyContext, p: Phrasing) -> list[str]:
    m = p.markers
    problems = []
    needs = {
        "negative": ("apology", "invite", "offer", "contact"),
        "mixed": ("thanks", "apology", "invite", "offer", "contact"),
        "positive": ("thanks",),
        "neutral": ("thanks",),
    }[ctx.kind]
    if ctx.question and "contact" not in needs:
        needs = (*needs, "invite", "contact")
    for part in needs:
        if part == "offer":
            ok = any(_has(low, frags) for frags in m.offers.values())
        elif part == "contact":
            ok = ctx.playbook.contact.channel().lower() in low
        else:
            ok = _has(low, getattr(m, part))
        if not ok:
            problems.append(f"structure: no {part} part")
    signature = ctx.playbook.signature_for(ctx.language).lower()
    if signature not in low:
        problems.append("structure: no signature")
    return problems


def _offers(text: str, ctx: VerifyContext, p: Phrasing) -> list[str]:
    allowed: dict[str, set[str]] = {}
    for offer in ctx.playbook.all_offers():
        allowed.setdefault(offer.kind, set()).update(_NUMBER.findall(" ".join(offer.params().values())))
    contact_numbers = set(_NUMBER.findall(ctx.playbook.contact.channel()))
    problems = []
    for sentence in _SENTENCE.split(text):
        low = sentence.lower()
        if _has(low, p.markers.apology):
            continue  # an apology may name a refund that went wrong without offering one
        kinds = [k for k, frags in p.markers.offers.items() if _has(low, frags)]
        for kind in kinds:
            if kind not in allowed:
                problems.append(f"offer not in playbook: {kind}")
        if kinds:
            numbers = set(_NUMBER.findall(sentence)) - contact_numbers
            ok_numbers = set().union(*(allowed.get(k, set()) for k in kinds))
            for number in sorted(numbers - ok_numbers):
                problems.append(f"offer figure not in playbook: {number}")
    for sentence in _SENTENCE.split(text):
        low = sentence.lower()
        if _has(low, p.markers.apology) or _has(low, p.markers.conditional):
            continue
        # A refund stated as a bare public promise ("We will refund you in full") is paid before anyone has looked.
        bare = [k for k in ("refund", "partial_refund") if _has(low, p.markers.offers[k])]
        if bare:
            problems.append(f"money promised before a check: {bare[0]}")
            break
    if not ctx.money_allowed:
        paid = [k for k in MONEY_KINDS if any(_has(s.lower(), p.markers.offers[k]) for s in _SENTENCE.split(text)
                                              if not _has(s.lower(), p.markers.apology))]
        if paid:
            problems.append(f"money offered for a price found too high: {paid[0]}")
    said = text.replace(ctx.name, " ") if ctx.name else text
    for phrase in ctx.playbook.never_promise:
        if phrase.lower() in said.lower():
            problems.append(f"never_promise phrase: {phrase}")
    return problems


def _privacy(text: str, ctx: VerifyContext) -> list[str]:
    problems = []
    low = text.lower()
    own = {ctx.playbook.contact.email, ctx.playbook.contact.phone, ctx.playbook.contact.url}
    own_values = {o.lower() for o in own if o}
    own_digits = {re.sub(r"\D", "", o) for o in own_values}
    for item in sorted(personal_data(ctx.review_text)):
        echoed = item in low or (item.isdigit() and item in re.sub(r"\D", "", low))
        if len(item) >= 5 and echoed and item not in own_values and item not in own_digits:
            problems.append("personal data from the review echoed")
            break
    for m in _EMAIL.finditer(text):
        if m.group(0).lower() not in own_values:
            problems.append("contact detail not the business's own: e-mail")
    for m in _URL.finditer(text):
        if not any(m.group(0).lower().startswith(o) for o in own_values):
            problems.append("link not the business's own")
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if len(digits) >= 7 and digits not in own_digits:
            problems.append("contact detail not the business's own: phone")
    return problems


def verify_text(text: str, ctx: VerifyContext) -> list[str]:
    """Problems with one draft text; an empty list means it may be shown to a community manager."""
    problems: list[str] = []
    if not text.strip():
        return ["empty draft"]
    p = load_phrasing(ctx.language)
    if len(text) > ctx.max_chars:
        problems.append(f"too long: {len(text)} > {ctx.max_chars} characters")
    plain = text.translate(_ISOLATES)
    if _MARKUP.search(plain):
        problems.append("markup or template syntax in draft")
    if p is None:
        return [*problems, f"no phrasing for {ctx.language}: cannot check structure"]
    low = plain.lower()
    forbidden = [f for f in p.markers.forbidden if f in low]
    if forbidden:
        problems.append(f"argues, blames or asks to change the review: {forbidden[0]!r}")
    problems += _structure(low, ctx, p)
    problems += _offers(plain, ctx, p)
    problems += _privacy(plain, ctx)
    if ctx.check_language:
        problems += _language(plain, ctx)
    return problems


def _language(text: str, ctx: VerifyContext) -> list[str]:
    from models.language import detect_language

    # The signature and contact are names and addresses, not language evidence.
    body = text.replace(ctx.playbook.signature_for(ctx.language), " ").replace(ctx.playbook.contact.channel(), " ")
    result = detect_language(body)
    if result.method == "detected" and result.code != ctx.language:
        return [f"language: draft reads as {result.code}, expected {ctx.language}"]
    return []


def distinct(texts: list[str], limit: float = 0.9) -> bool:
    """True when no two texts are the same or nearly so (word-set Jaccard below ``limit``)."""
    sets = [set(re.findall(r"\w+", t.lower())) for t in texts]
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            union = sets[i] | sets[j]
            if texts[i] == texts[j] or (union and len(sets[i] & sets[j]) / len(union) >= limit):
                return False
    return True
