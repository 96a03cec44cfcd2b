"""The approval workflow service: transitions, roles, audit, refusals, inbox order and SLA figures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from conftest import review, write_feed

from pipeline.ingest import ingest_feed
from pipeline.store import ANALYSIS_SCHEMA, Store
from pipeline.store.drafting import VariantRow
from responses.draft import Drafter, DraftInput
from responses.playbook import EXAMPLE_PLAYBOOK, PlaybookError, load_playbook
from responses.service import (
    Conflict,
    InvalidInput,
    InvalidState,
    NotFound,
    PermissionDenied,
    ReplyService,
    SetupRequired,
    TextContext,
    TextRefused,
    verifier_check,
)
from reviewdesk.config import load_config

T0 = datetime(2026, 3, 1, tzinfo=UTC)
VARIANTS = [
    VariantRow(1, "Dear Ann,\nWe are sorry about the delay.\nKind regards,\nAcme", True),
    VariantRow(2, "Dear Ann,\nPlease accept our apologies.\nKind regards,\nAcme", True),
    VariantRow(3, "Dear Ann,\nYou should have ordered earlier.", False, ["argues with the reviewer"]),
]


class Clock:
    """A settable clock for the service."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Checker:
    """A stand-in for the reply verifier: refuses texts containing "bad", remembers what it saw."""

    seen: list[tuple[str, TextContext]] = field(default_factory=list)

    def __call__(self, text: str, ctx: TextContext) -> list[str]:
        self.seen.append((text, ctx))
        return ["contains a bad word"] if "bad" in text else []


def ingest(store: Store, path: Path, items: list[dict[str, Any]], source: str = "acme-tp") -> None:
    """Ingest reviews of one source from a complete feed written like a spider writes it."""
    report = ingest_feed(store, source, write_feed(path, items))
    assert report.status == "ok", report.error


def analyse(store: Store, sentiments: dict[int, str]) -> None:
    """Store an analysis per review (review id → sentiment), with one topic and its evidence."""
    with store.transaction() as tx:
        todo = {r["id"]: r for r in tx.reviews_to_analyze("test-v1", reanalyze=True)}
    rows = [
        {
            "review_id": rid, "model_version": "test-v1", "content_hash": todo[rid]["content_hash"], "language": "en",
            "language_confidence": 0.99, "language_method": "detected", "language_reason": None,
            "sentiment": sentiment, "sentiment_scores": json.dumps({sentiment: 0.9}), "stars": 1.5,
            "sentences": "[]",
            "topics": json.dumps([{"name": "delivery", "polarity": "negative", "evidence": ["It came late."]}]),
            "severity": "[]", "unclassifiable": None, "truncated": False, "analyzed_at": T0,
        }
        for rid, sentiment in sentiments.items()
    ]
    with store.transaction() as tx:
        tx.save_analyses(pa.Table.from_pylist(rows, schema=ANALYSIS_SCHEMA))


def review_ids(store: Store) -> dict[str, int]:
    """External id → review id."""
    with store.transaction() as tx:
        return {r["external_id"]: r["id"] for r in tx.search_reviews(limit=1000, include_removed=True)}


def make_draft(store: Store, review_id: int, now: datetime, variants: list[VariantRow] = VARIANTS,
               flags: dict[str, Any] | None = None) -> int:
    """Save a draft for a review's current text, as the drafting stage does."""
    with store.transaction() as tx:
        content_hash = next(r["content_hash"] for r in tx.reviews_to_analyze("x", reanalyze=True)
                            if r["id"] == review_id)
        return tx.save_draft(
            review_id=review_id, content_hash=content_hash, model_version="test-v1", playbook_hash="pb",
            generator="test", language="en", review_language="en", language_fallback=False, kind="negative",
            variants=variants, flags=flags or {}, now=now,
        )


def add_users(store: Store, **roles: str) -> None:
    """Create an admin first (bootstrap), then the given users."""
    ReplyService(store, "boot").add_user("root", "admin")
    admin = ReplyService(store, "root")
    for name, role in roles.items():
        admin.add_user(name, role)


