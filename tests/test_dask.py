"""The analyze flow's batches on a real Dask LocalCluster (two worker processes) give the same analyses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import review, write_feed

from pipeline.ingest import ingest_feed, register_sources
from pipeline.store import Store
from reviewdesk.config import load_config

pytestmark = pytest.mark.slow

TEXTS = [
    "The parcel arrived two weeks late and the box was crushed.",
    "Lovely staff and delicious food, we will be back!",
    "I was charged twice and nobody answers my emails.",
    "Доставка опоздала на неделю.",
    "Jedzenie było zimne i niesmaczne.",
    "I will take you to court over this scam.",
]


def test_analyze_on_a_local_dask_cluster(tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.analyze import AnalyzeParams, analyze, analyze_with_dask

    config = tmp_path / "reviewdesk.toml"
    config.write_text(
        f'[settings]\ndatabase = "{tmp_path / "rd.duckdb"}"\n\n[[businesses]]\nid = "acme"\nname = "Acme"\n'
        '  [[businesses.sources]]\n  name = "acme-tp"\n  platform = "trustpilot"\n'
        '  url = "https://www.trustpilot.com/review/acme.example"\n'
    )
    for db in ("rd.duckdb", "ref.duckdb"):
        store = Store(tmp_path / db)
        register_sources(store, load_config(config))
        items = [review(i, text=t, title=None) for i, t in enumerate(TEXTS * 3)]
        ingest_feed(store, "acme-tp", write_feed(tmp_path / f"{db}.jsonl", items))
    with prefect_test_harness():
        on_dask = analyze_with_dask(AnalyzeParams(config=config, batch_size=4, dask_workers=2))
        ref_config = tmp_path / "ref.toml"
        ref_config.write_text(config.read_text().replace("rd.duckdb", "ref.duckdb"))
        plain = analyze(AnalyzeParams(config=ref_config, batch_size=4))
    assert on_dask["analysed"] == plain["analysed"] == len(TEXTS) * 3

    def results(db: str) -> list[tuple]:
        with Store(tmp_path / db).transaction() as tx:
            rows = tx._rows("""SELECT r.external_id, a.sentiment, a.topics, a.severity, a.model_version
                               FROM analyses a JOIN reviews r ON r.id = a.review_id ORDER BY r.external_id""")
        return [(r["external_id"], r["sentiment"], [t["name"] for t in json.loads(r["topics"])],
                 sorted({h["flag"] for h in json.loads(r["severity"])}), r["model_version"]) for r in rows]

    assert results("rd.duckdb") == results("ref.duckdb")
    with Store(tmp_path / "rd.duckdb").transaction() as tx:
        [run] = tx.flow_runs("analyze")
        assert run["status"] == "ok" and json.loads(run["params"])["dask_workers"] == 2
