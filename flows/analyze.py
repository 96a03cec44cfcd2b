"""The analyze flow: new or changed reviews through the models, in batches, optionally on a Dask cluster."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE
from pydantic import Field

from flows.common import FlowParams, RunSummary, open_store, recorded_run, retry_transient


class AnalyzeParams(FlowParams):
    """Parameters of an analyze run."""

    reanalyze: bool = Field(default=False, description="Also redo reviews analysed by an older model version.")
    limit: int | None = Field(default=None, ge=1, description="At most this many reviews (all when empty).")
    batch_size: int = Field(default=256, ge=1, le=10_000, description="Reviews per task (and per saved batch).")
    runtime: str = Field(default="onnx-int8", description="Encoder runtime: onnx-int8, onnx or torch.")
    dask_address: str | None = Field(
        default=None, description="Run batches on this existing Dask scheduler, e.g. tcp://10.0.0.5:8786."
    )
    dask_workers: int = Field(
        default=0, ge=0, le=64, description="Start a local Dask cluster with this many worker processes (0: no Dask)."
    )


@lru_cache(maxsize=2)
def analyzer_for(runtime: str, threads: int | None = None) -> Any:
    """The models, loaded once per process (a Dask worker loads its own copy once)."""
    from models.analyze import Analyzer

    return Analyzer.load(runtime=runtime, threads=threads)


def _threads_per_worker() -> int | None:
    # Set by the flow when it starts a local cluster: N workers on C cores get C // N encoder threads each.
    value = os.environ.get("REVIEWDESK_WORKER_THREADS")
    return int(value) if value else None


@task(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 5, 20], retry_condition_fn=retry_transient)
def pending_reviews(config_path: str, versions: dict[str, str], reanalyze: bool,
                    limit: int | None) -> list[dict[str, Any]]:
    """Reviews that are new or changed since their last analysis (read-only); ``versions``: see model_versions."""
    _, store = open_store(config_path)
    per_source = {k: v for k, v in versions.items() if k}
    with store.transaction() as tx:
        return tx.reviews_to_analyze(versions.get("", ""), reanalyze=reanalyze, limit=limit,
                                     versions_by_source=per_source)


# Pure: the same texts, topic files and model versions always give the same analyses, so a rerun after a crash
# between analysing and saving takes the result from Prefect's cache instead of the encoder. (The versions
# include each topic file's content, so an edited file is a new cache key.)
@task(cache_policy=INPUTS + TASK_SOURCE, cache_expiration=timedelta(days=7))
def analyze_batch(rows: list[dict[str, Any]], runtime: str, versions: dict[str, str],
                  taxonomies: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Analysis rows (without the save time) for a batch of reviews."""
    from models.analyze import analysis_row, review_inputs

    analyzer = analyzer_for(runtime, _threads_per_worker())
    inputs = review_inputs(rows, taxonomies)
    out_versions = [versions.get(r["source"], versions[""]) for r in rows]
    for files, expected in {(item.taxonomy, v) for item, v in zip(inputs, out_versions, strict=True)}:
        if analyzer.version_for(files) != expected:
            raise RuntimeError(f"worker models are {analyzer.version_for(files)}, the flow expected {expected}")
    results = analyzer.analyze(inputs)
    return [analysis_row(r["id"], r["content_hash"], v, a, None)
            for r, a, v in zip(rows, results, out_versions, strict=True)]


@task(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 5, 20], retry_condition_fn=retry_transient)
def save_batch(config_path: str, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Store one batch of analyses in one transaction; returns counts per sentiment."""
    import pyarrow as pa

    from pipeline.store import ANALYSIS_SCHEMA

    _, store = open_store(config_path)
    now = datetime.now(UTC)
    stamped = [{**r, "analyzed_at": now} for r in rows]
    with store.transaction() as tx:
        tx.save_analyses(pa.Table.from_pylist(stamped, schema=ANALYSIS_SCHEMA))
    counts: dict[str, int] = {"analysed": len(rows)}
    for r in rows:
        key = r["sentiment"] or "unclassifiable"
        counts[key] = counts.get(key, 0) + 1
        if r["severity"] not in (None, "[]"):
            counts["severity_flagged"] = counts.get("severity_flagged", 0) + 1
    return counts


def model_versions(runtime: str, taxonomies: dict[str, list[str]]) -> dict[str, str]:
    """Analysis versions (loads the models in this process): "" -> the shared one, plus source name -> version
    for sources whose business has topic files of its own."""
    from models.analyze import versions_by_source

    analyzer = analyzer_for(runtime)
    return {"": analyzer.version, **versions_by_source(analyzer, taxonomies)}


def run_analyze(params: AnalyzeParams, summary: RunSummary, *, use_futures: bool = False) -> dict[str, int]:
    """Analyse pending reviews batch by batch; each batch is saved as soon as it is done."""
    from pathlib import Path

    from reviewdesk.config import load_config, taxonomy_by_source

    config_path = str(params.config)
    config = load_config(Path(config_path))
    # Checked before anything runs: a bad topic file stops the flow with the config key that names it.
    taxonomies = {name: list(files) for name, files in taxonomy_by_source(config, config_path).items() if files}
    # Without --reanalyze the work list does not depend on the model version (only on review text), so
    # an hourly run with nothing new never loads the models.
    versions = model_versions(params.runtime, taxonomies) if params.reanalyze else {}
    todo = pending_reviews(config_path, versions, params.reanalyze, params.limit)
    counts: dict[str, int] = {"analysed": 0}
    if todo and not versions:
        versions = model_versions(params.runtime, taxonomies)
    batches = [todo[i : i + params.batch_size] for i in range(0, len(todo), params.batch_size)]
    if use_futures:
        # On Dask every batch runs on some worker at once; the flow saves them in order as they finish.
        futures = [analyze_batch.submit(b, params.runtime, versions, taxonomies) for b in batches]
        results = (f.result() for f in futures)
    else:
        results = (analyze_batch(b, params.runtime, versions, taxonomies) for b in batches)
    for rows in results:
        for key, value in save_batch(config_path, rows).items():
            counts[key] = counts.get(key, 0) + value
    summary.counts["analyze"] = counts
    return counts


@flow(name="analyze", log_prints=False)
def analyze(params: AnalyzeParams | None = None) -> dict[str, int]:
    """Analyse reviews that are new or changed since their last analysis."""
    params = params or AnalyzeParams()
    _, store = open_store(params.config)
    with recorded_run(store, "analyze", params, get_run_logger()) as summary:
        return run_analyze(params, summary)


@flow(name="analyze-dask", log_prints=False)
def _analyze_on_dask(params: AnalyzeParams) -> dict[str, int]:
    _, store = open_store(params.config)
    with recorded_run(store, "analyze", params, get_run_logger()) as summary:
        return run_analyze(params, summary, use_futures=True)


def analyze_with_dask(params: AnalyzeParams) -> dict[str, int]:
    """The analyze flow with its batches on Dask: an existing scheduler, or a LocalCluster of N processes."""
    from prefect_dask import DaskTaskRunner

    if params.dask_address:
        runner = DaskTaskRunner(address=params.dask_address)
    else:
        workers = max(1, params.dask_workers)
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["REVIEWDESK_WORKER_THREADS"] = str(threads)  # inherited by the worker processes
        runner = DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                            "dashboard_address": None},
        )
    return _analyze_on_dask.with_options(task_runner=runner)(params)