def draft_row(store: Store, draft_id: int) -> dict[str, Any]:
    with store.transaction() as tx:
        row = tx.draft(draft_id)
    assert row is not None
    return row


def audit_rows(store: Store, draft_id: int) -> list[dict[str, Any]]:
    with store.transaction() as tx:
        return tx.audit_entries("draft", draft_id)


@pytest.fixture
def world(store: Store, tmp_path: Path) -> dict[str, Any]:
    """One pending draft (variants 1 and 2 passed, 3 failed) of a 1-star review, and one user per role."""
    ingest(store, tmp_path / "a.jsonl", [review(1, rating=1, published_at="2026-02-28T12:00:00Z")])
    analyse(store, {review_ids(store)["r1"]: "negative"})
    draft_id = make_draft(store, review_ids(store)["r1"], T0)
    add_users(store, vera="viewer", rick="responder", anna="approver", adam="admin")
    clock = Clock(T0 + timedelta(hours=1))
    checker = Checker()

    def as_(name: str, **kwargs: Any) -> ReplyService:
        return ReplyService(store, name, sla_hours=24, check=checker, clock=clock, **kwargs)

    return {"draft": draft_id, "as": as_, "clock": clock, "checker": checker, "store": store}


# --- transitions -----------------------------------------------------------------------------


def test_approve_a_variant_records_who_when_and_audit(world: dict[str, Any]) -> None:
    store, draft_id = world["store"], world["draft"]
    result = world["as"]("anna").approve(draft_id, variant=2)
    assert result["edited"] is False and result["variant"] == 2
    row = draft_row(store, draft_id)
    assert row["state"] == "approved" and row["chosen_variant"] == 2
    assert row["proposed_text"] == row["final_text"] == VARIANTS[1].text
    assert row["approved_by"] == "anna" and row["approved_at"] == T0 + timedelta(hours=1)
    entry = audit_rows(store, draft_id)[-1]
    assert (entry["actor"], entry["action"], entry["from_state"], entry["to_state"]) == (
        "anna", "approve", "pending", "approved")
    assert entry["logged_at"] == T0 + timedelta(hours=1)
    assert json.loads(entry["detail"]) == {"review_id": row["review_id"], "variant": 2, "edited": False}
    assert world["checker"].seen == []  # an unedited variant passed the verifier when it was drafted


def test_approve_defaults_to_the_first_passed_variant(world: dict[str, Any]) -> None:
    assert world["as"]("anna").approve(world["draft"])["variant"] == 1


def test_approve_with_edited_text_keeps_proposed_and_final(world: dict[str, Any]) -> None:
    store, draft_id, checker = world["store"], world["draft"], world["checker"]
    text = "  Dear Ann,\r\nWe are so sorry about the delay.\nKind regards,\nAcme\n\n"
    result = world["as"]("anna").approve(draft_id, variant=1, text=text)
    row = draft_row(store, draft_id)
    assert result["edited"] is True
    assert row["proposed_text"] == VARIANTS[0].text
    assert row["final_text"] == "Dear Ann,\nWe are so sorry about the delay.\nKind regards,\nAcme"
    assert json.loads(audit_rows(store, draft_id)[-1]["detail"])["edited"] is True
    # The edited text went through the checker with what the verifier needs to know.
    (seen_text, ctx), = checker.seen
    assert seen_text == row["final_text"]
    assert (ctx.draft_id, ctx.business_id, ctx.source, ctx.kind, ctx.language) == (
        draft_id, "acme", "acme-tp", "negative", "en")
    assert ctx.review_text == "Review text number 1" and ctx.author_name == "Reviewer 1"


