"""Risk-based ranking: alert points × asset worth × threat × recency, explained."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crownwatch.risk.assets import crown_jewels, jewel_names, read_inventory
from crownwatch.risk.score import POINTS, Settings, Threat, rank

NOW = datetime(2026, 10, 12, tzinfo=UTC)
ASSETS = [
    {
        "hostname": "PLM01",
        "ip": "10.10.1.30",
        "crown_jewel": True,
        "criticality": "5",
        "ip_value_usd": "95000000",
    },
    {
        "hostname": "WS-0008",
        "ip": "10.20.0.17",
        "crown_jewel": False,
        "criticality": "3",
        "ip_value_usd": "0",
    },
]


def alert(
    ident: str,
    severity: str = "high",
    age_days: float = 0,
    kind: str = "sigma",
    **entities: list[str],
) -> dict[str, Any]:
    when = NOW - timedelta(days=age_days)
    return {
        "id": ident,
        "kind": kind,
        "title": f"t{ident}",
        "severity": severity,
        "first": when,
        "last": when,
        "entities": entities,
    }


def test_the_same_alert_weighs_more_on_a_crown_jewel() -> None:
    ranked = rank([alert("a", host=["plm01.corp", "WS-0008"])], [], ASSETS, NOW)
    by_name = {r["name"]: r for r in ranked}
    assert by_name["plm01"]["score"] > 5 * by_name["ws-0008"]["score"]
    assert ranked[0]["name"] == "plm01" and ranked[0]["crown_jewel"]
    worth = ranked[0]["terms"][0]
    assert worth["term"] == "asset" and "crown jewel ×2" in worth["why"] and "$95M" in worth["why"]


def test_crown_jewels_come_first_even_with_less_risk() -> None:
    alerts = [
        alert("a", "low", host=["plm01"]),
        *(alert(f"w{n}", "critical", host=["ws-0008"]) for n in range(5)),
    ]
    ranked = rank(alerts, [], ASSETS, NOW)
    assert [r["name"] for r in ranked] == ["plm01", "ws-0008"]
    assert ranked[1]["score"] > ranked[0]["score"]


def test_risk_decays_with_age_and_informational_adds_nothing() -> None:
    fresh = rank([alert("a", host=["ws-0008"])], [], ASSETS, NOW)[0]["score"]
    old = rank([alert("a", host=["ws-0008"], age_days=14)], [], ASSETS, NOW)[0]["score"]
    assert old == pytest.approx(fresh / 2, rel=0.01)
    assert rank([alert("a", "informational", host=["ws-0008"])], [], ASSETS, NOW) == []


def test_a_state_threat_multiplies_and_is_named() -> None:
    incident = {
        "id": "INC-1",
        "alerts": ["a"],
        "timeline": [{"id": "a", "tactics": ["exfiltration"]}],
    }
    threat = {"INC-1": Threat(1.5, "APT41 (high confidence) targets pharmaceuticals")}
    plain = rank([alert("a", host=["ws-0008"])], [incident], ASSETS, NOW)[0]
    state = rank([alert("a", host=["ws-0008"])], [incident], ASSETS, NOW, threat)[0]
    assert state["score"] == pytest.approx(plain["score"] * 1.5)
    assert any(t["term"] == "threat" and "APT41" in t["why"] for t in state["terms"])
    assert state["tactics"] == ["exfiltration"]


def test_addresses_resolve_to_assets_and_built_in_users_are_not_risk_objects() -> None:
    ranked = rank([alert("a", ip=["10.10.1.30"], user=["SYSTEM", "HELIX\\adm-x"])], [], ASSETS, NOW)
    assert {(r["kind"], r["name"]) for r in ranked} == {("host", "plm01"), ("user", "adm-x")}


def test_notable_when_risk_tactics_or_detectors_pile_up() -> None:
    alerts = [alert("a", host=["ws-0008"]), alert("b", host=["ws-0008"], kind="analytic")]
    [obj] = rank(alerts, [], ASSETS, NOW, settings=Settings(notable_score=1e9))
    assert obj["notable"] and obj["notable_because"] == ["2 kinds of detector (analytic, sigma)"]
    assert obj["score"] == pytest.approx(2 * POINTS["high"] * 1.0, rel=0.1)


def test_an_inventory_reads_from_csv_and_json(tmp_path: Any) -> None:
    (tmp_path / "a.csv").write_text(
        "hostname,ip,crown_jewel,shares\nPLM01,10.10.1.30,TRUE,\\\\plm01\\vault\nws1,10.0.0.1,no,\n"
    )
    (tmp_path / "a.json").write_text('[{"hostname": "git01", "crown_jewel": true}]')
    found = read_inventory(tmp_path / "a.csv")
    assert crown_jewels(found) == frozenset({"plm01", "10.10.1.30", "\\\\plm01\\vault"})
    assert jewel_names(found)["10.10.1.30"] == "plm01"
    assert crown_jewels(read_inventory(tmp_path / "a.json")) == frozenset({"git01"})
