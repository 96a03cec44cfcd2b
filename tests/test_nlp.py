"""spaCy pipelines per language: sentence splitting, the registered lemmatizer, truncation, bad input."""

from __future__ import annotations

import pytest
from spacy.language import Language

from models.nlp import (
    LEMMATIZER_FACTORY,
    LINE_BREAKS_COMPONENT,
    analyze_sentences,
    get_pipeline,
    parse,
    pipeline_lang,
    truncate,
)


def lemmas(text: str, lang: str) -> list[str]:
    return [lemma for s in analyze_sentences(text, lang) for lemma in s.lemmas]


def test_pipelines_are_cached_per_language() -> None:
    assert get_pipeline("ru") is get_pipeline("ru")
    assert get_pipeline("und") is get_pipeline("zz") is get_pipeline("xx")


def test_english_uses_the_packaged_model_without_parser_and_ner() -> None:
    nlp = get_pipeline("en")
    assert nlp.meta["name"].startswith("core_web_sm")
    assert "parser" not in nlp.pipe_names and "ner" not in nlp.pipe_names
    assert "senter" in nlp.pipe_names and nlp.pipe_names[-1] == LEMMATIZER_FACTORY


def test_lemmatizer_is_a_registered_factory() -> None:
    assert Language.has_factory(LEMMATIZER_FACTORY)
    assert get_pipeline("pl").pipe_names == [LINE_BREAKS_COMPONENT, "sentencizer", LEMMATIZER_FACTORY]
    assert get_pipeline("en").pipe_names[0] == LINE_BREAKS_COMPONENT


@pytest.mark.parametrize(
    ("code", "expected"),
    [("hy", "hy"), ("he", "he"), ("uk", "uk"), ("und", "xx"), ("", "xx"), (None, "xx"), ("ja", "xx"), ("qq", "xx")],
)
def test_language_classes_and_multilingual_fallback(code: str | None, expected: str) -> None:
    assert pipeline_lang(code) == expected


def test_russian_lemmas_from_pymorphy() -> None:
    found = lemmas("Мы отравились в ваших ресторанах и подадим в суд.", "ru")
    assert {"отравиться", "ресторан", "подать", "суд"} <= set(found)


def test_polish_lemmas_from_simplemma() -> None:
    found = lemmas("Zatrułem się w szpitalu, złożę pozew do sądu, pozwu nie wycofam.", "pl")
    assert {"zatruć", "szpital", "pozew", "sąd"} <= set(found)


def test_english_lemmas_are_lowercase_spacy_lemmas() -> None:
    found = lemmas("We were poisoned and the waiters threatened us.", "en")
    assert {"poison", "waiter", "threaten"} <= set(found)


def test_sentences_split_with_offsets() -> None:
    text = "The soup was cold. The waiter ignored us! Would I come back? No."
    sentences = analyze_sentences(text, "en")
    assert [s.text for s in sentences] == ["The soup was cold.", "The waiter ignored us!", "Would I come back?", "No."]
    for s in sentences:
        assert text[s.start_char:s.end_char] == s.text


@pytest.mark.parametrize(("text", "expected"), [
    # The English senter splits "No" | ". Never again."; the full stop belongs to "No".
    ("Would I come back? No. Never again.", ["Would I come back?", "No.", "Never again."]),
    ("No. Never again.", ["No.", "Never again."]),
    # Punctuation that opens the next sentence, or stands apart, stays where it is.
    ('He said "no". We left.', ['He said "no".', "We left."]),
    ("I asked for a refund (twice). Nothing.", ["I asked for a refund (twice).", "Nothing."]),
    ("Ok... The food was cold.", ["Ok...", "The food was cold."]),
])
def test_punctuation_stays_with_the_sentence_it_closes(text: str, expected: list[str]) -> None:
    sentences = analyze_sentences(text, "en")
    assert [s.text for s in sentences] == expected
    for s in sentences:
        assert text[s.start_char:s.end_char] == s.text
    assert sentences[0].lemmas[-1] in {".", "?", "!", "..."}


@pytest.mark.parametrize("lang", ["en", "ru", "pl", "no", "he", "hy", "und"])
def test_line_breaks_end_sentences_and_layout_is_trimmed(lang: str) -> None:
    """Lines without full stops are sentences of their own; no sentence starts or ends with a space or break."""
    text = "Great place\nFood was cold\r\nStaff rude\n\n  Parking ok.  \n"
    sentences = analyze_sentences(text, lang)
    assert [s.text for s in sentences] == ["Great place", "Food was cold", "Staff rude", "Parking ok."]
    for s in sentences:
        assert text[s.start_char:s.end_char] == s.text
    # Without line breaks nothing changes: a line break is a boundary, a space is not.
    assert [s.text for s in analyze_sentences("Great place Food was cold", lang)] == ["Great place Food was cold"]


