"""Parser throughput on the Trustpilot fixture pages, beside naive parses of the same pages.

Run: python benchmarks/bench_parse.py [--pages DIR] [--seconds 3]
By default it reads the real full-size pages in ../shared/fixtures/trustpilot when present, else the
trimmed copies in tests/fixtures/trustpilot. Baselines, timed in the same run on the same bytes:
  naive-dom:    parse the whole HTML into a DOM (parsel/lxml), json.loads the __NEXT_DATA__ script and
                copy the review dicts out, no validation;
  extruct-all:  the generic route, extruct over JSON-LD + microdata + RDFa, reviews from JSON-LD.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import extruct  # noqa: E402
from parsel import Selector  # noqa: E402
from scrapy.http import HtmlResponse  # noqa: E402

from crawlers.parsers.trustpilot import TrustpilotPage  # noqa: E402


def load_pages(folder: Path | None) -> list[tuple[str, bytes]]:
    """(url, body) for every fixture page."""
    shared = ROOT.parent / "shared" / "fixtures" / "trustpilot"
    if folder is None:
        folder = shared if shared.exists() else ROOT / "tests" / "fixtures" / "trustpilot"
    pages = []
    for path in sorted(folder.glob("*.html")) + sorted(folder.glob("*/input.html")):
        slug = path.stem if path.name != "input.html" else path.parent.name
        company = slug.split("_")[0]
        pages.append((f"https://www.trustpilot.com/review/{company}", path.read_bytes()))
    return pages


def ours(url: str, body: bytes) -> int:
    """Reviewdesk's page object (validated ReviewItems)."""
    response = HtmlResponse(url=url, body=body, encoding="utf-8")
    return len(TrustpilotPage(response).parse().items)


def naive_dom(url: str, body: bytes) -> int:
    """Whole-DOM parse plus json.loads, no validation."""
    sel = Selector(text=body.decode("utf-8", "replace"))
    data = json.loads(sel.css("script#__NEXT_DATA__::text").get() or "{}")
    reviews = data.get("props", {}).get("pageProps", {}).get("reviews", [])
    return len([dict(r) for r in reviews])


def extruct_all(url: str, body: bytes) -> int:
    """extruct over every syntax, reviews from the JSON-LD graph."""
    data = extruct.extract(body.decode("utf-8", "replace"), base_url=url, syntaxes=["json-ld", "microdata", "rdfa"])
    count = 0
    for block in data.get("json-ld", []):
        graph = block.get("@graph", []) if isinstance(block, dict) else []
        count += sum(1 for node in graph if isinstance(node, dict) and node.get("@type") == "Review")
    return count


def measure(fn: Callable[[str, bytes], int], pages: list[tuple[str, bytes]], seconds: float) -> tuple[float, float]:
    """pages/s and reviews/s over repeated passes for about `seconds`."""
    for url, body in pages:  # warm-up
        fn(url, body)
    n_pages = n_reviews = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for url, body in pages:
            n_reviews += fn(url, body)
            n_pages += 1
    elapsed = time.perf_counter() - start
    return n_pages / elapsed, n_reviews / elapsed


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    pages = load_pages(args.pages)
    if not pages:
        raise SystemExit("no fixture pages found")
    size = sum(len(b) for _, b in pages) / len(pages)
    print(f"parser benchmark: {len(pages)} pages, mean {size / 1024:.0f} KiB")
    results = {name: measure(fn, pages, args.seconds)
               for name, fn in (("reviewdesk", ours), ("naive-dom", naive_dom), ("extruct-all", extruct_all))}
    print(f"{'parser':14} {'pages/s':>9} {'reviews/s':>10} {'vs reviewdesk':>14}")
    for name, (pps, rps) in results.items():
        print(f"{name:14} {pps:9.1f} {rps:10.0f} {results['reviewdesk'][0] / pps:13.2f}x")


if __name__ == "__main__":
    main()
