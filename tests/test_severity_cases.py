"""The three kinds of escalation issue 20 names, in every language with reply phrasing (en, ru, uk, pl, hu, he, hy,
de, es, fr), through the real Analyzer: an ignored data-deletion request is `privacy`, a professional's kitchen
hygiene report is `health_safety`, and legal or violent words used as figures of speech ("the prices are robbery",
"the food police", Hebrew slang "it was murder") escalate nothing.

The sentences (tests/fixtures/severity_cases.json) were written for this test after the lexicon and prototype
additions, and the `unless` figures of speech were then added to make the last group pass: a regression check, not an
independent measure (models/MODEL_CARD.md, Severity).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.analyze import Analyzer, ReviewInput

CASES = json.loads((Path(__file__).parent / "fixtures" / "severity_cases.json").read_text(encoding="utf-8"))
LANGS = ("en", "ru", "uk", "pl", "hu", "he", "hy", "de", "es", "fr")


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer.load()


@pytest.mark.parametrize("flag", ["privacy", "health_safety"])
def test_reports_are_escalated_in_every_language(analyzer: Analyzer, flag: str) -> None:
    assert set(CASES[flag]) == set(LANGS)
    results = analyzer.analyze([ReviewInput(id=lang, text=text, language=lang) for lang, text in CASES[flag].items()])
    missed = [r.id for r in results if flag not in r.severity]
    assert not missed, missed


def test_figures_of_speech_are_not_escalated(analyzer: Analyzer) -> None:
    assert set(CASES["none"]) == set(LANGS)
    results = analyzer.analyze([ReviewInput(id=lang, text=text, language=lang) for lang, text in CASES["none"].items()])
    assert not [(r.id, r.severity) for r in results if r.severity]


def test_unless_patterns_drop_only_the_figure(analyzer: Analyzer) -> None:
    # The same words as a report still escalate: stolen from, a police report, a threat.
    reports = {"ru": "Официант украл у меня кошелёк, это настоящий грабёж.", "en": "I will report you to the police.",
               "es": "Me robaron el móvil en el restaurante, fue un robo."}
    results = analyzer.analyze([ReviewInput(id=lang, text=text, language=lang) for lang, text in reports.items()])
    assert all(r.severity for r in results), [(r.id, r.severity) for r in results]


def test_idioms_from_real_reviews_are_not_reports(analyzer: Analyzer) -> None:
    # Figures of speech that escalated real train-split reviews (PolEmo, SemEval), each beside a literal report with
    # the same family of words, which must still escalate.
    pairs = CASES["idioms"]
    inputs = [ReviewInput(id=f"{k}-{kind}", text=p[kind], language=p["lang"])
              for k, p in enumerate(pairs) for kind in ("figure", "report")]
    results = {r.id: r.severity for r in analyzer.analyze(inputs)}
    escalated_figures = [pairs[k]["figure"] for k in range(len(pairs)) if results[f"{k}-figure"]]
    missed_reports = [pairs[k]["report"] for k in range(len(pairs)) if not results[f"{k}-report"]]
    assert not escalated_figures
    assert not missed_reports


def test_neutral_facts_are_not_reports(analyzer: Analyzer) -> None:
    # Sentences that sit near report prototypes in e5 space but state plain facts (the first was escalated as a legal
    # threat), beside reports stated just as flatly, which still escalate (lexicon).
    facts = {"en": "Walk-in blood tests between 8 and 10am, no appointment needed. Results go to your GP, who contacts "
                   "you if anything needs discussing.",
             "ru": "Анализы сдаются с 8 до 10 утра, результаты отправляют лечащему врачу."}
    reports = {"he": "העובד פרסם את מספר הטלפון שלי בקבוצת ווטסאפ.",
               "ru": "Администратор выложил мой номер телефона в общий чат.",
               "pl": "Kelner udostępnił mój numer telefonu znajomym."}
    results = analyzer.analyze([ReviewInput(id=f"f-{k}", text=t, language=k) for k, t in facts.items()]
                               + [ReviewInput(id=f"r-{k}", text=t, language=k) for k, t in reports.items()])
    assert [r.id for r in results if r.id.startswith("f-") and r.severity] == []
    assert all("privacy" in r.severity for r in results if r.id.startswith("r-")), [(r.id, r.severity) for r in results]
