"""No reply where none belongs (issue 21, item 5), with the real encoder: spam, political rants, chatter and reviews
meant for another business get "no reply recommended"; real reviews, short or angry or naming a competitor, never do.
The sentences were written for this test (not in responses/not_review.yaml or the dev/test sets)."""

from __future__ import annotations

import pytest

from models.encoder import Encoder
from responses.draft import Drafter, DraftInput
from responses.playbook import load_playbook, type_playbook
from responses.relevance import RelevanceDetector

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def detector() -> RelevanceDetector:
    return RelevanceDetector(Encoder.load())


NOT_REVIEWS = {
    "spam": "Nice place! Want 10,000 real followers for just 5 dollars? Visit grow-fast-followers.example today!",
    "politics": "The parliament voted for another tax increase again, this country is a joke and all politicians lie.",
    "other_business": "Sorry, this was meant for the dentist on Baker Street, wrong page.",
}
REVIEWS = [
    "ok",
    "The soup was cold and the waiter ignored us for twenty minutes. Never again.",
    "Much better than FixIt Garage across the road: honest price and the car was ready the same day.",
    "Since the last update the app logs me out every time I switch screens. Please fix it.",
    "Отличный отель, чистые номера и вкусный завтрак.",
    "Paczka przyszła uszkodzona, a obsługa nie odpisuje na maile.",
]


def test_not_reviews_are_flagged_with_their_kind(detector: RelevanceDetector) -> None:
    found = detector.check(list(NOT_REVIEWS.values()))
    assert [f.kind if f else None for f in found] == list(NOT_REVIEWS)


def test_real_reviews_are_never_silenced(detector: RelevanceDetector) -> None:
    assert detector.check(REVIEWS) == [None] * len(REVIEWS)


def test_drafter_recommends_no_reply_with_the_reason(detector: RelevanceDetector) -> None:
    drafter = Drafter(load_playbook(type_playbook("restaurant")), relevance=detector, check_language=False)
    analysis = {"language": "en", "sentiment": "positive", "topics": [], "severity": []}
    spam = drafter.draft(DraftInput(id="s", text=NOT_REVIEWS["spam"], rating=5), analysis)
    assert spam.variants == [] and spam.kind == "no_reply" and "spam" in spam.flags["no_reply"]
    answered = drafter.draft(DraftInput(id="a", text=REVIEWS[4], rating=5, answered=True), analysis)
    assert answered.variants == [] and "already has a reply" in answered.flags["no_reply"]
    review = drafter.draft(DraftInput(id="r", text="Lovely food and friendly staff!", rating=5), analysis)
    assert review.kind == "positive" and any(v.passed for v in review.variants)