def test_edited_text_that_fails_the_checks_is_refused_and_nothing_changes(world: dict[str, Any]) -> None:
    store, draft_id = world["store"], world["draft"]
    before = audit_rows(store, draft_id)
    with pytest.raises(TextRefused, match="bad word") as info:
        world["as"]("anna").approve(draft_id, text="A bad reply")
    assert info.value.problems == ["contains a bad word"]
    for empty in ("", "   \n\t "):
        with pytest.raises(TextRefused, match="empty"):
            world["as"]("anna").approve(draft_id, text=empty)
    assert draft_row(store, draft_id)["state"] == "pending"
    assert audit_rows(store, draft_id) == before


def test_without_a_verifier_edited_text_is_refused(world: dict[str, Any]) -> None:
    service = ReplyService(world["store"], "anna", check=None)
    with pytest.raises(TextRefused, match="no reply verifier"):
        service.approve(world["draft"], text="Fine words")
    assert service.approve(world["draft"], variant=1)["state"] == "approved"  # unedited needs no new check


def test_only_passed_variants_can_be_chosen(world: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match=r"variant 3 .* failed the reply checks .*argues"):
        world["as"]("anna").approve(world["draft"], variant=3)
    with pytest.raises(InvalidInput, match="no variant 7; choose one of 1, 2"):
        world["as"]("anna").approve(world["draft"], variant=7)


def test_no_double_approval_and_no_decision_after_a_decision(world: dict[str, Any]) -> None:
    anna, draft_id = world["as"]("anna"), world["draft"]
    anna.approve(draft_id)
    with pytest.raises(InvalidState, match="already approved \\(by anna"):
        anna.approve(draft_id)
    with pytest.raises(InvalidState, match="already approved"):
        anna.reject(draft_id, "changed my mind")
    with pytest.raises(InvalidState, match="already approved"):
        world["as"]("rick").propose_edit(draft_id, "Dear Ann, sorry.")


def test_reject_needs_a_reason_and_then_blocks_approval(world: dict[str, Any]) -> None:
    store, anna, draft_id = world["store"], world["as"]("anna"), world["draft"]
    for blank in ("", "   "):
        with pytest.raises(InvalidInput, match="reason is required"):
            anna.reject(draft_id, blank)
    anna.reject(draft_id, "  tone is too stiff ")
    row = draft_row(store, draft_id)
    assert row["state"] == "rejected" and row["reject_reason"] == "tone is too stiff"
    entry = audit_rows(store, draft_id)[-1]
    assert (entry["action"], entry["from_state"], entry["to_state"]) == ("reject", "pending", "rejected")
    assert json.loads(entry["detail"])["reason"] == "tone is too stiff"
    with pytest.raises(InvalidState, match="rejected \\(tone is too stiff\\)"):
        anna.approve(draft_id)


def test_proposed_edit_stays_pending_and_can_be_approved_as_proposed(world: dict[str, Any]) -> None:
    store, draft_id = world["store"], world["draft"]
    text = "Dear Ann,\nWe are truly sorry.\nKind regards,\nAcme"
    world["as"]("rick").propose_edit(draft_id, text, variant=2)
    row = draft_row(store, draft_id)
    assert row["state"] == "pending" and row["final_text"] == text
    assert row["proposed_text"] == VARIANTS[1].text and row["chosen_variant"] == 2
    entry = audit_rows(store, draft_id)[-1]
    assert (entry["actor"], entry["action"], entry["from_state"], entry["to_state"]) == (
        "rick", "edit", "pending", "pending")
    assert json.loads(entry["detail"]) == {"review_id": row["review_id"], "variant": 2, "edited": True}
    with pytest.raises(InvalidInput, match="same as variant 1"):
        world["as"]("rick").propose_edit(draft_id, VARIANTS[0].text, variant=1)

    result = world["as"]("anna").approve(draft_id)  # no variant, no text: the proposal as proposed
    assert result["final_text"] == text and result["variant"] == 2 and result["edited"]
    assert json.loads(audit_rows(store, draft_id)[-1]["detail"])["proposed_edit_used"] is True


