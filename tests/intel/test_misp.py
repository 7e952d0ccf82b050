"""MISP events and feeds into STIX 2.1 and back, on MISP 2.4-shaped fixtures."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from stix2 import File, IPv4Address  # type: ignore[import-untyped]
from stix2patterns.validator import run_validator  # type: ignore[import-untyped]
from stix2validator import ValidationOptions, validate_instance  # type: ignore[import-untyped]

from crownwatch.errors import UsageError
from crownwatch.intel import misp
from crownwatch.intel.galaxy import actor_id

DATA = Path(__file__).resolve().parents[1] / "data" / "misp"
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"


@pytest.fixture
def event() -> dict[str, Any]:
    return dict(json.loads((DATA / "event_apt41.json").read_text()))


@pytest.fixture
def converted(event: dict[str, Any]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    return misp.event_to_stix(event)


def _by_misp_uuid(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["x_misp_uuid"]: o for o in objects if "x_misp_uuid" in o and o["type"] != "report"}


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["type"] == kind]
    return found


def test_indicator_patterns(converted: tuple[list[dict[str, Any]], list[tuple[str, str]]]) -> None:
    objects, _ = converted
    by_uuid = _by_misp_uuid(objects)
    expected = {
        "d57c60e2-93dd-4319-841e-aecef96d493d": "[ipv4-addr:value = '203.0.113.45']",
        "552cdac1-d231-48c0-83f1-0e525dd26f18": "[domain-name:value = 'update-check.cdn-sync.net']",
        "77491abb-b66c-4835-af24-f971fd5ebb6a": (
            "[url:value = 'https://update-check.cdn-sync.net/api/v2/beacon?id=it\\'s']"
        ),
        "f779fd61-fdfb-4637-8120-e8e649f2a10d": (
            "[file:hashes.'SHA-256' = "
            "'0f3c3d2a9c6e1d8f4b7a2e5c9d0b1a3f6e8c7d2b4a9f1e0d3c5b7a8e6f2d4c1b']"
        ),
        "becc2bf2-d26f-40d2-b6c1-c13139aa00a3": (
            "[file:name = 'Clinical_Trial_Results_Q1.docx' AND "
            "file:hashes.MD5 = '9e107d9d372bb6826bd81d3542a419d6']"
        ),
        "a1930c39-3b00-4baa-90e1-f8e4699f4828": (
            "[email-addr:value = 'trials-coordinator@pharma-partners.org']"
        ),
        "15a059db-564e-44e0-97cf-dc29d6265db7": (
            "[x-ja3:value = '72a589da586844d7f0818ce684948eea']"
        ),
        "ac469219-a56e-4762-b060-e4a2dbb3f1e1": (
            "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = "
            "'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Trident/7.0']"
        ),
        "31665c8d-996d-40c1-b4d3-ee475d2d7bfd": (
            "[network-traffic:dst_ref.value = '198.51.100.23' AND network-traffic:dst_port = 8443]"
        ),
        "a8fe5dc8-c448-4554-99f2-aecf2aa8d275": "[domain-name:value = 'exfil.cdn-sync.net']",
        "4c6ae6bf-9062-47bb-9ff0-ba311e75af05": (
            "[file:hashes.'SHA-1' = '2fd4e1c67a2d28fced849ee1bb76e7391b93eb12']"
        ),
    }
    indicators = {u: o for u, o in by_uuid.items() if o["type"] == "indicator"}
    assert {u: o["pattern"] for u, o in indicators.items()} == expected
    for pattern in expected.values():
        assert run_validator(pattern, stix_version="2.1") == []
    ip_port = indicators["31665c8d-996d-40c1-b4d3-ee475d2d7bfd"]
    assert ip_port["valid_from"] == "2024-03-01T10:00:00.000Z"
    assert ip_port["valid_until"] == "2024-03-11T18:30:00.000Z"
    ip = indicators["d57c60e2-93dd-4319-841e-aecef96d493d"]
    assert ip["description"] == "C2 server"
    assert ip["created"] == ip["valid_from"] == "2024-03-12T10:40:00.000Z"
    assert ip["name"] == "ip-dst: 203.0.113.45"
    assert ip["x_misp_category"] == "Network activity"


def test_markings_and_confidence(
    converted: tuple[list[dict[str, Any]], list[tuple[str, str]]], event: dict[str, Any]
) -> None:
    objects, _ = converted
    by_uuid = _by_misp_uuid(objects)
    assert by_uuid["a8fe5dc8-c448-4554-99f2-aecf2aa8d275"]["object_marking_refs"] == [RED]
    assert by_uuid["d57c60e2-93dd-4319-841e-aecef96d493d"]["object_marking_refs"] == [AMBER]
    assert _one(objects, "report")["object_marking_refs"] == [AMBER]
    assert {o["confidence"] for o in objects if o["type"] == "indicator"} == {75}
    # no TLP and no confidence tag: the default TLP and confidence 50
    event["Event"]["Tag"] = [t for t in event["Event"]["Tag"] if t["name"].startswith("misp-")]
    objects, _ = misp.event_to_stix(event, default_tlp="green")
    by_uuid = _by_misp_uuid(objects)
    assert by_uuid["d57c60e2-93dd-4319-841e-aecef96d493d"]["object_marking_refs"] == [GREEN]
    assert by_uuid["d57c60e2-93dd-4319-841e-aecef96d493d"]["confidence"] == 50
    assert by_uuid["a8fe5dc8-c448-4554-99f2-aecf2aa8d275"]["object_marking_refs"] == [RED]
    with pytest.raises(UsageError):
        misp.event_to_stix(event, default_tlp="purple")


def test_galaxy_tags_become_stubs_and_relationships(
    converted: tuple[list[dict[str, Any]], list[tuple[str, str]]],
) -> None:
    objects, _ = converted
    actor = _one(objects, "intrusion-set")
    assert actor["id"] == actor_id("APT41")  # the galaxy importer's id for APT41
    assert actor["name"] == "APT41"
    technique = _one(objects, "attack-pattern")
    assert technique["name"] == "Spearphishing Attachment"
    assert technique["external_references"] == [
        {
            "source_name": "mitre-attack",
            "external_id": "T1566.001",
            "url": "https://attack.mitre.org/techniques/T1566/001",
        }
    ]
    rels = [
        (o["relationship_type"], o["source_ref"], o["target_ref"])
        for o in objects
        if o["type"] == "relationship"
    ]
    assert ("uses", actor["id"], technique["id"]) in rels
    indicators = [o["id"] for o in objects if o["type"] == "indicator"]
    assert len(indicators) == 11
    for ident in indicators:
        assert ("indicates", ident, actor["id"]) in rels
        assert ("indicates", ident, technique["id"]) in rels
    assert len(rels) == 1 + 2 * len(indicators)


def test_other_attributes(converted: tuple[list[dict[str, Any]], list[tuple[str, str]]]) -> None:
    objects, _ = converted
    by_uuid = _by_misp_uuid(objects)
    by_id = {o["id"]: o for o in objects}
    seen = by_uuid["1e1c11d0-b0b1-458d-a30d-6e641baf393a"]  # ip-src, to_ids off
    assert seen["type"] == "observed-data"
    assert seen["first_observed"] == seen["last_observed"] == "2024-03-12T10:40:00.000Z"
    (address,) = [by_id[r] for r in seen["object_refs"]]
    assert address == {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": IPv4Address(value="192.0.2.77").id,  # the STIX 2.1 deterministic SCO id
        "value": "192.0.2.77",
    }
    dropped = by_uuid["459fa7d4-69bb-4fec-8877-bad20de879db"]  # filename in a file object
    (file,) = [by_id[r] for r in dropped["object_refs"]]
    assert file["name"] == "msoffice_update.exe"
    assert file["id"] == File(name="msoffice_update.exe").id
    vulnerability = _one(objects, "vulnerability")
    assert vulnerability["name"] == "CVE-2023-36884"
    assert vulnerability["external_references"] == [
        {"source_name": "cve", "external_id": "CVE-2023-36884"}
    ]
    note = by_uuid["0e3699fc-1738-4f43-9849-b6e6276da3b5"]
    assert note["type"] == "note"
    assert note["content"] == "The lure documents impersonate a clinical-trial partner."
    assert note["object_refs"] == [_one(objects, "report")["id"]]


def test_report_and_creator(converted: tuple[list[dict[str, Any]], list[tuple[str, str]]]) -> None:
    objects, _ = converted
    report = _one(objects, "report")
    org = _one(objects, "identity")
    assert report["name"] == "APT41 spear-phishing campaign against pharmaceutical R&D (OSINT)"
    assert report["created"] == "2024-03-12T00:00:00.000Z"
    assert report["modified"] == "2024-03-13T10:30:00.000Z"
    assert report["published"] == "2024-03-13T10:33:20.000Z"
    assert report["labels"] == ["type:OSINT"]
    assert report["created_by_ref"] == org["id"]
    assert (org["name"], org["identity_class"]) == ("Example CERT", "organization")
    assert report["object_refs"] == [o["id"] for o in objects if o is not report]
    assert report["external_references"] == [
        {"source_name": "misp", "external_id": "c1c9f9f9-4790-4162-9ec5-2bf8f4593091"},
        {"source_name": "misp-link", "url": "https://blog.example.org/apt41-pharma-2024"},
    ]


def test_bad_attributes_are_rejected_one_by_one(
    converted: tuple[list[dict[str, Any]], list[tuple[str, str]]],
) -> None:
    objects, rejected = converted
    assert rejected == [
        ("attribute 54a7e4a7-396c-48b1-bc61-7d080db02a67", "unknown MISP attribute type 'foo-bar'"),
        (
            "attribute b86effb9-c9fb-4c0d-94b3-77f5a76b5b30",
            "md5: 'not-a-hash' is not a valid 128-bit hash",
        ),
        ("event attribute #16", "missing or bad attribute uuid None"),
    ]
    assert not [o for o in objects if "no-uuid" in str(o.get("pattern", ""))]


def test_hostile_input(event: dict[str, Any]) -> None:
    body = event["Event"]
    body["Attribute"] = [
        {
            "uuid": "11111111-2222-4333-8444-555555555555",
            "type": "url",
            "to_ids": True,
            "value": "http://x.example/" + "a" * misp.MAX_VALUE,
        },
        "not an attribute",
        {
            "uuid": "11111111-2222-4333-8444-666666666666",
            "type": "ip-dst",
            "to_ids": "1",
            "value": "198.51.100.1' OR '1'='1",
        },
        {
            "uuid": "11111111-2222-4333-8444-777777777777",
            "type": "ip-dst|port",
            "to_ids": 1,
            "value": "198.51.100.2|99999",
        },
        {
            "uuid": "11111111-2222-4333-8444-888888888888",
            "type": "domain",
            "to_ids": "1",
            "value": "ok.example.net",
        },
    ]
    body["Object"] = "not a list"
    objects, rejected = misp.event_to_stix(event)
    assert [o["pattern"] for o in objects if o["type"] == "indicator"] == [
        "[domain-name:value = 'ok.example.net']"
    ]
    assert rejected == [
        (
            "attribute 11111111-2222-4333-8444-555555555555",
            "url: value longer than 65536 characters",
        ),
        ("event attribute #1", "not a JSON object"),
        (
            "attribute 11111111-2222-4333-8444-666666666666",
            "ip-dst: \"198.51.100.1' OR '1'='1\" is not an IP address",
        ),
        (
            "attribute 11111111-2222-4333-8444-777777777777",
            "ip-dst|port: '99999' is not a valid number here",
        ),
    ]
    assert misp.event_to_stix({"nothing": 1}) == ([], [("event", "missing or bad event uuid None")])
    assert misp.event_to_stix({"Event": []}) == (
        [],
        [("event", "not a MISP event (no Event object)")],
    )
    no_uuid = copy.deepcopy(event)
    del no_uuid["Event"]["uuid"]
    assert misp.event_to_stix(no_uuid)[1] == [("event", "missing or bad event uuid None")]


def test_objects_are_valid_stix_and_deterministic(
    converted: tuple[list[dict[str, Any]], list[tuple[str, str]]], event: dict[str, Any]
) -> None:
    objects, _ = converted
    for obj in objects:
        result = validate_instance(obj, ValidationOptions(version="2.1"))
        assert result.errors == [], (obj["id"], [str(e) for e in result.errors])
    assert misp.event_to_stix(event) == converted
    assert len({o["id"] for o in objects}) == len(objects)


def test_round_trip_keeps_values_and_tlp(
    converted: tuple[list[dict[str, Any]], list[tuple[str, str]]], event: dict[str, Any]
) -> None:
    objects, _ = converted
    back = misp.stix_to_event(objects, "APT41 pharma, re-exported")["Event"]
    original = [
        a
        for a in [*event["Event"]["Attribute"], *event["Event"]["Object"][0]["Attribute"]]
        if a.get("to_ids") and a.get("uuid") in _by_misp_uuid(objects)
    ]
    exported = {(a["uuid"], a["type"], a["value"]) for a in back["Attribute"] if a["to_ids"]}
    assert exported == {(a["uuid"], a["type"], a["value"]) for a in original}
    assert len(exported) == 11
    assert back["uuid"] == "c1c9f9f9-4790-4162-9ec5-2bf8f4593091"
    assert back["info"] == "APT41 pharma, re-exported"
    assert back["date"] == "2024-03-12"
    assert back["Orgc"] == {"name": "Example CERT", "uuid": "9db010d8-cf7b-48da-8822-d1cf37083dd2"}
    assert back["Tag"] == [
        {"name": "tlp:amber"},
        {"name": 'misp-galaxy:mitre-attack-pattern="Spearphishing Attachment - T1566.001"'},
        {"name": 'misp-galaxy:threat-actor="APT41"'},
    ]
    tagged = {a["value"]: a["Tag"] for a in back["Attribute"] if "Tag" in a}
    assert tagged == {"exfil.cdn-sync.net": [{"name": "tlp:red"}]}
    (cve,) = [a for a in back["Attribute"] if a["type"] == "vulnerability"]
    assert (cve["value"], cve["to_ids"]) == ("CVE-2023-36884", False)
    # and once more: the second conversion gives the same indicators
    again, rejected = misp.event_to_stix({"Event": back})
    assert rejected == []
    assert sorted(o["pattern"] for o in again if o["type"] == "indicator") == sorted(
        o["pattern"] for o in objects if o["type"] == "indicator"
    )


def test_export_of_foreign_indicators() -> None:
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2024-05-01T08:00:00.000Z",
        "modified": "2024-05-02T08:00:00.000Z",
        "pattern": "[ipv6-addr:value = '2001:db8::5']",
        "pattern_type": "stix",
        "valid_from": "2024-05-01T08:00:00.000Z",
        "object_marking_refs": [CLEAR],
    }
    complex_one = dict(
        indicator,
        id="indicator--0b5c7e3f-2a6d-4c1e-9f8a-7b6c5d4e3f2a",
        pattern="[ipv4-addr:value = '192.0.2.1'] OR [ipv4-addr:value = '192.0.2.2']",
    )
    group = {
        "type": "intrusion-set",
        "spec_version": "2.1",
        "id": "intrusion-set--18854f55-ac7c-4634-bd9a-352dd07613b7",
        "created": "2019-09-23T13:43:36.945Z",
        "modified": "2024-04-10T16:00:00.000Z",
        "name": "APT41",
    }
    event = misp.stix_to_event([indicator, complex_one, group], "foreign")["Event"]
    assert [(a["uuid"], a["type"], a["value"], a["to_ids"]) for a in event["Attribute"]] == [
        ("8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "ip-dst", "2001:db8::5", True)
    ]
    assert event["Tag"] == [{"name": "tlp:clear"}, {"name": 'misp-galaxy:threat-actor="APT41"'}]
    assert event["date"] == "2024-05-02"  # no report: the newest object's date


def test_read_feed_reports_the_broken_event() -> None:
    rejected: list[tuple[str, str]] = []
    events = list(misp.read_feed(DATA / "feed", rejected))
    assert [e["Event"]["info"] for e in events] == ["Qakbot distribution wave: malspam and C2"]
    ((what, reason),) = rejected
    assert what == "3f8e2b1a-9c4d-4e5f-8a7b-6c5d4e3f2a1b.json"
    assert reason.startswith("not JSON")
    objects, problems = misp.event_to_stix(events[0])
    assert problems == []
    patterns = sorted(o["pattern"] for o in objects if o["type"] == "indicator")
    assert patterns == [
        "[network-traffic:dst_ref.value = '203.0.113.200' AND network-traffic:dst_port = 2222]",
        "[url:value = 'http://invoice-portal.example.net/docs/INV-2024-0402.zip']",
    ]
    assert {m for o in objects for m in o.get("object_marking_refs", [])} == {CLEAR}


def test_read_feed_without_manifest_and_with_hostile_names(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    shutil.copytree(DATA / "feed", feed)
    (feed / "manifest.json").write_text(
        '{"../../etc/passwd": {}, ' + '"c5faca46-345f-48ef-94f3-e06ac318f2c2": {}}'
    )
    rejected: list[tuple[str, str]] = []
    assert len(list(misp.read_feed(feed, rejected))) == 1
    assert rejected == [("../../etc/passwd", "not an event uuid")]
    (feed / "manifest.json").unlink()
    rejected = []
    events = list(misp.read_feed(feed, rejected))
    assert [e["Event"]["uuid"] for e in events] == ["c5faca46-345f-48ef-94f3-e06ac318f2c2"]
    assert [w for w, _ in rejected] == [
        "manifest.json",
        "3f8e2b1a-9c4d-4e5f-8a7b-6c5d4e3f2a1b.json",
    ]
