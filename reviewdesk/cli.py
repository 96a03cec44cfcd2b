"""The ``reviewdesk`` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pipeline.ingest import IngestReport, RowError, ingest_feed, register_sources
from pipeline.store import Store, StoreError
from reviewdesk import settings as env
from reviewdesk.config import Config, ConfigError

app = typer.Typer(
    help="Reviewdesk: collect, understand and answer public reviews.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $REVIEWDESK_CONFIG or ./reviewdesk.toml)."),
]


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Print known errors as one plain message with the right exit code, never a traceback."""
    try:
        yield
    except ConfigError as exc:
        err.print(Text(f"error: {exc}", style="red"))
        raise typer.Exit(2) from None
    except UserError as exc:
        err.print(Text(f"error: {exc}", style="red"))
        raise typer.Exit(exc.code) from None
    except StoreError as exc:
        err.print(Text(f"error: {exc}", style="red"))
        raise typer.Exit(1) from None


def _load(config_path: Path | None) -> tuple[Config, Store]:
    from flows.common import open_store

    return open_store(env.config_path(config_path))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _cell(value: Any, limit: int | None = None) -> Text:
    # Text(), never a markup string: scraped text like "[bold]" or "<script>" is shown as typed.
    text = _fmt(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return Text(text.replace("\n", " "))


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def print_reports(reports: list[IngestReport] | list[dict[str, Any]], title: str) -> None:
    """Per source: new / updated / unchanged, or the reason it is unhealthy."""
    rows = [r if isinstance(r, dict) else r.row() for r in reports]
    table = Table(title=title)
    notes = [r.get("note") or "" for r in rows]
    columns = ["source", "status", "new", "updated", "unchanged", "removed", "rejected"]
    if any(notes):
        columns.append("note")
    for col in columns:
        numeric = col in ("new", "updated", "unchanged", "removed", "rejected")
        # Headers and counts keep their width on an 80-column terminal; the source name and note give way.
        table.add_column(col, justify="right" if numeric else "left", no_wrap=col != "note",
                         min_width=len(col) if col not in ("source", "note") else None,
                         max_width=max(12, console.width - 62) if col == "source" else None,
                         overflow="ellipsis" if col == "source" else "fold")
    for r, note in zip(rows, notes, strict=True):
        style = {"ok": "green", "partial": "yellow"}.get(r["status"], "red")
        if r["status"] == "failed":
            # A failed source never shows as "0 new": its numbers would be meaningless.
            nums = [Text("-")] * 5
        else:
            nums = [_cell(r[k]) for k in ("new", "updated", "unchanged", "removed", "rejected")]
        row = [_cell(r["source"]), Text(r["status"].upper() if r["status"] != "ok" else "ok", style=style), *nums]
        if any(notes):
            row.append(_cell(note, 120))
        table.add_row(*row)
    console.print(table)


def report_json(report: IngestReport) -> str:
    """A run report as JSON, for scripts."""
    c = report.counts
    return json.dumps(
        {
            "source": report.source,
            "status": report.status,
            "error": report.error,
            "already_ingested": report.already_ingested,
            "items": report.items,
            "new": c.new,
            "updated": c.updated,
            "unchanged": c.unchanged,
            "removed": c.removed,
            "restored": c.restored,
            "rejected": [{"line": r.line, "reason": r.reason} for r in report.rejected],
        },
        ensure_ascii=False,
    )


def print_rejected(rejected: list[RowError], limit: int = 20) -> None:
    """Bad rows with line numbers and reasons."""
    if not rejected:
        return
    table = Table(title=f"{len(rejected)} row(s) rejected")
    table.add_column("line", justify="right")
    table.add_column("reason")
    for row in rejected[:limit]:
        table.add_row(_cell(row.line), _cell(row.reason))
    err.print(table)
    if len(rejected) > limit:
        err.print(f"... and {len(rejected) - limit} more")


# --- commands --------------------------------------------------------------------------------


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example config.")] = Path("reviewdesk.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    business_type: Annotated[str, typer.Option(
        "--type", help="Your business's type: restaurant, hotel, shop, app or local_service.")] = "shop",
) -> None:
    """Write a commented example config file."""
    from models.topics import business_types

    with friendly_errors():
        if business_type not in business_types():
            raise UserError(f"--type: unknown business type {business_type!r}; expected one of "
                            f"{', '.join(business_types())}", code=2)
        if path.exists() and not force:
            raise UserError(f"{path} already exists (use --force to overwrite)")
        from responses.playbook import PlaybookError, type_playbook

        try:
            # The type's own playbook: what a guest, a client or a customer is asked for, and offers that fit.
            source_playbook = type_playbook(business_type)
        except PlaybookError as exc:
            raise UserError(f"--type: {exc}", code=2) from None
        text = resources.files("reviewdesk").joinpath("example_config.toml").read_text(encoding="utf-8")
        # The first business is yours: it gets the type asked for (competitors keep the example's).
        text = text.replace('\ntype = "shop"\n', f'\ntype = "{business_type}"\n', 1)
        playbook = path.parent / "playbook.yaml"
        if playbook.exists() and not force:
            raise UserError(f"{playbook} already exists (use --force to overwrite)")
        path.write_text(text, encoding="utf-8")
        playbook.write_text(source_playbook.read_text(encoding="utf-8"), encoding="utf-8")
        console.print(f"wrote {path} and {playbook} (the {business_type} playbook): edit the businesses, sources "
                      "and reply playbook, then run `reviewdesk crawl`")


