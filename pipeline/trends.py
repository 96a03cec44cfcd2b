"""Reputation trends for marketing: weekly and monthly series, exported as CSV, Parquet and an offline HTML report.

DuckDB does the aggregation (`pipeline.store.trends`); this module picks windows, writes files and draws charts.
Metric definitions: docs/trends.md (the `METRICS` notes below are the same words, shown in the HTML report).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipeline.store import Store
from pipeline.store.trends import TREND_SCHEMA

PERIOD_KINDS = ("week", "month")
FORMATS = ("csv", "parquet", "html")

# metric -> (short label, what it is). The HTML report prints these notes next to the charts.
METRICS: dict[str, tuple[str, str]] = {
    "volume": ("Reviews", "Reviews published in the period; an edited review counts once, in its publication period."),
    "avg_rating": ("Average rating", "Mean star rating (1-5) of those reviews."),
    "positive_share": ("Positive", "Share of analysed reviews whose latest analysis is positive (n = analysed)."),
    "neutral_share": ("Neutral", "Share of analysed reviews whose latest analysis is neutral (n = analysed)."),
    "negative_share": ("Negative", "Share of analysed reviews whose latest analysis is negative (n = analysed)."),
    "net_sentiment": ("Net sentiment", "Positive share minus negative share, from -1 to 1 (n = analysed)."),
    "nps_proxy": (
        "NPS proxy (stars)",
        "NOT a survey NPS: % of 5-star reviews minus % of 1-3-star reviews, from -100 to 100. 5 stars counts as "
        "promoter, 4 as passive, 1-3 as detractor; fractional ratings are rounded to the nearest star (x.5 up).",
    ),
    "response_rate": (
        "Response rate",
        "Share of the period's reviews with a reply by now: a Reviewdesk reply published, or a reply written on "
        "the platform directly.",
    ),
    "median_response_hours": (
        "Median response (h)",
        "Median hours from review publication to its first reply (ours or upstream); n = replies with a known time.",
    ),
    "topic_negative_share": (
        "Negative topic share",
        "Share of analysed reviews whose latest analysis mentions the topic with negative polarity (n = analysed).",
    ),
    "topic_negative_share_change": (
        "Change vs previous period",
        "Topic share minus its share in the previous period of the same kind; empty when that period had no "
        "analysed reviews.",
    ),
}

# The series drawn as line charts, in this order.
_CHART_METRICS = (
    "volume", "avg_rating", "net_sentiment", "nps_proxy", "response_rate", "median_response_hours",
)
_TOP_TOPICS = 12


class ReportSettingsLike(Protocol):
    """What `report` needs of `reviewdesk.config.ReportSettings`."""

    timezone: str
    output_dir: Path
    weeks: int


@dataclass
class ReportFiles:
    """The files one `report` run wrote."""

    csv: Path
    parquet: Path
    html: Path
    rows: int


def default_since(weeks: int, timezone: str, now: datetime) -> date:
    """The Monday that starts the window of the last ``weeks`` weeks (the current one included), local time."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(weeks=weeks - 1)


def compute_trends(
    store: Store,
    *,
    timezone: str,
    kinds: Iterable[str] = PERIOD_KINDS,
    since: date | None = None,
    business: str | None = None,
    now: datetime | None = None,
) -> pa.Table:
    """The long trend table (`TREND_SCHEMA`) for the given period kinds; ``since`` picks the first period shown."""
    kinds = list(kinds)
    unknown = [k for k in kinds if k not in PERIOD_KINDS]
    if unknown:
        raise ValueError(f"unknown period kind(s) {unknown}; expected week or month")
    with store.transaction() as tx:
        return tx.trend_series(
            timezone=timezone, kinds=kinds, now=now or datetime.now(UTC), since=since, business=business
        )


def business_labels(store: Store) -> dict[str, tuple[str, str]]:
    """business id -> (display name, role); names that clash get their id appended."""
    with store.transaction() as tx:
        rows = tx.trend_businesses()
    names = [r["name"] for r in rows]
    return {
        r["id"]: (r["name"] if names.count(r["name"]) == 1 else f"{r['name']} ({r['id']})", r["role"]) for r in rows
    }


