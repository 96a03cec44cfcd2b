"""End to end through the real CLI: crawl the demo site day by day; edits, removals, unhealthy sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from reviewdesk.demo import demo_config_text
from reviewdesk.demo_site import DemoSite

pytestmark = pytest.mark.slow


def _rows(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_daily_crawls_see_new_edited_and_removed_reviews(tmp_path: Path) -> None:
    with DemoSite() as site:
        config = tmp_path / "reviewdesk.toml"
        config.write_text(
            demo_config_text(site.url, tmp_path / "rd.duckdb", tmp_path / "data")
            + '\n[[businesses]]\nid = "gone"\nname = "Gone Ltd"\nrole = "competitor"\n'
            '  [[businesses.sources]]\n  name = "gone-trustpilot"\n  platform = "trustpilot"\n'
            f'  url = "{site.url}/review/no-such-company.example"\n'
        )
        total = len(site.reviews("djmania.es"))

        first = run_cli("crawl", "djmania-trustpilot", "gone-trustpilot", "--config", str(config), cwd=tmp_path)
        # One source failed, so the command says so with its exit code, and the other still landed.
        assert first.returncode == 1, first.stderr
        line = next(x for x in first.stdout.splitlines() if "djmania-trustpilot" in x)
        assert [c.strip() for c in line.split("│") if c.strip()][:3] == ["djmania-trustpilot", "ok", str(total)]
        gone = next(x for x in first.stdout.splitlines() if "gone-trustpilot" in x)
        gone_cells = [c.strip() for c in gone.split("│") if c.strip()]
        # A failed source shows no counts at all, never "0 new".
        assert gone_cells[1:7] == ["FAILED", "-", "-", "-", "-", "-"] and "HTTP 404" in first.stdout

        status = json.loads(run_cli("status", "--json", "--config", str(config), cwd=tmp_path).stdout)
        by_name = {s["source"]: s for s in status}
        assert by_name["djmania-trustpilot"]["healthy"] is True
        assert by_name["djmania-trustpilot"]["reviews"] == total
        assert by_name["gone-trustpilot"]["healthy"] is False
        assert "404" in by_name["gone-trustpilot"]["last_error"]

        site.day = 1
        second = run_cli("crawl", "djmania-trustpilot", "--config", str(config), cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        row = next(x for x in second.stdout.splitlines() if "djmania-trustpilot" in x)
        cells = [c.strip() for c in row.split("│") if c.strip()]
        assert cells[:4] == ["djmania-trustpilot", "ok", "1", "1"], row

        site.day = 2
        third = run_cli("crawl", "djmania-trustpilot", "--full", "--config", str(config), cwd=tmp_path)
        assert third.returncode == 0, third.stderr
        row = next(x for x in third.stdout.splitlines() if "djmania-trustpilot" in x)
        cells = [c.strip() for c in row.split("│") if c.strip()]
        # new, updated, unchanged, removed
        assert cells[2:6] == ["0", "0", str(total), "1"], row

    listed = _rows(run_cli("reviews", "--source", "djmania-trustpilot", "--format", "json", "--limit", "1000",
                           "--config", str(config), cwd=tmp_path).stdout)
    assert len(listed) == total  # the removed one is hidden by default
    everything = _rows(run_cli("reviews", "--source", "djmania-trustpilot", "--removed", "--format", "json",
                               "--limit", "1000", "--config", str(config), cwd=tmp_path).stdout)
    assert len(everything) == total + 1
    assert sum(1 for r in everything if r["removed_at"]) == 1
    edited = [r for r in everything if r["version"] == 2]
    assert len(edited) == 1 and edited[0]["updated_at"] is not None
    hostile = _rows(run_cli("reviews", "--search", "refund after 3 weeks", "--format", "json",
                            "--config", str(config), cwd=tmp_path).stdout)
    assert hostile[0]["text"].startswith('Still no refund after 3 weeks. <script>alert("x")</script>')
    assert hostile[0]["title"] == "Waiting for my <b>refund</b>"
    # The table view prints markup-like text literally too.
    table = run_cli("reviews", "--search", "refund after 3 weeks", "--config", str(config), cwd=tmp_path)
    assert "<script>alert" in table.stdout and "<b>refund</b>" in table.stdout


def test_reviews_filters(tmp_path: Path) -> None:
    with DemoSite() as site:
        config = tmp_path / "reviewdesk.toml"
        config.write_text(demo_config_text(site.url, tmp_path / "rd.duckdb", tmp_path / "data"))
        crawl = run_cli("crawl", "--config", str(config), cwd=tmp_path)
        assert crawl.returncode == 0, crawl.stdout + crawl.stderr

    def query(*args: str) -> list[dict]:
        result = run_cli("reviews", "--format", "json", "--limit", "1000", "--config", str(config), *args,
                         cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return _rows(result.stdout)

    everything = query()
    assert len(everything) > 100
    low = query("--rating", "1-2")
    assert low and all(r["rating"] <= 2 for r in low)
    assert len(low) == sum(1 for r in everything if r["rating"] <= 2)
    norwegian = query("--language", "no")
    assert norwegian and all(r["language"] == "no" for r in norwegian)
    window = query("--since", "2025-01-01", "--until", "2025-03-01")
    assert window and all("2025-01-01" <= r["published_at"][:10] < "2025-03-01" for r in window)
    one_source = query("--source", "twenix-trustpilot")
    assert one_source and {r["source"] for r in one_source} == {"twenix-trustpilot"}
    words = query("--search", "REFUND")
    assert words and all("refund" in (r["text"] + (r["title"] or "")).lower() for r in words)
    bad = run_cli("reviews", "--since", "last week", "--config", str(config), cwd=tmp_path)
    assert bad.returncode == 2 and "--since: expected a date" in bad.stderr
