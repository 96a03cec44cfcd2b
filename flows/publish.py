"""The publish flow: queue approved replies and post those that are due (kill switch honoured)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.common import FlowParams, open_store, recorded_run, retry_transient


class PublishParams(FlowParams):
    """Parameters of a publish run."""


# Exactly-once lives in the outbox itself (a row is `sending` before any HTTP call), so retrying the task
# after a busy database or a dropped connection can never post a reply twice.
@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=retry_transient)
def publish_due_replies(config_path: str) -> dict[str, Any]:
    """Queue approved drafts, post what is due; counts per outcome, and the kill switch state."""
    from pipeline.ingest import register_sources
    from responses.publish import run_publish
    from responses.publish.outbox import connectors_for

    config, store = open_store(config_path)
    register_sources(store, config)
    penv, connectors = connectors_for(config, Path(config_path))
    run = run_publish(store, config, connectors, env=penv, now=datetime.now(UTC))
    counts: dict[str, Any] = dict(Counter(o.state for o in run.outcomes))
    if run.disabled:
        counts["kill_switch"] = run.disabled
    return counts


@flow(name="publish", log_prints=False)
def publish(params: PublishParams | None = None) -> dict[str, Any]:
    """Post approved replies whose delay has passed (every 5 minutes in prefect.yaml)."""
    params = params or PublishParams()
    _, store = open_store(params.config)
    logger = get_run_logger()
    with recorded_run(store, "publish", params, logger) as summary:
        counts = publish_due_replies(str(params.config))
        summary.counts["publish"] = counts
        if "failed" in counts:
            summary.errors["publish"] = f"{counts['failed']} reply(ies) failed; see `reviewdesk outbox --state failed`"
        if "kill_switch" in counts:
            logger.warning("kill switch on: %s", counts["kill_switch"])
        return counts