def test_choosing_a_variant_explicitly_sets_a_proposal_aside(world: dict[str, Any]) -> None:
    store, draft_id = world["store"], world["draft"]
    world["as"]("rick").propose_edit(draft_id, "Dear Ann,\nSorry.\nAcme", variant=2)
    result = world["as"]("anna").approve(draft_id, variant=1)
    assert result["final_text"] == VARIANTS[0].text and not result["edited"]
    assert json.loads(audit_rows(store, draft_id)[-1]["detail"])["proposed_edit_used"] is False


def test_a_change_while_editing_is_a_conflict_not_an_overwrite(world: dict[str, Any]) -> None:
    draft_id = world["draft"]
    start = world["as"]("anna").editable_text(draft_id, for_approval=True)
    assert start.variant == 1 and start.text == VARIANTS[0].text
    world["clock"].now += timedelta(minutes=5)
    world["as"]("rick").propose_edit(draft_id, "Dear Ann,\nRick's words.\nAcme")
    with pytest.raises(Conflict, match="changed by rick \\(edit\\)"):
        world["as"]("anna").approve(draft_id, variant=start.variant, text=start.text + " Thanks.",
                                    expected_updated_at=start.updated_at)
    # Read again: the editor now starts from the proposal.
    again = world["as"]("anna").editable_text(draft_id, for_approval=True)
    assert again.text == "Dear Ann,\nRick's words.\nAcme"


def test_unknown_ids_are_not_found(world: dict[str, Any]) -> None:
    anna = world["as"]("anna")
    for call in (lambda: anna.approve(999), lambda: anna.reject(999, "x"), lambda: anna.show(999),
                 lambda: anna.audit(999), lambda: anna.resolve_escalation(999, "done")):
        with pytest.raises(NotFound):
            call()


# --- drafts that may not be approved ---------------------------------------------------------


def test_superseded_and_blocked_drafts_cannot_be_approved(world: dict[str, Any], tmp_path: Path) -> None:
    store, first = world["store"], world["draft"]
    ingest(store, tmp_path / "b.jsonl", [review(1, rating=1, published_at="2026-02-28T12:00:00Z",
                                                text="Edited: still late", crawled_at="2026-03-02T00:00:00Z")])
    with pytest.raises(InvalidState, match="review was edited after this draft"):
        world["as"]("anna").approve(first)
    with pytest.raises(InvalidState, match="review was edited"):
        world["as"]("rick").propose_edit(first, "Dear Ann, sorry.")
    second = make_draft(store, review_ids(store)["r1"], T0 + timedelta(days=1),
                        variants=[VariantRow(1, "x", False, ["structure: no apology part"])])
    assert draft_row(store, first)["state"] == "superseded"
    with pytest.raises(InvalidState, match=f"superseded because the review changed; the current draft is #{second}"):
        world["as"]("anna").approve(first)
    assert draft_row(store, second)["state"] == "blocked"
    with pytest.raises(InvalidState, match="no variant passed"):
        world["as"]("anna").approve(second)


def test_removed_or_answered_reviews_are_not_approvable_but_may_be_rejected(
    world: dict[str, Any], tmp_path: Path
) -> None:
    store, draft_id = world["store"], world["draft"]
    ingest(store, tmp_path / "b.jsonl", [review(2)])  # a complete crawl without r1: removed upstream
    with pytest.raises(InvalidState, match="review was removed from acme-tp"):
        world["as"]("anna").approve(draft_id)
    ingest(store, tmp_path / "c.jsonl", [review(1, rating=1, published_at="2026-02-28T12:00:00Z",
                                                reply_text="We replied by hand", crawled_at="2026-03-03T00:00:00Z")])
    with pytest.raises(InvalidState, match="answered on the platform"):
        world["as"]("anna").approve(draft_id)
    assert world["as"]("anna").show(draft_id)["stale"].startswith("the review has been answered")
    world["as"]("anna").reject(draft_id, "answered by hand")
    assert draft_row(store, draft_id)["state"] == "rejected"


# --- roles -----------------------------------------------------------------------------------


