"""The analyze flow on 20,000 stored reviews: Prefect's default runner vs a 2-worker Dask LocalCluster.

Run: python benchmarks/bench_dask.py [--reviews 20000] [--batch-size 256] [--data ../shared/data]
Texts: distinct real reviews and review sentences from the shared labelled data (PolEmo reviews, SemEval
en/ru sentences, HuSST, Hebrew comments; train splits), cycled only if more are asked for than exist.
Both runs start from identical copies of one database and run the full analyze flow (read the work list,
analyse in batches, save each batch); the times include loading the models (once in the default
runner's process, once in each Dask worker) and, for Dask, starting the cluster. Same command, same
machine, so the ratio is what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Both runs analyse the same texts: without this the second would read the first's results from the
# analyze_batch cache (INPUTS + TASK_SOURCE) instead of running the models.
os.environ["PREFECT_TASKS_REFRESH_CACHE"] = "true"


def real_texts(data: Path, n: int) -> list[str]:
    """Distinct real texts from the shared data, mixed across languages."""
    from models.datasets import load_sentiment

    pools = [[r.text for r in load_sentiment(lang, "train", data)] for lang in ("pl", "en", "ru", "hu", "he")]
    mixed, seen = [], set()
    for i in range(max(len(p) for p in pools)):
        for pool in pools:
            if i < len(pool) and pool[i] not in seen:
                seen.add(pool[i])
                mixed.append(pool[i])
    return [mixed[i % len(mixed)] for i in range(n)]


def main() -> None:
    """Print both timings and their ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--reviews", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()

    from flows.analyze import AnalyzeParams, analyze, analyze_with_dask
    from pipeline.ingest import ingest_feed, register_sources
    from pipeline.store import Store
    from reviewdesk.config import load_config

    texts = real_texts(args.data, args.reviews)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        feed = base / "feed.jsonl"
        with feed.open("w", encoding="utf-8") as fh:
            for i, text in enumerate(texts):
                fh.write(json.dumps({
                    "source": "bench", "platform": "trustpilot", "review_id": f"r{i}", "rating": 1 + i % 5,
                    "text": text, "published_at": "2026-01-01T00:00:00Z", "crawled_at": "2026-01-02T00:00:00Z",
                }, ensure_ascii=False) + "\n")
        Path(f"{feed}.meta.json").write_text(json.dumps({"complete": True, "errors": []}))
        configs = {}
        for name in ("default", "dask"):
            config = base / f"{name}.toml"
            config.write_text(
                f'[settings]\ndatabase = "{base / (name + ".duckdb")}"\n\n[[businesses]]\nid = "b"\nname = "B"\n'
                '  [[businesses.sources]]\n  name = "bench"\n  platform = "trustpilot"\n'
                '  url = "https://www.trustpilot.com/review/bench.example"\n'
            )
            configs[name] = config
        store = Store(base / "default.duckdb")
        register_sources(store, load_config(configs["default"]))
        ingest_feed(store, "bench", feed)
        shutil.copy(base / "default.duckdb", base / "dask.duckdb")
        chars = sorted(len(t) for t in texts)
        print(f"{len(texts)} reviews, {len(set(texts))} distinct, median {chars[len(chars) // 2]} characters, "
              f"{os.cpu_count()} CPU cores")

        start = time.perf_counter()
        plain = analyze(AnalyzeParams(config=configs["default"], batch_size=args.batch_size))
        t_plain = time.perf_counter() - start
        print(f"default runner: {t_plain:.1f} s, {plain['analysed'] / t_plain:.1f} reviews/s")

        start = time.perf_counter()
        on_dask = analyze_with_dask(AnalyzeParams(config=configs["dask"], batch_size=args.batch_size,
                                                  dask_workers=2))
        t_dask = time.perf_counter() - start
        print(f"dask LocalCluster, 2 worker processes: {t_dask:.1f} s, {on_dask['analysed'] / t_dask:.1f} reviews/s")
        print(f"ratio dask / default time: {t_dask / t_plain:.2f}")


if __name__ == "__main__":
    main()
