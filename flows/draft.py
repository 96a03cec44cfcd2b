"""The draft flow: reply drafts (or escalations) for analysed reviews of our own businesses."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.common import FlowParams, RunSummary, open_store, recorded_run, retry_transient


class DraftParams(FlowParams):
    """Parameters of a draft run."""

    limit: int | None = Field(default=None, ge=1, description="At most this many reviews (all when empty).")
    runtime: str = Field(default="onnx-int8", description="Encoder runtime for complaint details.")


@task(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 5, 20], retry_condition_fn=retry_transient)
def draft_pending(config_path: str, limit: int | None, runtime: str) -> dict[str, Any]:
    """Draft every review that needs one; batches commit one by one, so a rerun continues after a crash."""
    from flows.analyze import analyzer_for
    from responses.details import DetailDetector
    from responses.stage import draft_stored

    config, store = open_store(config_path)
    with store.transaction() as tx:
        waiting = len(tx.reviews_to_draft(limit=1))
    if not waiting:
        # Nothing to draft: do not load the encoder (an hourly run with nothing new must stay cheap).
        return {"drafted": 0, "escalated": 0}
    details = DetailDetector(analyzer_for(runtime).encoder)
    summary = draft_stored(store, config, Path(config_path), details=details, limit=limit)
    return {k: v for k, v in asdict(summary).items() if k != "errors"}


def run_draft(params: DraftParams, summary: RunSummary) -> dict[str, Any]:
    """The draft stage (shared by the draft and monitor flows)."""
    counts = draft_pending(str(params.config), params.limit, params.runtime)
    summary.counts["draft"] = counts
    return counts


@flow(name="draft", log_prints=False)
def draft(params: DraftParams | None = None) -> dict[str, Any]:
    """Draft replies for analysed reviews that need one; severity-flagged reviews are escalated instead."""
    params = params or DraftParams()
    _, store = open_store(params.config)
    with recorded_run(store, "draft", params, get_run_logger()) as summary:
        return run_draft(params, summary)
