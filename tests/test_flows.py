"""Prefect wiring: prefect.yaml deployments, flow parameters, retry policy, monitor under the test harness."""

from __future__ import annotations

import importlib
import json
import tomllib
import typing
from pathlib import Path

import pytest
import yaml

from flows.common import is_transient, retry_transient
from pipeline.store import StoreBusy

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {
    "monitor-hourly": ("monitor", "0 * * * *"),
    "monitor-full-weekly": ("monitor", "30 3 * * 0"),
    "publish-every-5-minutes": ("publish", "*/5 * * * *"),
    "report-weekly": ("report", "0 8 * * 1"),
}


def _flow_of(entrypoint: str):
    module_path, func = entrypoint.split(":")
    module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
    return getattr(module, func)


def test_prefect_yaml_entrypoints_and_schedules() -> None:
    from prefect.client.schemas.schedules import CronSchedule

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert set(deployments) == set(EXPECTED)
    example = tomllib.loads((ROOT / "reviewdesk" / "example_config.toml").read_text())
    for name, (flow_name, cron) in EXPECTED.items():
        d = deployments[name]
        flow = _flow_of(d["entrypoint"])
        assert flow.name == flow_name
        [schedule] = d["schedules"]
        assert schedule["cron"] == cron
        parsed = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
        # The weekly report is Monday 08:00 in the configured time zone.
        assert parsed.timezone == example["report"]["timezone"]
        assert d["work_pool"]["name"] == "reviewdesk-process"
        # Parameters validate against the flow's pydantic model.
        model = typing.get_args(typing.get_type_hints(flow.fn)["params"])[0]  # XParams | None
        model.model_validate(d["parameters"]["params"])
    env = spec["definitions"]["work_pools"]["process_pool"]["job_variables"]["env"]
    for key, value in env.items():
        if any(word in key for word in ("TOKEN", "PASSWORD", "WEBHOOK", "SECRET")):
            assert value.startswith("{{ prefect.blocks.secret.") and value.endswith("}}"), key


def test_flow_parameters_are_described_models() -> None:
    from flows.analyze import AnalyzeParams
    from flows.collect import CollectParams
    from flows.draft import DraftParams
    from flows.monitor import MonitorParams
    from flows.publish import PublishParams
    from flows.report import ReportParams

    for model in (AnalyzeParams, CollectParams, DraftParams, MonitorParams, PublishParams, ReportParams):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


class _State:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def result(self, raise_on_failure: bool = True) -> None:
        raise self.exc


def test_only_transient_errors_are_retried() -> None:
    from prefect.states import Failed

    assert is_transient(StoreBusy("locked")) and is_transient(ConnectionResetError()) and is_transient(TimeoutError())
    assert not is_transient(ValueError("bad input")) and not is_transient(KeyError("x"))
    assert retry_transient(None, None, _State(StoreBusy("database locked")))
    assert not retry_transient(None, None, _State(ValueError("a bug")))
    # With Prefect's own failed state carrying the exception.
    assert retry_transient(None, None, Failed(data=StoreBusy("locked")))
    assert not retry_transient(None, None, Failed(data=RuntimeError("boom")))


@pytest.mark.slow
def test_monitor_under_the_test_harness(tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.monitor import MonitorParams, monitor
    from pipeline.store import Store
    from reviewdesk.demo import demo_config_text, write_demo_playbooks
    from reviewdesk.demo_site import DemoSite

    data = tmp_path / "data"
    data.mkdir()
    with DemoSite() as site, prefect_test_harness():
        config = data / "demo.toml"
        config.write_text(demo_config_text(site.url, tmp_path / "db.duckdb", data))
        write_demo_playbooks(data)
        first = monitor(MonitorParams(config=config))
        second = monitor(MonitorParams(config=config))
    assert first["status"] == "ok", first["errors"]
    counts = first["counts"]
    assert counts["collect"]["new"] > 100 and counts["analyze"]["analysed"] == counts["collect"]["new"]
    assert counts["draft"]["drafted"] > 20
    assert second["status"] == "ok" and second["counts"]["collect"]["new"] == 0
    assert second["counts"]["analyze"]["analysed"] == 0 and second["counts"]["draft"]["drafted"] == 0
    with Store(tmp_path / "db.duckdb").transaction() as tx:
        runs = tx.flow_runs("monitor")
        assert [r["status"] for r in runs] == ["ok", "ok"]
        assert json.loads(runs[1]["counts"])["draft"]["drafted"] == counts["draft"]["drafted"]
        assert all(r["prefect_run_id"] for r in runs) and all(r["duration_s"] > 0 for r in runs)
        assert tx.count("drafts") == counts["draft"]["drafted"]
        # The demo's shops and school have topic files of their own (no food_drink there); the burger chain
        # keeps the built-in taxonomy. Each gets its own analysis version.
        source_of = {r["id"]: r["source"] for r in tx.reviews_to_analyze("", reanalyze=True)}
        topics: dict[str, set[str]] = {}
        versions: dict[str, set[str]] = {}
        for r in tx.analyses():
            source = source_of[r["review_id"]]
            topics.setdefault(source, set()).update(t["name"] for t in json.loads(r["topics"]))
            versions.setdefault(source, set()).add(r["model_version"])
    assert "food_drink" in topics["burgerking-trustpilot"]
    shops = ("beautytheshop-trustpilot", "djmania-trustpilot", "demo-shop-site", "demo-shop-ios")
    assert not any({"food_drink", "cleanliness_ambience"} & topics.get(s, set()) for s in shops), topics
    assert not {"food_drink", "delivery"} & topics["twenix-trustpilot"]
    assert len({v for s in shops for v in versions[s]}) == 1
    assert len({next(iter(versions[s])) for s in ("burgerking-trustpilot", shops[0], "twenix-trustpilot")}) == 3