def run_crawl(
    config: Config,
    store: Store,
    names: list[str] | None,
    *,
    full: bool = False,
    extra_settings: dict[str, str] | None = None,
) -> list[IngestReport]:
    """Crawl the named (or all enabled) crawlable sources with a progress display."""
    from pipeline.crawl import SPIDER_FOR_PLATFORM, crawl_sources

    register_sources(store, config)
    if names:
        sources = [config.source(n)[1] for n in names]
        bad = [s.name for s in sources if s.platform not in SPIDER_FOR_PLATFORM]
        if bad:
            raise UserError(f"source(s) {', '.join(bad)} are file imports: use `reviewdesk import FILE --source NAME`")
    else:
        sources = [s for _, s in config.all_sources() if s.enabled and s.platform in SPIDER_FOR_PLATFORM]
    if not sources:
        raise UserError("no crawlable sources in the config")
    with _progress() as progress:
        task = progress.add_task(f"crawling {len(sources)} source(s)", total=len(sources))

        def done(report: IngestReport) -> None:
            progress.advance(task)
            progress.console.print(Text(f"  {report.source}: {report.status}"))

        return crawl_sources(
            store, sources, config.settings, extra_settings=extra_settings, on_done=done, full=full
        )


@app.command()
def crawl(
    sources: Annotated[list[str] | None, typer.Argument(help="Source names (default: all enabled).")] = None,
    full: Annotated[bool, typer.Option("--full", help="Read every page (finds edits and removals).")] = False,
    config: ConfigOption = None,
) -> None:
    """Crawl sources, ingest their feeds, print new / updated / unchanged per source."""
    with friendly_errors():
        cfg, store = _load(config)
        reports = run_crawl(cfg, store, sources, full=full)
        print_reports(reports, "crawl")
        if any(r.status != "ok" for r in reports):
            raise typer.Exit(1)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV or JSONL export.")],
    source: Annotated[str, typer.Option("--source", "-s", help="A configured source name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Import an export file (CSV or JSONL) into a source; bad rows are reported, good rows kept."""
    from pipeline.importer import ImportFileError, import_file

    with friendly_errors():
        cfg, store = _load(config)
        _, src = cfg.source(source)
        register_sources(store, cfg)
        try:
            with _progress() as progress:
                task = progress.add_task(f"importing {file.name}", total=None)
                result = import_file(
                    store, file, src, cfg.settings.data_dir, progress=lambda n: progress.advance(task, n)
                )
        except ImportFileError as exc:
            raise UserError(str(exc), code=2) from None
        if as_json:
            sys.stdout.write(report_json(result.report) + "\n")
        else:
            print_reports([result.report], f"import {file.name}")
            print_rejected(result.report.rejected)
        if result.rows and not result.report.items and not result.report.already_ingested:
            raise typer.Exit(1)


@app.command()
def ingest(
    feed: Annotated[Path, typer.Argument(help="A JSONL feed written by `scrapy crawl ... -O FILE`.")],
    source: Annotated[str, typer.Option("--source", "-s", help="A configured source name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Load a feed file written by a spider run by hand (idempotent)."""
    with friendly_errors():
        cfg, store = _load(config)
        cfg.source(source)
        if not feed.exists():
            raise UserError(f"{feed}: file not found", code=2)
        register_sources(store, cfg)
        with _progress() as progress:
            task = progress.add_task(f"ingesting {feed.name}", total=feed.stat().st_size)
            report = ingest_feed(store, source, feed, progress=lambda n: progress.advance(task, n))
        if as_json:
            sys.stdout.write(report_json(report) + "\n")
        else:
            print_reports([report], f"ingest {feed.name}")
            print_rejected(report.rejected)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    config: ConfigOption = None,
) -> None:
    """Per source: last success, last error, reviews stored, healthy or not."""
    with friendly_errors():
        cfg, store = _load(config)
        register_sources(store, cfg)
        with store.transaction() as tx:
            rows = tx.source_status()
        if as_json:
            console.print_json(json.dumps(rows, default=_fmt))
            return
        table = Table(title="sources")
        for col in ("source", "business", "platform", "reviews", "last success", "health", "last error"):
            table.add_column(col, justify="right" if col == "reviews" else "left", no_wrap=col != "last error")
        for r in rows:
            if r["healthy"] is None:
                health = Text("never run", style="dim")
            elif r["healthy"]:
                health = Text("healthy", style="green")
            else:
                health = Text(f"UNHEALTHY ({r['last_status']})", style="red")
            last_error = f"{_fmt(r['last_error_at'])}: {r['last_error']}" if r["last_error"] else "-"
            business = f"{r['business']} ({r['role']})"
            table.add_row(_cell(r["source"]), _cell(business), _cell(r["platform"]), _cell(r["reviews"]),
                          _cell(r["last_success"]), health, _cell(last_error, 100))
        console.print(table)


def _parse_day(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option}: expected a date like 2026-01-31, got {value!r}", code=2) from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _parse_rating(value: str | None) -> tuple[float | None, float | None]:
    if value is None:
        return None, None
    try:
        if "-" in value:
            low, high = value.split("-", 1)
            return float(low), float(high)
        return float(value), float(value)
    except ValueError:
        raise UserError(f"--rating: expected a number or a range like 1-2, got {value!r}", code=2) from None


@app.command()
def reviews(
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Source name (repeatable).")] = None,
    rating: Annotated[str | None, typer.Option("--rating", "-r", help="Stars: 1 or a range 1-2.")] = None,
    language: Annotated[str | None, typer.Option("--language", "-l", help="Declared language, e.g. en.")] = None,
    since: Annotated[str | None, typer.Option(help="Published on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Published before (YYYY-MM-DD).")] = None,
    search: Annotated[str | None, typer.Option("--search", "-q", help="Text contained in title or body.")] = None,
    removed: Annotated[bool, typer.Option("--removed", help="Include reviews gone from the site.")] = False,
    sentiment: Annotated[
        str | None, typer.Option("--sentiment", help="From the latest analysis: positive, neutral or negative.")
    ] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="Complaint topic, e.g. delivery.")] = None,
    flagged: Annotated[bool, typer.Option("--flagged", help="Only reviews with a severity flag.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    output: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
    config: ConfigOption = None,
) -> None:
    """List and search stored reviews."""
    with friendly_errors():
        if output not in ("table", "json"):
            raise UserError(f"--format: expected table or json, got {output!r}", code=2)
        if sentiment not in (None, "positive", "neutral", "negative"):
            raise UserError(f"--sentiment: expected positive, neutral or negative, got {sentiment!r}", code=2)
        low, high = _parse_rating(rating)
        cfg, store = _load(config)
        register_sources(store, cfg)
        with store.transaction() as tx:
            rows = tx.search_reviews(
                sources=source, min_rating=low, max_rating=high, language=language,
                since=_parse_day(since, "--since"), until=_parse_day(until, "--until"), text=search,
                include_removed=removed, sentiment=sentiment, topic=topic, flagged=flagged,
                limit=limit, offset=offset,
            )
        if output == "json":
            # Plain stdout (not rich) so the output is valid JSON Lines for other tools.
            for row in rows:
                sys.stdout.write(json.dumps(row, default=_iso, ensure_ascii=False) + "\n")
            return
        # A two-line block per review reads well at any terminal width, unlike a wide table.
        for r in rows:
            published = r["published_at"].astimezone(UTC).date() if r["published_at"] else None
            head = Text()
            head.append(f"#{r['id']} ", style="bold")
            head.append(f"{r['source']}  ")
            head.append(f"{'★' * round(r['rating'])}{'☆' * (5 - round(r['rating']))}  ", style="yellow")
            head.append(f"{_fmt(r['language'])}  {_fmt(published)}  ")
            head.append(_fmt(r["author_name"])[:40], style="cyan")
            if r["reply_text"]:
                head.append("  replied", style="green")
            if r["removed_at"]:
                head.append("  removed upstream", style="red")
            if r["sentiment"]:
                style = {"negative": "red", "positive": "green"}.get(r["sentiment"], "yellow")
                head.append(f"  {r['sentiment']}", style=style)
            if r["topics"]:
                head.append(f"  [{', '.join(r['topics'])}]")
            if r["severity"]:
                head.append(f"  ESCALATE: {', '.join(r['severity'])}", style="bold red")
            body = f"{r['title']} — {r['text']}" if r["title"] else r["text"]
            console.print(head)
            console.print(Text("  ") + _cell(body, 300), style="dim" if r["removed_at"] else None)
        console.print(Text(f"{len(rows)} review(s)", style="bold"))


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


@app.command()
def demo(
    db: Annotated[Path, typer.Option(help="DuckDB file to fill.")] = Path("reviewdesk.duckdb"),
    data_dir: Annotated[Path, typer.Option(help="Raw layer folder.")] = Path("data"),
) -> None:
    """Serve the bundled demo site on 127.0.0.1 and run the `monitor` flow on it: collect, analyse, draft, alert."""
    # Prefect runs the flow with a temporary local API (no server to set up); its INFO chatter would bury
    # the summary, so the demo keeps it at warnings unless the user asked otherwise.
    env.quiet_prefect()
    from reviewdesk.demo import run_demo

    with friendly_errors():
        result = run_demo(db, data_dir)
        print_reports(counts_sources(result.summary), f"demo crawl into {db}")
        counts = result.summary.get("counts", {})
        analysed = counts.get("analyze", {}).get("analysed", 0)
        drafted = counts.get("draft", {})
        kinds = drafted.get("by_kind") or {}
        console.print(
            f"monitor {result.summary.get('status')}: analysed {analysed} review(s); "
            f"drafted {drafted.get('drafted', 0)} repl(ies) "
            f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items())) or 'none'}), "
            f"escalated {drafted.get('escalated', 0)}; alerts {counts.get('alert', {}).get('new', 0)}; "
            "drafts wait for approval"
        )
        for stage, error in (result.summary.get("errors") or {}).items():
            err.print(Text(f"{stage}: {error}", style="red"))
        cfg_arg = f"--config {data_dir / 'demo.toml'}"
        console.print(
            f"Look at the data: reviewdesk reviews {cfg_arg}  (or status, reviews --rating 1-2 --format json)\n"
            f"Work the drafts: reviewdesk users add YOU --role admin {cfg_arg}, then reviewdesk inbox {cfg_arg}, "
            f"reviewdesk show ID {cfg_arg}, reviewdesk escalations {cfg_arg}"
        )
        if result.summary.get("status") != "ok":
            raise typer.Exit(1)


def counts_sources(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-source rows a monitor or collect run recorded."""
    return list(summary.get("counts", {}).get("collect", {}).get("sources", {}).values())


def main() -> None:
    """Entry point."""
    app()


# The understanding stage's commands register themselves on `app` (kept in their own module).
from reviewdesk import cli_models  # noqa: E402, F401, I001
from reviewdesk import cli_responses  # noqa: E402, F401
from reviewdesk import cli_inbox  # noqa: E402, F401
from reviewdesk import cli_publish  # noqa: E402, F401
from reviewdesk import cli_flows  # noqa: E402, F401
from reviewdesk import cli_trends  # noqa: E402, F401
from reviewdesk import cli_alerts  # noqa: E402, F401