def test_roles_are_enforced_in_the_service(world: dict[str, Any]) -> None:
    draft_id, as_ = world["draft"], world["as"]
    vera, rick, anna = as_("vera"), as_("rick"), as_("anna")
    assert [r["id"] for r in vera.inbox()] == [draft_id]
    assert vera.show(draft_id)["draft"]["id"] == draft_id
    assert vera.escalations() == [] and vera.sla() and vera.audit(draft_id)
    for call in (lambda: vera.approve(draft_id), lambda: vera.reject(draft_id, "no"),
                 lambda: vera.propose_edit(draft_id, "Dear Ann, sorry.")):
        with pytest.raises(PermissionDenied, match="vera is a viewer"):
            call()
    with pytest.raises(PermissionDenied, match=r"rick is a responder: to approve or reject .* approver role"):
        rick.approve(draft_id)
    with pytest.raises(PermissionDenied, match="rick is a responder"):
        rick.reject(draft_id, "no")
    with pytest.raises(PermissionDenied, match="anna is an approver: to manage users you need the admin role"):
        anna.add_user("eve", "viewer")
    with pytest.raises(PermissionDenied, match="'mallory' is not a Reviewdesk user"):
        as_("mallory").inbox()
    as_("adam").set_disabled("rick", True)
    with pytest.raises(PermissionDenied, match="'rick' is disabled"):
        rick.inbox()
    # Approvers can do what responders can; admins everything.
    anna.propose_edit(draft_id, "Dear Ann,\nAnna's words.\nAcme")
    as_("adam").approve(draft_id)


def test_bootstrap_only_reads_until_the_first_admin_exists(store: Store, tmp_path: Path) -> None:
    ingest(store, tmp_path / "a.jsonl", [review(1)])
    analyse(store, {review_ids(store)["r1"]: "negative"})
    draft_id = make_draft(store, review_ids(store)["r1"], T0)
    anyone = ReplyService(store, "somebody", check=Checker())
    assert len(anyone.inbox()) == 1
    with pytest.raises(SetupRequired, match="reviewdesk users add NAME --role admin"):
        anyone.approve(draft_id)
    with pytest.raises(InvalidInput, match="first user must be an admin"):
        anyone.add_user("somebody", "approver")
    with pytest.raises(InvalidInput, match="unknown role 'boss'"):
        anyone.add_user("somebody", "boss")
    with pytest.raises(InvalidInput, match="bad user name"):
        anyone.add_user("two words", "admin")
    assert anyone.add_user("alice", "Admin")["role"] == "admin"
    with pytest.raises(PermissionDenied, match="'somebody' is not a Reviewdesk user"):
        anyone.add_user("bob", "admin")  # the bootstrap exception is over
    with store.transaction() as tx:
        (entry,) = tx.audit_entries("user")
    assert (entry["actor"], entry["action"], entry["to_state"]) == ("somebody", "user_add", "admin")


def test_user_management_keeps_an_admin(store: Store) -> None:
    add_users(store, bob="viewer")
    root = ReplyService(store, "root")
    with pytest.raises(InvalidInput, match="already exists"):
        root.add_user("bob", "viewer")
    assert root.set_role("bob", "approver")["role"] == "approver"
    with pytest.raises(InvalidState, match="only active admin"):
        root.set_role("root", "viewer")
    with pytest.raises(InvalidState, match="only active admin"):
        root.set_disabled("root", True)
    root.set_role("bob", "admin")
    root.set_disabled("root", True)
    bob = ReplyService(store, "bob")
    assert bob.set_disabled("root", False)["disabled"] is False
    with pytest.raises(NotFound, match="no user 'zed'"):
        bob.set_role("zed", "viewer")
    with store.transaction() as tx:
        log = [(e["actor"], e["action"], e["from_state"], e["to_state"], json.loads(e["detail"])["name"])
               for e in tx.audit_entries("user")]
    assert log == [
        ("boot", "user_add", None, "admin", "root"),
        ("root", "user_add", None, "viewer", "bob"),
        ("root", "user_role", "viewer", "approver", "bob"),
        ("root", "user_role", "approver", "admin", "bob"),
        ("root", "user_disable", "active", "disabled", "root"),
        ("bob", "user_enable", "disabled", "active", "root"),
    ]


