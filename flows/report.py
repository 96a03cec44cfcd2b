"""The report flow: reputation trends for marketing as CSV, Parquet and an offline HTML report."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.common import FlowParams, open_store, recorded_run, retry_transient


class ReportParams(FlowParams):
    """Parameters of a report run."""

    business: str | None = Field(default=None, description="Only this business id (all businesses when empty).")


@task(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[5, 30, 120], retry_condition_fn=retry_transient)
def write_report(config_path: str, business: str | None) -> dict[str, Any]:
    """Compute the weekly and monthly series and write the three files into `[report] output_dir`."""
    from pipeline.trends import report as build_report

    config, store = open_store(config_path)
    files = build_report(store, config.report, business=business)
    return {"rows": files.rows, "csv": str(files.csv), "parquet": str(files.parquet), "html": str(files.html)}


@flow(name="report", log_prints=False)
def report(params: ReportParams | None = None) -> dict[str, Any]:
    """Write this week's trend report (Mondays 08:00 in the configured time zone, see prefect.yaml)."""
    params = params or ReportParams()
    _, store = open_store(params.config)
    logger = get_run_logger()
    with recorded_run(store, "report", params, logger) as summary:
        result = write_report(str(params.config), params.business)
        summary.counts["report"] = result
        logger.info("report written: %s", result["html"])
        return result
