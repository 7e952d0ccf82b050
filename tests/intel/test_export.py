"""Exports: STIX 2.1 bundles that the OASIS validator accepts, and ATT&CK Navigator layers."""

from __future__ import annotations

import copy
import gzip
import json
import random
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from crownwatch import config
from crownwatch.intel import export, kb, markings, stixobj
from crownwatch.store import Store

T = "2026-01-01T00:00:00.000Z"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
TLP1_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
MITRE_STATEMENT = "marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"


@pytest.fixture(scope="module")
def attack_objects(shared_data: Path) -> list[dict[str, Any]]:
    path = shared_data / "attack" / "enterprise-attack-18.1.json.gz"
    if not path.exists():
        pytest.skip(f"ATT&CK bundle not found at {path}")
    with gzip.open(path) as f:
        objects: list[dict[str, Any]] = json.load(f)["objects"]
    return objects


def _by_attack_id(objects: list[dict[str, Any]], ident: str) -> dict[str, Any]:
    return next(o for o in objects if stixobj.external_id(o) == ident)


# -- STIX bundles ----------------------------------------------------------------------------


def test_attack_sample_of_every_type_becomes_a_valid_21_bundle(
    attack_objects: list[dict[str, Any]],
) -> None:
    sample = random.Random(18).sample(attack_objects, 483)
    for kind in sorted({o["type"] for o in attack_objects}):
        sample.append(next(o for o in attack_objects if o["type"] == kind))
    sample.append(_by_attack_id(attack_objects, "T1566.001"))
    sample.append(_by_attack_id(attack_objects, "S0154"))  # Cobalt Strike, a malware
    assert len(sample) == 500
    given = copy.deepcopy(sample)
    bundle = export.stix_bundle(sample, "attack-sample")
    assert sample == given  # the input is not changed
    assert export.validate(bundle) == []
    assert bundle["type"] == "bundle" and "spec_version" not in bundle
    objects = bundle["objects"]
    assert all(o["spec_version"] == "2.1" for o in objects)
    assert len({(o["id"], o.get("modified")) for o in objects}) == len(objects)
    types = Counter(o["type"] for o in objects)
    assert {"x-mitre-tactic", "x-mitre-matrix", "x-mitre-analytic", "relationship"} <= set(types)
    spear = next(o for o in objects if stixobj.external_id(o) == "T1566.001")
    assert spear["name"] == "Spearphishing Attachment"
    assert spear["object_marking_refs"] == [MITRE_STATEMENT]
    cobalt = next(o for o in objects if stixobj.external_id(o) == "S0154")
    assert cobalt["name"] == "Cobalt Strike" and cobalt["is_family"] is True
    assert "labels" not in cobalt and cobalt["malware_types"]
    tactic = next(o for o in objects if o["type"] == "x-mitre-tactic")
    assert tactic["x_mitre_shortname"] and tactic["spec_version"] == "2.1"
    statement = next(o for o in objects if o["id"] == MITRE_STATEMENT)
    assert statement["definition"]["statement"].startswith("Copyright 2015-2025, The MITRE")


def test_bundle_id_is_deterministic() -> None:
    ind = _indicator()
    assert export.stix_bundle([ind], "seed-1")["id"] == export.stix_bundle([], "seed-1")["id"]
    assert export.stix_bundle([ind], "seed-1")["id"] != export.stix_bundle([ind], "seed-2")["id"]
    expected = uuid.uuid5(uuid.UUID("7d4e3a52-5f0e-4c8b-9a55-6a1f4f1c0c77"), "seed-1")
    assert export.stix_bundle([], "seed-1")["id"] == f"bundle--{expected}"


def _indicator(**extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--6b5b8f42-1f4c-4c8e-9d59-2a64b7c4d001",
        "created": T,
        "modified": T,
        "name": "APT41 C2",
        "pattern": "[domain-name:value = 'update.example-cdn.net']",
        "pattern_type": "stix",
        "valid_from": T,
        **extra,
    }


