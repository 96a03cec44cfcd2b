"""Shared test helpers: a store in a temp folder, feeds written like a spider writes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from pipeline.store import Store

ROOT = Path(__file__).resolve().parents[1]


def review(i: int, **overrides: Any) -> dict[str, Any]:
    """A valid feed line for review number i."""
    data: dict[str, Any] = {
        "source": "acme-tp",
        "platform": "trustpilot",
        "review_id": f"r{i}",
        "rating": 1 + i % 5,
        "title": f"Title {i}",
        "text": f"Review text number {i}",
        "language": "en",
        "author_name": f"Reviewer {i}",
        "published_at": f"2025-01-{1 + i % 28:02d}T10:00:00Z",
        "crawled_at": "2026-01-01T00:00:00+00:00",
        "extra": {},
    }
    data.update(overrides)
    return data


def write_feed(
    path: Path,
    items: Iterable[dict[str, Any]],
    *,
    complete: bool = True,
    started_at: str = "2026-01-01T00:00:00+00:00",
    errors: list[dict[str, str]] | None = None,
    raw_lines: Iterable[str] = (),
) -> Path:
    """Write a JSONL feed and its manifest, as `scrapy crawl -O` plus RunManifest do."""
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        for line in raw_lines:
            fh.write(line + "\n")
    manifest = {
        "complete": complete,
        "errors": errors or [],
        "finish_reason": "finished",
        "pages": 1,
        "started_at": started_at,
        "stop_reason": None,
    }
    Path(f"{path}.meta.json").write_text(json.dumps(manifest), encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store with one business and one source, acme-tp."""
    s = Store(tmp_path / "test.duckdb", lock_timeout=30)
    with s.transaction() as tx:
        tx.upsert_business("acme", "Acme", "own")
        tx.upsert_source("acme-tp", "acme", "trustpilot", "http://127.0.0.1/review/acme", "en")
    return s


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run the real `reviewdesk` CLI in a subprocess."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "reviewdesk", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
