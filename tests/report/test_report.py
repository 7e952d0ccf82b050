"""The report: self-contained, everything from logs shown as text, PDF and STIX that hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

from crownwatch.correlate.incidents import Context, build
from crownwatch.intel import attack, export
from crownwatch.report import render, stix
from crownwatch.report.build import collect, mitigations
from crownwatch.risk.score import rank

T = datetime(2026, 10, 6, 8, 0, tzinfo=UTC)
SCRIPT = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'


def alerts() -> list[dict[str, Any]]:
    return [
        {
            "id": f"a{n}",
            "kind": "sigma",
            "rule": "r",
            "title": f"Whoami {SCRIPT}",
            "severity": "high",
            "first": T + timedelta(minutes=n),
            "last": T + timedelta(minutes=n),
            "techniques": ["T1033", "T1003.001"],
            "entities": {"host": [f"ws-1{IMG}"], "user": [f"bob{SCRIPT}"]},
            "explanation": f"matched process.command_line 'whoami /all {SCRIPT}{IMG}'",
            "count": 1,
        }
        for n in range(3)
    ]


def report() -> dict[str, Any]:
    found = alerts()
    tactics = attack.tactics_by_technique(attack.patterns())
    incidents = build(found, Context(tactics_of=tactics))
    incidents[0]["attribution"] = [
        {
            "id": "G0096",
            "name": f"APT41{SCRIPT}",
            "stix_id": "intrusion-set--18854f55-ac7c-4634-bd9a-352dd07613b7",
            "probability": 0.62,
            "confidence": "moderate",
            "evidence": {"for": [f"T1033 {IMG}"], "against": []},
        }
    ]
    risks = rank(found, incidents, [{"hostname": f"ws-1{IMG}", "crown_jewel": True}], T)
    lake = {"events": 3, "first": str(T), "last": str(T)}
    return collect(incidents, found, risks, lake, f"Acme {IMG}", tactics_of=tactics)


def test_payloads_from_logs_are_rendered_as_text_and_nothing_is_fetched() -> None:
    page = render.html(report())
    soup = BeautifulSoup(page, "html.parser")
    assert soup.find_all("script") == [] and soup.find_all("img") == []
    assert not [t for t in soup.find_all(True) if any(a.startswith("on") for a in t.attrs)]
    text = soup.get_text()
    assert SCRIPT in text and "onerror" in text  # shown, as text
    # self-contained: no external stylesheet, script, image or font
    assert not soup.find_all("link")
    assert not [
        t for t in soup.find_all(True) if t.get("src") or str(t.get("href", "#")).startswith("http")
    ]
    assert "Content-Security-Policy" in page
    # the charts are inline SVG
    assert len(soup.find_all("svg")) >= 3


def test_the_executive_summary_names_the_incident_actor_and_confidence() -> None:
    soup = BeautifulSoup(render.html(report()), "html.parser")
    summary = soup.find(class_="summary").get_text(" ", strip=True)
    assert "APT41" in summary and "62%" in summary and "moderate confidence" in summary
    assert "credential-access" in summary or "discovery" in summary


def test_the_pdf_is_written(tmp_path: Path) -> None:
    render.pdf(render.html(report()), tmp_path / "r.pdf")
    data = (tmp_path / "r.pdf").read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 10_000


def test_mitigations_come_from_attack_courses_of_action() -> None:
    found = mitigations(["T1003.001", "T1033"])
    assert found and all(m["id"].startswith("M") for m in found)
    assert any(m["id"] == "M1025" for m in found)  # Privileged Process Integrity (LSA protection)


def test_the_incident_bundle_is_valid_stix_and_tlp_marked() -> None:
    data = report()
    incident = data["incidents"][0]
    patterns = {attack.attack_id(p): p for p in attack.patterns()}
    group = next(
        o for o in attack.objects() if o.get("id") == incident["attribution"][0]["stix_id"]
    )
    bundle = stix.incident_bundle(incident, alerts(), patterns, {}, {group["id"]: group}, "amber")
    assert export.validate(bundle) == []
    kinds = {o["type"] for o in bundle["objects"]}
    assert {
        "incident",
        "attack-pattern",
        "relationship",
        "intrusion-set",
        "marking-definition",
    } <= kinds
    inc = next(o for o in bundle["objects"] if o["type"] == "incident")
    assert inc["object_marking_refs"] == [
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
    ]
    rel = next(o for o in bundle["objects"] if o.get("relationship_type") == "attributed-to")
    assert rel["confidence"] == 50 and rel["target_ref"] == group["id"]
