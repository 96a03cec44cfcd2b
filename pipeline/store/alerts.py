"""SQL for the alerts area (migration 005_monitoring); mixed into `pipeline.store.Connection`."""

from __future__ import annotations

from pipeline.store._base import SQLBase


class AlertsSQL(SQLBase):
    """Queries of the alerts area, run inside one store transaction."""
