"""Playbook validation, reply planning and phrasing, and the verifier (no encoder needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from responses.compose import PhrasebookGenerator, asks_question, build_plan, review_kind, safe_name
from responses.draft import Drafter, DraftInput, escalation_for
from responses.phrasing import load_phrasing
from responses.playbook import EXAMPLE_PLAYBOOK, PlaybookError, load_playbook, parse_playbook
from responses.verify import VerifyContext, distinct, personal_data, verify_text

PLAYBOOK = load_playbook(EXAMPLE_PLAYBOOK)


def analysis(lang: str = "en", sentiment: str = "negative", topics: list[tuple[str, str]] | None = None,
             severity: list[str] | None = None) -> dict:
    return {
        "language": lang,
        "sentiment": sentiment,
        "topics": [{"name": n, "polarity": p, "evidence": [f"{n} sentence"]} for n, p in (topics or [])],
        "severity": severity or [],
    }


def ctx(kind: str = "negative", language: str = "en", review_text: str = "", max_chars: int = 4096) -> VerifyContext:
    return VerifyContext(kind=kind, language=language, playbook=PLAYBOOK, max_chars=max_chars,
                         review_text=review_text, check_language=False)


# -- playbook ------------------------------------------------------------------------------------


def test_example_playbook_is_valid() -> None:
    assert PLAYBOOK.business == "Acme Shop"
    assert [o.kind for o in PLAYBOOK.offers_for("delivery")] == ["redelivery", "refund"]
    assert PLAYBOOK.offers_for("no_such_topic") == PLAYBOOK.offers_for("default")
    assert PLAYBOOK.signature_for("pl").startswith("Anna, Dział")
    # No Hungarian signature in the playbook: the Hungarian reply is signed by "the Acme Shop team" in Hungarian,
    # not in English.
    hungarian = load_phrasing("hu")
    assert hungarian is not None and hungarian.team_signature
    assert PLAYBOOK.signature_for("hu") == hungarian.team_signature.replace("{business}", "Acme Shop")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"solutions": {"default": [{"kind": "refund"}]}}, "solutions.default.0: offer 'refund' needs days"),
        ({"solutions": {"default": [{"kind": "free_money"}]}}, "kind 'free_money' is not a known offer"),
        ({"solutions": {"delivery": [{"kind": "redelivery"}]}}, "needs a 'default' list"),
        ({"tone": "grumpy"}, "tone:"),
        ({"contact": {"email": "not-an-email"}}, "contact.email"),
        ({"contact": {"email": "a@b.example", "preferred": "phone"}}, "preferred channel 'phone' is not filled in"),
        ({"solutions": {"default": [{"kind": "voucher", "amount": "10 EUR", "days": 3}]}}, "takes no days"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
    ],
)
def test_playbook_errors_name_file_and_key(tmp_path: Path, change: dict, expected: str) -> None:
    data = yaml.safe_load(EXAMPLE_PLAYBOOK.read_text(encoding="utf-8"))
    data.update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(PlaybookError) as exc:
        load_playbook(path)
    assert str(path) in str(exc.value) and expected in str(exc.value)


def test_playbook_not_yaml_or_missing(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text("business: [unclosed", encoding="utf-8")
    with pytest.raises(PlaybookError, match="not valid YAML"):
        load_playbook(bad)
    with pytest.raises(PlaybookError, match="not found"):
        load_playbook(tmp_path / "missing.yaml")
    with pytest.raises(PlaybookError, match="expected a mapping"):
        parse_playbook(["a"], "list.yaml")


# -- planning --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentiment", "rating", "complaints", "praises", "kind"),
    [
        ("negative", 1, 1, 0, "negative"),
        ("negative", 2, 1, 1, "mixed"),
        ("positive", 5, 0, 2, "positive"),
        ("positive", 4, 1, 1, "mixed"),
        ("neutral", 3, 0, 1, "neutral"),
        ("positive", 3, 0, 1, "neutral"),
        (None, 1, 0, 0, "negative"),
        ("neutral", None, 0, 0, "neutral"),
        # Five stars outweigh a negative reading: thanked, and a complaint found is answered as in a mixed review.
        ("negative", 5, 1, 0, "mixed"),
        ("negative", 5, 0, 0, "positive"),
        # Four stars do not: a complaint read in the text is answered as one.
        ("negative", 4, 1, 0, "negative"),
    ],
)
def test_review_kind(sentiment: str | None, rating: float | None, complaints: int, praises: int, kind: str) -> None:
    assert review_kind(sentiment, rating, complaints, praises) == kind


@pytest.mark.parametrize(
    ("author", "name"),
    [("Anna K.", "Anna"), ("José", "José"), ("<b>x</b>", None), ("{{7*7}}", None), ("bob@example.com", None),
     ("Anonymous", None), ("User 12345", None), ("", None), (None, None), ("Анна Петрова", "Анна"),
     ("J. Smith", "J. Smith"),
     # Issue 21: usernames, lower-case handles and initials are not first names; capitals are fixed.
     ("compensation", None), ("foodlover", None), ("HappyCamper", None), ("JohnD", None), ("J.", None),
     ("J. K.", None), ("JK", None), ("ANNA KOWALSKA", "Anna"), ("McDonald", "McDonald"), ("Мария", "Мария")],
)
def test_safe_name(author: str | None, name: str | None) -> None:
    assert safe_name(author) == name


def test_offers_come_from_the_playbook_for_the_complaint_topics() -> None:
    plan = build_plan(review_id="1", analysis=analysis(topics=[("delivery", "negative"), ("no_reply", "negative")]),
                      rating=1, author=None, playbook=PLAYBOOK, max_chars=4096)
    assert plan.kind == "negative"
    assert [o.kind for o in plan.offers] == ["redelivery", "callback"]
    assert plan.ask == "order" and plan.contact == "care@acme.example"
    plan = build_plan(review_id="1", analysis=analysis(topics=[("food_drink", "negative")]), rating=2, author=None,
                      playbook=PLAYBOOK, max_chars=4096)
    assert plan.ask == "visit" and [o.kind for o in plan.offers] == ["investigate"]


def test_the_shipped_model_says_which_languages_it_reads_poorly() -> None:
    from models.sentiment import low_confidence_languages
    from models.train_sentiment import MIN_NEGATIVE_RECALL

    # Written by the training command from the team-written complaints (MODEL_CARD.md); English is read well.
    flagged = low_confidence_languages()
    assert "en" not in flagged and 0 < MIN_NEGATIVE_RECALL < 1
    assert all(reason.endswith("a positive reading is not trusted") for reason in flagged.values())


def test_positive_reading_is_not_trusted_where_complaints_read_as_praise(monkeypatch: pytest.MonkeyPatch) -> None:
    import responses.compose

    # A language whose complaints the model often reads as praise (Hebrew, until sentiment-5; MODEL_CARD.md).
    monkeypatch.setattr(responses.compose, "low_confidence_languages",
                        lambda: {"he": "8 of 16 team-written complaints read as negative"})
    praise = analysis(lang="he", sentiment="positive", topics=[("delivery", "positive")])
    plan = build_plan(review_id="1", analysis=praise, rating=None, author=None, playbook=PLAYBOOK, max_chars=4096)
    assert plan.kind == "neutral" and plan.praises == [] and plan.offers == []
    assert plan.flags["sentiment_low_confidence"].startswith("he: ")
    # The stars still count, and so do complaints and a negative reading.
    plan = build_plan(review_id="1", analysis=praise, rating=5, author=None, playbook=PLAYBOOK, max_chars=4096)
    assert plan.kind == "positive" and plan.praises == []
    mixed = analysis(lang="he", sentiment="positive", topics=[("delivery", "negative"), ("food_drink", "positive")])
    plan = build_plan(review_id="1", analysis=mixed, rating=None, author=None, playbook=PLAYBOOK, max_chars=4096)
    assert plan.kind == "negative" and [c.name for c in plan.complaints] == ["delivery"]
    plan = build_plan(review_id="1", analysis=analysis(lang="he"), rating=None, author=None, playbook=PLAYBOOK,
                      max_chars=4096)
    assert plan.kind == "negative" and "sentiment_low_confidence" not in plan.flags
    english = analysis(lang="en", sentiment="positive", topics=[("delivery", "positive")])
    plan = build_plan(review_id="1", analysis=english, rating=None, author=None, playbook=PLAYBOOK, max_chars=4096)
    assert plan.kind == "positive" and [p.name for p in plan.praises] == ["delivery"]


def test_a_language_without_phrasing_is_written_by_hand() -> None:
    # Issue 21: never a silent English reply to a Japanese (or, before its phrasing, a Norwegian) review.
    plan = build_plan(review_id="1", analysis=analysis(lang="ja"), rating=1, author=None, playbook=PLAYBOOK,
                      max_chars=4096)
    assert plan.flags["by_hand"].startswith("write this reply by hand: Japanese")
    assert "language_fallback" not in plan.flags
    result = Drafter(PLAYBOOK).draft(DraftInput(id="1", text="配達が遅れました。", rating=1), analysis(lang="ja"))
    assert result.variants == [] and result.escalation is None and "Japanese" in result.flags["by_hand"]
    # A text too short to identify is answered in the business's language, and says so.
    plan = build_plan(review_id="2", analysis=analysis(lang="und"), rating=5, author=None, playbook=PLAYBOOK,
                      max_chars=4096)
    assert plan.language == "en" and plan.language_fallback and "by_hand" not in plan.flags
    assert "language not identified" in plan.flags["language_fallback"]


# -- phrasing into drafts ------------------------------------------------------------------------


def test_negative_draft_has_every_part_and_variants_differ() -> None:
    a = analysis(topics=[("delivery", "negative")])
    plan = build_plan(review_id="7", analysis=a, rating=1, author="Maria", playbook=PLAYBOOK, max_chars=4096,
                      details={"delivery": "delivery.late"})
    texts = PhrasebookGenerator().generate(plan, 3)
    assert len(texts) == 3 and distinct(texts)
    en = load_phrasing("en")
    assert en is not None
    for text in texts:
        assert text.startswith(tuple(g.replace("{name}", "Maria") for g in en.greeting.formal.named))
        assert any(s.replace("{days}", "14") in text or s in text for s in en.apology_detail["delivery.late"])
        assert "care@acme.example" in text and text.endswith(PLAYBOOK.signature_for("en"))
        assert verify_text(text, ctx()) == []


def test_positive_draft_thanks_for_what_they_liked() -> None:
    a = analysis(sentiment="positive", topics=[("food_drink", "positive")])
    plan = build_plan(review_id="8", analysis=a, rating=5, author=None, playbook=PLAYBOOK, max_chars=4096)
    en = load_phrasing("en")
    assert en is not None
    for text in PhrasebookGenerator().generate(plan, 2):
        assert any(s in text for s in en.praise["food_drink"])
        assert not any(s.split("{")[0] in text for s in en.invite)
        assert verify_text(text, ctx(kind="positive")) == []


@pytest.mark.parametrize(
    ("sentiment", "scores", "rating", "note"),
    [
        ("negative", {"negative": 0.62}, 5, "5 stars, but the text reads negative (0.62)"),
        ("negative", None, 4, "4 stars, but the text reads negative"),
        ("positive", {"positive": 0.81}, 1, "1 star, but the text reads positive (0.81)"),
        ("negative", {"negative": 0.9}, 3, None),
        ("neutral", {"neutral": 0.7}, 5, None),
        ("positive", {"positive": 0.9}, None, None),
    ],
)
def test_plan_flags_stars_and_text_that_disagree(sentiment: str, scores: dict | None, rating: float | None,
                                                 note: str | None) -> None:
    a = analysis(sentiment=sentiment, topics=[("staff_attitude", "negative")]) | {"sentiment_scores": scores}
    plan = build_plan(review_id="1", analysis=a, rating=rating, author=None, playbook=PLAYBOOK, max_chars=4096)
    assert plan.flags.get("rating_disagrees") == (note and f"{note}: check which the reviewer meant")


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("Do you ship to Northern Ireland, and roughly what's the delivery charge?", True),
        ("Great shop. Is there a dark mode in the app? Could not find it", True),
        ("Подскажите, можно ли оплатить заказ при получении?", True),
        ("יש תוכנית להוסיף מצב כהה? לא מצאתי את זה בהגדרות", True),
        ("המסעדה כשרה? לא ראיתי תעודה בדף.", True),  # "Is the restaurant kosher?": two words in Hebrew
        ("Մուգ ռեժիմ ավելացնելու պլան ունե՞ք, կարգավորումներում չգտա", True),  # the mark sits on the word
        ("¿Hacen envíos a Canarias y cuánto cuesta?", True),
        ("配送はいつ届きますか？", False),  # one "word" to the \w+ count: too short to tell
        ("Where is my parcel??", False),
        ("You call this customer service?!", False),
        ("Seriously? Why?", False),
        ("Delivered on time. Thank you!", False),
        ("", False),
        ("word " * 20_000 + "or is it?", True),  # hostile input: 100,000 characters in one sentence
        ("\ud800 Is a lone surrogate fine?", True),
    ],
)
def test_asks_question(text: str, asks: bool) -> None:
    assert asks_question(text) is asks


def test_a_question_gets_an_invitation_to_answer_it_not_thanks_for_feedback() -> None:
    neutral = analysis(sentiment="neutral")
    plan = build_plan(review_id="q1", analysis=neutral, rating=None, author=None, playbook=PLAYBOOK, max_chars=4096,
                      question=True)
    assert plan.kind == "neutral" and plan.question
    assert plan.flags["question"] == "the review asks a question: add the answer to the reply before approving"
    en = load_phrasing("en")
    assert en is not None
    texts = PhrasebookGenerator().generate(plan, 2)
    assert len(texts) == 2 and distinct(texts)
    for text in texts:
        assert any(s in text for s in en.question_thanks)
        assert any(s.replace("{contact}", "care@acme.example") in text for s in en.question_invite)
        assert not any(s in text for s in en.neutral_thanks)
        question_ctx = ctx(kind="neutral")
        question_ctx.question = True
        assert verify_text(text, question_ctx) == []
    # Without the contact line a question reply fails the verifier (a plain neutral one need not have it).
    bare = texts[0].replace("care@acme.example", "us")
    assert "structure: no contact part" in verify_text(bare, question_ctx)
    assert "structure: no contact part" not in verify_text(bare, ctx(kind="neutral"))
    # Praise that asks something keeps its thanks and praise and gains the invitation.
    praise = analysis(sentiment="positive", topics=[("website_app", "positive")])
    plan = build_plan(review_id="q2", analysis=praise, rating=5, author=None, playbook=PLAYBOOK, max_chars=4096,
                      question=True)
    text = PhrasebookGenerator().generate(plan, 1)[0]
    assert plan.kind == "positive" and any(s in text for s in en.praise["website_app"])
    assert any(s.replace("{contact}", "care@acme.example") in text for s in en.question_invite)
    # A complaint's question ("Where is my refund?") is answered as a complaint: apology, ask, invite, offer.
    plan = build_plan(review_id="q3", analysis=analysis(topics=[("delivery", "negative")]), rating=1, author=None,
                      playbook=PLAYBOOK, max_chars=4096, question=True)
    assert plan.kind == "negative" and not plan.question and "question" not in plan.flags


@pytest.mark.parametrize("lang", ["en", "ru", "pl", "hu", "he", "hy", "uk", "de", "es", "fr"])
def test_question_replies_pass_every_check_in_every_language(lang: str) -> None:
    drafter = Drafter(PLAYBOOK)  # with the language check
    text = {"en": "Do you deliver on Sundays?", "ru": "Вы доставляете по воскресеньям?",
            "pl": "Czy dostarczacie w niedziele?", "hu": "Vasárnap is szállítanak?",
            "he": "אתם עושים משלוחים בימי ראשון?", "hy": "Կիրակի օրերին առաքու՞մ եք",
            "uk": "Ви доставляєте в неділю?", "de": "Liefern Sie auch sonntags?",
            "es": "¿Hacen entregas los domingos?", "fr": "Livrez-vous aussi le dimanche ?"}[lang]
    result = drafter.draft(DraftInput(id=f"q-{lang}", text=text), analysis(lang=lang, sentiment="neutral"))
    assert result.kind == "neutral" and "question" in result.flags, result.flags
    assert result.variants and all(v.passed for v in result.variants), [v.problems for v in result.variants]


def test_drafter_escalates_severity_flags_instead_of_drafting() -> None:
    result = Drafter(PLAYBOOK, check_language=False).draft(
        DraftInput(id="x", text="I will sue you", rating=1), analysis(severity=["legal_threat"]))
    assert result.kind == "escalation" and result.variants == []
    assert result.escalation == escalation_for(["legal_threat"])
    assert result.to_output()["drafts"] == [] and "legal action" in result.to_output()["escalation"]["reason"]


def test_long_reply_is_shortened_to_the_platform_limit() -> None:
    a = analysis(topics=[("delivery", "negative"), ("no_reply", "negative")])
    plan = build_plan(review_id="9", analysis=a, rating=1, author=None, playbook=PLAYBOOK, max_chars=600)
    for text in PhrasebookGenerator().generate(plan, 2):
        assert len(text) <= 600, text


# -- verifier ------------------------------------------------------------------------------------

GOOD = (
    "Hello,\n\nWe are sorry that your parcel arrived late. Please contact us at care@acme.example so that we can "
    "help. We will send your order out to you again.\n\nKind regards,\nAnna, Customer Care at Acme Shop"
)


def test_verifier_accepts_a_good_draft() -> None:
    assert verify_text(GOOD, ctx()) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (GOOD.replace("We will send your order out to you again.", "We will give you a 50% discount."),
         "offer not in playbook: discount"),
        (GOOD.replace("We will send your order out to you again.", "We will refund you in full within 3 days."),
         "offer figure not in playbook: 3"),
        (GOOD.replace("We are sorry that your parcel arrived late. ", ""), "structure: no apology part"),
        (GOOD.replace("Anna, Customer Care at Acme Shop", "Bob"), "structure: no signature"),
        (GOOD.replace("care@acme.example so", "care@acme.example or bob@example.com so"),
         "contact detail not the business's own: e-mail"),
        (GOOD + " <script>alert(1)</script>", "markup or template syntax in draft"),
        (GOOD + " {{ 7*7 }}", "markup or template syntax in draft"),
        (GOOD.replace("We are sorry", "It is your fault, but we are sorry"), "argues, blames"),
        (GOOD + " Please remove your review.", "argues, blames"),
        (GOOD + " We offer compensation.", "never_promise phrase: compensation"),
        (GOOD + " See https://evil.example/x", "link not the business's own"),
    ],
)
def test_verifier_names_each_broken_rule(text: str, problem: str) -> None:
    assert any(p.startswith(problem) for p in verify_text(text, ctx())), verify_text(text, ctx())


def test_verifier_catches_echoed_personal_data_and_length() -> None:
    review = "Order 88812345, call me on +44 7700 900123 or mail me at jo@mail.example"
    assert personal_data(review) >= {"88812345", "447700900123", "jo@mail.example"}
    echoed = GOOD.replace("arrived late.", "arrived late (order 88812345).")
    assert "personal data from the review echoed" in verify_text(echoed, ctx(review_text=review))
    assert verify_text(GOOD, ctx(review_text=review)) == []
    assert any(p.startswith("too long") for p in verify_text(GOOD, ctx(max_chars=100)))
    assert verify_text("   ", ctx()) == ["empty draft"]


def test_verifier_checks_the_language() -> None:
    strict = VerifyContext(kind="negative", language="en", playbook=PLAYBOOK, max_chars=4096)
    polish = ("Dzień dobry,\n\nBardzo przepraszamy za opóźnienie przesyłki i kłopot, jaki to Państwu sprawiło. "
              "Prosimy o kontakt pod adresem care@acme.example, abyśmy mogli wyjaśnić sprawę.\n\nZ poważaniem,\n"
              "Anna, Customer Care at Acme Shop")
    assert any(p.startswith("language: draft reads as pl") for p in verify_text(polish, strict))
    assert not any(p.startswith("language") for p in verify_text(GOOD, strict))


def test_two_offers_keep_their_own_figures() -> None:
    """refund within 14 days and free return within 30 days both use {days}: each keeps its own value."""
    offers = [{"kind": "refund", "days": 14}, {"kind": "free_return", "days": 30}]
    book = parse_playbook({**yaml.safe_load(EXAMPLE_PLAYBOOK.read_text(encoding="utf-8")),
                           "solutions": {"default": offers}})
    plan = build_plan(review_id="3", analysis=analysis(), rating=1, author=None, playbook=book, max_chars=4096)
    assert [o.kind for o in plan.offers] == ["refund", "free_return"]
    for text in PhrasebookGenerator().generate(plan, 3):
        assert "14" in text and "30" in text
        assert verify_text(text, VerifyContext(kind="negative", language="en", playbook=book, max_chars=4096,
                                               check_language=False)) == []


class RogueModel:
    """A stand-in for a language-model generator that ignores the playbook (what the verifier is for)."""

    name = "rogue-llm"

    def generate(self, plan, n):
        sig, contact = plan.signature, plan.contact
        return [
            f"Hello,\n\nWe are sorry about the delay. Please contact us at {contact}. "
            f"We will send your order out to you again.\n\nKind regards,\n{sig}",
            f"Hello,\n\nWe are sorry. Please contact us at {contact}. "
            f"Here is a voucher worth 500 EUR for you.\n\n{sig}",
            f"Hello,\n\nWe are sorry. Call Maria on +44 7700 900123 or contact us at {contact}. "
            f"We will send your order out to you again.\n\n{sig}",
        ][:n]


class BrokenModel:
    name = "broken-llm"

    def generate(self, plan, n):
        raise TimeoutError("model server did not answer")


def test_any_generator_goes_through_the_verifier() -> None:
    from responses.generators import GeneratorError, load_generator

    assert load_generator("phrasebook-v1").name == "phrasebook-v1"
    assert load_generator("test_responder:RogueModel").name == "rogue-llm"
    for bad in ("nope", "no_such_module:X", "test_responder:Missing", "json:JSONDecodeError"):
        with pytest.raises(GeneratorError, match=r"responses\.generator"):
            load_generator(bad)
    review = DraftInput(id="r", text="Late parcel. Call me on +44 7700 900123.", rating=1)
    a = analysis(topics=[("delivery", "negative")])
    result = Drafter(PLAYBOOK, generator=RogueModel(), check_language=False).draft(review, a)
    assert [v.passed for v in result.variants] == [True, False, False]
    assert "offer not in playbook: voucher" in result.variants[1].problems
    assert "personal data from the review echoed" in result.variants[2].problems
    assert [d["variant"] for d in result.to_output()["drafts"]] == [1]
    broken = Drafter(PLAYBOOK, generator=BrokenModel(), check_language=False).draft(review, a)
    assert broken.to_output()["drafts"] == []
    assert "generator broken-llm failed: TimeoutError" in broken.variants[0].problems[0]


# -- saying only what the review said (issue 21, item 2) ---------------------------------------------


def test_mixed_review_opens_neutrally_and_praises_only_what_was_praised() -> None:
    a = analysis(sentiment="negative", topics=[("food_drink", "positive"), ("waiting_time", "negative"),
                                               ("staff_attitude", "positive"), ("staff_attitude", "negative")])
    plan = build_plan(review_id="m1", analysis=a, rating=3, author=None, playbook=PLAYBOOK, max_chars=4096)
    assert plan.kind == "mixed"
    # The staff were criticised as well as praised: answered as a complaint only.
    assert [p.name for p in plan.praises] == ["food_drink"]
    assert {c.name for c in plan.complaints} == {"waiting_time", "staff_attitude"}
    english = load_phrasing("en")
    assert english is not None
    for text in PhrasebookGenerator().generate(plan, 3):
        body = text.split("\n")[2]
        assert "kind words" not in body.lower() and not any(t in body for t in english.thanks_positive)
        assert any(body.startswith(t) for t in english.neutral_thanks), body
        assert not any(s in body for s in english.praise["staff_attitude"])


def test_a_third_complaint_is_not_passed_over() -> None:
    a = analysis(topics=[("delivery", "negative"), ("staff_attitude", "negative"), ("no_reply", "negative")])
    plan = build_plan(review_id="t1", analysis=a, rating=1, author=None, playbook=PLAYBOOK, max_chars=4096)
    english = load_phrasing("en")
    assert english is not None and len(plan.complaints) == 3
    texts = PhrasebookGenerator().generate(plan, 3)  # full variants: the short one is only made for tight limits
    assert texts and all(any(s in t for s in english.apology_also["general"]) for t in texts)


def test_an_uncertain_reading_is_neither_thanked_nor_apologised() -> None:
    # "Pizza arrived piping hot in 20 mins" read negative at 0.47 with no stars: no apology, no praise, a flag.
    a = {**analysis(sentiment="negative", topics=[("food_drink", "negative")]),
         "sentiment_scores": {"negative": 0.47, "neutral": 0.15, "positive": 0.38}}
    plan = build_plan(review_id="u1", analysis=a, rating=None, author=None, playbook=PLAYBOOK, max_chars=4096)
    assert plan.kind == "neutral" and not plan.complaints and not plan.offers and "uncertain_reading" in plan.flags
    english = load_phrasing("en")
    assert english is not None
    for text in PhrasebookGenerator().generate(plan, 2):
        body = text.split("\n")[2]
        # Thanks for the time taken, nothing about "balanced feedback" or a better time next time.
        assert body.startswith(english.thanks_feedback[0]) and not any(t in body for t in english.neutral_thanks)
        assert not any(t in body for t in english.closing.neutral)
    # With stars the stars decide, as before.
    rated = build_plan(review_id="u2", analysis=a, rating=1, author=None, playbook=PLAYBOOK, max_chars=4096)
    assert rated.kind == "negative"


def test_only_confident_praise_is_named() -> None:
    a = analysis(sentiment="positive")
    a["topics"] = [{"name": "food_drink", "polarity": "positive", "evidence": ["s"], "score": 0.9},
                   {"name": "cleanliness_ambience", "polarity": "positive", "evidence": ["s"], "score": 0.45}]
    plan = build_plan(review_id="p1", analysis=a, rating=5, author=None, playbook=PLAYBOOK, max_chars=4096)
    assert [p.name for p in plan.praises] == ["food_drink"]  # the weak one is thanked for in general, not named