def test_hand_made_objects_with_tlp_markings() -> None:
    old = {  # STIX 2.0: no spec_version, labels, and a TLP 1.0 marking written the 2.0 way
        "type": "indicator",
        "id": "indicator--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "labels": ["malicious-activity"],
        "pattern": "[file:hashes.'SHA-256' = "
        "'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']",
        "valid_from": "2016-01-01T00:00:00Z",
        "object_marking_refs": [TLP1_GREEN],
    }
    tlp1_as_20 = {
        "type": "marking-definition",
        "id": TLP1_GREEN,
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "definition": {"tlp": "green"},
    }
    ind = _indicator(object_marking_refs=[AMBER])
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": "report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3",
        "created": T,
        "modified": T,
        "name": "APT41 campaign notes",
        "published": T,
        "object_refs": [ind["id"], old["id"]],
        "object_marking_refs": [GREEN],
        "granular_markings": [{"marking_ref": RED, "selectors": ["description"]}],
        "description": "Source: a named informant.",
    }
    bundle = export.stix_bundle([tlp1_as_20, old, ind, report, copy.deepcopy(ind)], "hand")
    assert export.validate(bundle) == []
    objects = bundle["objects"]
    assert [o["type"] for o in objects].count("indicator") == 2  # the duplicate is kept once
    definitions = {o["id"]: o for o in objects if o["type"] == "marking-definition"}
    assert set(definitions) == {TLP1_GREEN, AMBER, GREEN, RED}
    assert definitions[TLP1_GREEN]["name"] == "TLP:GREEN"  # written as STIX 2.1 predefines it
    assert definitions[RED] == markings.definition(RED)
    upgraded = next(o for o in objects if o["id"] == old["id"])
    assert upgraded["spec_version"] == "2.1" and upgraded["pattern_type"] == "stix"
    assert upgraded["indicator_types"] == ["malicious-activity"] and "labels" not in upgraded


def test_all_five_tlp_2_definitions_validate() -> None:
    bundle = export.stix_bundle(list(markings.DEFINITIONS.values()), "tlp")
    assert len(bundle["objects"]) == 9 and export.validate(bundle) == []


def test_invalid_objects_are_refused_and_validate_reports_errors() -> None:
    with pytest.raises(stixobj.Rejected, match="bad id 'indicator--42'"):
        export.stix_bundle([_indicator(id="indicator--42")], "bad")
    bad_pattern = export.stix_bundle([_indicator(pattern="[domain-name:value = ")], "bad")
    assert any("Pattern failed to validate" in e for e in export.validate(bad_pattern))
    broken = export.stix_bundle([_indicator()], "broken")
    del broken["objects"][0]["valid_from"]
    broken["objects"][0]["created"] = "yesterday"
    errors = export.validate(broken)
    assert errors and any("created" in e for e in errors)
    assert any("valid_from" in e for e in errors)
    assert export.validate({"type": "bundle"}) != []


# -- Navigator layers --------------------------------------------------------------------------

_LAYER_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "versions": dict,
    "domain": str,
    "description": str,
    "sorting": int,
    "layout": dict,
    "hideDisabled": bool,
    "techniques": list,
    "gradient": dict,
    "legendItems": list,
    "showTacticRowBackground": bool,
    "tacticRowBackground": str,
    "selectTechniquesAcrossTactics": bool,
    "selectSubtechniquesWithParent": bool,
    "selectVisibleTechniques": bool,
    "metadata": list,
    "links": list,
}
_TECHNIQUE_TYPES: dict[str, type | tuple[type, ...]] = {
    "techniqueID": str,
    "tactic": str,
    "comment": str,
    "enabled": bool,
    "score": (int, float),
    "color": str,
    "metadata": list,
    "links": list,
    "showSubtechniques": bool,
}


def _check_layer(layer: dict[str, Any]) -> None:
    """The shape the layer format 4.5 defines: required keys, and each key's type."""
    assert {"name", "domain", "versions"} <= set(layer)
    assert set(layer) <= set(_LAYER_TYPES)
    for key, value in layer.items():
        assert isinstance(value, _LAYER_TYPES[key]), key
    assert layer["versions"]["layer"] == "4.5" and layer["versions"]["attack"] == "18"
    assert layer["versions"]["navigator"].startswith("5.1")
    assert layer["domain"] in ("enterprise-attack", "mobile-attack", "ics-attack")
    assert layer["sorting"] in (0, 1, 2, 3)
    assert layer["layout"]["layout"] in ("side", "flat", "mini")
    assert layer["layout"]["aggregateFunction"] in ("average", "min", "max", "sum")
    assert layer["layout"]["expandedSubtechniques"] in ("none", "all", "annotated")
    gradient = layer["gradient"]
    assert len(gradient["colors"]) >= 2 and gradient["maxValue"] > gradient["minValue"]
    for item in layer["legendItems"]:
        assert set(item) == {"label", "color"} and item["color"].startswith("#")
    for entry in layer["techniques"]:
        assert "techniqueID" in entry and set(entry) <= set(_TECHNIQUE_TYPES)
        for key, value in entry.items():
            assert isinstance(value, _TECHNIQUE_TYPES[key]), key
    assert json.loads(json.dumps(layer)) == layer


