"""SQL for the responses tables (migration 004_responses); mixed into `pipeline.store.Connection`."""

from __future__ import annotations

from pipeline.store._base import SQLBase


class ResponsesSQL(SQLBase):
    """Queries on the responses tables, run inside one store transaction."""
