"""Business types shape the taxonomy: only the type's topics can fire (models/taxonomy/types, issue 20 item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from models.topics import BUILTIN_TOPICS, TaxonomyError, business_type_file, business_types, load_taxonomy
from reviewdesk.config import ConfigError, load_config, taxonomy_by_business

# What each built-in type must exclude (the examples: a restaurant has no website_app, a hotel no delivery).
EXCLUDED = {
    "restaurant": {"website_app", "product_quality", "order_returns"},
    "hotel": {"delivery", "website_app", "order_returns", "product_quality"},
    "shop": {"food_drink", "cleanliness_ambience"},
    "app": {"delivery", "food_drink", "cleanliness_ambience", "waiting_time"},
    "local_service": {"delivery", "food_drink", "website_app", "order_returns"},
}


def test_the_five_types_exist_and_narrow_the_builtin_topics() -> None:
    assert set(business_types()) == set(EXCLUDED)
    for name, excluded in EXCLUDED.items():
        names = set(load_taxonomy([business_type_file(name)]).names)
        assert names and names <= set(BUILTIN_TOPICS) and not names & excluded, name


def test_own_topics_and_switching_one_back_on_survive_the_type(tmp_path: Path) -> None:
    own = tmp_path / "own.yaml"
    own.write_text("topics:\n  website_app: {enabled: true}\n  parking:\n    description: Parking at the restaurant.\n"
                   "    examples: {en: [Nowhere to park near the restaurant.]}\n", encoding="utf-8")
    restaurant = business_type_file("restaurant")
    # The type file narrows the built-ins wherever it is listed: a business's own topics are never switched off.
    for order in ([restaurant, own], [own, restaurant]):
        names = load_taxonomy(order).names
        assert {"website_app", "parking", "food_drink"} <= set(names) and "order_returns" not in names


def test_bad_types_are_named(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="unknown business type 'bakery'"):
        business_type_file("bakery")
    plain = tmp_path / "plain.yaml"
    plain.write_text("topics: {}\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="needs a 'type' block"):
        business_type_file(plain)
    typo = tmp_path / "vet.yaml"
    typo.write_text("type: {name: vet, description: Vet clinic, topics: [staff_attitude, waiting_tme]}\n",
                    encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"type\.topics: unknown topic.*waiting_tme"):
        load_taxonomy([typo])
    with pytest.raises(TaxonomyError, match="a business has one type"):
        load_taxonomy([business_type_file("hotel"), business_type_file("shop")])


def test_a_type_of_ones_own_in_yaml(tmp_path: Path) -> None:
    vet = tmp_path / "vet.yaml"
    vet.write_text("type:\n  name: vet\n  description: Veterinary clinic\n  topics: [staff_attitude, waiting_time, "
                   "price_billing, animal_care]\ntopics:\n  animal_care:\n    description: How the animals were "
                   "treated.\n    examples: {en: [They handled my dog roughly.]}\n", encoding="utf-8")
    assert business_type_file("vet.yaml", tmp_path) == vet
    assert set(load_taxonomy([vet]).names) == {"staff_attitude", "waiting_time", "price_billing", "animal_care"}


CONFIG = """
[[businesses]]
id = "bistro"
name = "Bistro"
type = "{kind}"
  [[businesses.sources]]
  name = "bistro-tp"
  platform = "trustpilot"
  url = "https://www.trustpilot.com/review/bistro.example"
"""


def test_config_type_comes_first_and_bad_type_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "reviewdesk.toml"
    path.write_text(CONFIG.format(kind="hotel"), encoding="utf-8")
    files = taxonomy_by_business(load_config(path), path)
    assert files["bistro"] == (str(business_type_file("hotel").resolve()),)
    path.write_text(CONFIG.format(kind="bakery"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"businesses\[0\]\.type: unknown business type 'bakery'"):
        taxonomy_by_business(load_config(path), path)
    out = run_cli("topics", "--config", str(path), cwd=tmp_path)
    assert out.returncode == 2 and "businesses[0].type" in out.stderr and "Traceback" not in out.stderr


def test_topics_command_shows_the_type(tmp_path: Path) -> None:
    path = tmp_path / "reviewdesk.toml"
    path.write_text(CONFIG.format(kind="restaurant"), encoding="utf-8")
    out = run_cli("topics", "--json", "--config", str(path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    topics = {json.loads(line)["topic"] for line in out.stdout.splitlines()}
    assert "food_drink" in topics and not topics & EXCLUDED["restaurant"]


def test_init_writes_the_type_asked_for(tmp_path: Path) -> None:
    out = run_cli("init", str(tmp_path / "r.toml"), "--type", "hotel", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    config = load_config(tmp_path / "r.toml")
    assert [b.type for b in config.businesses] == ["hotel", "shop"]  # yours, then the competitor of the example
    from responses.playbook import load_playbook

    playbook = load_playbook(tmp_path / "playbook.yaml")  # the hotel's own playbook: guests have bookings
    assert playbook.type == "hotel" and playbook.ask_for == "booking"
    bad = run_cli("init", str(tmp_path / "s.toml"), "--type", "bakery", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown business type" in bad.stderr and not (tmp_path / "s.toml").exists()


@pytest.mark.slow
def test_a_type_keeps_foreign_topics_out_of_real_analyses(tmp_path: Path) -> None:
    """Through the real Analyzer and `reviewdesk classify --type`: a hotel's shuttle is no delivery complaint and a
    restaurant's ordering page no website one, while the complaint itself is still found."""
    from models.analyze import Analyzer, ReviewInput

    rows = [("shuttle", "Breakfast was delivered to the room an hour late and cold.", "hotel", "delivery"),
            ("page", "Their online ordering page kept crashing so we called instead, and the calamari apps were "
                     "rubbery.", "restaurant", "website_app")]
    analyzer = Analyzer.load()
    for rid, text, kind, foreign in rows:
        untyped, typed = analyzer.analyze([ReviewInput(rid, text, language="en"),
                                           ReviewInput(rid, text, language="en", business_type=kind)])
        assert foreign in {t["name"] for t in untyped.topics}  # what the type is there to stop
        assert foreign not in {t["name"] for t in typed.topics} and typed.topics, (rid, typed.topics)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "s", "text": rows[0][1], "language": "en"}) + "\n", encoding="utf-8")
    out = run_cli("classify", str(src), "-o", str(tmp_path / "out.jsonl"), "--type", "hotel", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    line = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    assert "delivery" not in {t["name"] for t in line["topics"]} and line["confidence"] is not None
    bad = run_cli("classify", str(src), "-o", str(tmp_path / "x.jsonl"), "--type", "bakery", cwd=tmp_path)
    assert bad.returncode == 2 and "--type" in bad.stderr and "Traceback" not in bad.stderr
