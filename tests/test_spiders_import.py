"""Every spider module imports, and file name, spider name and class name agree."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from scrapy.spiderloader import SpiderLoader
from scrapy.utils.project import get_project_settings

import crawlers.spiders
from crawlers.spiders.base import ReviewSpider

MODULES = sorted(info.name for info in pkgutil.iter_modules(crawlers.spiders.__path__) if info.name not in ("base",))
EXPECTED = {"trustpilot": "TrustpilotSpider", "schema_org": "SchemaOrgSpider", "appstore": "AppstoreSpider"}


def class_name_for(module: str) -> str:
    """``schema_org`` -> ``SchemaOrgSpider``."""
    return "".join(part.capitalize() for part in module.split("_")) + "Spider"


def test_expected_spiders_exist() -> None:
    assert set(EXPECTED) <= set(MODULES)
    assert all(class_name_for(module) == name for module, name in EXPECTED.items())


@pytest.mark.parametrize("module_name", MODULES)
def test_spider_module_naming(module_name: str) -> None:
    module = importlib.import_module(f"crawlers.spiders.{module_name}")
    spiders = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, ReviewSpider) and obj.__module__ == module.__name__
    ]
    assert [spider.__name__ for spider in spiders] == [class_name_for(module_name)]
    spider = spiders[0]
    assert spider.name == module_name
    assert spider.platform, f"{spider.__name__} must set platform"
    assert spider.__doc__, f"{spider.__name__} needs a docstring"


def test_scrapy_finds_every_spider_once() -> None:
    loader = SpiderLoader.from_settings(get_project_settings())
    assert set(EXPECTED) <= set(loader.list())
    assert len(loader.list()) == len(set(loader.list()))