def test_trimming_keeps_the_encoder_tokens() -> None:
    """Leading layout whitespace tokenises to nothing, so trimming it changes no sentence vector."""
    from models.encoder import Encoder

    tokenizer = Encoder.load(threads=1).tokenizer
    ids = tokenizer("passage: Food was cold", add_special_tokens=False)["input_ids"]
    for lead in ("\n", "\n\n", "\r\n", " \n  ", "\u2028"):
        assert tokenizer(f"passage: {lead}Food was cold", add_special_tokens=False)["input_ids"] == ids


@pytest.mark.parametrize(
    ("lang", "text", "n"),
    [
        ("ru", "Еда холодная. Официант хамил! Больше не придём.", 3),
        ("hu", "Az étel hideg volt. A pincér udvariatlan volt.", 2),
        ("he", "האוכל היה קר. המלצר היה גס רוח.", 2),
        ("hy", "Ուտելիքը սառն էր։ Մատուցողը կոպիտ էր։", 2),
    ],
)
def test_blank_pipelines_split_sentences(lang: str, text: str, n: int) -> None:
    assert len(analyze_sentences(text, lang)) == n


def test_long_text_is_truncated_and_flagged() -> None:
    text = "The food was fine. " * 6000  # ~114,000 characters
    parsed = parse(text, "en")
    assert parsed.truncated and parsed.original_chars == len(text)
    assert len(parsed.doc.text) <= 20_000
    assert truncate("short", 100) == ("short", False)


@pytest.mark.parametrize("text", ["", "   ", "👍🔥", "\ud800", "a\u200bb", "\u202bשלום\u202c"])
def test_bad_input_does_not_crash(text: str) -> None:
    for lang in ("en", "ru", "und"):
        for s in analyze_sentences(text, lang):
            s.text.encode("utf-8")


def test_batched_analysis_matches_single_calls() -> None:
    from models.nlp import analyze_sentences_many, parse_many

    texts = ["Еда холодная. Официант хамил!", "The soup was cold. We left.", "Zupa zimna.", ""]
    langs = ["ru", "en", "pl", None]
    batched = analyze_sentences_many(texts, langs)
    assert batched == [analyze_sentences(t, lang) for t, lang in zip(texts, langs, strict=True)]
    first = parse_many(texts, langs)
    assert all(a is b for a, b in zip(first, parse_many(texts, langs), strict=True))  # served from the cache


# ------------------------------------------------------------------ clauses


def _clause_texts(text: str, lang: str | None) -> list[str]:
    from models.nlp import clauses

    return [text[a:b] for a, b in clauses(text, lang)]


@pytest.mark.parametrize(("lang", "text", "expected"), [
    ("en", "The order took three weeks to arrive and nobody answered my emails",
     ["The order took three weeks to arrive", "and nobody answered my emails"]),
    ("en", "It took 2 weeks to arrive, they don't respond to emails, no tracking updates at all",
     ["It took 2 weeks to arrive", "they don't respond to emails", "no tracking updates at all"]),
    ("ru", "Сайт завис при оформлении, деньги списались два раза, а поддержка молчит",
     ["Сайт завис при оформлении", "деньги списались два раза", "а поддержка молчит"]),
    ("pl", "Paczka przyszła po dwóch tygodniach i nikt nie odpowiada na maile",
     ["Paczka przyszła po dwóch tygodniach", "i nikt nie odpowiada na maile"]),
    # A conjunction cuts only when both sides have four words: "fish and chips" stays whole.
    ("en", "We ordered fish and chips with extra sauce", []),
    # Pieces under three words join their neighbour instead of standing alone.
    ("en", "Sadly, the soup was cold and the bread was stale yesterday",
     ["Sadly, the soup was cold", "and the bread was stale yesterday"]),
    # Hebrew's "and" is a prefix glued to its word: only punctuation and free-standing conjunctions cut.
    ("he", "המשלוח איחר בשלושה שבועות, ואף אחד לא ענה למיילים שלי",
     ["המשלוח איחר בשלושה שבועות", "ואף אחד לא ענה למיילים שלי"]),
    ("xx", "Delivery was late, support stays silent, refund still missing",
     ["Delivery was late", "support stays silent", "refund still missing"]),
    ("xx", "Delivery late, support silent, refund missing", []),
])
def test_clauses_cut_long_sentences(lang: str, text: str, expected: list[str]) -> None:
    assert _clause_texts(text, lang) == expected


@pytest.mark.parametrize("text", ["", "Great.", "Cold soup, sadly", "   ,  ;  ", "👍🔥, 👍🔥", "a\u200bb - c"])
def test_clauses_of_short_or_odd_text_are_empty_or_clean(text: str) -> None:
    from models.nlp import clauses

    for a, b in clauses(text, "en"):
        piece = text[a:b]
        assert piece == piece.strip(" ,;:-–—") and piece
