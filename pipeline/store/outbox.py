"""SQL for the outbox tables (migration 004_responses); mixed into `pipeline.store.Connection`."""

from __future__ import annotations

from pipeline.store._base import SQLBase


class OutboxSQL(SQLBase):
    """Queries on the outbox tables, run inside one store transaction."""
