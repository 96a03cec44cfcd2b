"""The content figures of `reviewdesk eval-replies` (responses.content_eval), on hand-made drafts whose answers are
known: a check that can fail when a draft thanks a complaint, names the wrong topic or answers in another language."""

from __future__ import annotations

from responses.content_eval import Drafted, body_sentences, score_set
from responses.draft import DraftResult, VariantResult

REPLY = "Hello,\n\n{body}\n\nKind regards,\nAnna"


def drafted(rid: str, gold: str, kind: str, topics: list[str] | None = None, gold_topics: set[str] | None = None,
            language: str = "en", review_language: str = "en", body: str = "We are sorry. Please contact us.",
            flags: dict | None = None, escalated: bool = False, baseline: str | None = None,
            gold_praised: set[str] | None = None) -> Drafted:
    extra = dict(flags or {})
    if topics:
        extra["topics"] = topics
    silent = escalated or "by_hand" in extra or "no_reply" in extra
    variants = [] if silent else [VariantResult(1, REPLY.format(body=body), True)]
    result = DraftResult(rid, language, review_language, False, kind, {"flags": ["fraud"]} if escalated else None,
                         variants, extra, "test")
    return Drafted(rid, "set", gold, frozenset(gold_topics) if gold_topics is not None else None, result, baseline,
                   frozenset(gold_praised) if gold_praised is not None else None)


def test_content_figures_count_what_drafts_say() -> None:
    rows = [
        drafted("n1", "negative", "negative", ["food_drink", "waiting_time", "staff_attitude"],
                {"food_drink", "staff_attitude"}, baseline="negative"),
        drafted("n2", "negative", "mixed", ["price_billing"], {"food_drink"}, baseline="positive"),  # thanked
        drafted("n3", "negative", "positive", [], {"waiting_time"}, baseline="negative"),  # thanked, nothing named
        drafted("p1", "positive", "positive", [], set(), body="Thank you! We are glad.", baseline="negative"),
        drafted("p2", "positive", "negative", ["delivery"], set(), language="en", review_language="da"),
        drafted("x1", "negative", "escalation", escalated=True),
        drafted("x2", "negative", "negative", flags={"by_hand": "write this reply by hand: Japanese"}),
        drafted("x3", "positive", "no_reply", flags={"no_reply": "no reply recommended: spam"}),
    ]
    report = score_set("set", rows)
    f = report.figures
    assert (report.reviews, report.escalated, report.by_hand, report.no_reply) == (8, 1, 1, 1)
    assert f["negative_thanked_kind"] == round(2 / 3, 4) and f["positive_apologised_kind"] == 0.5
    # n2 is mixed but praises nothing: no thanks for anything unsaid; n3 is a positive reply to a complaint.
    assert f["negative_thanked"] == round(1 / 3, 4) and f["positive_apologised"] == 0.5
    assert f["baseline_negative_thanked"] == round(1 / 3, 4) and f["baseline_positive_apologised"] == 0.5
    # Named: n1 the first two (food_drink right, waiting_time wrong); n2 price_billing (wrong); p2 delivery (wrong).
    assert f["naming"] == {"precision": 0.25, "recall": 0.25, "named": 4, "gold": 4}
    assert f["naming_all_found"]["recall"] == 0.5  # staff_attitude was found, third, and not named one by one
    assert f["wrong_language"] == 0.2
    assert f["top_sentence"] == {"share": 0.8, "text": "Please contact us."}  # tied with "We are sorry.": first


def test_body_sentences_leave_out_greeting_and_signature() -> None:
    text = REPLY.format(body="We are sorry. Please write to us! Thank you?")
    assert body_sentences(text) == ["We are sorry.", "Please write to us!", "Thank you?"]


def test_mixed_replies_are_judged_against_gold_topics() -> None:
    rows = [
        # A negative review that praised the food: thanking for the food is right, for the staff is not.
        drafted("a", "negative", "mixed", ["waiting_time"], {"waiting_time"}, flags={"praised": ["food_drink"]},
                gold_praised={"food_drink"}),
        drafted("b", "negative", "mixed", ["waiting_time"], {"waiting_time"}, flags={"praised": ["staff_attitude"]},
                gold_praised={"food_drink"}),
        # A positive review with a real complaint about the wait: apologising for it is right, for delivery is not.
        drafted("c", "positive", "mixed", ["waiting_time"], {"waiting_time"}, gold_praised={"food_drink"}),
        drafted("d", "positive", "mixed", ["delivery"], {"waiting_time"}, gold_praised={"food_drink"}),
    ]
    f = score_set("set", rows).figures
    assert f["negative_thanked"] == 0.5 and f["positive_apologised"] == 0.5
    assert f["negative_thanked_kind"] == 1.0 and f["positive_apologised_kind"] == 1.0
