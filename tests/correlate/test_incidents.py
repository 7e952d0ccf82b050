"""Alerts into incidents: shared entities within the gap, hubs and built-ins join nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crownwatch.correlate.incidents import Context, build, links

T = datetime(2026, 10, 6, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def alert(
    ident: str, when: datetime, severity: str = "high", **entities: list[str]
) -> dict[str, Any]:
    return {
        "id": ident,
        "kind": "sigma",
        "title": f"alert {ident}",
        "severity": severity,
        "first": when,
        "last": when,
        "techniques": [],
        "entities": entities,
        "explanation": f"why {ident}",
    }


def groups(alerts: list[dict[str, Any]], ctx: Context | None = None) -> list[list[str]]:
    return sorted(sorted(i["alerts"]) for i in build(alerts, ctx or Context()))


def test_alerts_sharing_a_user_within_the_gap_are_one_incident() -> None:
    alerts = [
        alert("a", T, host=["WS-1.corp"], user=["alice"]),
        alert("b", T + 5 * HOUR, host=["srv-2"], user=["ALICE"]),
        alert("c", T + 2 * HOUR, host=["ws-9"], user=["bob"]),
    ]
    assert groups(alerts) == [["a", "b"], ["c"]]


def test_a_chain_links_through_time_but_not_across_a_long_silence() -> None:
    alerts = [
        alert("a", T, host=["ws-1"]),
        alert("b", T + 60 * HOUR, host=["ws-1"]),
        alert("c", T + 120 * HOUR, host=["ws-1"]),  # 60 h after b: still within 72 h
        alert("d", T + 400 * HOUR, host=["ws-1"]),  # far later: a new incident
    ]
    assert groups(alerts) == [["a", "b", "c"], ["d"]]


def test_built_in_accounts_and_hubs_join_nothing() -> None:
    ctx = Context(peers={("domain", "cdn.example"): 40, ("domain", "c2.example"): 1})
    alerts = [
        alert("a", T, host=["ws-1"], user=["SYSTEM"], domain=["cdn.example"]),
        alert("b", T, host=["ws-2"], user=["NT AUTHORITY\\SYSTEM"], domain=["cdn.example"]),
        alert("c", T, host=["ws-3"], user=["WS-3$"], domain=["C2.example"]),
        alert("d", T, host=["ws-4"], domain=["c2.example"]),
    ]
    assert groups(alerts, ctx) == [["a"], ["b"], ["c", "d"]]
    assert ("domain", "cdn.example") not in links(alerts[0], ctx)


def test_a_host_s_own_address_is_the_host() -> None:
    ctx = Context(host_of_ip={"10.20.0.17": "ws-0008"})
    alerts = [
        alert("sysmon", T, host=["WS-0008.helix.corp"]),
        alert("zeek", T + HOUR, ip=["10.20.0.17", "203.0.113.9"]),
    ]
    assert groups(alerts, ctx) == [["sysmon", "zeek"]]


def test_informational_alerts_are_context_not_incidents() -> None:
    assert groups([alert("a", T, severity="informational", host=["ws-1"])]) == []


def test_an_incident_is_ordered_on_the_kill_chain_and_scored_with_named_terms() -> None:
    ctx = Context(
        tactics_of={
            "T1566.001": ("initial-access",),
            "T1003": ("credential-access",),
            "T1041": ("exfiltration",),
        },
        crown_jewels={"plm01": "plm01", "10.10.1.30": "plm01"},
    )
    alerts = [
        {**alert("x", T + 2 * HOUR, host=["ws-1"], ip=["10.10.1.30"]), "techniques": ["T1041"]},
        {**alert("p", T, "medium", host=["ws-1"]), "techniques": ["T1566.001"]},
        {
            **alert("c", T + HOUR, "critical", host=["ws-1", "PLM01.corp"]),
            "techniques": ["T1003.001"],
        },
    ]
    [incident] = build(alerts, ctx)
    assert [e["id"] for e in incident["timeline"]] == ["p", "c", "x"]
    assert incident["tactics"] == ["initial-access", "credential-access", "exfiltration"]
    assert incident["hosts"] == ["plm01", "ws-1"] and incident["crown_jewels"] == ["plm01"]
    terms = {t["term"]: t["points"] for t in incident["terms"]}
    assert terms["spread"] == 5 and terms["stages"] == 12 and terms["crown jewels"] == 15
    assert incident["score"] == round(sum(terms.values()), 1)
    assert incident["id"].startswith("INC-") and incident["id"] == build(alerts, ctx)[0]["id"]


def test_the_bigger_intrusion_ranks_first() -> None:
    small = [alert("s", T, "low", host=["ws-9"])]
    big = [alert(f"b{n}", T + n * HOUR, "high", host=["ws-1", f"srv-{n}"]) for n in range(4)]
    ranked = build(small + big, Context())
    assert [len(i["alerts"]) for i in ranked] == [4, 1]
