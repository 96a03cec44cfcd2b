"""The approval workflow CLI end to end: the real `reviewdesk` process on a real DuckDB file."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import review, run_cli
from test_service import T0, analyse, ingest, make_draft, review_ids

from pipeline.ingest import register_sources
from pipeline.store import Store
from pipeline.store.drafting import VariantRow
from responses.draft import Drafter, DraftInput
from responses.playbook import EXAMPLE_PLAYBOOK, load_playbook
from reviewdesk.config import load_config

pytestmark = pytest.mark.slow

HOSTILE = "[bold red]HACK[/] \x1b[2J\x1b]0;pwned\x07 it came late \u202eevil"
ANALYSIS = {"language": "en", "sentiment": "negative", "severity": [],
            "topics": [{"name": "delivery", "polarity": "negative", "evidence": ["It came late."]}]}


def _variants() -> list[VariantRow]:
    """Real drafts from the phrasebook generator (so edits can pass the real verifier), plus a failed one."""
    result = Drafter(load_playbook(EXAMPLE_PLAYBOOK), variants=2).draft(
        DraftInput(id="1", text="It came late.", rating=1, author="Ann", platform="trustpilot"), ANALYSIS
    )
    rows = [VariantRow(v.variant, v.text, v.passed, v.problems) for v in result.variants]
    assert all(v.passed for v in rows)
    return [*rows, VariantRow(3, "You should have ordered earlier.", False, ["argues with the reviewer"])]


@pytest.fixture
def desk(tmp_path: Path) -> dict[str, Any]:
    """A config, a database with two pending drafts (a hostile 1-star review and a 3-star one) and a helper."""
    config = tmp_path / "reviewdesk.toml"
    config.write_text(
        f'[settings]\ndatabase = "rd.duckdb"\n\n[responses]\nsla_hours = 24\n\n'
        f'[[businesses]]\nid = "acme"\nname = "Acme"\nplaybook = "{EXAMPLE_PLAYBOOK}"\n'
        '  [[businesses.sources]]\n  name = "acme-tp"\n  platform = "trustpilot"\n'
        '  url = "https://www.trustpilot.com/review/acme.example"\n  language = "en"\n'
    )
    store = Store(tmp_path / "rd.duckdb")
    register_sources(store, load_config(config))
    recent = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    ingest(store, tmp_path / "a.jsonl", [
        review(1, rating=1, text=HOSTILE, author_name="Ann", published_at="2026-01-01T00:00:00Z"),
        review(2, rating=3, text="It was fine.", author_name="Bo", published_at=recent),
    ])
    ids = review_ids(store)
    analyse(store, {ids["r1"]: "negative", ids["r2"]: "neutral"})
    variants = _variants()
    # The 1-star review's text read as praise: the drafter flags that for whoever works the draft.
    disagree = {"rating_disagrees": "1 star, but the text reads positive (0.71): check which the reviewer meant"}
    # The 3-star review asks something: its draft invites the reviewer to write, and the approver adds the answer.
    question = {"question": "the review asks a question: add the answer to the reply before approving"}
    drafts = [make_draft(store, ids[k], T0, variants, flags) for k, flags in (("r1", disagree), ("r2", question))]

    def cli(*args: str, user: str | None = None, env: dict[str, str] | None = None) -> Any:
        identity = {"REVIEWDESK_USER": user} if user else {"REVIEWDESK_USER": ""}
        return run_cli(*args, "--config", str(config), cwd=tmp_path, env={**identity, **(env or {})})

    return {"cli": cli, "store": store, "drafts": drafts, "variants": variants, "tmp": tmp_path, "recent": recent}


def _ok(result: Any) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return str(result.stdout)


def _fails(result: Any, code: int, message: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr


def _setup_users(cli: Any) -> None:
    _ok(cli("users", "add", "alice", "--role", "admin"))  # bootstrap: no identity needed
    for name, role in (("bob", "responder"), ("vera", "viewer")):
        _ok(cli("users", "add", name, "--role", role, "--as", "alice"))


def test_users_and_identity(desk: dict[str, Any]) -> None:
    cli = desk["cli"]
    assert "2 pending draft(s)" in _ok(cli("inbox"))  # reading works before anyone is set up
    _fails(cli("approve", str(desk["drafts"][0])), 1, "reviewdesk users add NAME --role admin")
    _fails(cli("users", "add", "bob", "--role", "viewer"), 2, "the first user must be an admin")
    _setup_users(cli)
    _fails(cli("users", "add", "carl", "--role", "viewer", user="bob"), 1, "bob is a responder")
    # --as wins over $REVIEWDESK_USER.
    _ok(cli("users", "add", "carl", "--role", "viewer", "--as", "alice", user="bob"))
    _fails(cli("users", "set-role", "carl", "--role", "boss", "--as", "alice"), 2, "unknown role 'boss'")
    assert "updated carl: approver, active" in _ok(cli("users", "set-role", "carl", "--role", "approver",
                                                       user="alice"))
    assert "disabled carl: approver, disabled" in _ok(cli("users", "disable", "carl", user="alice"))
    _fails(cli("inbox", user="carl"), 1, "user 'carl' is disabled")
    _fails(cli("users", "disable", "alice", user="alice"), 1, "alice is the only active admin")
    _fails(cli("inbox", user="nobody"), 1, "'nobody' is not a Reviewdesk user")
    listing = _ok(cli("users", "list", user="vera"))
    assert "alice" in listing and "responder" in listing and "disabled" in listing


def test_inbox_show_approve_reject_audit(desk: dict[str, Any]) -> None:
    cli, (hostile, fine), variants = desk["cli"], desk["drafts"], desk["variants"]
    _setup_users(cli)

    inbox = _ok(cli("inbox", user="vera"))
    lines = [line for line in inbox.splitlines() if line.startswith("│")]
    assert lines[0].split("│")[1].strip() == str(hostile)  # 1 star before 3 stars
    assert "OVERDUE" in lines[0] and "OVERDUE" not in lines[1]
    assert "Dear Ann" in inbox and "1 overdue" in inbox
    rows = [json.loads(line) for line in _ok(cli("inbox", "--json", user="vera")).splitlines()]
    assert [r["id"] for r in rows] == [hostile, fine] and rows[0]["overdue"] and not rows[1]["overdue"]

    shown = _ok(cli("show", str(hostile), user="vera"))
    # Hostile text is shown as typed: markup not interpreted, escape sequences made visible, never sent.
    assert "[bold red]HACK[/]" in shown and "\\x1b[2J" in shown and "\\u202e" in shown
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "topic delivery (negative)" in shown and "It came late." in shown
    assert "stars and text disagree: 1 star, but the text reads positive (0.71)" in " ".join(shown.split())
    assert "asks a question" not in shown
    fine_shown = " ".join(_ok(cli("show", str(fine), user="vera")).split())
    assert "stars and text disagree" not in fine_shown
    assert "asks a question: add the answer to the reply before approving" in fine_shown
    assert "[1]" in shown and "[2]" in shown and variants[0].text.splitlines()[2][:40] in shown
    assert "variant 3 failed the checks: argues with the reviewer" in shown
    assert "PENDING" in shown and "draft" in shown  # the history table

    _fails(cli("approve", "999", user="alice"), 2, "no draft #999")
    _fails(cli("approve", str(hostile), "--variant", "3", user="alice"), 2, "variant 3 of draft")
    _fails(cli("approve", str(hostile), user="bob"), 1, "bob is a responder")
    _fails(cli("approve", str(hostile), "--edit", "--text", "x", user="alice"), 2, "exclude each other")
    _fails(cli("approve", str(hostile), "--text", "   ", user="alice"), 1, "the reply text is empty")
    _fails(cli("approve", str(hostile), "--text", "Thanks, call us on +1 555 999 8888.", user="alice"), 1,
           "fails the reply checks")
    approved = _ok(cli("approve", str(hostile), "--variant", "2", user="alice"))
    assert f"approved draft #{hostile} (variant 2) by alice" in approved
    _fails(cli("approve", str(hostile), user="alice"), 1, "already approved (by alice")

    _fails(cli("reject", str(fine), user="alice"), 2, "--reason")
    _fails(cli("reject", str(fine), "--reason", " ", user="alice"), 2, "a reason is required")
    _ok(cli("reject", str(fine), "--reason", "too formal for a 3-star review", user="alice"))
    _fails(cli("approve", str(fine), user="alice"), 1, "was rejected (too formal for a 3-star review)")

    audit = _ok(cli("audit", "--draft", str(hostile), user="vera"))
    assert "approve" in audit and "alice" in audit and "variant=2" in audit and "edited=False" in audit
    entries = [json.loads(line) for line in _ok(cli("audit", "--json", user="vera")).splitlines()]
    assert [(e["action"], e["actor"]) for e in entries][-2:] == [("approve", "alice"), ("reject", "alice")]
    assert entries[-1]["detail"]["reason"] == "too formal for a 3-star review"
    _fails(cli("audit", "--draft", "999", user="vera"), 2, "no draft #999")


def test_edit_in_editor_then_approve_the_proposal(desk: dict[str, Any]) -> None:
    cli, draft = desk["cli"], desk["drafts"][0]
    _setup_users(cli)
    editor = desk["tmp"] / "editor.py"
    editor.write_text(
        "import sys\nfrom pathlib import Path\np = Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('\\n\\n', '\\n\\nWe read every review carefully. ', 1))\n"
    )
    env = {"EDITOR": f"{sys.executable} {editor}", "VISUAL": ""}
    _ok(cli("edit", str(draft), "--variant", "2", user="bob", env=env))
    proposal = _ok(cli("show", str(draft), user="vera"))
    assert "Proposed edit, based on variant 2" in proposal and "We read every review carefully." in proposal
    _fails(cli("edit", str(draft), "--text", "Call +1 555 999 8888", user="bob"), 1, "fails the reply checks")

    approved = _ok(cli("approve", str(draft), user="alice"))
    assert "(variant 2, edited) by alice" in approved and "We read every review carefully." in approved
    with desk["store"].transaction() as tx:
        row = tx.draft(draft)
    original = desk["variants"][1].text
    assert row is not None and row["proposed_text"] == original
    assert row["final_text"] == original.replace("\n\n", "\n\nWe read every review carefully. ", 1).strip()
    audit = _ok(cli("audit", "--draft", str(draft), user="vera"))
    assert "edit" in audit and "bob" in audit and "proposed_edit_used=True" in audit

    # An editor closed without saving changes nothing.
    other = desk["drafts"][1]
    _fails(cli("approve", str(other), "--edit", user="alice", env={"EDITOR": "true", "VISUAL": ""}), 1,
           "closed without saving")


def test_escalations_and_sla(desk: dict[str, Any]) -> None:
    cli, store = desk["cli"], desk["store"]
    _setup_users(cli)
    ingest(store, desk["tmp"] / "b.jsonl", [
        review(1, rating=1, text=HOSTILE, author_name="Ann", published_at="2026-01-01T00:00:00Z"),
        review(2, rating=3, text="It was fine.", author_name="Bo", published_at=desk["recent"]),
        review(3, rating=1, text="I will see you in court [link=http://x]y[/link]"),
    ])
    rid = review_ids(store)["r3"]
    with store.transaction() as tx:
        esc = tx.save_escalation(review_id=rid, content_hash="h", model_version="v", flags=["legal_threat"],
                                 reason="no automatic draft: the review mentions legal action", now=T0)
    listing = _ok(cli("escalations", user="vera"))
    assert f"#{esc}" in listing and "legal_threat" in listing and "[link=http://x]y[/link]" in listing
    assert "1 open escalation(s)" in listing
    _fails(cli("escalations", "resolve", str(esc), "--note", "called", user="vera"), 1, "vera is a viewer")
    _ok(cli("escalations", "resolve", str(esc), "--note", "called them; legal informed", user="alice"))
    _fails(cli("escalations", "resolve", str(esc), "--note", "again", user="alice"), 1, "already resolved")
    assert "0 open escalation(s)" in _ok(cli("escalations", user="vera"))

    table = _ok(cli("sla", user="vera"))
    assert "acme-tp" in table and "overdue" in table
    rows = [json.loads(line) for line in _ok(cli("sla", "--json", user="vera")).splitlines()]
    business = next(r for r in rows if r["source"] is None)
    # r1 (January) and r3 (2025) are past 24 h without a reply; r2 is two hours old.
    assert (business["business"], business["reviews"], business["drafted"], business["overdue"]) == ("acme", 3, 2, 2)
    _fails(cli("sla", "--since", "last week", user="vera"), 2, "--since")

