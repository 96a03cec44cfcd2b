"""CLI commands of the approval workflow: inbox, show, approve, edit, reject, escalations, audit, sla, users.

Every rule (roles, states, text checks) is enforced by `responses.service.ReplyService`; these commands
only pick the acting user, call it and render the result. Review text is hostile: it is printed as
`rich.text.Text` (never markup) with terminal control characters made visible.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from reviewdesk import settings as env
from reviewdesk.cli import ConfigOption, UserError, _fmt, _iso, _load, _parse_day, app, console, friendly_errors
from reviewdesk.settings import acting_user

AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Act as this Reviewdesk user (default: $REVIEWDESK_USER, else your OS user name)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table.")]

users_app = typer.Typer(help="Manage Reviewdesk users and roles (admin).", no_args_is_help=True)
app.add_typer(users_app, name="users")
escalations_app = typer.Typer(
    help="Reviews with severity flags that a person must answer; `resolve` closes one.",
    invoke_without_command=True,
)
app.add_typer(escalations_app, name="escalations")

# C0/C1 control characters (ANSI escapes, carriage returns) and bidi embeddings/overrides could rewrite
# the terminal or disguise text; newlines and tabs are kept. Bidi isolates stay: drafts use them legitimately.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]")


def safe(value: Any) -> str:
    """A value as printable text with control characters shown as escapes (\\x1b) instead of acting."""
    return _UNSAFE.sub(lambda m: ascii(m.group(0))[1:-1], _fmt(value))


def _cell(value: Any, limit: int | None = None) -> Text:
    text = safe(value).replace("\n", " ")
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return Text(text)


def _block(value: Any, indent: int = 4) -> Padding:
    """Multi-line text, indented (wrapped lines too), never interpreted as markup."""
    return Padding(Text(safe(value)), (0, 0, 0, indent))


def _duration(hours: float) -> str:
    hours = abs(hours)
    if hours < 1:
        return f"{round(hours * 60)}m"
    if hours < 48:
        return f"{hours:.0f}h"
    return f"{hours / 24:.0f}d"


def _exit_code(exc: Exception) -> int:
    from responses.service import InvalidInput, NotFound

    # 2: the command names something that does not exist or is malformed; 1: the action was refused.
    return 2 if isinstance(exc, NotFound | InvalidInput) else 1


@contextmanager
def workflow_errors() -> Iterator[None]:
    """Turn the service's refusals (and playbook problems) into one-line errors with an exit code."""
    from responses.playbook import PlaybookError
    from responses.service import WorkflowError

    try:
        yield
    except WorkflowError as exc:
        raise UserError(str(exc), code=_exit_code(exc)) from None
    except PlaybookError as exc:
        raise UserError(str(exc), code=2) from None


def _service(config: Path | None, as_user: str | None) -> Any:
    from responses.service import ReplyService, verifier_check

    cfg, store = _load(config)
    return ReplyService(
        store,
        acting_user(as_user),
        sla_hours=cfg.responses.sla_hours,
        check=verifier_check(cfg, env.config_path(config)),
    )


def _json_lines(rows: list[dict[str, Any]]) -> None:
    # Plain stdout (not rich) so the output is valid JSON Lines for other tools.
    for row in rows:
        sys.stdout.write(json.dumps(row, default=_iso, ensure_ascii=False) + "\n")


def _stars(rating: float | None) -> str:
    if rating is None:
        return "-"
    n = max(0, min(5, round(rating)))
    return "★" * n + "☆" * (5 - n)


# --- drafts ----------------------------------------------------------------------------------


