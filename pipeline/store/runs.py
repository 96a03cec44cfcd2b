"""SQL for flow runs (migration 005_monitoring): what each scheduled, unattended run did."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pipeline.store._base import SQLBase


class RunsSQL(SQLBase):
    """Queries on the ``runs`` table."""

    def start_run(self, flow: str, params: dict[str, Any], now: datetime, prefect_run_id: str | None = None) -> int:
        """Record a flow run as started; returns its id."""
        row = self._con.execute(
            """INSERT INTO runs (flow, status, started_at, params, prefect_run_id)
               VALUES (?, 'running', ?, ?, ?) RETURNING id""",
            [flow, now, json.dumps(params, default=str), prefect_run_id],
        ).fetchone()
        assert row is not None
        return int(row[0])

    def finish_run(
        self, run_id: int, status: str, counts: dict[str, Any], errors: dict[str, Any], now: datetime
    ) -> None:
        """Record how a flow run ended: status, counts per stage, errors per source or stage."""
        self._con.execute(
            """UPDATE runs SET status = ?, finished_at = ?,
                   duration_s = date_diff('millisecond', started_at, ?) / 1000.0, counts = ?, errors = ?
               WHERE id = ?""",
            [status, now, now, json.dumps(counts, default=str), json.dumps(errors, default=str), run_id],
        )

    def flow_runs(self, flow: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Latest flow runs, newest first."""
        return self._rows(
            "SELECT * FROM runs WHERE (? IS NULL OR flow = ?) ORDER BY id DESC LIMIT ?", [flow, flow, limit]
        )