# --- escalations -----------------------------------------------------------------------------


def test_escalations_are_listed_and_resolved_with_a_note(world: dict[str, Any], tmp_path: Path) -> None:
    store = world["store"]
    ingest(store, tmp_path / "b.jsonl", [review(1, rating=1, published_at="2026-02-28T12:00:00Z"),
                                         review(5, rating=1, text="I will sue you.")])
    rid = review_ids(store)["r5"]
    with store.transaction() as tx:
        esc = tx.save_escalation(review_id=rid, content_hash="h", model_version="v", flags=["legal_threat"],
                                 reason="mentions legal action", now=T0)
    assert esc is not None
    (row,) = world["as"]("vera").escalations()
    assert row["flags"] == ["legal_threat"] and row["text"] == "I will sue you." and row["source"] == "acme-tp"
    with pytest.raises(PermissionDenied):
        world["as"]("rick").resolve_escalation(esc, "called them")
    with pytest.raises(InvalidInput, match="note is required"):
        world["as"]("anna").resolve_escalation(esc, " ")
    world["as"]("anna").resolve_escalation(esc, "called them, legal informed")
    with pytest.raises(InvalidState, match="already resolved \\(by anna"):
        world["as"]("anna").resolve_escalation(esc, "again")
    assert world["as"]("vera").escalations() == []
    with store.transaction() as tx:
        entry = tx.audit_entries("escalation", esc)[-1]
    assert (entry["actor"], entry["action"], entry["from_state"], entry["to_state"]) == (
        "anna", "resolve", "open", "resolved")
    assert json.loads(entry["detail"]) == {"review_id": rid, "note": "called them, legal informed"}


# --- show and audit --------------------------------------------------------------------------


def test_show_has_review_analysis_variants_and_history(world: dict[str, Any]) -> None:
    world["as"]("anna").reject(world["draft"], "too generic")
    data = world["as"]("vera").show(world["draft"])
    assert data["draft"]["review_text"] == "Review text number 1" and data["draft"]["state"] == "rejected"
    assert data["analysis"]["topics"][0]["evidence"] == ["It came late."] and data["analysis"]["current"]
    assert [(v["variant"], v["passed"], v["problems"]) for v in data["variants"]] == [
        (1, True, []), (2, True, []), (3, False, ["argues with the reviewer"])]
    assert [e["action"] for e in data["history"]] == ["draft", "reject"]
    assert data["stale"] is None and data["successor"] is None
    assert [e["action"] for e in world["as"]("vera").audit(limit=2)] == ["user_add", "reject"]


# --- inbox -----------------------------------------------------------------------------------


def test_inbox_order_and_overdue(store: Store, tmp_path: Path) -> None:
    # (rating, sentiment, published): the expected order is a, b, c, d, e.
    specs = {
        "e": (4, "positive", "2026-03-01T00:00:00Z"),
        "d": (2, "negative", "2026-02-20T00:00:00Z"),
        "c": (1, "neutral", "2026-02-25T00:00:00Z"),
        "b": (1, "negative", "2026-03-01T20:00:00Z"),
        "a": (1, "negative", "2026-03-01T06:00:00Z"),  # same risk as b, earlier deadline
    }
    ingest(store, tmp_path / "a.jsonl", [review(i, review_id=k, rating=r, published_at=p)
                                         for i, (k, (r, _, p)) in enumerate(specs.items())])
    ids = review_ids(store)
    analyse(store, {ids[k]: s for k, (_, s, _) in specs.items()})
    drafts = {k: make_draft(store, ids[k], T0 + timedelta(days=1)) for k in specs}
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    rows = ReplyService(store, "anyone", sla_hours=48, clock=Clock(now)).inbox()
    assert [r["id"] for r in rows] == [drafts[k] for k in "abcde"]
    by = {r["id"]: r for r in rows}
    a, b, d = by[drafts["a"]], by[drafts["b"]], by[drafts["d"]]
    assert a["age_hours"] == 30 and a["hours_left"] == 18 and not a["overdue"]
    assert b["hours_left"] == 32 and not b["overdue"]
    assert d["overdue"] and d["hours_left"] == -204  # deadline 2026-02-22 00:00, 8.5 days ago
    assert a["preview"] == "Dear Ann, We are sorry about the delay. Kind regards, Acme"
    assert a["source"] == "acme-tp" and a["rating"] == 1
    assert a["stale"] is None and a["edit_proposed"] is False
    assert len(ReplyService(store, "anyone", clock=Clock(now)).inbox(limit=2)) == 2


