"""The collect flow: crawl each configured source in a subprocess, then ingest its feed."""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import Field

from flows.common import FlowParams, RunSummary, open_store, recorded_run
from pipeline.crawl import SPIDER_FOR_PLATFORM, crawl_sources
from pipeline.ingest import register_sources


class CollectParams(FlowParams):
    """Parameters of a collect run (Prefect renders them as a form)."""

    sources: list[str] = Field(default_factory=list, description="Source names; empty means all enabled.")
    full: bool = Field(default=False, description="Read every page (finds edits and removals).")


def run_collect(params: CollectParams, summary: RunSummary) -> dict[str, dict[str, object]]:
    """Crawl and ingest the sources in parallel (config's crawl_concurrency); a failing source fails alone."""
    logger = get_run_logger()
    config, store = open_store(params.config)
    register_sources(store, config)
    wanted = set(params.sources)
    sources = [
        s for _, s in config.all_sources()
        if s.platform in SPIDER_FOR_PLATFORM and (s.name in wanted if wanted else s.enabled)
    ]
    reports = crawl_sources(store, sources, config.settings, full=params.full)
    per_source: dict[str, dict[str, object]] = {}
    totals = {"sources": len(reports), "new": 0, "updated": 0, "unchanged": 0, "removed": 0}
    for r in reports:
        per_source[r.source] = r.row()
        for key in ("new", "updated", "unchanged", "removed"):
            totals[key] += getattr(r.counts, key)
        if r.status != "ok":
            summary.errors[f"collect:{r.source}"] = f"{r.status}: {r.error or ''}".strip()
        log = logger.info if r.status == "ok" else logger.warning
        log("%s: %s new=%d updated=%d unchanged=%d %s", r.source, r.status, r.counts.new, r.counts.updated,
            r.counts.unchanged, r.error or "")
    summary.counts["collect"] = {**totals, "sources": per_source}
    return per_source


@flow(name="collect", log_prints=False)
def collect(params: CollectParams | None = None) -> dict[str, dict[str, object]]:
    """Crawl and ingest; one failing source never fails the others. Returns counts per source."""
    params = params or CollectParams()
    _, store = open_store(params.config)
    with recorded_run(store, "collect", params, get_run_logger()) as summary:
        return run_collect(params, summary)
