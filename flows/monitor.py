"""The monitor flow: collect → analyze → draft → alert, each stage touching only new or changed rows.

One failing stage is recorded and the next still runs on what is there (a crawl error must not stop
drafting replies for reviews collected an hour ago). Reruns never duplicate: reviews merge by key and
content hash, analyses are keyed by review and model, drafts by review and text, alerts by event key.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from pydantic import Field

from flows.analyze import AnalyzeParams, run_analyze
from flows.collect import CollectParams, run_collect
from flows.common import FlowParams, RunSummary, open_store, recorded_run
from flows.draft import DraftParams, run_draft


class MonitorParams(FlowParams):
    """Parameters of a monitor run."""

    full: bool = Field(default=False, description="Read every page of every source (finds edits and removals).")
    runtime: str = Field(default="onnx-int8", description="Encoder runtime: onnx-int8, onnx or torch.")
    alerts: bool = Field(default=True, description="Detect and send alerts (severity, negative spikes).")
    batch_size: int = Field(default=256, ge=1, le=10_000, description="Reviews analysed and saved per batch.")


def run_alert(params: MonitorParams, summary: RunSummary) -> dict[str, Any]:
    """Record new alert events once and deliver pending ones."""
    from datetime import UTC, datetime

    from pipeline.alerting import deliver_alerts, detect_alerts

    config, store = open_store(params.config)
    now = datetime.now(UTC)
    new = detect_alerts(store, config, now)
    delivered = deliver_alerts(store, config, now)
    counts: dict[str, Any] = {"new": len(new), **delivered.counts()}
    if delivered.blocked:
        counts["blocked"] = delivered.blocked
    summary.counts["alert"] = counts
    if not delivered.ok:
        # failed, unknown (sent without an answer) or blocked (a channel cannot send): all need a person.
        summary.errors["alert"] = f"alert delivery problems {counts}; see `reviewdesk alerts --list`"
    return counts


def _stage(name: str, summary: RunSummary, logger: Any, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:  # recorded in `runs` and logged; the next stage still runs
        summary.errors[name] = f"{type(exc).__name__}: {exc}"
        logger.error("%s failed: %s", name, summary.errors[name])


@flow(name="monitor", log_prints=False)
def monitor(params: MonitorParams | None = None) -> dict[str, Any]:
    """Collect new reviews, analyse them, draft replies (pending approval) and raise alerts."""
    params = params or MonitorParams()
    _, store = open_store(params.config)
    logger = get_run_logger()
    with recorded_run(store, "monitor", params, logger) as summary:
        _stage("collect", summary, logger, run_collect, CollectParams(config=params.config, full=params.full),
               summary)
        analyze_params = AnalyzeParams(config=params.config, runtime=params.runtime, batch_size=params.batch_size)
        _stage("analyze", summary, logger, run_analyze, analyze_params, summary)
        _stage("draft", summary, logger, run_draft, DraftParams(config=params.config, runtime=params.runtime),
               summary)
        if params.alerts:
            _stage("alert", summary, logger, run_alert, params, summary)
        return {"status": summary.status, "counts": summary.counts, "errors": summary.errors}
