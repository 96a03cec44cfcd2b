"""The collect flow: crawl each configured source in a subprocess, then ingest its feed."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from pydantic import BaseModel, Field

from pipeline.crawl import SPIDER_FOR_PLATFORM, crawl_sources
from pipeline.ingest import register_sources
from pipeline.store import Store
from reviewdesk.config import load_config


class CollectParams(BaseModel):
    """Parameters of a collect run (Prefect renders them as a form)."""

    config: Path = Field(default=Path("reviewdesk.toml"), description="The Reviewdesk config file.")
    sources: list[str] = Field(default_factory=list, description="Source names; empty means all enabled.")
    full: bool = Field(default=False, description="Read every page (finds edits and removals).")


@flow(name="collect", log_prints=False)
def collect(params: CollectParams | None = None) -> dict[str, dict[str, object]]:
    """Crawl and ingest; one failing source never fails the others. Returns counts per source."""
    params = params or CollectParams()
    logger = get_run_logger()
    config = load_config(params.config)
    store = Store(config.settings.database, lock_timeout=config.settings.lock_timeout_s)
    register_sources(store, config)
    wanted = set(params.sources)
    sources = [
        s for _, s in config.all_sources()
        if s.platform in SPIDER_FOR_PLATFORM and (s.name in wanted if wanted else s.enabled)
    ]
    reports = crawl_sources(store, sources, config.settings, full=params.full)
    summary: dict[str, dict[str, object]] = {}
    for r in reports:
        summary[r.source] = {
            "status": r.status, "new": r.counts.new, "updated": r.counts.updated,
            "unchanged": r.counts.unchanged, "removed": r.counts.removed, "error": r.error,
        }
        log = logger.info if r.status == "ok" else logger.warning
        log("%s: %s new=%d updated=%d unchanged=%d %s", r.source, r.status, r.counts.new, r.counts.updated,
            r.counts.unchanged, r.error or "")
    return summary
