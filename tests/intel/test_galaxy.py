"""MISP galaxy threat actors as STIX, linked to the real ATT&CK Enterprise bundle."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pymispgalaxies
import pytest
from stix2validator import ValidationOptions, validate_instance  # type: ignore[import-untyped]

from crownwatch.intel import galaxy
from crownwatch.intel.stixobj import external_id, name_key

ATTACK = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "attack"
CLUSTERS = Path(pymispgalaxies.__file__ or "").parent / "data" / "misp-galaxy" / "clusters"


@pytest.fixture(scope="module")
def attack() -> list[dict[str, Any]]:
    path = ATTACK / "enterprise-attack-18.1.json.gz"
    if not path.exists():
        pytest.skip(f"ATT&CK bundle not found at {path}")
    return list(orjson.loads(gzip.decompress(path.read_bytes()))["objects"])


@pytest.fixture(scope="module")
def objects(attack: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return galaxy.actors(attack)


@pytest.fixture(scope="module")
def raw_actors() -> list[dict[str, Any]]:
    """The galaxy's threat actors as the JSON file has them (read independently)."""
    return list(json.loads((CLUSTERS / "threat-actor.json").read_text())["values"])


def _groups(attack: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Name key → ATT&CK ids of the live groups with that name or alias."""
    index: dict[str, set[str]] = {}
    for obj in attack:
        if obj["type"] != "intrusion-set" or obj.get("revoked") or obj.get("x_mitre_deprecated"):
            continue
        for name in [obj["name"], *obj.get("aliases", [])]:
            index.setdefault(name_key(name), set()).add(external_id(obj) or "")
    return index


def _by_name(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["type"] == "intrusion-set" and o["name"] == name]
    return found


def _note_on(objects: list[dict[str, Any]], actor: dict[str, Any]) -> dict[str, Any]:
    (note,) = [o for o in objects if o["type"] == "note" and o["object_refs"][0] == actor["id"]]
    return note


def _links_from(objects: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o["type"] == "relationship"
        and o["relationship_type"] == "related-to"
        and o["source_ref"] == source
    ]


def test_apt41_links_to_g0096_and_says_china(
    objects: list[dict[str, Any]], attack: list[dict[str, Any]]
) -> None:
    g0096 = next(o for o in attack if o["type"] == "intrusion-set" and external_id(o) == "G0096")
    apt41 = _by_name(objects, "APT41")
    assert apt41["x_crownwatch_attack_id"] == "G0096"
    assert apt41["x_crownwatch_attack_ref"] == g0096["id"]
    assert apt41["x_crownwatch_country"] == "CN"
    assert apt41["x_crownwatch_state_sponsor"] == "China"
    assert apt41["x_misp_galaxy_uuid"] == "9c124874-042d-48cd-b72b-ccdc51ecbbd6"
    assert {"WICKED PANDA", "BARIUM", "Brass Typhoon"} <= set(apt41["aliases"])
    assert [r["target_ref"] for r in _links_from(objects, apt41["id"])] == [g0096["id"]]
    by_id = {o["id"]: o for o in objects}
    origins = [
        by_id[o["target_ref"]]
        for o in objects
        if o["type"] == "relationship"
        and o["relationship_type"] == "originates-from"
        and o["source_ref"] == apt41["id"]
    ]
    assert [(o["type"], o["country"], o["name"]) for o in origins] == [("location", "CN", "China")]
    (note,) = [o for o in objects if o["type"] == "note" and apt41["id"] in o["object_refs"]]
    assert note["object_refs"] == [apt41["id"], g0096["id"]]
    # its synonym Blackfly is also an alias of G0044 Winnti Group: said, never merged
    assert "Blackfly → G0044 (Winnti Group)" in note["content"]


def test_apt41_sectors_and_victims(objects: list[dict[str, Any]]) -> None:
    apt41 = _by_name(objects, "APT41")
    sectors = apt41["x_crownwatch_target_sectors"]
    # CFR categories mapped to the sector galaxy's names
    assert {"Health", "Pharmacy", "Telecoms", "Finance", "High tech", "Automotive"} <= set(sectors)
    assert "Healthcare" not in sectors and "Pharmaceuticals" not in sectors
    assert {"United States of America", "Japan", "India", "South Korea"} <= set(
        apt41["x_crownwatch_victims"]
    )
    by_id = {o["id"]: o for o in objects}
    targets = [
        by_id[o["target_ref"]]
        for o in objects
        if o["type"] == "relationship"
        and o["relationship_type"] == "targets"
        and o["source_ref"] == apt41["id"]
    ]
    assert {"type": "identity", "name": "Pharmacy", "identity_class": "class"}.items() <= next(
        t for t in targets if t.get("name") == "Pharmacy"
    ).items()
    assert {t["country"] for t in targets if t["type"] == "location"} >= {"US", "JP", "IN", "KR"}


def test_ambiguous_alias_is_noted_not_merged(
    objects: list[dict[str, Any]], attack: list[dict[str, Any]], raw_actors: list[dict[str, Any]]
) -> None:
    groups = _groups(attack)
    ambiguous = [a["value"] for a in raw_actors if len(groups.get(name_key(a["value"]), ())) > 1]
    assert ambiguous, "the data should hold at least one galaxy name shared by two ATT&CK groups"
    attack_ids = {external_id(o): o["id"] for o in attack if o["type"] == "intrusion-set"}
    for name in ambiguous:
        actor = _by_name(objects, name)
        assert "x_crownwatch_attack_ref" not in actor
        assert _links_from(objects, actor["id"]) == []
        shared = sorted(groups[name_key(name)])
        (note,) = [o for o in objects if o["type"] == "note" and o["object_refs"][0] == actor["id"]]
        assert note["content"].startswith(
            f"ambiguous alias {name} shared by {' and '.join(shared)}"
        )
        assert note["object_refs"][1:] == sorted(attack_ids[g] for g in shared)


def test_two_galaxy_actors_for_one_group_keep_both_and_link_the_primary_name(
    objects: list[dict[str, Any]], attack: list[dict[str, Any]], raw_actors: list[dict[str, Any]]
) -> None:
    groups = _groups(attack)
    names = {
        external_id(o): name_key(o["name"])
        for o in attack
        if o["type"] == "intrusion-set" and not o.get("revoked")
    }
    claimants: dict[str, list[str]] = {}
    for actor in raw_actors:
        found = groups.get(name_key(actor["value"]), set())
        if len(found) == 1:
            claimants.setdefault(next(iter(found)), []).append(actor["value"])
    cases = {
        g: c
        for g, c in claimants.items()
        if len(c) > 1 and sum(name_key(n) == names[g] for n in c) == 1
    }
    assert "G0016" in cases  # APT29, and UNC2452 / UNC3524 that ATT&CK folds into it
    for attack_id, galaxy_names in cases.items():
        (winner,) = [n for n in galaxy_names if name_key(n) == names[attack_id]]
        winner_obj = _by_name(objects, winner)
        assert winner_obj["x_crownwatch_attack_id"] == attack_id
        for other in set(galaxy_names) - {winner}:
            loser = _by_name(objects, other)
            assert "x_crownwatch_attack_ref" not in loser
            assert _links_from(objects, loser["id"]) == []
            (note,) = [
                o for o in objects if o["type"] == "note" and o["object_refs"][0] == loser["id"]
            ]
            assert note["object_refs"][2] == winner_obj["id"]
            assert f"{winner!r} is linked to it instead" in note["content"]


def test_countries_follow_the_galaxy(
    objects: list[dict[str, Any]], raw_actors: list[dict[str, Any]]
) -> None:
    with_country = {
        a["uuid"]: a["meta"]["country"]
        for a in raw_actors
        if len(str((a.get("meta") or {}).get("country", ""))) == 2
    }
    actors = {o["x_misp_galaxy_uuid"]: o for o in objects if o["type"] == "intrusion-set"}
    assert len(actors) == len(raw_actors) == 864
    assert len(with_country) == 402
    assert all(actors[n].get("x_crownwatch_country") == c for n, c in with_country.items())
    # the others get a country only from a resolvable state sponsor
    from_sponsor = [
        o for n, o in actors.items() if n not in with_country and "x_crownwatch_country" in o
    ]
    assert all(o["x_crownwatch_state_sponsor"] for o in from_sponsor)
    assert sum("x_crownwatch_country" in o for o in actors.values()) == 402 + len(from_sponsor)


def test_same_output_twice_and_unique_ids(
    objects: list[dict[str, Any]], attack: list[dict[str, Any]]
) -> None:
    again = galaxy.actors(attack)
    assert orjson.dumps(again) == orjson.dumps(objects)
    assert len({o["id"] for o in objects}) == len(objects)
    refs = {o["id"] for o in objects} | {o["id"] for o in attack}
    for rel in (o for o in objects if o["type"] == "relationship"):
        assert rel["source_ref"] in refs and rel["target_ref"] in refs


def test_actor_ids_meet_misp_tag_stubs() -> None:
    assert galaxy.actor_id("APT 41") == galaxy.actor_id("apt41")
    assert galaxy.actor_id("APT41").startswith("intrusion-set--")
    assert galaxy.actor_id("APT41") != galaxy.actor_id("APT40")


def test_objects_are_valid_stix(objects: list[dict[str, Any]]) -> None:
    apt41 = _by_name(objects, "APT41")
    around = [o for o in objects if apt41["id"] in (o.get("source_ref"), *o.get("object_refs", []))]
    targets = {o.get("target_ref") for o in around}
    sample = [apt41, *around, *(o for o in objects if o["id"] in targets)]
    assert {o["type"] for o in sample} == {
        "intrusion-set",
        "relationship",
        "note",
        "location",
        "identity",
    }
    for obj in sample:
        result = validate_instance(obj, ValidationOptions(version="2.1"))
        assert result.errors == [], (obj["id"], [str(e) for e in result.errors])
