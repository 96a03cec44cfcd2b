"""`reviewdesk eval-replies` end to end on a few real reviews per language (needs ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, run_cli

pytestmark = pytest.mark.slow
DATA = ROOT.parent / "shared" / "data"


@pytest.mark.skipif(not (DATA / "pl-polemo2").is_dir(), reason="needs ../shared/data")
def test_eval_replies_reports_every_rule(tmp_path: Path) -> None:
    report = tmp_path / "replies.md"
    result = run_cli("eval-replies", "--data", str(DATA), "--per-language", "6", "--lang", "pl", "--lang", "he",
                     "-o", str(report), cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    text = report.read_text(encoding="utf-8")
    header = text.splitlines()[0]
    for rule in ("structure complete", "language matches", "offers traceable", "no personal data",
                 "length within limit", "distinct variants"):
        assert rule in header
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()[2:4]}
    assert set(rows) == {"pl", "he"}
    for row in rows.values():
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert int(cells[3]) == 6  # drafted: escalated reviews are replaced by further ones
    assert "### pl: PolEmo" in text and "```" in text


def test_eval_replies_needs_the_data(tmp_path: Path) -> None:
    result = run_cli("eval-replies", "--data", str(tmp_path / "missing"), cwd=tmp_path)
    assert result.returncode == 2 and "data folder not found" in result.stderr