def test_navigator_layer_shape_and_round_trip() -> None:
    layer = export.navigator_layer(
        "Coverage",
        {
            "T1566.001": {"score": 3, "comment": "phishing with attachments", "color": "#ff0000"},
            "T1059": {"score": 1.5, "comment": "scripting", "tactic": "execution"},
            "T1003.001": {"comment": "LSASS", "enabled": False},
        },
        description="what we detect",
    )
    _check_layer(layer)
    assert layer["name"] == "Coverage" and layer["description"] == "what we detect"
    by_id = {t["techniqueID"]: t for t in layer["techniques"]}
    assert by_id["T1566.001"] == {
        "techniqueID": "T1566.001",
        "score": 3,
        "comment": "phishing with attachments",
        "color": "#ff0000",
        "enabled": True,
        "metadata": [],
        "links": [],
        "showSubtechniques": False,
    }
    assert by_id["T1059"]["tactic"] == "execution" and "tactic" not in by_id["T1566.001"]
    assert "score" not in by_id["T1003.001"] and by_id["T1003.001"]["enabled"] is False
    assert layer["gradient"] == {"colors": ["#ffffff", "#ff6666"], "minValue": 0, "maxValue": 3}
    assert [i["label"] for i in layer["legendItems"]] == ["score 0", "score 3"]


@pytest.mark.parametrize(
    ("techniques", "domain", "message"),
    [
        ({"1566": {"score": 1}}, "enterprise-attack", "not an ATT&CK technique id"),
        ({"T1566.1": {"score": 1}}, "enterprise-attack", "not an ATT&CK technique id"),
        ({"T1566": {"score": "high"}}, "enterprise-attack", "not a number"),
        ({"T1566": {"score": float("nan")}}, "enterprise-attack", "not a number"),
        ({"T1566": {"color": "red"}}, "enterprise-attack", "not #rrggbb"),
        ({"T1566": {"tactic": "Initial Access"}}, "enterprise-attack", "tactic"),
        ({}, "pre-attack", "unknown domain"),
    ],
)
def test_navigator_layer_refuses_what_the_navigator_cannot_read(
    techniques: dict[str, dict[str, Any]], domain: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        export.navigator_layer("x", techniques, domain=domain)


def test_observed_layer_scores_by_count() -> None:
    layer = export.observed_layer({"T1059.001": 5, "t1566.001": 1, "T1003": 0})
    _check_layer(layer)
    by_id = {t["techniqueID"]: t for t in layer["techniques"]}
    assert set(by_id) == {"T1059.001", "T1566.001"}
    assert (by_id["T1059.001"]["score"], by_id["T1059.001"]["comment"]) == (5, "seen 5 times")
    assert by_id["T1566.001"]["comment"] == "seen 1 time"
    assert layer["gradient"]["maxValue"] == 5 and layer["name"] == "Observed techniques"


def test_group_layer_from_a_real_profile(
    attack_objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    apt41 = _by_attack_id(attack_objects, "G0096")
    uses = [
        o
        for o in attack_objects
        if o["type"] == "relationship"
        and o["source_ref"] == apt41["id"]
        and o["relationship_type"] == "uses"
    ]
    targets = {r["target_ref"] for r in uses}
    subset = [apt41, *uses, *(o for o in attack_objects if o["id"] in targets)]
    store = Store.open(config.load(home=tmp_path, environ={}))
    try:
        assert kb.import_objects(store, copy.deepcopy(subset), "attack-subset").rejected == 0
        profile = kb.profile(store, kb.get(store, apt41["id"]) or {})
    finally:
        store.close()
    layer = export.group_layer(profile)
    _check_layer(layer)
    assert layer["name"] == "APT41 (G0096) techniques"
    assert layer["legendItems"] == [{"label": "used by APT41 (G0096)", "color": "#66b1ff"}]
    assert layer["metadata"] == [{"name": "stix_id", "value": apt41["id"]}]
    by_id = {t["techniqueID"]: t for t in layer["techniques"]}
    assert {"T1566.001", "T1003.001", "T1560.001"} <= set(by_id)
    assert by_id["T1566.001"]["comment"] == "Spearphishing Attachment: used by APT41 (G0096)"
    assert by_id["T1566.001"]["score"] == 1 and by_id["T1566.001"]["color"] == "#66b1ff"
    expected = {
        t["id"] for items in profile["techniques"].values() for t in items if t["id"][0] == "T"
    }
    assert set(by_id) == expected and len(layer["techniques"]) == len(expected)
