"""The drafting stage on a real DuckDB file: who gets a draft, escalations, reruns, edits, bad playbooks."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import review, write_feed

from pipeline.ingest import ingest_feed, register_sources
from pipeline.store import ANALYSIS_SCHEMA, Store
from responses.phrasing import load_phrasing
from responses.playbook import EXAMPLE_PLAYBOOK, PlaybookError
from responses.stage import draft_stored
from reviewdesk.config import load_config

CONFIG = """
[settings]
database = "rd.duckdb"

[[businesses]]
id = "acme"
name = "Acme"
role = "own"
playbook = "playbook.yaml"
  [[businesses.sources]]
  name = "acme-tp"
  platform = "trustpilot"
  url = "https://www.trustpilot.com/review/acme.example"
  language = "en"

[[businesses]]
id = "rival"
name = "Rival"
role = "competitor"
  [[businesses.sources]]
  name = "rival-tp"
  platform = "trustpilot"
  url = "https://www.trustpilot.com/review/rival.example"
"""

# Analyses as the models would store them: topic hits with evidence, severity as hit records.
ANALYSES = {
    "r0": ("en", "negative", [("delivery", "negative")], []),
    "r1": ("en", "positive", [("food_drink", "positive")], []),
    "r2": ("en", "negative", [], [{"flag": "legal_threat", "evidence": "I will sue.", "rule": "x",
                                   "source": "lexicon"}]),
    "r3": ("ja", "negative", [("no_reply", "negative")], []),
}


def _setup(tmp_path: Path) -> tuple[Store, object, Path]:
    config_file = tmp_path / "reviewdesk.toml"
    config_file.write_text(CONFIG, encoding="utf-8")
    shutil.copy(EXAMPLE_PLAYBOOK, tmp_path / "playbook.yaml")
    config = load_config(config_file)
    store = Store(tmp_path / "rd.duckdb")
    register_sources(store, config)
    return store, config, config_file


def _analyse(store: Store, version: str = "v1", analyses: dict | None = None, scores: str = "{}") -> None:
    with store.transaction() as tx:
        todo = tx.reviews_to_analyze(version)
        ids = {r["id"]: r for r in todo}
        external = dict(tx._con.execute("SELECT id, external_id FROM reviews").fetchall())
    rows = []
    for rid, r in ids.items():
        lang, sentiment, topics, severity = (analyses or ANALYSES).get(external[rid], ("en", "negative", [], []))
        rows.append({
            "review_id": rid, "model_version": version, "content_hash": r["content_hash"], "language": lang,
            "language_confidence": 0.99, "language_method": "detected", "language_reason": None,
            "sentiment": sentiment, "sentiment_scores": scores, "stars": 2.0, "sentences": "[]",
            "topics": json.dumps([{"name": n, "polarity": p, "evidence": [f"{n} evidence"], "score": 0.9}
                                  for n, p in topics]),
            "severity": json.dumps(severity), "unclassifiable": None, "truncated": False,
            "analyzed_at": datetime.now(UTC),
        })
    with store.transaction() as tx:
        tx.save_analyses(pa.Table.from_pylist(rows, schema=ANALYSIS_SCHEMA))


def _ingest(store: Store, tmp_path: Path, name: str, items: list[dict], source: str = "acme-tp") -> None:
    ingest_feed(store, source, write_feed(tmp_path / name, items))


def test_five_stars_read_as_a_complaint_get_thanks_and_a_flag(tmp_path: Path) -> None:
    # A real case: "I complained, the manager called me and fixed it, 10/10" (5 stars) read negative at 0.62, with a
    # staff complaint; the draft used to apologise for how our staff treated the reviewer, and nothing else.
    store, config, config_file = _setup(tmp_path)
    _ingest(store, tmp_path, "own.jsonl", [review(0, rating=5)])
    _analyse(store, analyses={"r0": ("en", "negative", [("staff_attitude", "negative")], [])},
             scores='{"negative": 0.6228, "neutral": 0.2195, "positive": 0.1577}')
    summary = draft_stored(store, config, config_file)
    assert summary.by_kind == {"mixed": 1}
    with store.transaction() as tx:
        (draft,) = tx._rows("SELECT * FROM drafts")
    assert json.loads(draft["flags"])["rating_disagrees"] == (
        "5 stars, but the text reads negative (0.62): check which the reviewer meant")


def test_a_question_in_the_title_gets_the_invitation_and_the_flag(tmp_path: Path) -> None:
    store, config, config_file = _setup(tmp_path)
    _ingest(store, tmp_path, "own.jsonl", [
        review(0, rating=3, title="Do you deliver on Sundays?", text="Looking at the garden furniture range."),
        review(1, rating=3, title="Garden furniture", text="Looked at the range in the shop."),
    ])
    _analyse(store, analyses={"r0": ("en", "neutral", [], []), "r1": ("en", "neutral", [], [])})
    summary = draft_stored(store, config, config_file)
    assert summary.by_kind == {"neutral": 2}
    with store.transaction() as tx:
        drafts = {row["external_id"]: row for row in tx._rows(
            "SELECT r.external_id, d.flags, string_agg(v.text, '|') AS texts FROM drafts d"
            " JOIN reviews r ON r.id = d.review_id JOIN draft_variants v ON v.draft_id = d.id"
            " GROUP BY r.external_id, d.flags")}
    assert json.loads(drafts["r0"]["flags"])["question"].startswith("the review asks a question")
    en = load_phrasing("en")
    assert en is not None
    assert "care@acme.example" in drafts["r0"]["texts"] and any(s in drafts["r0"]["texts"] for s in en.question_thanks)
    assert "question" not in json.loads(drafts["r1"]["flags"] or "{}")
    assert en.thanks_feedback[0] in drafts["r1"]["texts"]  # a neutral reply: thanks for the time taken
    assert not any(s in drafts["r1"]["texts"] for s in en.question_thanks)


def test_drafts_escalations_and_reruns(tmp_path: Path) -> None:
    store, config, config_file = _setup(tmp_path)
    own = [review(i, rating=1 if i != 1 else 5, author_name="Maria Lopez") for i in range(4)]
    own.append(review(4, reply_text="Thanks, we already answered.", reply_published_at="2025-01-03T00:00:00Z"))
    _ingest(store, tmp_path, "own.jsonl", own)
    _ingest(store, tmp_path, "rival.jsonl", [review(9, source="rival-tp")], source="rival-tp")
    _analyse(store)

    summary = draft_stored(store, config, config_file)
    assert (summary.drafted, summary.escalated, summary.by_hand, summary.blocked) == (3, 1, 1, 1)
    assert summary.by_kind == {"negative": 2, "positive": 1}
    with store.transaction() as tx:
        drafts = tx._rows("SELECT d.*, r.external_id FROM drafts d JOIN reviews r ON r.id = d.review_id")
        variants = tx._rows("SELECT * FROM draft_variants ORDER BY draft_id, variant")
        escalations = tx._rows("SELECT e.*, r.external_id FROM escalations e JOIN reviews r ON r.id = e.review_id")
        audit = tx.audit_entries()
    by_ext = {d["external_id"]: d for d in drafts}
    # Competitors' reviews and reviews already answered upstream get nothing.
    assert set(by_ext) == {"r0", "r1", "r3"}
    # A Japanese review gets no English text: a person writes it (the draft records why and has no variant).
    assert [d["external_id"] for d in drafts if d["state"] != "pending"] == ["r3"]
    assert by_ext["r3"]["state"] == "blocked" and by_ext["r3"]["language"] == "ja"
    assert "by hand: Japanese" in json.loads(by_ext["r3"]["flags"])["by_hand"]
    assert [e["external_id"] for e in escalations] == ["r2"]
    assert json.loads(escalations[0]["flags"]) == ["legal_threat"] and "legal action" in escalations[0]["reason"]
    assert len(variants) == 6 and all(v["passed"] for v in variants)
    # The platform shows "Maria Lopez": greeted by first name, never by the surname.
    assert all("Maria" in v["text"].splitlines()[0] and "Lopez" not in v["text"] for v in variants)
    assert {a["action"] for a in audit} == {"draft", "escalate"} and all(a["actor"] == "system:drafter" for a in audit)

    # A rerun with nothing new drafts nothing and escalates nothing twice.
    again = draft_stored(store, config, config_file)
    assert (again.drafted, again.escalated) == (0, 0)

    # An edited review is analysed again and gets a new draft; the old pending one is superseded.
    edited = [dict(x, crawled_at="2026-02-01T00:00:00+00:00") for x in own]
    edited[0] = dict(edited[0], text="Still no parcel after a month.")
    _ingest(store, tmp_path, "edit.jsonl", edited)
    _analyse(store)
    third = draft_stored(store, config, config_file)
    assert third.drafted == 1
    with store.transaction() as tx:
        states = tx._rows("""SELECT d.state FROM drafts d JOIN reviews r ON r.id = d.review_id
                             WHERE r.external_id = 'r0' ORDER BY d.id""")
        assert [s["state"] for s in states] == ["superseded", "pending"]
        assert tx.count("escalations") == 1


def test_missing_playbook_names_the_key(tmp_path: Path) -> None:
    store, config, config_file = _setup(tmp_path)
    (tmp_path / "playbook.yaml").unlink()
    with pytest.raises(PlaybookError, match=r"playbook\.yaml: playbook file not found"):
        draft_stored(store, config, config_file)
    config_file.write_text(CONFIG.replace('playbook = "playbook.yaml"\n', ""), encoding="utf-8")
    with pytest.raises(PlaybookError, match=r"businesses\.0\.playbook: business 'acme' has no reply playbook"):
        draft_stored(store, load_config(config_file), config_file)
