"""SQL for the trends area (migration 005_monitoring); mixed into `pipeline.store.Connection`."""

from __future__ import annotations

from pipeline.store._base import SQLBase


class TrendsSQL(SQLBase):
    """Queries of the trends area, run inside one store transaction."""
