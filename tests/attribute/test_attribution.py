"""Attribution: evidence weights, confidence rules, probabilities, the CLI, real ATT&CK."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import CW
from crownwatch import config
from crownwatch.attribute import engine, profiles
from crownwatch.intel import attack, kb
from crownwatch.store import Store

NS = uuid.UUID("0b7c9c1e-2f55-4f61-9a7e-2c1f1d4f0a11")
TIME = "2024-01-01T00:00:00.000Z"
COMMON = ["T1059", "T1105", "T1082", "T1083", "T1027"]


def _id(kind: str, key: str) -> str:
    return f"{kind}--{uuid.uuid5(NS, key)}"


def _obj(kind: str, key: str, **props: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": _id(kind, key),
        "created": TIME,
        "modified": TIME,
        **props,
    }


def _catalogued(kind: str, ext: str, name: str) -> dict[str, Any]:
    refs = [{"source_name": "mitre-attack", "external_id": ext}]
    return _obj(kind, ext, name=name, external_references=refs)


def _uses(src: dict[str, Any], dst: dict[str, Any], report: str) -> dict[str, Any]:
    return _obj(
        "relationship",
        f"{src['id']}>{dst['id']}>{report}",
        relationship_type="uses",
        source_ref=src["id"],
        target_ref=dst["id"],
        external_references=[{"source_name": report, "description": "(2023, May 1)."}],
    )


def world(groups: dict[str, list[str]], extra: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:  # type: ignore[assignment]
    """Groups G… using techniques T… and software S…, one report per group and item."""
    objects: list[dict[str, Any]] = list(extra)
    items: dict[str, dict[str, Any]] = {}
    for i, (name, used) in enumerate(groups.items()):
        group = _catalogued("intrusion-set", f"G9{i:03d}", name)
        objects.append(group)
        for ext in used:
            if ext not in items:
                kind = "attack-pattern" if ext.startswith("T") else "malware"
                items[ext] = _catalogued(kind, ext, f"thing {ext}")
                objects.append(items[ext])
            objects.append(_uses(group, items[ext], f"{name} report"))
    return objects


def _filler() -> dict[str, list[str]]:
    """Groups that make COMMON common."""
    return {f"Filler{i}": [*COMMON, f"T15{i:02d}"] for i in range(8)}


def _rank(objects: list[dict[str, Any]], **evidence: Any) -> list[dict[str, Any]]:
    p = profiles.from_objects(objects)
    return engine.attribute(p, engine.Evidence(**evidence), top=20).hypotheses


def test_rare_techniques_outweigh_common_ones() -> None:
    objects = world({"Rare": ["T1480.001", "T1059"], "Plain": ["T1105", "T1082"], **_filler()})
    ranked = _rank(objects, techniques=["T1480.001", "T1105"])
    assert ranked[0]["name"] == "Rare"
    weights = {e["id"]: e["weight"] for e in ranked[0]["evidence"]["for"] if "weight" in e}
    assert weights["T1480.001"] > 2 * max(w for f, w in weights.items() if f != "T1480.001")


def test_software_is_strong_evidence() -> None:
    objects = world({"Tools": ["S9001", "T1027"], "Techs": ["T1105", "T1082"], **_filler()})
    ranked = _rank(objects, techniques=["T1105", "T1082"], software=["S9001"])
    probs = {h["name"]: h["probability"] for h in ranked}
    assert ranked[0]["name"] == "Tools"  # one software beats two matched techniques
    assert probs["Tools"] > probs["Techs"]
    soft = next(e for e in ranked[0]["evidence"]["for"] if e.get("id") == "S9001")
    assert soft["kind"] == "software" and soft["groups_using"] == 1
    # by name, too, and what cannot be read is reported, not guessed
    p = profiles.from_objects(objects)
    result = engine.attribute(p, engine.Evidence(software=["thing S9001", "NoSuchTool"]))
    assert result.hypotheses[0]["name"] == "Tools" and result.unknown == ["NoSuchTool"]


def test_a_matched_indicator_is_strong_and_can_make_high() -> None:
    indicator = _obj(
        "indicator",
        "ind",
        pattern="[ipv4-addr:value = '203.0.113.9']",
        pattern_type="stix",
        valid_from=TIME,
    )
    objects = world({"Infra": COMMON[:3], **_filler()}, [indicator])
    infra = next(o for o in objects if o.get("name") == "Infra")
    objects.append(
        _obj(
            "relationship",
            "ind>infra",
            relationship_type="indicates",
            source_ref=indicator["id"],
            target_ref=infra["id"],
        )
    )
    without = _rank(objects, techniques=COMMON[:3])
    assert without[0]["confidence"] != "high"
    ranked = _rank(objects, techniques=COMMON[:3], indicators=[indicator["id"]])
    assert ranked[0]["name"] == "Infra"
    assert ranked[0]["confidence"] == "high"
    assert any(e["kind"] == "strong" for e in ranked[0]["evidence"]["for"])


def test_technique_similarity_alone_is_never_high() -> None:
    rare = ["T1480.001", "T1564.009", "T1553.006", "T1205.002", "T1647", "T1542.003"]
    objects = world({"Exact": rare, **_filler()})
    ranked = _rank(objects, techniques=rare)
    assert ranked[0]["name"] == "Exact"
    assert all(h["confidence"] != "high" for h in ranked)
    # even when the probability is high: tested on ATT&CK below


def test_probabilities_sum_to_at_most_one_and_are_ordered() -> None:
    objects = world({"A": ["T1480.001", "S9001"], "B": ["T1105"], **_filler()})
    ranked = _rank(objects, techniques=["T1105", "T1059"], software=["S9001"])
    probs = [h["probability"] for h in ranked]
    assert probs == sorted(probs, reverse=True)
    assert 0 < sum(probs) <= 1.0 + 1e-6
    assert len(ranked) == 10  # every group with a profile is a hypothesis


def test_sector_prior_shifts_close_calls() -> None:
    galaxy = {"x_crownwatch_target_sectors": ["Pharmacy"], "x_crownwatch_victims": ["Japan"]}
    objects = world(
        {"Twin A": [*COMMON[:2], "T1480"], "Twin B": [*COMMON[:2], "T1480"], **_filler()}
    )
    twin_b = next(o for o in objects if o.get("name") == "Twin B")
    objects.append(
        _obj(
            "intrusion-set",
            "galaxy-b",
            name="Twin Bee",
            x_crownwatch_attack_ref=twin_b["id"],
            **galaxy,
        )
    )
    plain = {h["name"]: h["probability"] for h in _rank(objects, techniques=["T1480"])}
    assert plain["Twin A"] == pytest.approx(plain["Twin B"])
    ranked = _rank(objects, techniques=["T1480"], sectors=["pharmacy"], country="Japan")
    assert ranked[0]["name"] == "Twin B"
    assert ranked[0]["probability"] > plain["Twin B"]
    kinds = {e["kind"] for e in ranked[0]["evidence"]["for"]}
    assert {"sector", "country"} <= kinds


def test_leakage_control_drops_facts_only_the_report_supports() -> None:
    objects = world({"Solo": ["T1480.001", "T1105"], **_filler()})
    knowledge = profiles.extract(objects)
    full = profiles.assemble(knowledge)
    solo = next(k for k, g in full.groups.items() if g.name == "Solo")
    assert full.weights[solo]["T1480.001"] == 1.0
    held_out = profiles.assemble(knowledge, frozenset(["Solo report"]))
    assert held_out.weights[solo] == {}
    assert "T1480.001" not in held_out.background


def test_cli_json_shape_and_later_imports_count(tmp_path: Path, cw: CW) -> None:
    objects = world({"Tools": ["S9001", "T1027"], "Techs": ["T1105", "T1082"], **_filler()})
    bundle = tmp_path / "vendor.json"
    bundle.write_text(json.dumps({"type": "bundle", "id": _id("bundle", "b"), "objects": objects}))
    home = tmp_path / "home"
    assert cw(home, "intel", "import", str(bundle), "--tlp", "clear").returncode == 0
    done = cw(
        home,
        "attribute",
        "--techniques",
        "T1105,T1082",
        "--software",
        "S9001",
        "--json",
        "--top",
        "3",
    )
    assert done.returncode == 0, done.stderr
    ranked = json.loads(done.stdout)
    assert len(ranked) == 3
    assert {"id", "name", "probability", "confidence", "evidence"} <= set(ranked[0])
    assert ranked[0]["id"] == "G9000" and ranked[0]["name"] == "Tools"
    assert set(ranked[0]["evidence"]) == {"for", "against"}
    assert cw(home, "attribute", "--json").returncode == 2  # no evidence: a usage error

    # intelligence imported later counts: the cached profiles are rebuilt
    store = Store.open(config.load(home=home))
    try:
        first = profiles.load(store)
        assert profiles.load(store) is first
        newcomer = _catalogued("intrusion-set", "G9999", "Newcomer")
        tool = next(o for o in objects if o.get("name") == "thing S9001")
        kb.import_objects(store, [newcomer, _uses(newcomer, tool, "vendor 2024")], "vendor")
        again = profiles.load(store)
        assert again is not first
        assert "Newcomer" in {g.name for g in again.groups.values()}
    finally:
        store.close()


@pytest.fixture(scope="module")
def attack_profiles() -> profiles.Profiles:
    return profiles.from_objects(attack.objects())


def test_apt41_documented_behaviour_ranks_g0096_first(attack_profiles: profiles.Profiles) -> None:
    p = attack_profiles
    key = next(k for k, g in p.groups.items() if g.attack_id == "G0096")
    own = {f.feature for f in p.knowledge.facts if f.group == key and f.kind == "uses"}
    evidence = engine.Evidence(
        techniques=sorted(f for f in own if f.startswith("T")),
        software=sorted(f for f in own if f.startswith("S")),
    )
    ranked = engine.attribute(p, evidence, top=5).hypotheses
    assert ranked[0]["id"] == "G0096" and ranked[0]["name"] == "APT41"
    assert ranked[0]["confidence"] == "high"  # APT41 has software no other group uses
    techniques_only = engine.Evidence(techniques=evidence.techniques)
    alone = engine.attribute(p, techniques_only, top=5).hypotheses
    assert alone[0]["id"] == "G0096" and alone[0]["probability"] >= engine.HIGH
    assert alone[0]["confidence"] == "moderate"  # technique similarity alone is never high
    assert p.groups[key].country == "CN" or p.groups[key].country is None
    # T1059 (every group) counts far less than a technique few groups use
    common = engine.scores(p, {"T1059": 1.0})
    rare = engine.scores(p, {"T1480.001": 1.0})
    assert max(rare.values()) - min(rare.values()) > max(common.values()) - min(common.values())