@app.command()
def inbox(
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many drafts.")] = None,
    as_json: JsonOption = False,
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Pending drafts, riskiest first (lowest rating, most negative), then nearest SLA deadline, then oldest."""
    with friendly_errors(), workflow_errors():
        rows = _service(config, as_user).inbox(limit)
        if as_json:
            _json_lines(rows)
            return
        table = Table(title="inbox: pending drafts")
        # One line per draft: the source name and the preview are capped so the rest fits 80 columns.
        caps = {"source": 14, "variant 1": max(16, console.width - 66)}
        for col in ("id", "source", "rating", "lang", "age", "due", "variant 1"):
            table.add_column(col, justify="right" if col in ("id", "age") else "left", no_wrap=True,
                             overflow="ellipsis", max_width=caps.get(col))
        for r in rows:
            if r["overdue"]:
                due = Text(f"OVERDUE {_duration(r['hours_left'])}", style="bold red")
            else:
                due = Text(f"in {_duration(r['hours_left'])}", style="yellow" if r["hours_left"] < 4 else None)
            # Markers lead the preview column, which is the one that gives way on a narrow terminal.
            preview = Text()
            if r["stale"]:
                preview.append(f"review {r['stale']} · ", style="red")
            if r["edit_proposed"]:
                preview.append("edit proposed · ", style="cyan")
            preview.append_text(_cell(r["preview"], 200))
            lang = safe(r["review_language"] or r["language"])
            if r["review_language"] and r["language"] != r["review_language"]:
                lang += f"→{safe(r['language'])}"  # replied in a fallback language
            table.add_row(_cell(r["id"]), _cell(r["source"]), Text(_stars(r["rating"]), style="yellow"),
                          Text(lang), Text(_duration(r["age_hours"])), due, preview)
        console.print(table)
        overdue = sum(r["overdue"] for r in rows)
        summary = Text(f"{len(rows)} pending draft(s)", style="bold")
        if overdue:
            summary.append(f", {overdue} overdue", style="bold red")
        console.print(summary)


@app.command()
def show(
    draft_id: Annotated[int, typer.Argument(help="Draft id (from `reviewdesk inbox`).")],
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """A draft with its review, analysis, variants, state and history."""
    with friendly_errors(), workflow_errors():
        data = _service(config, as_user).show(draft_id)
        _print_draft(data)


# Draft flags worth a line under the heading of `reviewdesk show`, with the words that introduce them.
_FLAG_NOTES = (
    # the composer ignored a positive reading in this language: the reviewer may be complaining
    ("sentiment_low_confidence", "sentiment not trusted here, read the review: "),
    # five stars read as a complaint, or one star read as praise: the reply may answer the wrong thing
    ("rating_disagrees", "stars and text disagree: "),
    # no stars and a low-confidence reading: praise and complaint are both possible
    ("uncertain_reading", "reading uncertain: "),
    # the draft invites the reviewer to write; the answer itself is the approver's to add
    ("question", ""),
    # no phrasing in the reviewer's language: no text rather than a reply in another language
    ("by_hand", ""),
    # spam, politics, chatter or a review meant for someone else: no text, the reason instead
    ("no_reply", ""),
    # text too short to identify its language: answered in the business's own
    ("language_fallback", ""),
)


def _print_draft(data: dict[str, Any]) -> None:
    d, analysis = data["draft"], data["analysis"]
    head = Text()
    head.append(f"Draft #{d['id']}  ", style="bold")
    head.append(d["state"].upper(), style={"pending": "yellow", "approved": "green"}.get(d["state"], "red"))
    head.append(f"  {safe(d['kind'])} reply in {safe(d['language'])}")
    if d["language_fallback"]:
        head.append(f" (no phrasing for {safe(d['review_language'])})", style="yellow")
    console.print(head)
    if data["stale"]:
        console.print(Text(f"  {data['stale']}", style="bold red"))
    flags = d.get("flags") or {}
    for key, label in _FLAG_NOTES:
        if flags.get(key):
            console.print(Text(f"  {label}{safe(str(flags[key])).removeprefix('the review ')}", style="yellow"))
    if data["successor"]:
        console.print(Text(f"  newer draft of this review: #{data['successor']}", style="yellow"))

    review = Text("\nReview ", style="bold")
    review.append(f"#{d['review_id']} on {safe(d['source'])} ({safe(d['platform'])})  ")
    review.append(_stars(d["rating"]) + "  ", style="yellow")
    review.append(f"by {safe(d['author_name'] or 'anonymous')}  {_fmt(d['review_published_at'])}")
    console.print(review)
    if d["review_url"]:
        console.print(Text(f"  {safe(d['review_url'])}", style="dim"))
    if d["review_title"]:
        console.print(_block(d["review_title"], 2), style="bold")
    console.print(_block(d["review_text"], 2))

    if analysis is not None:
        line = Text("\nAnalysis", style="bold")
        line.append(f"  {safe(analysis['sentiment'] or 'unclassifiable')}")
        if analysis["stars"] is not None:
            line.append(f", about {analysis['stars']:.1f} stars")
        line.append(f"  model {safe(analysis['model_version'])}", style="dim")
        if not analysis["current"]:
            line.append("  (of an earlier version of the review)", style="yellow")
        console.print(line)
        for topic in analysis["topics"] or []:
            console.print(Text(f"  topic {safe(topic.get('name'))} ({safe(topic.get('polarity'))})"))
            for sentence in topic.get("evidence") or []:
                console.print(_block(f"“{sentence}”", 6), style="dim")
        for hit in analysis["severity"] or []:
            console.print(Text(f"  SEVERITY {safe(hit.get('flag'))}", style="bold red"))
            console.print(_block(f"“{hit.get('evidence', '')}”", 6), style="dim")
    for e in data["escalations"]:
        console.print(Text(f"  escalation #{e['id']} ({e['state']}): {safe(e['reason'])}", style="red"))

    passed = [v for v in data["variants"] if v["passed"]]
    failed = [v for v in data["variants"] if not v["passed"]]
    if passed:
        console.print(Text("\nVariants", style="bold"))
    for v in passed:
        mark = "  ← chosen" if d["chosen_variant"] == v["variant"] else ""
        console.print(Text(f"  [{v['variant']}]{mark}", style="bold cyan"))
        console.print(_block(v["text"]))
    if d["final_text"] is not None and d["final_text"] != d["proposed_text"]:
        label = "Proposed edit" if d["state"] == "pending" else "Final text (edited)"
        console.print(Text(f"\n{label}, based on variant {d['chosen_variant']}", style="bold cyan"))
        console.print(_block(d["final_text"]))
    for v in failed:
        console.print(Text(f"  variant {v['variant']} failed the checks: {safe('; '.join(v['problems']))}",
                           style="dim red"))
    if d["reject_reason"]:
        console.print(Text(f"\nRejected: {safe(d['reject_reason'])}", style="red"))
    if d["approved_by"]:
        console.print(Text(f"\nApproved by {safe(d['approved_by'])} at {_fmt(d['approved_at'])}", style="green"))
    _print_audit(data["history"], title="history", entities=False)


def _edit_in_editor(text: str) -> str:
    edited = click.edit(text, extension=".txt")
    if edited is None:
        raise UserError("the editor was closed without saving: nothing changed")
    return str(edited)


@app.command()
def approve(
    draft_id: Annotated[int, typer.Argument(help="Draft id.")],
    variant: Annotated[int | None, typer.Option("--variant", "-v", min=1, help="Variant number to approve.")] = None,
    edit: Annotated[bool, typer.Option("--edit", help="Edit the text in $EDITOR before approving.")] = False,
    text: Annotated[str | None, typer.Option("--text", help="Approve this text instead (it is checked).")] = None,
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Approve a pending draft: a variant as written, a proposed edit, or your own edited text."""
    with friendly_errors(), workflow_errors():
        if edit and text is not None:
            raise UserError("--edit and --text exclude each other", code=2)
        service = _service(config, as_user)
        expected: datetime | None = None
        if edit:
            start = service.editable_text(draft_id, variant, for_approval=True)
            text, variant, expected = _edit_in_editor(start.text), start.variant, start.updated_at
        result = service.approve(draft_id, variant=variant, text=text, expected_updated_at=expected)
        line = Text(f"approved draft #{draft_id}", style="bold green")
        line.append(f" (variant {result['variant']}{', edited' if result['edited'] else ''}) "
                    f"by {safe(result['approved_by'])}")
        console.print(line)
        console.print(_block(result["final_text"]))


@app.command("edit")
def edit_(
    draft_id: Annotated[int, typer.Argument(help="Draft id.")],
    variant: Annotated[int | None, typer.Option("--variant", "-v", min=1, help="Variant to start from.")] = None,
    text: Annotated[str | None, typer.Option("--text", help="The new text (default: open $EDITOR).")] = None,
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Propose an edited text for a pending draft (responder); an approver then decides."""
    with friendly_errors(), workflow_errors():
        service = _service(config, as_user)
        expected: datetime | None = None
        if text is None:
            start = service.editable_text(draft_id, variant, for_approval=False)
            text, variant, expected = _edit_in_editor(start.text), start.variant, start.updated_at
        result = service.propose_edit(draft_id, text, variant=variant, expected_updated_at=expected)
        console.print(Text(f"saved a proposed edit of draft #{draft_id} (based on variant {result['variant']}); "
                           "it stays pending until approved", style="bold"))


@app.command()
def reject(
    draft_id: Annotated[int, typer.Argument(help="Draft id.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (required; kept in the audit log).")],
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Reject a pending draft with a reason."""
    with friendly_errors(), workflow_errors():
        _service(config, as_user).reject(draft_id, reason)
        console.print(Text(f"rejected draft #{draft_id}", style="bold"))


# --- escalations -----------------------------------------------------------------------------


@escalations_app.callback()
def escalations(
    ctx: typer.Context,
    as_json: JsonOption = False,
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Open escalations: flags, reason and an excerpt of the review."""
    if ctx.invoked_subcommand is not None:
        return
    with friendly_errors(), workflow_errors():
        rows = _service(config, as_user).escalations()
        if as_json:
            _json_lines(rows)
            return
        for r in rows:
            head = Text(f"#{r['id']} ", style="bold")
            head.append(f"review #{r['review_id']} on {safe(r['source'])}  ")
            head.append(_stars(r["rating"]) + "  ", style="yellow")
            head.append(f"{_fmt(r['review_published_at'])}  ")
            head.append(", ".join(safe(f) for f in r["flags"]), style="bold red")
            if r["review_removed_at"]:
                head.append("  removed upstream", style="dim")
            console.print(head)
            console.print(Text("  ") + _cell(r["reason"]))
            body = f"{r['title']} — {r['text']}" if r["title"] else r["text"]
            console.print(Text("  ") + _cell(body, 240), style="dim")
        console.print(Text(f"{len(rows)} open escalation(s)", style="bold"))


@escalations_app.command("resolve")
def escalations_resolve(
    escalation_id: Annotated[int, typer.Argument(help="Escalation id.")],
    note: Annotated[str, typer.Option("--note", "-n", help="What was done (required; kept in the audit log).")],
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Mark an escalation as handled, with a note."""
    with friendly_errors(), workflow_errors():
        _service(config, as_user).resolve_escalation(escalation_id, note)
        console.print(Text(f"resolved escalation #{escalation_id}", style="bold"))


# --- audit and SLA ---------------------------------------------------------------------------


def _print_audit(rows: list[dict[str, Any]], title: str, *, entities: bool = True) -> None:
    table = Table(title=title)
    columns = ("when", "who", "action", *(("entity",) if entities else ()), "state", "detail")
    for col in columns:
        table.add_column(col, no_wrap=col != "detail", overflow="fold" if col == "detail" else "ellipsis",
                         ratio=1 if col == "detail" else None)
    for r in rows:
        state = " → ".join(s for s in (r["from_state"], r["to_state"]) if s) or "-"
        detail = ", ".join(f"{k}={v}" for k, v in (r["detail"] or {}).items())
        cells = [_cell(r["logged_at"]), _cell(r["actor"]), _cell(r["action"])]
        if entities:
            cells.append(_cell(r["entity"] + (f" #{r['entity_id']}" if r["entity_id"] is not None else "")))
        table.add_row(*cells, _cell(state), _cell(detail, 300))
    console.print(table)


@app.command()
def audit(
    draft: Annotated[int | None, typer.Option("--draft", "-d", help="Only this draft's entries.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Newest entries to show (all drafts).")] = 50,
    as_json: JsonOption = False,
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Audit log: who did what and when (drafts, escalations, users)."""
    with friendly_errors(), workflow_errors():
        rows = _service(config, as_user).audit(draft, limit)
        if as_json:
            _json_lines(rows)
            return
        _print_audit(rows, title=f"audit of draft #{draft}" if draft is not None else "audit log",
                     entities=draft is None)


def _times_cell(count: int, median: float | None, p90: float | None) -> Text:
    if not count:
        return Text("-", style="dim")
    return Text(f"{count}: {median:.1f}/{p90:.1f}")


@app.command()
def sla(
    since: Annotated[str | None, typer.Option(help="Only reviews published on or after (YYYY-MM-DD).")] = None,
    as_json: JsonOption = False,
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Hours from review to first draft, approval and publication (median, p90) and overdue reviews."""
    with friendly_errors(), workflow_errors():
        service = _service(config, as_user)
        rows = service.sla(_parse_day(since, "--since"))
        if as_json:
            _json_lines(rows)
            return
        # Count and two quantiles share a cell so the table fits an 80-column terminal.
        table = Table(title=f"reply times (SLA {service.sla_hours:g} h)",
                      caption="reviews reached: median/p90 hours after the review was published")
        for i, col in enumerate(("business / source", "reviews", "drafted", "approved", "published", "overdue")):
            table.add_column(col, justify="left" if i == 0 else "right", no_wrap=i > 0,
                             overflow="ellipsis" if i == 0 else "fold")
        for r in rows:
            name = _cell(r["business"]) if r["source"] is None else Text("  ") + _cell(r["source"])
            table.add_row(
                name,
                Text(str(r["reviews"])),
                _times_cell(r["drafted"], r["draft_median_h"], r["draft_p90_h"]),
                _times_cell(r["approved"], r["approve_median_h"], r["approve_p90_h"]),
                _times_cell(r["published"], r["publish_median_h"], r["publish_p90_h"]),
                Text(str(r["overdue"]), style="bold red" if r["overdue"] else None),
                style="bold" if r["source"] is None else None,
            )
        console.print(table)


# --- users -----------------------------------------------------------------------------------

RoleOption = Annotated[str, typer.Option("--role", help="viewer, responder, approver or admin.")]


def _print_user(verb: str, user: dict[str, Any]) -> None:
    state = "disabled" if user["disabled"] else "active"
    console.print(Text(f"{verb} {safe(user['name'])}: {user['role']}, {state}"))


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: RoleOption,
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Add a user (admin; the very first user needs no identity and must be an admin)."""
    with friendly_errors(), workflow_errors():
        _print_user("added", _service(config, as_user).add_user(name, role))


@users_app.command("list")
def users_list(
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Users with their roles."""
    with friendly_errors(), workflow_errors():
        rows = _service(config, as_user).users()
        table = Table(title="users")
        for col in ("name", "role", "status", "since"):
            table.add_column(col)
        for u in rows:
            status = Text("disabled", style="red") if u["disabled"] else Text("active", style="green")
            table.add_row(_cell(u["name"]), _cell(u["role"]), status, _cell(u["created_at"]))
        console.print(table)
        if not rows:
            console.print("no users yet: create the first admin with `reviewdesk users add NAME --role admin`")


@users_app.command("set-role")
def users_set_role(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: RoleOption,
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Change a user's role (admin)."""
    with friendly_errors(), workflow_errors():
        _print_user("updated", _service(config, as_user).set_role(name, role))


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="User name.")],
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Disable a user: they can no longer act or read (admin)."""
    with friendly_errors(), workflow_errors():
        _print_user("disabled", _service(config, as_user).set_disabled(name, True))


@users_app.command("enable")
def users_enable(
    name: Annotated[str, typer.Argument(help="User name.")],
    as_user: AsOption = None,
    config: ConfigOption = None,
) -> None:
    """Re-enable a disabled user (admin)."""
    with friendly_errors(), workflow_errors():
        _print_user("enabled", _service(config, as_user).set_disabled(name, False))