# --- exports ---------------------------------------------------------------------------------


def write_csv(table: pa.Table, path: Path) -> Path:
    """Write the long table as CSV (header row, ISO dates, empty cell for null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path)
    return path


def read_csv(path: Path) -> pa.Table:
    """Read a CSV written by `write_csv` back with the exact column types."""
    convert = pacsv.ConvertOptions(column_types=TREND_SCHEMA, strings_can_be_null=True)
    return pacsv.read_csv(path, convert_options=convert).select(TREND_SCHEMA.names).cast(TREND_SCHEMA)


def write_parquet(table: pa.Table, path: Path) -> Path:
    """Write the long table as Parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def write_html(
    table: pa.Table, path: Path, businesses: dict[str, tuple[str, str]], *, timezone: str, generated_at: datetime
) -> Path:
    """Write the offline HTML report (inline SVG charts, no scripts, no network references)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(table, businesses, timezone=timezone, generated_at=generated_at), encoding="utf-8")
    return path


def write_export(
    table: pa.Table,
    fmt: str,
    path: Path,
    businesses: dict[str, tuple[str, str]],
    *,
    timezone: str,
    generated_at: datetime,
) -> Path:
    """Write the table in one of `FORMATS`."""
    if fmt == "csv":
        return write_csv(table, path)
    if fmt == "parquet":
        return write_parquet(table, path)
    if fmt == "html":
        return write_html(table, path, businesses, timezone=timezone, generated_at=generated_at)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def report(
    store: Store, settings: ReportSettingsLike, *, now: datetime | None = None, business: str | None = None
) -> ReportFiles:
    """Weekly and monthly trends of the configured window, written as CSV, Parquet and HTML into output_dir."""
    if business is not None and not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", business):
        # The id becomes part of a file name: only config-style ids, never a path.
        raise ValueError(f"business: expected a business id such as 'acme', got {business!r}")
    now = now or datetime.now(UTC)
    since = default_since(settings.weeks, settings.timezone, now)
    table = compute_trends(store, timezone=settings.timezone, since=since, business=business, now=now)
    businesses = business_labels(store)
    stem = f"trends-{now.astimezone(ZoneInfo(settings.timezone)).date().isoformat()}"
    if business:
        stem += f"-{business}"
    out = settings.output_dir
    return ReportFiles(
        csv=write_csv(table, out / f"{stem}.csv"),
        parquet=write_parquet(table, out / f"{stem}.parquet"),
        html=write_html(table, out / f"{stem}.html", businesses, timezone=settings.timezone, generated_at=now),
        rows=table.num_rows,
    )


# --- summaries (CLI table and HTML tables) ----------------------------------------------------


def wide_rows(table: pa.Table, *, kind: str, scopes: Iterable[str]) -> list[dict[str, Any]]:
    """One dict per (group, period) with every base metric as a key, plus its strongest negative topic."""
    scopes = set(scopes)
    mask = pc.and_(pc.equal(table["period_kind"], kind), pc.is_in(table["scope"], pa.array(sorted(scopes))))
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    shares: dict[tuple[Any, ...], dict[str, float]] = {}
    changes: dict[tuple[Any, ...], dict[str, float | None]] = {}
    for r in table.filter(mask).to_pylist():
        key = (r["scope"], r["role"], r["business_id"], r["source"], r["period_start"])
        row = rows.setdefault(key, {k: r[k] for k in (
            "period_kind", "period_start", "period_end", "complete", "scope", "role", "business_id", "source")})
        if r["metric"] == "topic_negative_share":
            shares.setdefault(key, {})[r["topic"]] = r["value"]
        elif r["metric"] == "topic_negative_share_change":
            changes.setdefault(key, {})[r["topic"]] = r["value"]
        else:
            row[r["metric"]] = r["value"]
    for key, row in rows.items():
        found = {t: v for t, v in shares.get(key, {}).items() if v}
        if found:
            topic = min(found, key=lambda t: (-found[t], t))
            row["top_topic"] = (topic, found[topic], changes.get(key, {}).get(topic))
    return list(rows.values())


def topic_rows(table: pa.Table, *, kind: str, scope: str, period_start: date) -> list[dict[str, Any]]:
    """Negative topics of one period per group: topic, share, change, n; largest share first."""
    mask = pc.and_(
        pc.and_(pc.equal(table["period_kind"], kind), pc.equal(table["scope"], scope)),
        pc.and_(pc.equal(table["period_start"], pa.scalar(period_start, pa.date32())),
                pc.is_in(table["metric"], pa.array(["topic_negative_share", "topic_negative_share_change"]))),
    )
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in table.filter(mask).to_pylist():
        key = (r["role"], r["business_id"], r["source"], r["topic"])
        row = out.setdefault(key, {"role": r["role"], "business_id": r["business_id"], "source": r["source"],
                                   "topic": r["topic"], "share": None, "change": None, "n": r["n"]})
        row["share" if r["metric"] == "topic_negative_share" else "change"] = r["value"]
    return sorted(out.values(), key=lambda x: (x["role"] != "own", x["business_id"] or "", x["source"] or "",
                                               -(x["share"] or 0), x["topic"]))


def fmt_value(metric: str, value: float | None) -> str:
    """A metric value as people read it: shares in %, NPS proxy as points, hours with one decimal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if metric == "volume":
        return f"{value:.0f}"
    if metric == "avg_rating":
        return f"{value:.2f}"
    if metric in ("positive_share", "neutral_share", "negative_share", "response_rate", "topic_negative_share"):
        return f"{100 * value:.0f}%"
    if metric == "net_sentiment":
        return f"{value:+.2f}"
    if metric == "nps_proxy":
        return f"{value:+.0f}"
    if metric == "topic_negative_share_change":
        return f"{100 * value:+.0f} pp"
    if metric == "median_response_hours":
        return f"{value:.1f}"
    return f"{value:g}"


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1100px; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccc; } h3 { margin-top: 1.8rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
.note { color: #555; font-size: .9rem; } .chart svg { max-width: 100%; height: auto; }
dt { font-weight: 600; margin-top: .4rem; } dd { margin-left: 1rem; color: #444; }
"""


def _e(value: Any) -> str:
    # Every piece of data (business names, topic names, ids) goes through here: reviews are hostile input.
    return html.escape("" if value is None else str(value), quote=True)


def _svg(spec: dict[str, Any], prefix: str) -> str:
    import vl_convert

    svg = vl_convert.vegalite_to_svg(spec)
    # Inline SVG in HTML needs no namespace declarations; dropping them leaves no URL at all in the report.
    svg = svg.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1).replace(
        ' xmlns:xlink="http://www.w3.org/1999/xlink"', "", 1
    )
    # Ids (legend gradients, clips) share one namespace in the page: prefix them so charts never collide.
    # Only inside tags: text nodes never hold "<", and attribute values never hold a bare quote.
    svg = re.sub(r'(<[^<>]*?\sid=")', rf"\g<1>{prefix}-", svg)
    return svg.replace('="url(#', f'="url(#{prefix}-')


def _series_label(row: dict[str, Any], businesses: dict[str, tuple[str, str]]) -> str:
    if row["scope"] == "role":
        return "Own" if row["role"] == "own" else "Competitors"
    name = businesses.get(row["business_id"], (row["business_id"], row["role"]))[0]
    return name if row["scope"] == "business" else f"{name} / {row['source']}"


def _line_chart(rows: list[dict[str, Any]], title: str) -> dict[str, Any]:
    labels = [METRICS[m][0] for m in _CHART_METRICS]
    return {
        "title": title,
        "data": {"values": rows},
        "facet": {
            "row": {"field": "metric", "type": "nominal", "sort": labels, "title": None,
                    "header": {"labelAngle": 0, "labelOrient": "top", "labelAnchor": "start", "labelFontSize": 12,
                               "labelFontWeight": "bold"}},
        },
        "spec": {
            "width": 640, "height": 110,
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": {"field": "period", "type": "ordinal", "title": None, "axis": {"labelAngle": -40}},
                "y": {"field": "value", "type": "quantitative", "title": None},
                "color": {"field": "series", "type": "nominal", "title": None, "legend": {"labelLimit": 260}},
                # Competitors dashed, so own vs competitor reads at a glance even with many businesses.
                "strokeDash": {"field": "role", "type": "nominal", "title": None, "legend": None,
                               "scale": {"domain": ["own", "competitor"], "range": [[1, 0], [5, 3]]}},
            },
        },
        "resolve": {"scale": {"y": "independent"}},
    }


def _topic_chart(rows: list[dict[str, Any]], title: str) -> dict[str, Any]:
    return {
        "title": title,
        "data": {"values": rows},
        "facet": {"column": {"field": "series", "type": "nominal", "title": None, "sort": ["Own", "Competitors"],
                             "header": {"labelLimit": 260}}},
        "spec": {
            "width": {"step": 34}, "height": {"step": 18},
            "mark": "rect",
            "encoding": {
                "x": {"field": "period", "type": "ordinal", "title": None, "axis": {"labelAngle": -40}},
                "y": {"field": "topic", "type": "nominal", "title": None, "axis": {"labelLimit": 200}},
                "color": {"field": "share", "type": "quantitative", "title": "negative share",
                          "scale": {"scheme": "reds", "domainMin": 0}},
            },
        },
    }


def _period_label(kind: str, start: date, complete: bool) -> str:
    text = start.strftime("%Y-%m") if kind == "month" else start.isoformat()
    return text if complete else text + "*"


def _charts(table: pa.Table, kind: str, businesses: dict[str, tuple[str, str]]) -> list[str]:
    base = table.filter(pc.equal(table["period_kind"], kind)).to_pylist()
    parts: list[str] = []
    for scope, title in (("role", "Own vs competitors"), ("business", "Per business")):
        rows = [
            {"period": _period_label(kind, r["period_start"], r["complete"]), "metric": METRICS[r["metric"]][0],
             "series": _series_label(r, businesses), "role": r["role"], "value": r["value"]}
            for r in base if r["scope"] == scope and r["metric"] in _CHART_METRICS
        ]
        if rows:
            svg = _svg(_line_chart(rows, title), f"{kind}-{scope}")
            parts.append(f'<h3>{_e(title)}</h3>\n<div class="chart">{svg}</div>')
    topics = [r for r in base if r["scope"] == "role" and r["metric"] == "topic_negative_share"]
    if topics:
        # The topics with the highest mean share over the window; a long tail of rare topics is unreadable.
        totals: dict[str, float] = {}
        for r in topics:
            totals[r["topic"]] = totals.get(r["topic"], 0.0) + (r["value"] or 0.0)
        top = set(sorted(totals, key=lambda t: (-totals[t], t))[:_TOP_TOPICS])
        rows = [
            {"period": _period_label(kind, r["period_start"], r["complete"]), "topic": r["topic"],
             "series": _series_label(r, businesses), "share": r["value"]}
            for r in topics if r["topic"] in top
        ]
        title = "Negative topics (share of analysed reviews)"
        svg = _svg(_topic_chart(rows, title), f"{kind}-topics")
        parts.append(f'<h3>{_e(title)}</h3>\n<div class="chart">{svg}</div>')
    return parts


def _summary_table(table: pa.Table, kind: str, businesses: dict[str, tuple[str, str]]) -> str:
    rows = wide_rows(table, kind=kind, scopes=("role", "business"))
    if not rows:
        return ""
    complete = [r for r in rows if r["complete"]]
    latest = max(r["period_start"] for r in (complete or rows))
    rows = [r for r in rows if r["period_start"] == latest]
    metrics = ("volume", "avg_rating", "positive_share", "neutral_share", "negative_share", "net_sentiment",
               "nps_proxy", "response_rate", "median_response_hours")
    head = "".join(f"<th>{_e(METRICS[m][0])}</th>" for m in metrics)
    body = []
    for r in rows:
        cells = "".join(f"<td>{_e(fmt_value(m, r.get(m)))}</td>" for m in metrics)
        body.append(f"<tr><td>{_e(_series_label(r, businesses))}</td><td class=\"text\">{_e(r['role'])}</td>"
                    f"{cells}</tr>")
    finished = any(r["complete"] for r in rows)
    label = f"{'Last complete' if finished else 'Running'} {kind}: {_period_label(kind, latest, finished)}"
    topic_body = []
    for t in topic_rows(table, kind=kind, scope="business", period_start=latest):
        name = businesses.get(t["business_id"], (t["business_id"], t["role"]))[0]
        topic_body.append(
            f"<tr><td>{_e(name)}</td><td class=\"text\">{_e(t['topic'])}</td>"
            f"<td>{_e(fmt_value('topic_negative_share', t['share']))}</td>"
            f"<td>{_e(fmt_value('topic_negative_share_change', t['change']))}</td><td>{_e(t['n'])}</td></tr>"
        )
    out = (f"<h3>{_e(label)}</h3>\n<table><thead><tr><th>Business</th><th>Role</th>{head}</tr></thead>"
           f"<tbody>{''.join(body)}</tbody></table>")
    if topic_body:
        out += ("\n<table><thead><tr><th>Business</th><th>Negative topic</th><th>Share</th>"
                "<th>Change vs previous</th><th>n</th></tr></thead>"
                f"<tbody>{''.join(topic_body)}</tbody></table>")
    return out


def sentiment_caveat() -> str | None:
    """A warning for the sentiment figures when the model is known to misread complaints in some languages."""
    from models.sentiment import low_confidence_languages

    langs = sorted(low_confidence_languages())
    if not langs:
        return None
    return (f"Sentiment figures of reviews in {', '.join(langs)} overstate praise: the text model often reads "
            "complaints in these languages as positive (measured on team-written customer-service reviews; "
            "models/MODEL_CARD.md), so negative topics are undercounted there too. Ratings are not affected.")


def render_html(
    table: pa.Table, businesses: dict[str, tuple[str, str]], *, timezone: str, generated_at: datetime
) -> str:
    """The report as one self-contained HTML page: inline CSS and SVG, no script, no external reference."""
    sections = []
    for kind in PERIOD_KINDS:
        if not pc.any(pc.equal(table["period_kind"], kind)).as_py():
            continue
        heading = "Weekly" if kind == "week" else "Monthly"
        start = "Weeks start on Monday" if kind == "week" else "Months start on the 1st"
        intro = (f"<h2>{heading}</h2>\n<p class=\"note\">{start}, 00:00 {_e(timezone)}. Periods marked * are "
                 "still running. Competitors are drawn dashed.</p>")
        sections.append("\n".join([intro, _summary_table(table, kind, businesses), *_charts(table, kind, businesses)]))
    if not sections:
        sections.append("<p>No reviews in this window.</p>")
    notes = "".join(f"<dt>{_e(label)} <code>{_e(metric)}</code></dt><dd>{_e(text)}</dd>"
                    for metric, (label, text) in METRICS.items())
    caveat = sentiment_caveat()
    stamp = generated_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
    # The CSP forbids every fetch and script: even a data value that slipped past escaping could not call out.
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reputation trends</title>
<style>{_CSS}</style>
</head>
<body>
<h1>Reputation trends</h1>
<p class="note">Generated {_e(stamp)} ({_e(timezone)}) by Reviewdesk. Works offline: charts are inline SVG.</p>
{"".join(sections)}
<h2>How each number is computed</h2>
<p class="note">Removed reviews count in their publication period unless they were removed before that period
ended. Each review uses its latest analysis. Response figures include replies published after the period.</p>
{f'<p class="note">{_e(caveat)}</p>' if caveat else ""}
<dl>{notes}</dl>
</body>
</html>
"""
