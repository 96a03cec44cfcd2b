"""Run each source's spider as a ``scrapy crawl`` subprocess, then ingest its feed.

Crawling writes files, never the database: Scrapy's reactor lives in the subprocess, and the
feed plus its manifest stay on disk as the raw layer, so re-processing never needs a re-crawl.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.ingest import IngestReport, ingest_feed
from pipeline.store import RunRecord, Store

SPIDER_FOR_PLATFORM = {"trustpilot": "trustpilot", "schema_org": "schema_org", "appstore": "appstore"}


@dataclass
class CrawlJob:
    """One source to crawl, with the files its run writes."""

    source: Any
    feed: Path
    log: Path
    known_ids: Path
    started_at: datetime


def crawl_command(job: CrawlJob, settings: Any, extra_settings: dict[str, str] | None = None) -> list[str]:
    """The ``scrapy crawl`` command line for one source."""
    spider = SPIDER_FOR_PLATFORM[job.source.platform]
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider, "-O", str(job.feed)]
    args = dict(job.source.spider_args())
    args["known_ids"] = str(job.known_ids)
    for key, value in args.items():
        cmd += ["-a", f"{key}={value}"]
    scrapy_settings = {
        "USER_AGENT": settings.user_agent,
        "DOWNLOAD_DELAY": str(settings.download_delay_s),
        "AUTOTHROTTLE_ENABLED": str(getattr(settings, "autothrottle", True)),
        "ROBOTSTXT_OBEY": "True" if settings.obey_robots_txt else "False",
        "LOG_FILE": str(job.log),
        "LOG_LEVEL": "INFO",
    }
    scrapy_settings.update(extra_settings or {})
    for key, value in scrapy_settings.items():
        cmd += ["-s", f"{key}={value}"]
    return cmd


def _run_spider(job: CrawlJob, settings: Any, extra_settings: dict[str, str] | None) -> str | None:
    """Run one spider; returns an error message when the process itself failed."""
    env = dict(os.environ)
    # Works from any directory, with or without scrapy.cfg beside it.
    env["SCRAPY_SETTINGS_MODULE"] = "crawlers.settings"
    try:
        proc = subprocess.run(
            crawl_command(job, settings, extra_settings),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=settings.crawl_timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"the crawl took longer than {settings.crawl_timeout_s} s and was stopped"
    if proc.returncode != 0:
        tail = proc.stdout.decode("utf-8", "replace").strip().splitlines()[-3:]
        return f"scrapy exited with code {proc.returncode}: {' | '.join(tail) or 'see ' + str(job.log)}"
    return None


def prepare_job(store: Store, source: Any, data_dir: Path, *, full: bool = False) -> CrawlJob:
    """Paths for this run and the file of already-stored review ids (for incremental stops).

    ``full`` leaves the file empty, so the spider reads every page: that run can see edits to old
    reviews and reviews that disappeared.
    """
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%S%fZ")
    folder = data_dir / "feeds" / source.name
    folder.mkdir(parents=True, exist_ok=True)
    job = CrawlJob(
        source=source,
        feed=folder / f"{stamp}.jsonl",
        log=folder / f"{stamp}.log",
        known_ids=folder / f"{stamp}.known-ids.txt",
        started_at=started,
    )
    with store.transaction() as tx:
        source_id = tx.source_id(source.name)
        known = tx.known_review_ids(source_id) if source_id is not None and not full else []
    job.known_ids.write_text("\n".join(known) + ("\n" if known else ""), encoding="utf-8")
    return job


def record_failure(store: Store, job: CrawlJob, message: str) -> IngestReport:
    """Store a run that produced nothing usable, so `status` shows why."""
    now = datetime.now(UTC)
    run = RunRecord(
        source=job.source.name, kind="crawl", status="failed", started_at=job.started_at,
        finished_at=now, feed_path=str(job.feed), error=message, complete=False,
    )
    with store.transaction() as tx:
        source_id = tx.source_id(job.source.name)
        assert source_id is not None
        run_id = tx.record_run(source_id, run)
    return IngestReport(source=job.source.name, status="failed", error=message, run_id=run_id)


def crawl_sources(
    store: Store,
    sources: list[Any],
    settings: Any,
    *,
    extra_settings: dict[str, str] | None = None,
    on_done: Callable[[IngestReport], None] | None = None,
    full: bool = False,
) -> list[IngestReport]:
    """Crawl sources in parallel (``settings.crawl_concurrency``); one failure never stops the rest."""
    jobs = [prepare_job(store, s, Path(settings.data_dir), full=full) for s in sources]
    reports: list[IngestReport] = []
    with ThreadPoolExecutor(max_workers=settings.crawl_concurrency) as pool:
        futures = {pool.submit(_run_spider, job, settings, extra_settings): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            failure = future.result()
            if failure is not None and not job.feed.exists():
                report = record_failure(store, job, failure)
            elif not job.feed.exists():
                report = record_failure(store, job, f"the spider wrote no feed; see {job.log}")
            else:
                # Even a failed process may have left good items: keep them (nothing is lost).
                report = ingest_feed(
                    store, job.source.name, job.feed, started_at=job.started_at, process_error=failure
                )
            reports.append(report)
            if on_done is not None:
                on_done(report)
    order = {s.name: i for i, s in enumerate(sources)}
    return sorted(reports, key=lambda r: order.get(r.source, 0))
