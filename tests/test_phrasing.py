"""Every phrasing file loads, covers the required languages and keeps the verifier's markers honest."""

from __future__ import annotations

import pytest

from responses.phrasing import PLACEHOLDERS, SOLUTION_KINDS, available_languages, load_phrasing

# Issue 21: at least these; a language without phrasing gets no draft ("write this reply by hand").
REQUIRED = {"en", "ru", "uk", "pl", "hu", "he", "hy", "de", "fr", "es", "it", "pt", "nl", "da", "sv", "nb", "fi", "cs"}


def test_required_languages_have_phrasing() -> None:
    assert set(available_languages()) >= REQUIRED


@pytest.mark.parametrize("lang", sorted(available_languages()))
def test_phrasing_parts_carry_their_markers(lang: str) -> None:
    p = load_phrasing(lang)
    assert p is not None
    m = p.markers

    def has(text: str, frags: list[str]) -> bool:
        low = text.lower()
        return any(f in low for f in frags)

    for key, text in p.all_phrases():
        assert not has(text, m.forbidden), f"{lang} {key}: forbidden fragment in {text!r}"
        if key.startswith(("apology", "apology_also", "apology_detail")):
            assert has(text, m.apology), f"{lang} {key}: no apology marker in {text!r}"
        if key.startswith(("thanks_feedback", "thanks_positive", "neutral_thanks")):
            assert has(text, m.thanks), f"{lang} {key}: no thanks marker in {text!r}"
        if key.startswith("invite"):
            assert "{contact}" in text and has(text, m.invite), f"{lang} {key}: {text!r}"
        if key.startswith("solution."):
            kind = key.split(".")[1].split("[")[0]
            assert has(text, m.offers[kind]), f"{lang} {key}: no offers.{kind} marker in {text!r}"
        elif not key.startswith("apology"):
            # An apology may name a refund or a return that went wrong without offering one.
            for kind, frags in m.offers.items():
                assert not has(text, frags), f"{lang} {key}: offer marker of {kind} outside solutions: {text!r}"
    assert set(m.offers) == set(SOLUTION_KINDS)
    assert "name" in PLACEHOLDERS
    if lang == "he":
        assert p.direction == "rtl"
    # Signed in the reply's language when the playbook has no signature for it.
    assert p.team_signature and "{business}" in p.team_signature
    # Money only after checking: every refund sentence carries the language's "once we have checked" words.
    for text in (*p.solution["refund"], *p.solution["partial_refund"]):
        assert has(text, m.conditional), (lang, text)
