"""TLP 2.0: the published marking definitions, strictest wins, inheritance, who may receive."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from crownwatch.intel import markings

EXT = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
AMBER_STRICT = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
TLP1_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
MITRE_STATEMENT = "marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"
T = "2026-01-01T00:00:00.000Z"


def _obj(kind: str, n: int, *refs: str, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": kind,
        "spec_version": "2.1",
        "id": f"{kind}--00000000-0000-4000-8000-{n:012d}",
        "created": T,
        "modified": T,
        **extra,
    }
    if refs:
        obj["object_marking_refs"] = list(refs)
    return obj


@pytest.fixture(scope="module")
def attack_objects(shared_data: Path) -> list[dict[str, Any]]:
    path = shared_data / "attack" / "enterprise-attack-18.1.json.gz"
    if not path.exists():
        pytest.skip(f"ATT&CK bundle not found at {path}")
    with gzip.open(path) as f:
        objects: list[dict[str, Any]] = json.load(f)["objects"]
    return objects


@pytest.mark.parametrize(
    ("level", "ident", "name"),
    [
        ("clear", CLEAR, "TLP:CLEAR"),
        ("green", GREEN, "TLP:GREEN"),
        ("amber", AMBER, "TLP:AMBER"),
        ("amber+strict", AMBER_STRICT, "TLP:AMBER+STRICT"),
        ("red", RED, "TLP:RED"),
    ],
)
def test_tlp_2_definitions_are_the_ones_oasis_publishes(level: str, ident: str, name: str) -> None:
    # pinned against the literals of cti-stix-common-objects/…/tlp-2.0/examples/tlp-*.json
    assert markings.ID_BY_TLP[level] == ident
    assert markings.definition(ident) == {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": ident,
        "created": "2022-10-01T00:00:00.000Z",
        "name": name,
        "extensions": {EXT: {"extension_type": "property-extension", "tlp_2_0": level}},
    }


def test_tlp_1_definitions_are_the_ones_stix_21_predefines() -> None:
    from stix2.v21 import TLP_AMBER, TLP_GREEN, TLP_RED, TLP_WHITE  # type: ignore[import-untyped]

    for predefined in (TLP_WHITE, TLP_GREEN, TLP_AMBER, TLP_RED):
        assert markings.definition(predefined.id) == json.loads(predefined.serialize())
    assert markings.definition(MITRE_STATEMENT) is None


def test_definitions_are_copies() -> None:
    first = markings.definition(RED)
    assert first is not None
    first["extensions"][EXT]["tlp_2_0"] = "clear"
    assert markings.DEFINITIONS[RED]["extensions"][EXT]["tlp_2_0"] == "red"


def test_strictest_marking_wins_and_missing_is_inherited() -> None:
    assert markings.tlp_of(_obj("indicator", 1, GREEN, RED, CLEAR)) == "red"
    assert markings.tlp_of(_obj("indicator", 2, TLP1_AMBER, CLEAR)) == "amber"
    assert markings.tlp_of(_obj("indicator", 3, AMBER, AMBER_STRICT)) == "amber+strict"
    part_red = _obj(
        "report",
        4,
        GREEN,
        granular_markings=[{"marking_ref": RED, "selectors": ["description"]}],
    )
    assert markings.tlp_of(part_red) == "red"  # sharing the object shares its red part
    assert markings.tlp_of(_obj("indicator", 5), "amber") == "amber"
    assert markings.tlp_of(_obj("indicator", 6, MITRE_STATEMENT), "green") == "green"
    assert markings.tlp_of(_obj("indicator", 7)) is None


def test_inherit_gives_the_default_and_a_reports_tlp() -> None:
    plain = _obj("indicator", 1)
    own = _obj("indicator", 2, RED)
    in_report = _obj("malware", 3, MITRE_STATEMENT, is_family=True)
    in_two = _obj("attack-pattern", 4)
    report_amber = _obj("report", 5, AMBER, object_refs=[in_report["id"], in_two["id"]])
    grouping_strict = _obj(
        "grouping", 6, AMBER_STRICT, context="suspicious-activity", object_refs=[in_two["id"]]
    )
    report_plain = _obj("report", 7, object_refs=[plain["id"]])
    given = [plain, own, in_report, in_two, report_amber, grouping_strict, report_plain]
    before = copy.deepcopy(given)
    out = {o["id"]: o for o in markings.inherit(given, "green")}
    assert given == before  # the input is not changed
    assert out[plain["id"]]["object_marking_refs"] == [GREEN]  # its report is green by default
    assert out[own["id"]] is own
    assert out[in_report["id"]]["object_marking_refs"] == [MITRE_STATEMENT, AMBER]
    assert out[in_two["id"]]["object_marking_refs"] == [AMBER_STRICT]  # strictest container
    assert out[report_plain["id"]]["object_marking_refs"] == [GREEN]
    assert {markings.tlp_of(o) for o in out.values()} == {"green", "red", "amber", "amber+strict"}
    definition = markings.definition(RED)
    assert definition is not None
    assert markings.inherit([definition], "amber") == [definition]
    with pytest.raises(ValueError, match="unknown TLP 'white'"):
        markings.inherit([plain], "white")


def test_inherit_on_real_attack_objects(attack_objects: list[dict[str, Any]]) -> None:
    sample = [o for o in attack_objects if o["type"] in ("intrusion-set", "identity")]
    out = markings.inherit(sample, "clear")
    apt = next(o for o in out if o.get("name") == "APT1")
    assert apt["object_marking_refs"] == [MITRE_STATEMENT, CLEAR]
    assert markings.tlp_of(apt) == "clear"
    statement = next(o for o in attack_objects if o["id"] == MITRE_STATEMENT)
    assert markings.inherit([statement], "red") == [statement]


@pytest.mark.parametrize(
    ("tlp", "public", "community", "organization"),
    [
        ("clear", True, True, True),
        ("green", False, True, True),
        ("amber", False, False, True),  # TLP 2.0: AMBER stays in the organisation
        ("amber+strict", False, False, False),
        ("red", False, False, False),
        (None, False, False, True),
    ],
)
def test_may_share_without_amber_strict(
    tlp: str | None, public: bool, community: bool, organization: bool
) -> None:
    got = [markings.may_share(tlp, a, False) for a in ("public", "community", "organization")]
    assert got == [public, community, organization]


def test_amber_strict_only_when_allowed_and_red_never() -> None:
    assert markings.may_share("amber+strict", "community", allow_amber_strict=True) is True
    assert markings.may_share("amber+strict", "organization", allow_amber_strict=True) is True
    assert markings.may_share("amber+strict", "public", allow_amber_strict=True) is False
    for audience in markings.AUDIENCES:
        assert markings.may_share("red", audience, allow_amber_strict=True) is False
    with pytest.raises(ValueError, match="unknown audience 'world'"):
        markings.may_share("clear", "world", False)
    with pytest.raises(ValueError, match="unknown TLP 'white'"):
        markings.may_share("white", "community", False)
