"""The README's main job: `reviewdesk demo` on a fresh directory, then again (incremental)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from pipeline.store import Store

pytestmark = pytest.mark.slow

SOURCES = ("beautytheshop-trustpilot", "twenix-trustpilot", "djmania-trustpilot", "burgerking-trustpilot",
           "demo-shop-site", "demo-shop-ios")


def _table(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if cells and cells[0] in SOURCES:
            rows[cells[0]] = cells[1:]
    return rows


def test_demo_twice(tmp_path: Path) -> None:
    first = run_cli("demo", cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    rows = _table(first.stdout)
    assert set(rows) == set(SOURCES)
    for name, (status, new, updated, unchanged, removed, rejected) in rows.items():
        assert status == "ok" and int(new) > 0 and (updated, unchanged, removed, rejected) == ("0",) * 4, name
    db = tmp_path / "reviewdesk.duckdb"
    assert db.exists() and (tmp_path / "data" / "demo.toml").exists()
    with Store(db).transaction() as tx:
        stored = tx.count("reviews")
        assert stored == sum(int(r[1]) for r in rows.values())
        platforms = {r["platform"] for r in tx.source_status()}
        drafts, escalations = tx.count("drafts"), tx.count("escalations")
        analysed = tx.count("analyses")
        states = {r["state"] for r in tx._rows("SELECT DISTINCT state FROM drafts")}
        # Drafts without text are there by design only: not a review of the business, or no phrasing for the language.
        silent = [json.loads(r["flags"]) for r in tx._rows("SELECT flags FROM drafts WHERE state = 'blocked'")]
    assert platforms == {"trustpilot", "schema_org", "appstore"}
    # Every review analysed; own businesses' reviews drafted (pending) or escalated, competitors' never.
    assert analysed == stored and drafts > 20 and states <= {"pending", "blocked"}
    assert all("no_reply" in f or "by_hand" in f for f in silent) and len(silent) <= 3, silent
    assert f"drafted {drafts} repl" in first.stdout.replace("\n", " ") and "reviewdesk inbox" in first.stdout

    second = run_cli("demo", cwd=tmp_path, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    for name, (status, new, updated, unchanged, removed, _) in _table(second.stdout).items():
        # Incremental: nothing new, nothing changed, and it stopped early rather than re-reading everything.
        assert (status, new, updated, removed) == ("ok", "0", "0", "0"), name
        assert 0 < int(unchanged) <= int(rows[name][1]), name
    with Store(db).transaction() as tx:
        assert tx.count("reviews") == stored
        assert tx.count("review_versions") == 0
        assert (tx.count("drafts"), tx.count("escalations")) == (drafts, escalations)
        # Both runs were the `monitor` flow, recorded with their counts.
        assert [r["status"] for r in tx.flow_runs("monitor")] == ["ok", "ok"]
    assert "analysed 0 review(s); drafted 0" in second.stdout
