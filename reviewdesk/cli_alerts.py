"""CLI command of alerting: ``reviewdesk alerts [--send] [--list]``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from pipeline.alerting import configured_channels, deliver_alerts, detect_alerts
from pipeline.ingest import register_sources
from reviewdesk.cli import ConfigOption, UserError, _cell, _fmt, _load, app, console, friendly_errors

_STYLE = {"sent": "green", "retry": "yellow", "waiting": "yellow", "pending": "cyan", "sending": "cyan",
          "failed": "red", "unknown": "red", "blocked": "red"}


def _json_default(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _print_list(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        # Plain stdout, not rich: valid JSON Lines for other tools.
        for row in rows:
            sys.stdout.write(json.dumps(row, default=_json_default, ensure_ascii=False) + "\n")
        return
    for a in rows:
        head = Text(f"#{a['id']} ", style="bold")
        head.append(f"{_fmt(a['created_at'])}  {a['kind']}  ")
        head.append_text(_cell(a["title"]))
        console.print(head)
        if not a["deliveries"]:
            console.print(Text("  not sent: no channel was configured when it was recorded", style="dim"))
        for d in a["deliveries"]:
            line = Text(f"  {d['channel']}: ")
            line.append(d["state"], style=_STYLE.get(d["state"], ""))
            line.append(f"  {d['attempts']} attempt(s)  {_fmt(d['sent_at'] or d['updated_at'])}")
            if d["last_error"]:
                line.append("  ")
                line.append_text(_cell(d["last_error"], 200))
            console.print(line)
    console.print(Text(f"{len(rows)} alert(s)", style="bold"))


@app.command()
def alerts(
    send: Annotated[bool, typer.Option("--send", help="Also send pending alerts by webhook and e-mail.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="Only list recorded alerts and their deliveries.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --list: JSON Lines instead of text.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="With --list: how many, newest first.")] = 50,
    config: ConfigOption = None,
) -> None:
    """Record new alerts (severity-flagged reviews, negative spikes); --send delivers them, --list shows them."""
    with friendly_errors():
        if list_ and send:
            raise UserError("--list only shows alerts; run --send separately", code=2)
        if as_json and not list_:
            raise UserError("--json goes with --list", code=2)
        cfg, store = _load(config)
        if list_:
            with store.transaction() as tx:
                rows = tx.alerts_with_deliveries(limit)
            _print_list(rows, as_json)
            return
        register_sources(store, cfg)
        now = datetime.now(UTC)
        new = detect_alerts(store, cfg, now)
        if new:
            with store.transaction() as tx:
                recorded = [a for a in tx.alerts_with_deliveries(len(new)) if a["id"] in set(new)]
            for a in reversed(recorded):
                console.print(Text(f"#{a['id']} {a['kind']}  ", style="bold") + _cell(a["title"]))
        console.print(Text(f"{len(new)} new alert(s)", style="bold"))
        if not configured_channels(cfg.alerts):
            console.print(Text("no alert channel configured (alerts.webhook_url_env, alerts.email_to): "
                               "alerts are recorded, never sent", style="yellow"))
        if not send:
            return
        summary = deliver_alerts(store, cfg, now)
    if summary.outcomes:
        table = Table(title="alert deliveries")
        for col in ("alert", "channel", "result", "attempts", "detail"):
            table.add_column(col, justify="right" if col in ("alert", "attempts") else "left",
                             no_wrap=col != "detail")
        for o in summary.outcomes:
            table.add_row(_cell(o.alert_id), _cell(o.channel), Text(o.state, style=_STYLE.get(o.state, "")),
                          _cell(o.attempts), _cell(o.detail, 200))
        console.print(table)
    for channel, why in summary.blocked.items():
        console.print(Text(f"{channel}: cannot send: {why}; its alerts wait", style="bold red"))
    if not summary.outcomes and not summary.blocked:
        console.print("nothing to send")
    if not summary.ok:
        raise typer.Exit(1)
