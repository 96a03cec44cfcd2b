"""The main job on the embedded default: the bundled demo site, a DuckDB file, one crawl."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reviewdesk.config import load_config

# What kind of business each demo business is (models/taxonomy/types): only the type's topics can fire, so a shop's
# reviews never get a food complaint and the burger restaurant's never a website one.
DEMO_TYPES = {
    "beautytheshop": "shop",
    "djmania": "shop",
    "demo-shop": "shop",
    "twenix": "local_service",
    "burgerking": "restaurant",
}
# Topic files of the demo businesses (written next to the config by write_demo_playbooks): the online school has no
# premises and adds a topic of its own.
DEMO_TAXONOMIES = {"twenix": "topics-online-school.yaml"}
SCHOOL_TOPICS = {"topics": {
    "cleanliness_ambience": {"enabled": False},
    "lessons": {
        "description": "Lessons and teachers: how classes are taught, the teachers' skill, course materials, "
                       "booking and moving classes.",
        "examples": {
            "en": ["The teacher was unprepared and the lesson was boring.",
                   "The course materials are full of mistakes.",
                   "I could not move my class to another day."],
            "es": ["La profesora no preparó la clase y fue aburrida.",
                   "Los materiales del curso tienen muchos errores.",
                   "No pude cambiar mi clase a otro día."],
        },
    },
}}

# The demo site's companies: one is "ours", the others are competitors we watch.
DEMO_COMPANIES = (
    ("beautytheshop", "BeautyTheShop", "own", "beautytheshop.com", "es"),
    ("twenix", "Twenix", "own", "twenix.es", "en"),
    ("djmania", "DJMania", "competitor", "djmania.es", "es"),
    ("burgerking", "Burger King Norway", "competitor", "burgerking.no", "no"),
)


def demo_config_text(site_url: str, db: Path, data_dir: Path) -> str:
    """A config file for the demo site (TOML; strings written as JSON, which TOML accepts)."""
    q = json.dumps
    lines = [
        "# Written by `reviewdesk demo`: the bundled demo site on 127.0.0.1.",
        "[settings]",
        f"database = {q(str(db))}",
        f"data_dir = {q(str(data_dir))}",
        "crawl_concurrency = 2",
        "download_delay_s = 0.0",
        "autothrottle = false",
        "",
    ]
    for business_id, name, role, slug, language in DEMO_COMPANIES:
        lines += [
            "[[businesses]]",
            f"id = {q(business_id)}",
            f"name = {q(name)}",
            f"role = {q(role)}",
            f"type = {q(DEMO_TYPES[business_id])}",
            *([f"playbook = {q(f'playbook-{business_id}.yaml')}"] if role == "own" else []),
            *([f"taxonomy = [{q(DEMO_TAXONOMIES[business_id])}]"] if business_id in DEMO_TAXONOMIES else []),
            "  [[businesses.sources]]",
            f"  name = {q(business_id + '-trustpilot')}",
            '  platform = "trustpilot"',
            f"  url = {q(f'{site_url}/review/{slug}')}",
            f"  language = {q(language)}",
            "",
        ]
    lines += [
        "# The same demo host also serves a shop with schema.org review markup and an App Store feed.",
        "[[businesses]]",
        'id = "demo-shop"',
        'name = "Demo Beauty Shop"',
        'role = "own"',
        f"type = {q(DEMO_TYPES['demo-shop'])}",
        'playbook = "playbook-demo-shop.yaml"',
        "  [[businesses.sources]]",
        '  name = "demo-shop-site"',
        '  platform = "schema_org"',
        f"  sitemap = {q(f'{site_url}/shop/sitemap.xml')}",
        '  sitemap_filter = "/shop/p/"',
        "  [[businesses.sources]]",
        '  name = "demo-shop-ios"',
        '  platform = "appstore"',
        '  app_id = "1499999999"',
        '  country = "es"',
        f"  feed_base = {q(site_url + '/appstore')}",
        "",
    ]
    return "\n".join(lines)


SIGNATURES = {
    "en": "Customer Care, {n}",
    "es": "Atención al cliente de {n}",
    "de": "Kundenservice {n}",
    "fr": "Service client {n}",
    "ru": "Служба поддержки {n}",
    "uk": "Служба підтримки {n}",
    "pl": "Obsługa klienta {n}",
    "hu": "{n} ügyfélszolgálat",
    "he": "שירות הלקוחות של {n}",
    "hy": "{n} հաճախորդների սպասարկում",
}


def write_demo_playbooks(data_dir: Path) -> list[Path]:
    """One reply playbook per own demo business (its type's bundled playbook, renamed) and the businesses' topic
    files, next to the demo config."""
    from responses.playbook import type_playbook

    own = [(b, n) for b, n, role, *_ in DEMO_COMPANIES if role == "own"] + [("demo-shop", "Demo Beauty Shop")]
    paths = []
    for business_id, name in own:
        base = yaml.safe_load(type_playbook(DEMO_TYPES[business_id]).read_text(encoding="utf-8"))
        book = {
            **base,
            "business": name,
            "signature": {k: v.format(n=name) for k, v in SIGNATURES.items()},
            "contact": {"email": f"care@{business_id}.example", "preferred": "email"},
        }
        path = data_dir / f"playbook-{business_id}.yaml"
        path.write_text(
            f"# Reply playbook of the demo business {name} (written by `reviewdesk demo`).\n"
            + yaml.safe_dump(book, allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
        paths.append(path)
    for name, topics in (("topics-online-school.yaml", SCHOOL_TOPICS),):
        path = data_dir / name
        header = "# Topics of demo businesses, merged over the built-in taxonomy (written by `reviewdesk demo`).\n"
        path.write_text(header + yaml.safe_dump(topics, allow_unicode=True, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


@dataclass
class DemoResult:
    """What the demo's monitor run did."""

    summary: dict[str, Any]


def run_demo(db: Path, data_dir: Path) -> DemoResult:
    """Serve the demo site, write its config under data_dir, run the monitor flow on it into db."""
    from flows.monitor import MonitorParams, monitor
    from reviewdesk.demo_site import DemoSite

    data_dir.mkdir(parents=True, exist_ok=True)
    with DemoSite() as site:
        path = data_dir / "demo.toml"
        path.write_text(demo_config_text(site.url, db, data_dir), encoding="utf-8")
        write_demo_playbooks(data_dir)
        load_config(path)  # a broken demo config is a bug: fail here with the config error, not in the flow
        summary = monitor(MonitorParams(config=path))
        return DemoResult(summary)