# --- SLA -------------------------------------------------------------------------------------


def test_sla_figures_on_a_hand_computed_fixture(store: Store, tmp_path: Path) -> None:
    with store.transaction() as tx:
        tx.upsert_source("acme-web", "acme", "schema_org", "http://127.0.0.1/acme", "en")
        tx.upsert_business("rival", "Rival", "competitor")
        tx.upsert_source("rival-tp", "rival", "trustpilot", "http://127.0.0.1/review/rival", "en")
    day = "2026-03-0{}T00:00:00Z"
    ingest(store, tmp_path / "tp.jsonl", [
        review(1, review_id="A", published_at=day.format(1)),
        review(2, review_id="B", published_at=day.format(2)),
        review(3, review_id="C", published_at=day.format(3)),
        review(4, review_id="D", published_at="2026-03-09T12:00:00Z"),  # 12 h old: not overdue yet
        review(5, review_id="E", published_at=day.format(4), reply_text="Answered by hand"),  # replied upstream
    ])
    ingest(store, tmp_path / "web1.jsonl", [review(6, review_id="F", published_at=day.format(5)),
                                            review(7, review_id="G", published_at=day.format(5))], source="acme-web")
    ingest(store, tmp_path / "web2.jsonl", [review(6, review_id="F", published_at=day.format(5))],
           source="acme-web")  # G removed upstream: not overdue
    ingest(store, tmp_path / "rival.jsonl", [review(8, review_id="R", published_at=day.format(1))], source="rival-tp")
    ids = review_ids(store)
    analyse(store, {ids[k]: "negative" for k in "ABCF"})
    add_users(store, anna="approver")
    clock = Clock(T0)
    anna = ReplyService(store, "anna", sla_hours=24, clock=clock)
    hours = timedelta(hours=1)

    # A: drafted after 2 h, approved after 5 h, published after 6 h.
    a = make_draft(store, ids["A"], T0 + 2 * hours)
    clock.now = T0 + 5 * hours
    anna.approve(a)
    with store.transaction() as tx:
        outbox = tx.queue_draft(draft_id=a, idempotency_key="k-a", connector="manual", target={}, text="t",
                                publish_after=T0 + 5 * hours, now=T0 + 5 * hours, actor="system:test")
        assert outbox is not None
        assert tx.publish_outbox(outbox, external_id=None, now=T0 + 6 * hours, actor="anna", from_states=("queued",))
    # B: drafted after 4 h, approved after 12 h. C: drafted after 10 h, still pending.
    b = make_draft(store, ids["B"], T0 + timedelta(days=1, hours=4))
    clock.now = T0 + timedelta(days=1, hours=12)
    anna.approve(b)
    make_draft(store, ids["C"], T0 + timedelta(days=2, hours=10))
    # F: only a blocked draft, which never reached the inbox, so it does not count as drafted.
    make_draft(store, ids["F"], T0 + timedelta(days=4, hours=1), variants=[VariantRow(1, "x", False, ["bad"])])

    clock.now = datetime(2026, 3, 10, tzinfo=UTC)
    rows = {(r["business"], r["source"]): r for r in anna.sla()}
    assert set(rows) == {("acme", None), ("acme", "acme-tp"), ("acme", "acme-web")}  # no competitor
    tp = rows[("acme", "acme-tp")]
    assert (tp["reviews"], tp["drafted"], tp["approved"], tp["published"], tp["overdue"]) == (5, 3, 2, 1, 2)
    # Drafted after [2, 4, 10] h: median 4, p90 4 + 0.8 * (10 - 4) = 8.8 (linear interpolation).
    assert tp["draft_median_h"] == pytest.approx(4) and tp["draft_p90_h"] == pytest.approx(8.8)
    # Approved after [5, 12] h: median 8.5, p90 5 + 0.9 * 7 = 11.3. Published after [6] h.
    assert tp["approve_median_h"] == pytest.approx(8.5) and tp["approve_p90_h"] == pytest.approx(11.3)
    assert tp["publish_median_h"] == pytest.approx(6) and tp["publish_p90_h"] == pytest.approx(6)
    web = rows[("acme", "acme-web")]
    assert (web["reviews"], web["drafted"], web["overdue"], web["draft_median_h"]) == (2, 0, 1, None)
    acme = rows[("acme", None)]
    assert (acme["reviews"], acme["drafted"], acme["approved"], acme["published"], acme["overdue"]) == (7, 3, 2, 1, 3)
    assert acme["draft_p90_h"] == pytest.approx(8.8)
    # --since keeps only reviews published from that day on.
    later = {(r["business"], r["source"]): r for r in anna.sla(since=datetime(2026, 3, 3, tzinfo=UTC))}
    assert later[("acme", "acme-tp")]["reviews"] == 3 and later[("acme", "acme-tp")]["drafted"] == 1


