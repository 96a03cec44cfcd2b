"""File import (CSV / JSONL with column mapping) and several real processes writing one database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import review, run_cli, write_feed

from pipeline.store import Store

CONFIG = """
[settings]
database = "shared.duckdb"
data_dir = "raw"
lock_timeout_s = 120

[[businesses]]
id = "acme"
name = "Acme"

  [[businesses.sources]]
  name = "acme-tp"
  platform = "trustpilot"
  url = "https://www.trustpilot.com/review/acme.example"

  [[businesses.sources]]
  name = "acme-google"
  platform = "import"
  date_format = "%d.%m.%Y %H:%M"
  [businesses.sources.columns]
  review_id = "Review ID"
  rating = "Stars"
  text = "Comment"
  author_name = "Reviewer"
  published_at = "Date"

  [[businesses.sources]]
  name = "acme-yelp"
  platform = "import"
  rating_scale = 10
  [businesses.sources.columns]
  review_id = "id"
  rating = "score"
  text = "body"
  published_at = "when"
"""

CSV = '''Review ID,Stars,Comment,Reviewer,Date
g1,5,"Great staff, quick ""help""",Reviewer A,01.02.2025 10:30
g2,seven,Bad rating value,Reviewer B,01.02.2025 11:00
g3,1,"Multi-line
comment, still one row",Reviewer C,02.02.2025 09:00
g4,2,Missing date,Reviewer D,
g5,4,Wrong date format,Reviewer E,2025-02-03
g6,3,Too few columns
g7,6,Out of range,Reviewer F,03.02.2025 08:00
g8,2,<script>alert('x')</script> kept as text,Reviewer G,04.02.2025 12:00
'''


def _setup(tmp_path: Path) -> Path:
    (tmp_path / "reviewdesk.toml").write_text(CONFIG)
    return tmp_path


def test_csv_import_reports_bad_rows_with_lines_and_keeps_good(tmp_path: Path) -> None:
    cwd = _setup(tmp_path)
    (cwd / "export.csv").write_text(CSV, encoding="utf-8")
    table = run_cli("import", "export.csv", "--source", "acme-google", "--json", cwd=cwd)
    assert table.returncode == 0, table.stderr
    report = json.loads(table.stdout)
    assert (report["new"], report["status"]) == (3, "ok")
    # Line numbers are the export's own (g3 spans two lines, so g4 starts on line 6).
    got = [(r["line"], r["reason"]) for r in report["rejected"]]
    assert [line for line, _ in got] == [3, 6, 7, 8, 9]
    for (_, reason), expected in zip(got, ["rating: expected a number, got 'seven'", "published_at: Field required",
                                           "published_at: expected a date like '%d.%m.%Y %H:%M'",
                                           "expected 5 columns like the header, found 3",
                                           "rating: Input should be less than or equal to 5"], strict=True):
        assert expected in reason
    store = Store(cwd / "shared.duckdb")
    with store.transaction() as tx:
        rows = {r["external_id"]: r for r in tx.search_reviews(sources=["acme-google"])}
    assert set(rows) == {"g1", "g3", "g8"}
    assert rows["g1"]["text"] == 'Great staff, quick "help"' and rows["g1"]["author_name"] == "Reviewer A"
    assert rows["g3"]["text"] == "Multi-line\ncomment, still one row"
    assert rows["g8"]["text"].startswith("<script>")
    assert rows["g1"]["published_at"].isoformat().startswith("2025-02-01T10:30")
    # Importing the same file again changes nothing.
    again = run_cli("import", "export.csv", "--source", "acme-google", cwd=cwd)
    assert again.returncode == 0 and "already ingested" in again.stdout
    assert "5 row(s) rejected" in again.stderr
    with store.transaction() as tx:
        assert tx.count("reviews") == 3


def test_jsonl_import_with_ten_point_scale(tmp_path: Path) -> None:
    cwd = _setup(tmp_path)
    lines = [
        {"id": 1, "score": 10, "body": "Perfect", "when": "2025-03-01T12:00:00Z"},
        {"id": 2, "score": 1, "body": "Awful", "when": "2025-03-02"},
        {"id": 3, "score": 11, "body": "Off scale", "when": "2025-03-02"},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\nnot json\n"
    (cwd / "yelp.jsonl").write_text(text)
    result = run_cli("import", "yelp.jsonl", "--source", "acme-yelp", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    rejected = [(r["line"], r["reason"]) for r in json.loads(result.stdout)["rejected"]]
    assert rejected[0] == (3, "rating: expected 1 to 10, got 11")
    assert rejected[1][0] == 4 and rejected[1][1].startswith("not valid JSON")
    with Store(cwd / "shared.duckdb").transaction() as tx:
        ratings = {r["external_id"]: r["rating"] for r in tx.search_reviews(sources=["acme-yelp"])}
    assert ratings == {"1": 5.0, "2": 1.0}


def test_import_errors_are_plain(tmp_path: Path) -> None:
    cwd = _setup(tmp_path)
    missing = run_cli("import", "nope.csv", "--source", "acme-google", cwd=cwd)
    assert missing.returncode == 2 and "file not found" in missing.stderr and "Traceback" not in missing.stderr
    (cwd / "x.csv").write_text(CSV)
    unknown = run_cli("import", "x.csv", "--source", "nope", cwd=cwd)
    assert unknown.returncode == 2 and "no source named 'nope'" in unknown.stderr


def test_concurrent_processes_lose_no_write(tmp_path: Path) -> None:
    """An ingest, an import and readers at the same moment: all finish, nothing lost, no lock error."""
    cwd = _setup(tmp_path)
    n = 20_000
    feed = write_feed(cwd / "big.jsonl", [review(i, source="acme-tp") for i in range(n)])
    rows = "\n".join(f"x{i},{1 + i % 5},Comment {i},Reviewer,01.01.2025 10:00" for i in range(3000))
    (cwd / "export.csv").write_text("Review ID,Stars,Comment,Reviewer,Date\n" + rows + "\n")
    # A writer loop in a third process: many short transactions interleaving with the others.
    loop = (
        "from pipeline.store import Store\n"
        "s = Store('shared.duckdb', lock_timeout=120)\n"
        "for i in range(40):\n"
        "    with s.transaction() as tx:\n"
        "        tx.upsert_business(f'b{i}', f'Business {i}', 'competitor')\n"
    )
    env = {**os.environ, "COLUMNS": "200"}
    run_cli("status", cwd=cwd)  # create the database and register sources first
    procs = [
        subprocess.Popen([sys.executable, "-m", "reviewdesk", "ingest", str(feed), "--source", "acme-tp"],
                         cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([sys.executable, "-m", "reviewdesk", "import", "export.csv", "--source", "acme-google"],
                         cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([sys.executable, "-c", loop], cwd=cwd, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([sys.executable, "-m", "reviewdesk", "reviews", "--format", "json", "--limit", "5"],
                         cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, errout) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, errout
        assert "lock" not in errout.lower() and "Traceback" not in errout
    with Store(cwd / "shared.duckdb").transaction() as tx:
        assert len(tx.search_reviews(sources=["acme-tp"], limit=100_000)) == n
        assert len(tx.search_reviews(sources=["acme-google"], limit=100_000)) == 3000
        assert tx.count("businesses") == 41
        assert tx.count("crawl_runs") == 2
