"""CLI commands of publishing: publish, outbox, copy, mark-posted."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from pipeline.ingest import register_sources
from responses.publish import PublishUsageError, entry_for_hand_posting, mark_posted, run_publish
from responses.publish.connectors import ConnectorSet
from responses.publish.credentials import CredentialsError
from responses.publish.outbox import connectors_for
from responses.publish.settings import PublishEnv
from reviewdesk import settings as env
from reviewdesk.cli import ConfigOption, UserError, _cell, _fmt, _load, app, console, err, friendly_errors
from reviewdesk.config import Config
from reviewdesk.settings import acting_user

OUTBOX_STATES = ("queued", "sending", "published", "failed", "cancelled")
_RESULT_STYLE = {
    "published": "green", "queued": "cyan", "retry": "yellow", "waiting": "yellow", "failed": "red",
    "cancelled": "dim", "skipped": "yellow", "would_queue": "cyan", "would_send": "cyan", "would_fail": "red",
}


@contextmanager
def _publish_errors() -> Iterator[None]:
    """Publishing's own user errors, printed like every other command's."""
    try:
        yield
    except CredentialsError as exc:
        raise UserError(str(exc), code=2) from None
    except PublishUsageError as exc:
        raise UserError(str(exc)) from None


def _connectors(cfg: Config, config: Path | None) -> tuple[PublishEnv, ConnectorSet]:
    return connectors_for(cfg, env.config_path(config))


@app.command()
def publish(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be queued and posted; change nothing.")]
    = False,
    config: ConfigOption = None,
) -> None:
    """Queue approved replies and post those that are due (never while the kill switch is on)."""
    with friendly_errors(), _publish_errors():
        cfg, store = _load(config)
        register_sources(store, cfg)
        penv, connectors = _connectors(cfg, config)
        now = datetime.now(UTC)
        run = run_publish(store, cfg, connectors, env=penv, now=now, dry_run=dry_run)
        with store.transaction() as tx:
            waiting = tx.outbox_rows("queued", limit=100_000)
    outcomes = run.outcomes
    if outcomes:
        table = Table(title="publish (dry run)" if dry_run else "publish")
        for col in ("draft", "source", "connector", "result", "when", "detail"):
            table.add_column(col, justify="right" if col == "draft" else "left", no_wrap=col != "detail")
        for o in outcomes:
            table.add_row(_cell(o.draft_id), _cell(o.source), _cell(o.connector),
                          Text(o.state, style=_RESULT_STYLE.get(o.state, "")), _cell(o.when), _cell(o.detail, 200))
        console.print(table)
    if run.disabled:
        console.print(Text(f"KILL SWITCH: {run.disabled}; nothing was posted.", style="bold red"))
    handled = {o.draft_id for o in run.sent}
    manual = [r for r in waiting if r["connector"] == "manual"]
    later = [r for r in waiting if r["connector"] != "manual" and r["draft_id"] not in handled]
    if later and run.disabled:
        console.print(f"{len(later)} reply(ies) queued, held by the kill switch")
    elif later:
        due = min((r["next_attempt_at"] or r["publish_after"]) for r in later)
        console.print(f"{len(later)} reply(ies) waiting for their publish time; next due {_fmt(due)} UTC")
    if manual:
        ids = ", ".join(str(r["draft_id"]) for r in manual[:10]) + (" ..." if len(manual) > 10 else "")
        console.print(f"{len(manual)} reply(ies) to post by hand (reviewdesk copy ID, then mark-posted): {ids}")
    if not outcomes and not waiting and not run.disabled:
        console.print("nothing to publish")
    if any(o.state == "failed" for o in outcomes) and not dry_run:
        raise typer.Exit(1)


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "draft_id", "source", "connector", "state", "attempts", "publish_after", "next_attempt_at",
            "published_at", "external_id", "last_error", "idempotency_key", "draft_state", "review_external_id")
    return {k: row[k].isoformat() if isinstance(row[k], datetime) else row[k] for k in keys}


@app.command()
def outbox(
    state: Annotated[str | None, typer.Option("--state", help=f"Only rows in this state: {', '.join(OUTBOX_STATES)}.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 200,
    config: ConfigOption = None,
) -> None:
    """List the outbox: what is queued, sent, published or failed, with the last error."""
    with friendly_errors():
        if state is not None and state not in OUTBOX_STATES:
            raise UserError(f"--state: expected one of {', '.join(OUTBOX_STATES)}, got {state!r}", code=2)
        _, store = _load(config)
        with store.transaction() as tx:
            rows = tx.outbox_rows(state, limit=limit)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(_row_json(row), ensure_ascii=False) + "\n")
        return
    table = Table(title="outbox")
    for col in ("draft", "source", "connector", "state", "tries", "due / published", "last error"):
        table.add_column(col, justify="right" if col in ("draft", "tries") else "left",
                         no_wrap=col != "last error")
    for r in rows:
        when = r["published_at"] if r["state"] == "published" else (r["next_attempt_at"] or r["publish_after"])
        style = {"published": "green", "failed": "red", "sending": "yellow", "cancelled": "dim"}.get(r["state"], "")
        state_text = "queued (manual)" if r["connector"] == "manual" and r["state"] == "queued" else r["state"]
        table.add_row(_cell(r["draft_id"]), _cell(r["source"]), _cell(r["connector"]), Text(state_text, style=style),
                      _cell(r["attempts"]), _cell(when), _cell(r["last_error"], 200))
    console.print(table)
    console.print(Text(f"{len(rows)} row(s)", style="bold"))


@app.command()
def copy(
    draft_id: Annotated[int, typer.Argument(help="The draft whose approved reply to print.")],
    config: ConfigOption = None,
) -> None:
    """Print the approved reply, ready to paste, for sources posted by hand (stdout holds only the text)."""
    with friendly_errors(), _publish_errors():
        cfg, store = _load(config)
        register_sources(store, cfg)
        now = datetime.now(UTC)
        row = entry_for_hand_posting(store, cfg, draft_id, now=now)
    # Only the reply goes to stdout, so `reviewdesk copy 12 | pbcopy` copies exactly what was approved.
    sys.stdout.write(row["text"] + "\n")
    where = row["review_url"] or f"review {row['review_external_id']} on {row['source']}"
    err.print(Text(f"post this reply to {where}"))
    if row["state"] == "failed":
        err.print(Text(f"automatic posting failed: {row['last_error']}", style="yellow"))
    if now < row["publish_after"]:
        err.print(Text(f"approved {_fmt(row['approved_at'])} UTC; its undo window ends {_fmt(row['publish_after'])} "
                       "UTC: better wait until then", style="yellow"))
    err.print(Text(f"then: reviewdesk mark-posted {draft_id} --as YOUR_NAME [--url LINK_TO_THE_REPLY]"))


@app.command("mark-posted")
def mark_posted_cmd(
    draft_id: Annotated[int, typer.Argument(help="The draft whose reply you posted by hand.")],
    url: Annotated[str | None, typer.Option("--url", help="Link to the posted reply.")] = None,
    as_user: Annotated[
        str | None, typer.Option("--as", help="Your Reviewdesk user (default: $REVIEWDESK_USER, else your OS user).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Record that a reply was posted by hand (manual sources, or after an automatic post failed)."""
    with friendly_errors(), _publish_errors():
        cfg, store = _load(config)
        register_sources(store, cfg)
        user = acting_user(as_user)
        mark_posted(store, cfg, draft_id, user=user, url=url, now=datetime.now(UTC))
    console.print(f"draft {draft_id} marked published by {user}" + (f" ({url})" if url else ""))
