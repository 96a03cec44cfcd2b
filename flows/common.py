"""What every Reviewdesk flow shares: config loading, transient-error retries, the `runs` record."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from pipeline.store import Store, StoreBusy


class FlowParams(BaseModel):
    """Parameters every flow takes (Prefect renders them as a form)."""

    config: Path = Field(default=Path("reviewdesk.toml"), description="The Reviewdesk config file.")


def open_store(config_path: Path | str) -> tuple[Any, Store]:
    """The validated config and its store (the database path may be overridden by $REVIEWDESK_DB)."""
    from reviewdesk import settings as env
    from reviewdesk.config import load_config

    config = load_config(Path(config_path))
    db = env.database_override() or config.settings.database
    timeout = env.lock_timeout_override() or config.settings.lock_timeout_s
    return config, Store(db, lock_timeout=timeout)


# Errors that can succeed on retry: the database held by another writer, the network, timeouts.
TRANSIENT = (StoreBusy, ConnectionError, TimeoutError, socket.timeout)


def is_transient(exc: BaseException | None) -> bool:
    """True for errors worth retrying (a busy database, a dropped connection), False for bugs and bad input."""
    return isinstance(exc, TRANSIENT)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry a failed task only when its exception is transient."""
    try:
        state.result(raise_on_failure=True)
    except BaseException as exc:  # the state's stored exception is re-raised here
        return is_transient(exc)
    return False


@dataclass
class RunSummary:
    """Counts per stage and errors per source or stage of one flow run (stored in `runs`, logged)."""

    counts: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """ok, or partial when some stage or source reported an error."""
        return "partial" if self.errors else "ok"


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextmanager
def recorded_run(store: Store, flow: str, params: BaseModel, logger: Any = None) -> Iterator[RunSummary]:
    """Record a flow run in `runs`: started, then ok / partial / failed with its counts, errors and duration."""
    prefect_id = None
    try:
        from prefect.runtime import flow_run

        prefect_id = flow_run.get_id()
    except Exception:  # outside a Prefect run (tests calling .fn) there is no id, and that is fine
        prefect_id = None
    recorded = {**params.model_dump(mode="json"), "_pid": os.getpid(), "_host": socket.gethostname()}
    with store.transaction() as tx:
        # A run of this flow killed on this host (its process is gone) stays "running" forever otherwise.
        for row in tx.flow_runs(flow, limit=50):
            info = json.loads(row["params"] or "{}")
            mine = info.get("_host") == socket.gethostname()
            if row["status"] == "running" and mine and not _alive(info.get("_pid")):
                tx.finish_run(row["id"], "interrupted", json.loads(row["counts"] or "{}"),
                              {"flow": "the process stopped before the run finished"}, datetime.now(UTC))
        run_id = tx.start_run(flow, recorded, datetime.now(UTC), prefect_id)
    summary = RunSummary()
    started = time.monotonic()
    try:
        yield summary
    except BaseException as exc:
        summary.errors["flow"] = f"{type(exc).__name__}: {exc}"
        with store.transaction() as tx:
            tx.finish_run(run_id, "failed", summary.counts, summary.errors, datetime.now(UTC))
        raise
    with store.transaction() as tx:
        tx.finish_run(run_id, summary.status, summary.counts, summary.errors, datetime.now(UTC))
    if logger is not None:
        logger.info("%s %s in %.1f s: %s%s", flow, summary.status, time.monotonic() - started, summary.counts,
                    f" errors: {summary.errors}" if summary.errors else "")
