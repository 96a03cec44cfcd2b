"""CLI commands that run the Prefect flows by hand: monitor, and the flow-run history."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from reviewdesk import settings as env
from reviewdesk.cli import ConfigOption, _cell, _load, app, console, err, friendly_errors, print_reports


@app.command()
def monitor(
    full: Annotated[bool, typer.Option("--full", help="Read every page of every source.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Reviews analysed per batch.")] = 256,
    no_alerts: Annotated[bool, typer.Option("--no-alerts", help="Skip alert detection and delivery.")] = False,
    config: ConfigOption = None,
) -> None:
    """Run the monitor flow once: collect, analyse, draft, alert (what the hourly schedule runs)."""
    env.quiet_prefect()
    with friendly_errors():
        _load(config)  # a config error is reported here, before Prefect starts
        from flows.monitor import MonitorParams
        from flows.monitor import monitor as monitor_flow

        result = monitor_flow(MonitorParams(config=env.config_path(config), full=full, batch_size=batch_size,
                                            alerts=not no_alerts))
    from reviewdesk.cli import counts_sources

    print_reports(counts_sources(result), "collect")
    counts = result["counts"]
    for stage in ("analyze", "draft", "alert"):
        if stage in counts:
            shown = {k: v for k, v in counts[stage].items() if v not in (0, {}, None)}
            console.print(Text(f"{stage}: {json.dumps(shown, ensure_ascii=False) if shown else 'nothing new'}"))
    for stage, error in result["errors"].items():
        err.print(Text(f"{stage}: {error}", style="red"))
    if result["status"] != "ok":
        raise typer.Exit(1)


@app.command()
def runs(
    flow: Annotated[str | None, typer.Option("--flow", help="Only this flow (monitor, publish, report, ...).")]
    = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    config: ConfigOption = None,
) -> None:
    """Recent flow runs: status, duration, counts per stage, errors."""
    with friendly_errors():
        _, store = _load(config)
        with store.transaction() as tx:
            rows = tx.flow_runs(flow, limit=limit)
    table = Table(title="flow runs")
    for col in ("id", "flow", "status", "started", "seconds", "counts", "errors"):
        table.add_column(col, overflow="fold")
    for r in rows:
        counts = json.loads(r["counts"] or "{}")
        compact = {k: {kk: vv for kk, vv in v.items() if kk != "sources"} if isinstance(v, dict) else v
                   for k, v in counts.items()}
        style = {"ok": "green", "partial": "yellow", "running": "cyan"}.get(r["status"], "red")
        table.add_row(_cell(r["id"]), _cell(r["flow"]), Text(r["status"], style=style), _cell(r["started_at"]),
                      _cell(None if r["duration_s"] is None else round(r["duration_s"], 1)),
                      _cell(json.dumps(compact), 200),
                      _cell(r["errors"] if r["errors"] not in (None, "{}") else "", 200))
    console.print(table)
