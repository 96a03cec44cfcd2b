"""Config validation through the real CLI: one message naming file, key and expectation; exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from reviewdesk.config import ConfigError, load_config

VALID = """
[settings]
database = "db.duckdb"

[[businesses]]
id = "acme"
name = "Acme"

  [[businesses.sources]]
  name = "acme-tp"
  platform = "trustpilot"
  url = "https://www.trustpilot.com/review/acme.example"
"""


@pytest.mark.parametrize(
    ("text", "key", "expectation"),
    [
        (
            VALID.replace('url = "https://www.trustpilot.com/review/acme.example"', 'url = "acme.example"'),
            "businesses[0].sources[0].url",
            "expected an http:// or https:// URL, got 'acme.example'",
        ),
        (
            VALID.replace('platform = "trustpilot"', 'platform = "yelp"'),
            "businesses[0].sources[0].platform",
            "one of trustpilot, schema_org, appstore, import",
        ),
        (
            VALID.replace('database = "db.duckdb"', 'database = "db.duckdb"\ncrawl_concurency = 4'),
            "settings.crawl_concurency",
            "unknown key",
        ),
        (VALID.replace('name = "acme-tp"', 'name = "Acme TP"'), "businesses[0].sources[0].name", "lower-case letters"),
        (VALID + "\n  max_pages = 0\n", "businesses[0].sources[0].max_pages", "greater than or equal to 1"),
        ('[settings]\ndatabase = "x"\n', "businesses", "required key is missing"),
        (VALID.replace('name = "Acme"\n', ""), "businesses[0].name", "required key is missing"),
    ],
)
def test_invalid_config_names_file_key_and_expectation(tmp_path: Path, text: str, key: str, expectation: str) -> None:
    path = tmp_path / "reviewdesk.toml"
    path.write_text(text)
    result = run_cli("status", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    message = " ".join(result.stderr.split())
    assert str(path) in message or "reviewdesk.toml" in message
    assert key in message and expectation in message


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "reviewdesk.toml"
    path.write_text('[settings\ndatabase = "x"\n')
    result = run_cli("crawl", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2 and "not valid TOML" in result.stderr and "Traceback" not in result.stderr


def test_missing_config_points_to_init(tmp_path: Path) -> None:
    result = run_cli("status", cwd=tmp_path)
    assert result.returncode == 2 and "reviewdesk init" in result.stderr


def test_init_writes_a_valid_commented_example(tmp_path: Path) -> None:
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "reviewdesk.toml"
    text = written.read_text()
    assert text.count("#") > 20
    config = load_config(written)
    assert {s.platform for _, s in config.all_sources()} == {"trustpilot", "schema_org", "appstore", "import"}
    assert {b.role for b in config.businesses} == {"own", "competitor"}
    from responses.playbook import load_playbook

    playbook = tmp_path / "playbook.yaml"
    assert config.businesses[0].playbook == Path("playbook.yaml") and load_playbook(playbook).solutions
    assert playbook.read_text().count("#") > 10
    again = run_cli("init", cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_duplicate_source_names_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        VALID
        + VALID.split("[[businesses]]")[1]
        .replace('id = "acme"', 'id = "acme2"')
        .replace("\nid", "[[businesses]]\nid", 1)
    )
    with pytest.raises(ConfigError, match="source name 'acme-tp' is used twice"):
        load_config(path)


def test_status_on_valid_config_with_fresh_database(tmp_path: Path) -> None:
    path = tmp_path / "reviewdesk.toml"
    path.write_text(VALID)
    result = run_cli("status", "--json", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"source": "acme-tp"' in result.stdout and '"healthy": null' in result.stdout
    assert (tmp_path / "db.duckdb").exists()


TWO_BUSINESSES = """
[settings]
database = "db.duckdb"
taxonomy = ["shared.yaml"]

[[businesses]]
id = "bistro"
name = "Bistro"
  [[businesses.sources]]
  name = "bistro-tp"
  platform = "trustpilot"
  url = "https://www.trustpilot.com/review/bistro.example"

[[businesses]]
id = "shop"
name = "Shop"
taxonomy = ["topics/shop.yaml"]
  [[businesses.sources]]
  name = "shop-tp"
  platform = "trustpilot"
  url = "https://www.trustpilot.com/review/shop.example"
