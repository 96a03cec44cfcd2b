"""CLI commands of the drafting stage: draft (files or the store) and eval-replies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from reviewdesk import settings as env
from reviewdesk.cli import ConfigOption, UserError, _load, _progress, app, console, err, friendly_errors
from reviewdesk.cli_models import RuntimeOption, _analyzer

PlaybookOption = Annotated[
    Path | None, typer.Option("--playbook", help="Reply playbook YAML (default for files: the bundled example).")
]


def _playbook(path: Path | None) -> Any:
    from responses.playbook import EXAMPLE_PLAYBOOK, PlaybookError, load_playbook

    try:
        return load_playbook(path or EXAMPLE_PLAYBOOK)
    except PlaybookError as exc:
        raise UserError(str(exc), code=2) from None


def _details(analyzer: Any) -> Any:
    from responses.details import DetailDetector

    return DetailDetector(analyzer.encoder)


@app.command()
def draft(
    input_file: Annotated[
        Path | None, typer.Argument(help="JSONL with id, text, rating (optional author, language, source); "
                                         "without it, draft stored reviews.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="JSONL to write (file mode).")] = None,
    playbook: PlaybookOption = None,
    business_type: Annotated[str | None, typer.Option(
        "--type", help="File mode: the business type (restaurant, hotel, shop, app, local_service): its topics and "
                       "its bundled playbook unless --playbook is given. A line's business_type wins.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many stored reviews.")] = None,
    runtime: RuntimeOption = "onnx-int8",
    config: ConfigOption = None,
) -> None:
    """Draft replies: for a JSONL file without a database, or for stored reviews that need one."""
    with friendly_errors():
        if input_file is None:
            _draft_stored(config, limit, runtime)
            return
        if output is None:
            raise UserError("--output is required when drafting a file", code=2)
        if business_type is not None:
            _check_type(business_type, "--type")
        _draft_file(input_file, output, playbook, business_type, runtime)


def _check_type(business_type: str, where: str) -> None:
    from models.topics import business_types

    if business_type not in business_types():
        raise UserError(f"{where}: unknown business type {business_type!r}; expected one of "
                        f"{', '.join(business_types())}", code=2)


def _read_inputs(input_file: Path) -> list[tuple[int, Any]]:
    from models.topics import business_types
    from pipeline.ingest import RowError, read_feed
    from responses.draft import DraftInput

    entries: list[tuple[int, Any]] = []
    for entry in read_feed(input_file):
        if isinstance(entry, RowError):
            entries.append((entry.line, f"line {entry.line}: {entry.reason}"))
            continue
        line_no, obj = entry
        text, rating = obj.get("text", ""), obj.get("rating")
        if "id" not in obj or not isinstance(text, str | type(None)):
            entries.append((line_no, f"line {line_no}: expected an object with id and text"))
            continue
        if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int | float) or
                                   not 1 <= rating <= 5):
            entries.append((line_no, f"line {line_no}: rating: expected a number from 1 to 5, got {rating!r}"))
            continue
        kind = obj.get("business_type")
        if kind is not None and kind not in business_types():
            entries.append((line_no, f"line {line_no}: business_type: expected one of {', '.join(business_types())}, "
                                     f"got {kind!r}"))
            continue

        def opt(key: str, obj: dict[str, Any] = obj) -> str | None:
            value = obj.get(key)
            return value if isinstance(value, str) else None

        entries.append((line_no, DraftInput(id=str(obj["id"]), text=text or "", rating=rating, author=opt("author"),
                                            language=opt("language"), source=opt("source"), platform=opt("source"),
                                            business_type=kind, answered=bool(opt("reply")))))
    return entries


def _draft_file(input_file: Path, output: Path, playbook_path: Path | None, business_type: str | None,
                runtime: str) -> None:
    from models.analyze import ReviewInput
    from responses.draft import Drafter, DraftInput
    from responses.playbook import type_playbook

    if not input_file.exists():
        raise UserError(f"{input_file}: file not found", code=2)
    fixed = _playbook(playbook_path) if playbook_path is not None else None
    entries = _read_inputs(input_file)
    analyzer = _analyzer(runtime, None)
    details = _details(analyzer)
    drafters: dict[str | None, Any] = {}

    def drafter_for(kind: str | None) -> Any:
        # --playbook for every line; else the line's (or --type's) bundled type playbook; else the example.
        key = None if fixed is not None else kind
        if key not in drafters:
            book = fixed or _playbook(type_playbook(kind) if kind else None)
            drafters[key] = Drafter(book, details=details)
        return drafters[key]

    counts: dict[str, int] = {}
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as out, _progress() as progress:
        task = progress.add_task(f"drafting {input_file.name}", total=len(entries))
        for start in range(0, len(entries), 64):
            chunk = entries[start : start + 64]
            good = [e for _, e in chunk if isinstance(e, DraftInput)]
            analyses = iter(analyzer.analyze([ReviewInput(id=e.id, text=e.text, language=e.language,
                                                          business_type=e.business_type or business_type)
                                              for e in good]))
            for line_no, entry in chunk:
                if isinstance(entry, DraftInput):
                    kind = entry.business_type or business_type
                    record = drafter_for(kind).draft(entry, next(analyses).to_dict()).to_output()
                    if kind:
                        record["business_type"] = kind
                    key = "escalated" if record["escalation"] else record["kind"]
                else:
                    # One line per input, always: a bad line says why instead of vanishing.
                    record = {"id": None, "line": line_no, "language": None, "escalation": None, "drafts": [],
                              "error": f"invalid input: {entry}"}
                    key = "invalid"
                counts[key] = counts.get(key, 0) + 1
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            progress.advance(task, len(chunk))
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    err.print(f"wrote {len(entries)} line(s) to {output}: {summary}")


def _draft_stored(config: Path | None, limit: int | None, runtime: str) -> None:
    from responses.details import DetailDetector
    from responses.playbook import PlaybookError
    from responses.stage import draft_stored, playbooks_for

    cfg, store = _load(config)
    config_file = env.config_path(config)
    from responses.generators import GeneratorError, load_generator

    try:
        playbooks_for(cfg, config_file)  # fail on a bad playbook or generator before loading any model
        load_generator(cfg.responses.generator)
    except (PlaybookError, GeneratorError) as exc:
        raise UserError(f"{config_file}: {exc}" if isinstance(exc, GeneratorError) else str(exc), code=2) from None
    from models.encoder import Encoder

    with err.status("loading the encoder"):
        details = DetailDetector(Encoder.load(runtime=runtime))
    summary = draft_stored(store, cfg, config_file, details=details, limit=limit)
    table = Table(title="drafting")
    table.add_column("result")
    table.add_column("reviews", justify="right")
    for key, value in [*sorted(summary.by_kind.items()), ("escalated", summary.escalated),
                       ("no variant passed the verifier", summary.blocked),
                       ("answered in the default language", summary.fallback_language),
                       ("to write by hand (no phrasing for the language)", summary.by_hand),
                       ("no reply recommended (not a review of the business)", summary.no_reply)]:
        table.add_row(Text(key), Text(str(value)))
    console.print(table)
    if summary.drafted:
        console.print("drafts wait for approval: `reviewdesk inbox`, then `reviewdesk show ID`")


@app.command("eval-replies")
def eval_replies(
    data: Annotated[Path, typer.Option("--data", help="The shared labelled data folder.")] = Path("../shared/data"),
    per_language: Annotated[int, typer.Option("--per-language", min=1, help="Negative reviews per language.")] = 200,
    lang: Annotated[list[str] | None, typer.Option("--lang", help="Only these languages (repeatable).")] = None,
    playbook: PlaybookOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write a Markdown report here.")] = None,
    runtime: RuntimeOption = "onnx-int8",
    split: Annotated[str, typer.Option("--split", help="Gold split of the content checks: test (report) or dev "
                                                       "(choices).")] = "test",
    content_only: Annotated[bool, typer.Option("--content-only", help="Only the content checks against gold.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the content figures as JSON here.")] = None,
) -> None:
    """Draft replies for real reviews of the shared data: the reply rules on negative reviews, then what the drafts
    say against gold (complaints thanked, praise apologised to, complaints named, language, length, repetition)."""
    from responses.draft import Drafter
    from responses.evaluate import CHECKS, LANGS, evaluate_replies, render_markdown

    with friendly_errors():
        if not data.exists():
            raise UserError(f"{data}: data folder not found (expected ../shared/data or --data)", code=2)
        langs = tuple(lang) if lang else LANGS
        unknown = [x for x in langs if x not in LANGS]
        if unknown:
            raise UserError(f"--lang: no labelled data for {unknown}; expected some of {', '.join(LANGS)}", code=2)
        if split not in ("dev", "test"):
            raise UserError(f"--split: expected dev or test, got {split!r}", code=2)
        book = _playbook(playbook)
        analyzer = _analyzer(runtime, None)
        drafter = Drafter(book, details=_details(analyzer))
        if content_only:
            _content(data, analyzer, split, json_out)
            return
        with _progress() as progress:
            task = progress.add_task("drafting", total=per_language * len(langs))
            reports = evaluate_replies(data, drafter, analyzer, per_language=per_language, langs=langs,
                                       progress=lambda n: progress.advance(task, n))
        title = "reply quality on real negative reviews (share of drafted reviews whose every variant passes)"
        table = Table(title=title)
        for col in ["lang", "reviews", "escalated", *CHECKS, "distinct", "shown"]:
            table.add_column(col, justify="right")
        for r in reports:
            table.add_row(r.language, str(r.reviews), str(r.escalated), *[f"{100 * r.rate(k):.1f}%" for k in CHECKS],
                          f"{100 * r.distinct_ok / max(r.drafted, 1):.1f}%",
                          f"{100 * r.shown_ok / max(r.drafted, 1):.1f}%")
        console.print(table)
        if output:
            output.write_text(render_markdown(reports), encoding="utf-8")
            console.print(f"report with sample drafts: {output}")
        _content(data, analyzer, split, json_out)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _content(data: Path, analyzer: Any, split: str, json_out: Path | None) -> None:
    """Print (and write) what drafts say against gold: responses.content_eval."""
    from responses.content_eval import TARGETS, evaluate_content, report_dict

    with _progress() as progress:
        task = progress.add_task(f"drafting gold reviews ({split})", total=None)
        reports = evaluate_content(data, analyzer, _details(analyzer), split=split,
                                   progress=lambda n: progress.advance(task, n))
    t = TARGETS
    table = Table(title=f"What drafts say, against gold ({split} split); baseline = kind from a plain logistic "
                        "regression on the same vectors, same run")
    for col in ("set", "drafted", "escalated", "by hand / no reply", f"neg thanked (≤{t['negative_thanked']:.0%})",
                "by kind / baseline", f"pos apologised (≤{t['positive_apologised']:.0%})", "by kind / baseline",
                f"naming P/R (≥{t['naming_precision']}/{t['naming_recall']})", "wrong lang", "median chars",
                "top sentence"):
        table.add_column(col, justify="right")
    for r in reports:
        f = r.figures
        naming = f.get("naming")
        table.add_row(
            r.name, str(r.reviews - r.escalated - r.by_hand - r.no_reply), str(r.escalated),
            f"{r.by_hand} / {r.no_reply}",
            f"{_pct(f['negative_thanked'])} of {f['negatives']}",
            f"{_pct(f['negative_thanked_kind'])} / {_pct(f.get('baseline_negative_thanked'))}",
            f"{_pct(f['positive_apologised'])} of {f['positives']}",
            f"{_pct(f['positive_apologised_kind'])} / {_pct(f.get('baseline_positive_apologised'))}",
            f"{_pct(naming['precision'])} / {_pct(naming['recall'])}" if naming else "–",
            _pct(f["wrong_language"]), ", ".join(f"{k} {v}" for k, v in f["median_chars"].items()),
            _pct((f.get("top_sentence") or {}).get("share")),
        )
    console.print(table)
    for r in reports:
        top = r.figures.get("top_sentence")
        if top:
            console.print(Text(f"{r.name}: most common sentence ({_pct(top['share'])} of drafts): {top['text']}"))
    if json_out:
        json_out.write_text(json.dumps(report_dict(reports, split), ensure_ascii=False, indent=1), encoding="utf-8")
        console.print(f"content figures: {json_out}")
