"""Whole reports into STIX bundles: the scenario's APT41 report, PDF and HTML, validity, ids."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from stix2validator import ValidationOptions, validate_instance  # type: ignore[import-untyped]

from crownwatch.errors import ParseError
from crownwatch.intel.extract import Knowledge, build_knowledge, extract
from crownwatch.intel.iocs import pattern
from crownwatch.scenario import generate

ATTACK = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "attack"
) / "enterprise-attack-18.1.json.gz"
PUBLISHED = datetime(2026, 9, 17, 9, 30, tzinfo=UTC)
APT41 = "intrusion-set--18854f55-ac7c-4634-bd9a-352dd07613b7"
TLP_AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
HASH_KIND = {32: "md5", 40: "sha1", 64: "sha256"}


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    if not ATTACK.exists():
        pytest.skip(f"ATT&CK bundle not found at {ATTACK}")
    return build_knowledge(orjson.loads(gzip.decompress(ATTACK.read_bytes()))["objects"])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenario")
    generate(out, "small", 7)
    return out


def by_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in bundle["objects"] if o["type"] == kind]


def report_of(bundle: dict[str, Any]) -> dict[str, Any]:
    (report,) = by_type(bundle, "report")
    return report


def assert_valid(bundle: dict[str, Any]) -> None:
    result = validate_instance(bundle, ValidationOptions(version="2.1"))
    assert [str(e) for e in result.errors] == []
    assert result.is_valid


def test_the_scenario_report(kb: Knowledge, scenario: Path) -> None:
    data = (scenario / "report" / "apt41-report.txt").read_bytes()
    bundle = extract(data, "apt41-report.txt", kb, published=PUBLISHED)
    report = report_of(bundle)
    assert report["name"].startswith("Corvid Threat Intelligence - Threat Report CTI-2026-0917")
    assert report["description"].startswith("APT41 (also tracked as Wicked Panda")
    assert report["published"] == "2026-09-17T09:30:00.000Z"
    assert report["object_marking_refs"] == [TLP_AMBER]
    assert APT41 in report["object_refs"]
    evidence = {e["external_id"]: e for e in report["x_crownwatch_evidence"]}
    assert evidence["G0096"]["name"] == "APT41"
    assert {"S1051", "S1158", "S1159"} <= set(evidence)  # KEYPLUG, DUSTPAN, DUSTTRAP

    truth = json.loads((scenario / "truth" / "indicators.json").read_text())
    patterns = {i["pattern"] for i in by_type(bundle, "indicator")}
    wanted = {
        pattern(HASH_KIND[len(t["value"])] if t["type"] == "file" else t["type"], t["value"])
        for t in truth
    }
    assert len(wanted & patterns) >= 0.9 * len(wanted)
    assert pattern("ipv4-addr", "45.77.126.34") in patterns
    assert pattern("domain-name", "api.nimbus-telemetry.com") in patterns

    summary = json.loads((scenario / "truth" / "summary.json").read_text())
    steps = {s["technique"] for s in summary["incidents"]["apt41"]["steps"]}
    techniques = {e["external_id"] for e in evidence.values() if e["type"] == "attack-pattern"}
    assert len(steps & techniques) >= 8, sorted(steps - techniques)
    indicates = {
        r["source_ref"]
        for r in by_type(bundle, "relationship")
        if r["relationship_type"] == "indicates" and r["target_ref"] == APT41
    }
    assert indicates == {i["id"] for i in by_type(bundle, "indicator")}
    assert_valid(bundle)


def test_indicators_carry_pattern_validity_confidence_and_context(kb: Knowledge) -> None:
    text = b"Beacon\n\nThe beacon calls update-sync[.]net every minute.\n"
    bundle = extract(text, "b.txt", kb, published=PUBLISHED)
    (indicator,) = by_type(bundle, "indicator")
    assert indicator["pattern"] == "[domain-name:value = 'update-sync.net']"
    assert indicator["pattern_type"] == "stix"
    assert indicator["valid_from"] == "2026-09-17T09:30:00.000Z"
    assert indicator["confidence"] == 85
    assert indicator["description"] == "The beacon calls update-sync[.]net every minute."
    assert report_of(bundle)["object_refs"] == [indicator["id"]]
    assert by_type(bundle, "relationship") == []  # no group named: no indicates
    assert_valid(bundle)


def test_two_groups_named_means_no_indicates(kb: Knowledge) -> None:
    text = b"Both APT41 and Turla used 91.219.236.18 as a relay."
    bundle = extract(text, "two.txt", kb, published=PUBLISHED)
    assert len(by_type(bundle, "indicator")) == 1
    assert by_type(bundle, "relationship") == []


def test_cves_become_vulnerabilities(kb: Knowledge) -> None:
    bundle = extract(b"They exploited CVE-2023-23397 in Outlook.", "c.txt", kb)
    (vulnerability,) = by_type(bundle, "vulnerability")
    assert vulnerability["name"] == "CVE-2023-23397"
    assert vulnerability["external_references"] == [
        {"source_name": "cve", "external_id": "CVE-2023-23397"}
    ]
    assert "vulnerability" in report_of(bundle)["report_types"]
    assert_valid(bundle)


def test_an_html_report(kb: Knowledge) -> None:
    html = b"""<html><head><title>KEYPLUG returns</title><script>x="hxxp://s[.]com"</script>
    </head><body><h1>KEYPLUG returns</h1><p>The backdoor talks to 45.77.126&#91;.&#93;34 over
    HTTPS (T1071.001).</p></body></html>"""
    bundle = extract(html, "k.html", kb, published=PUBLISHED)
    report = report_of(bundle)
    assert report["name"] == "KEYPLUG returns"
    assert [i["pattern"] for i in by_type(bundle, "indicator")] == [
        "[ipv4-addr:value = '45.77.126.34']"
    ]
    assert {e["external_id"] for e in report["x_crownwatch_evidence"]} == {"S1051", "T1071.001"}
    assert_valid(bundle)


def test_same_bytes_same_bundle_and_different_bytes_different_ids(kb: Knowledge) -> None:
    a = extract(b"APT41 used 91.219.236.18.", "a.txt", kb, published=PUBLISHED)
    assert extract(b"APT41 used 91.219.236.18.", "a.txt", kb, published=PUBLISHED) == a
    b = extract(b"APT41 used 91.219.236.19.", "a.txt", kb, published=PUBLISHED)
    assert report_of(a)["id"] != report_of(b)["id"] and a["id"] != b["id"]


def test_a_report_with_nothing_known_is_still_a_valid_bundle(kb: Knowledge) -> None:
    bundle = extract(b"Minutes of the meeting\n\nNothing to report.", "m.txt", kb)
    report = report_of(bundle)
    assert report["report_types"] == ["threat-report"]
    (identity,) = by_type(bundle, "identity")
    assert report["object_refs"] == [identity["id"]]
    assert_valid(bundle)


def test_unreadable_input_is_a_parse_error(kb: Knowledge) -> None:
    with pytest.raises(ParseError, match="not a PDF"):
        extract(b"plain words", "fake.pdf", kb)
    with pytest.raises(ParseError, match="limited to"):
        extract(b" " * (25 * 1024 * 1024), "huge.txt", kb)
