"""Prefect wiring: prefect.yaml entrypoints import, schedules parse, collect runs on the demo site."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_prefect_yaml_entrypoints_and_schedules() -> None:
    from prefect.client.schemas.schedules import CronSchedule

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert spec["deployments"]
    for deployment in spec["deployments"]:
        module_path, func = deployment["entrypoint"].split(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, func)
        assert flow.name == "collect"
        for schedule in deployment["schedules"]:
            CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
        assert deployment["work_pool"]["name"] == "reviewdesk-process"


@pytest.mark.slow
def test_collect_flow_on_demo_site(tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.collect import CollectParams, collect
    from pipeline.store import Store
    from reviewdesk.demo import demo_config_text
    from reviewdesk.demo_site import DemoSite

    with DemoSite() as site, prefect_test_harness():
        config = tmp_path / "demo.toml"
        config.write_text(demo_config_text(site.url, tmp_path / "db.duckdb", tmp_path / "data"))
        first = collect(CollectParams(config=config, sources=["djmania-trustpilot", "twenix-trustpilot"]))
        second = collect(CollectParams(config=config, sources=["djmania-trustpilot"]))
    assert first["djmania-trustpilot"]["status"] == "ok" and first["djmania-trustpilot"]["new"] > 0
    assert first["twenix-trustpilot"]["new"] > 0
    assert second["djmania-trustpilot"]["new"] == 0 and second["djmania-trustpilot"]["updated"] == 0
    with Store(tmp_path / "db.duckdb").transaction() as tx:
        total = first["djmania-trustpilot"]["new"] + first["twenix-trustpilot"]["new"]
        assert tx.count("reviews") == total