"""
SHARED = ("topics:\n  parking:\n    description: Parking problems.\n"
          "    examples:\n      en: [There was nowhere to park.]\n")
SHOP = "topics:\n  food_drink:\n    enabled: false\n"


def _two_businesses(tmp_path: Path, shop: str = SHOP, shared: str | None = SHARED) -> Path:
    (tmp_path / "topics").mkdir(exist_ok=True)
    (tmp_path / "topics" / "shop.yaml").write_text(shop, encoding="utf-8")
    if shared is not None:
        (tmp_path / "shared.yaml").write_text(shared, encoding="utf-8")
    path = tmp_path / "reviewdesk.toml"
    path.write_text(TWO_BUSINESSES, encoding="utf-8")
    return path


def test_topic_files_per_source(tmp_path: Path) -> None:
    from models.topics import load_taxonomy
    from reviewdesk.config import taxonomy_by_source

    path = _two_businesses(tmp_path)
    files = taxonomy_by_source(load_config(path), path)
    shared = str((tmp_path / "shared.yaml").resolve())
    assert files == {"bistro-tp": (shared,), "shop-tp": (shared, str((tmp_path / "topics" / "shop.yaml").resolve()))}
    assert {"parking", "food_drink"} <= set(load_taxonomy(files["bistro-tp"]).names)
    shop = load_taxonomy(files["shop-tp"]).names
    assert "parking" in shop and "food_drink" not in shop


def test_unreadable_topic_files_name_config_key(tmp_path: Path) -> None:
    from reviewdesk.config import taxonomy_by_source

    path = _two_businesses(tmp_path)
    (tmp_path / "topics" / "shop.yaml").write_bytes(b"\xff\xfe\x00topics")
    with pytest.raises(ConfigError, match=r"businesses\[1\]\.taxonomy\[0\]: .*expected a UTF-8 text file"):
        taxonomy_by_source(load_config(path), path)
    (tmp_path / "topics" / "shop.yaml").unlink()
    (tmp_path / "topics" / "shop.yaml").mkdir()
    with pytest.raises(ConfigError, match=r"businesses\[1\]\.taxonomy\[0\]: .*cannot read"):
        taxonomy_by_source(load_config(path), path)


@pytest.mark.parametrize(("shop", "shared", "key", "expectation"), [
    (SHOP, None, "settings.taxonomy[0]", "shared.yaml"),
    ("topics:\n  delivery: [oops]\n", SHARED, "businesses[1].taxonomy[0]", "topics.delivery"),
    ("topics:\n  returns_desk:\n    description: The returns desk.\n", SHARED, "businesses[1].taxonomy[0]",
     "topics.returns_desk.examples"),
])
def test_bad_topic_file_names_config_key(tmp_path: Path, shop: str, shared: str | None, key: str,
                                         expectation: str) -> None:
    from reviewdesk.config import taxonomy_by_source

    path = _two_businesses(tmp_path, shop, shared)
    with pytest.raises(ConfigError) as info:
        taxonomy_by_source(load_config(path), path)
    assert f"{path}: {key}: " in str(info.value) and expectation in str(info.value)


def test_topics_command_lists_each_business_topics(tmp_path: Path) -> None:
    path = _two_businesses(tmp_path)
    out = run_cli("topics", "--json", "--config", str(path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    by_business: dict[str, dict[str, str]] = {}
    for row in rows:
        by_business.setdefault(row["business"], {})[row["topic"]] = row["state"]
    assert by_business["bistro"]["food_drink"] == "built-in" and by_business["bistro"]["parking"] == "own"
    assert "food_drink" not in by_business["shop"] and by_business["shop"]["parking"] == "own"
    table = run_cli("topics", "--business", "shop", "--config", str(path), cwd=tmp_path)
    assert table.returncode == 0 and "turned off: food_drink" in table.stdout and "bistro" not in table.stdout
    missing = run_cli("topics", "--business", "nope", "--config", str(path), cwd=tmp_path)
    assert missing.returncode == 2 and "no business 'nope'" in missing.stderr and "Traceback" not in missing.stderr