# --- the real verifier -----------------------------------------------------------------------


def test_verifier_check_uses_the_business_playbook(world: dict[str, Any], tmp_path: Path) -> None:
    config_file = tmp_path / "reviewdesk.toml"
    config_file.write_text(
        f'[[businesses]]\nid = "acme"\nname = "Acme"\nplaybook = "{EXAMPLE_PLAYBOOK}"\n'
        '  [[businesses.sources]]\n  name = "acme-tp"\n  platform = "trustpilot"\n'
        '  url = "https://www.trustpilot.com/review/acme.example"\n'
    )
    analysis = {"language": "en", "sentiment": "negative", "severity": [],
                "topics": [{"name": "delivery", "polarity": "negative", "evidence": ["It came late."]}]}
    good = Drafter(load_playbook(EXAMPLE_PLAYBOOK)).draft(
        DraftInput(id="1", text="It came late.", rating=1, author="Reviewer 1", platform="trustpilot"), analysis
    ).variants[0]
    assert good.passed, good.problems
    edited = good.text.replace("\n\n", "\n\nWe read every review carefully. ", 1)
    service = ReplyService(world["store"], "anna", check=verifier_check(load_config(config_file), config_file))
    with pytest.raises(TextRefused, match="not the business's own: phone"):
        service.approve(world["draft"], text=edited + "\nOr call +1 555 999 8888.")
    assert service.approve(world["draft"], text=edited)["final_text"] == edited.strip()

    no_playbook = tmp_path / "bare.toml"
    no_playbook.write_text(config_file.read_text().replace(f'playbook = "{EXAMPLE_PLAYBOOK}"\n', ""))
    # A second review: one text gets one draft (the drafting stage never drafts the same text twice).
    ingest(world["store"], tmp_path / "c.jsonl", [review(2, rating=1, published_at="2026-02-28T13:00:00Z")])
    draft_id = make_draft(world["store"], review_ids(world["store"])["r2"], T0 + timedelta(days=1))
    bare = ReplyService(world["store"], "anna", check=verifier_check(load_config(no_playbook), no_playbook))
    with pytest.raises(PlaybookError, match="no reply playbook"):
        bare.approve(draft_id, text=edited)
