"""What the Polish n-gram model (models/lexical.py) costs the analysis of Polish reviews.

Run: python benchmarks/bench_lexical.py [--reviews 300] [--threads 2] [--data ../shared/data]
Texts: PolEmo 2.0 reviews (official dev files under --data if present, else the trimmed copies in
tests/fixtures/sentiment_data), repeated to the requested count. Timed in one run on the same texts, alternating
twice so that machine noise hits both: the full analysis with the shipped sentiment model, and the same
analyzer with its n-gram models switched off (the sentiment-2 path). Also times the n-gram model alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def polish_reviews(data: Path, n: int) -> list[str]:
    """PolEmo review texts (labels stripped), cycled to n."""
    root = data / "pl-polemo2" / "text"
    if not root.is_dir():
        root = ROOT / "tests" / "fixtures" / "sentiment_data" / "pl-polemo2" / "text"
    texts = [line.rpartition(" __label__")[0] for path in sorted(root.glob("*.text.dev.txt"))
             for line in path.read_text(encoding="utf-8").splitlines() if " __label__" in line]
    return [texts[i % len(texts)] for i in range(n)]


def main() -> None:
    """Print reviews/s with and without the n-gram model, and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviews", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    texts = polish_reviews(args.data, args.reviews)

    from models.analyze import Analyzer, ReviewInput

    analyzer = Analyzer.load(threads=args.threads)
    lexical = analyzer.sentiment.lexical
    if lexical is None or "pl" not in lexical.languages:
        raise SystemExit("the shipped sentiment model has no Polish n-gram model")

    def run(with_ngrams: bool) -> float:
        analyzer.sentiment.lexical = lexical if with_ngrams else None
        start = time.perf_counter()
        for i in range(0, len(texts), 64):
            analyzer.analyze([ReviewInput(id=str(j), text=t, language="pl") for j, t in enumerate(texts[i:i + 64])])
        return time.perf_counter() - start

    run(True)  # warm-up: spaCy pipeline, lemmatiser, encoder session
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(2):
        for flag in (False, True):
            times[flag].append(run(flag))
    analyzer.sentiment.lexical = lexical
    start = time.perf_counter()
    lexical.log_proba(texts, ["pl"] * len(texts))
    alone = time.perf_counter() - start

    median_chars = statistics.median(len(t) for t in texts)
    off, on = min(times[False]), min(times[True])
    print(f"{len(texts)} Polish reviews, median {median_chars:.0f} characters, {args.threads} threads (best of 2)")
    print(f"  analysis without n-gram model: {len(texts) / off:7.1f} reviews/s")
    print(f"  analysis with n-gram model:    {len(texts) / on:7.1f} reviews/s  ({off / on:.3f}x)")
    print(f"  n-gram model alone (reviews only): {len(texts) / alone:7.0f} reviews/s")


if __name__ == "__main__":
    main()
