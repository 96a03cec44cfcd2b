"""Shared base for the store's SQL mixins: they all work on one open DuckDB transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb


class SQLBase:
    """Holds the transaction's connection; mixins add SQL for one area each."""

    _con: duckdb.DuckDBPyConnection

    def _rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cursor = self._con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def add_audit(
        self,
        *,
        actor: str,
        action: str,
        entity: str,
        entity_id: int | None,
        at: datetime,
        from_state: str | None = None,
        to_state: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one entry to ``audit_log`` (who, when, what); entries are never updated or deleted."""
        self._con.execute(
            """INSERT INTO audit_log (logged_at, actor, action, entity, entity_id, from_state, to_state, detail)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [at, actor, action, entity, entity_id, from_state, to_state, json.dumps(detail or {}, ensure_ascii=False)],
        )

    def audit_entries(self, entity: str | None = None, entity_id: int | None = None) -> list[dict[str, Any]]:
        """Audit entries, oldest first, optionally for one entity."""
        return self._rows(
            """SELECT * FROM audit_log WHERE (? IS NULL OR entity = ?) AND (? IS NULL OR entity_id = ?)
               ORDER BY id""",
            [entity, entity, entity_id, entity_id],
        )
