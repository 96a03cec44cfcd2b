"""The graded reply set's bookkeeping (responses.graded_eval): only drafts whose graded text is unchanged count, the
rest are listed for regrading; and the committed grades cover the committed reviews."""

from __future__ import annotations

from responses.graded_eval import GRADED_DIR, GRADES, figures, load_jsonl, shown, text_hash


def test_figures_count_only_unchanged_drafts() -> None:
    drafted = [{"id": i, "hash": text_hash(f"draft {i}")} for i in "abcde"]
    grades = [{"id": "a", "hash": text_hash("draft a"), "grade": "send"},
              {"id": "b", "hash": text_hash("draft b"), "grade": "small_edit"},
              {"id": "c", "hash": text_hash("draft c"), "grade": "wrong"},
              {"id": "d", "hash": text_hash("an older draft d"), "grade": "send"}]
    f = figures(drafted, grades)
    assert f["graded_current"] == 3 and f["needs_regrading"] == ["d"] and f["ungraded"] == ["e"]
    assert f["send_or_small_edit"] == round(2 / 3, 4) and f["wrong"] == round(1 / 3, 4)


def test_shown_text_says_why_there_is_none() -> None:
    assert shown({"drafts": [{"text": "Hello"}], "escalation": None}) == "Hello"
    assert shown({"drafts": [], "escalation": {"reason": "legal"}}).startswith("[escalated] legal")
    assert "by hand" in shown({"drafts": [], "escalation": None, "flags": {"by_hand": "write it by hand"}})


def test_committed_grades_match_the_reviews() -> None:
    reviews = load_jsonl(GRADED_DIR / "reviews.jsonl")
    grades = load_jsonl(GRADED_DIR / "grades.jsonl")
    assert len(reviews) >= 120 and len({r["lang"] for r in reviews}) >= 6
    assert {r["business_type"] for r in reviews} == {"restaurant", "hotel", "shop", "app", "local_service"}
    assert {g["id"] for g in grades} <= {r["id"] for r in reviews}
    assert all(g["grade"] in GRADES and (g["grade"] == "send" or g.get("note")) for g in grades)
