"""CLI command of the reporting stage: `reviewdesk trends` (tables, CSV, Parquet, offline HTML)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from pipeline.ingest import register_sources
from pipeline.trends import (
    FORMATS,
    PERIOD_KINDS,
    business_labels,
    compute_trends,
    default_since,
    fmt_value,
    wide_rows,
    write_export,
)
from reviewdesk.cli import ConfigOption, UserError, _cell, _load, app, console, err, friendly_errors

_EXTENSIONS = {"csv": "csv", "parquet": "parquet", "html": "html"}
# (header, metric, priority): on a narrow terminal the columns with the highest priority number go first.
_COLUMNS = (
    ("reviews", "volume", 0), ("avg ★", "avg_rating", 0), ("pos", "positive_share", 4),
    ("neu", "neutral_share", 4), ("neg", "negative_share", 4), ("net", "net_sentiment", 0),
    ("NPS proxy", "nps_proxy", 0), ("replied", "response_rate", 0), ("median h", "median_response_hours", 3),
)
_TOPIC_PRIORITY = 2
# Width of each column on screen (content plus padding and border), for choosing what fits.
_WIDTHS = {"period": 14, "business": 18, "topic": 26, "pos": 7, "neu": 7, "neg": 7, "median h": 11}


def _since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--since: expected a date like 2026-01-31, got {value!r}", code=2) from None


def _label(row: dict[str, Any], businesses: dict[str, tuple[str, str]]) -> str:
    if row["scope"] == "role":
        return "all own" if row["role"] == "own" else "all competitors"
    name = businesses.get(row["business_id"], (row["business_id"], row["role"]))[0]
    return name if row["scope"] == "business" else f"  {name} / {row['source']}"


def _visible_columns(width: int) -> tuple[list[tuple[str, str]], bool]:
    """The metric columns (and whether the topic column) that fit ``width``, dropping the least needed first."""
    for limit in (5, 4, 3, 2):
        columns = [(h, m) for h, m, p in _COLUMNS if p < limit]
        topic = limit > _TOPIC_PRIORITY
        used = _WIDTHS["period"] + _WIDTHS["business"] + (_WIDTHS["topic"] if topic else 0)
        used += sum(_WIDTHS.get(h, len(h) + 3) for h, _ in columns)
        if used <= width:
            break
    return columns, topic


def _print_table(rows: list[dict[str, Any]], businesses: dict[str, tuple[str, str]], title: str) -> None:
    columns, with_topic = _visible_columns(console.width)
    table = Table(title=title)
    table.add_column("period", no_wrap=True)
    table.add_column("business", overflow="fold", min_width=12)
    for header, _ in columns:
        table.add_column(header, justify="right", no_wrap=True)
    if with_topic:
        table.add_column("top negative topic (Δ)", overflow="fold", min_width=14)
    order = {"role": 0, "business": 1, "source": 1}
    rows = sorted(rows, key=lambda r: (order[r["scope"]], r["role"] != "own", r["business_id"] or "",
                                       r["source"] or "", r["period_start"]))
    previous_group = None
    for r in rows:
        group = (r["scope"], r["role"], r["business_id"], r["source"])
        if previous_group is not None and group != previous_group:
            table.add_section()
        previous_group = group
        period = r["period_start"].isoformat()[: 7 if r["period_kind"] == "month" else 10]
        topic = "-"
        if r.get("top_topic"):
            name, share, change = r["top_topic"]
            delta = f", {fmt_value('topic_negative_share_change', change)}" if change is not None else ""
            topic = f"{name} {fmt_value('topic_negative_share', share)}{delta}"
        cells = [
            _cell(period + ("" if r["complete"] else "*")),
            Text(_label(r, businesses), style="bold" if r["scope"] == "role" else ""),
            *(_cell(fmt_value(metric, r.get(metric))) for _, metric in columns),
        ]
        table.add_row(*cells, *([_cell(topic)] if with_topic else []))
    console.print(table)


@app.command()
def trends(
    period: Annotated[str, typer.Option("--period", "-p", help="week or month.")] = "week",
    business: Annotated[str | None, typer.Option("--business", "-b", help="Only this business id.")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="First period shown is the one containing this date (YYYY-MM-DD, report time zone). "
                          "Default: the last report.weeks weeks."),
    ] = None,
    output: Annotated[str, typer.Option("--format", "-f", help="table, csv, parquet or html.")] = "table",
    path: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: report.output_dir/trends-PERIOD.EXT)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Reputation trends per period: volume, rating, sentiment, NPS proxy, topics, replies; own vs competitors."""
    with friendly_errors():
        if period not in PERIOD_KINDS:
            raise UserError(f"--period: expected week or month, got {period!r}", code=2)
        if output not in ("table", *FORMATS):
            raise UserError(f"--format: expected table, csv, parquet or html, got {output!r}", code=2)
        if path is not None and output == "table":
            raise UserError("--output needs --format csv, parquet or html", code=2)
        first = _since(since)
        cfg, store = _load(config)
        register_sources(store, cfg)
        businesses = business_labels(store)
        if business is not None and business not in businesses:
            known = ", ".join(sorted(businesses)) or "none"
            raise UserError(f"--business: no business {business!r} (known: {known})", code=2)
        now = datetime.now(UTC)
        tz = cfg.report.timezone
        first = first or default_since(cfg.report.weeks, tz, now)
        table = compute_trends(store, timezone=tz, kinds=[period], since=first, business=business, now=now)
        if output != "table":
            suffix = f"-{business}" if business else ""
            target = path or cfg.report.output_dir / f"trends-{period}{suffix}.{_EXTENSIONS[output]}"
            write_export(table, output, target, businesses, timezone=tz, generated_at=now)
            err.print(Text(f"wrote {table.num_rows} row(s) to {target}"))
            return
        scopes = ("business", "source") if business else ("role", "business")
        rows = wide_rows(table, kind=period, scopes=scopes)
        if not rows:
            console.print(Text(f"no reviews since {first.isoformat()}"))
            return
        _print_table(rows, businesses, f"{'weekly' if period == 'week' else 'monthly'} trends ({tz})")
        console.print(Text(
            "* period still running. Shares are of analysed reviews; NPS proxy = % 5★ − % 1–3★ (star ratings, "
            "not a survey). replied = our published reply or one written on the platform. All columns: --format csv.",
            style="dim",
        ))
