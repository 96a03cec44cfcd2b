"""Shared helpers for the team-written sentiment sets (tests/fixtures/*_sentiment.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LABELS = ("negative", "neutral", "positive")


def load_rows(name: str) -> list[dict]:
    """The rows of one team-written set."""
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def macro_f1_and_recalls(pairs: list[tuple[str, str | None]]) -> tuple[float, dict[str, float]]:
    """3-class macro-F1 and per-class recall of (gold, predicted) pairs."""
    f1s, recalls = [], {}
    for label in LABELS:
        tp = sum(g == label and p == label for g, p in pairs)
        fp = sum(g != label and p == label for g, p in pairs)
        fn = sum(g == label and p != label for g, p in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
        recalls[label] = tp / (tp + fn) if tp + fn else 0.0
    return sum(f1s) / 3, recalls
