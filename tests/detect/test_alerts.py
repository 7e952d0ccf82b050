"""Alerts: techniques from tags, entities from events, keys, folding within a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crownwatch.detect.alerts import Alert, at_least, entities_of, fold, key_entity, techniques_of

T = datetime(2026, 10, 8, 9, 0, tzinfo=UTC)


def alert(event: str, when: datetime, host: str = "ws1", count: int = 1) -> Alert:
    return Alert(
        kind="analytic",
        rule="exfil",
        title="t",
        severity="low",
        first=when,
        last=when,
        explanation=event,
        entities={"host": (host,)},
        events=(event,),
        count=count,
    )


def test_techniques_come_from_attack_tags_only() -> None:
    tags = [
        "attack.execution",
        "attack.t1059.001",
        "attack.T1003",
        "cve.2021-44228",
        "attack.t1059.001",
    ]
    assert techniques_of(tags) == ("T1059.001", "T1003")


def test_entities_come_from_the_event_columns_and_skip_empty_values() -> None:
    rows = [
        {
            "host.name": "WS1",
            "source.ip": "10.0.0.1",
            "destination.ip": "8.8.8.8",
            "user.name": "-",
        },
        {"host.name": "WS1", "dns.question.name": "evil.com", "file.path": ""},
    ]
    assert entities_of(rows) == {
        "host": ("WS1",),
        "ip": ("10.0.0.1", "8.8.8.8"),
        "domain": ("evil.com",),
    }


def test_the_key_entity_prefers_host_then_user_then_ip() -> None:
    assert key_entity({"ip": ("1.1.1.1",), "user": ("bob", "alice")}) == "user:alice"
    assert key_entity({"host": ("b", "a"), "user": ("x",)}) == "host:a"
    assert key_entity({}) == ""


def test_severity_order() -> None:
    assert (
        at_least("high", "low") and at_least("low", "low") and not at_least("informational", "low")
    )


def test_fold_joins_alerts_of_a_key_within_the_window_only() -> None:
    alerts = [
        alert("e1", T),
        alert("e2", T + timedelta(hours=5)),
        alert("e3", T + timedelta(days=3)),
        alert("e4", T, host="ws2"),
        alert("e1", T),  # the same event twice counts once
    ]
    folded = fold(alerts, timedelta(days=1), max_events=100)
    spans = sorted((a.entities["host"], a.events, a.count) for a in folded)
    assert spans == [
        (("ws1",), ("e1", "e2"), 2),
        (("ws1",), ("e3",), 1),
        (("ws2",), ("e4",), 1),
    ]
    joined = next(a for a in folded if a.events == ("e1", "e2"))
    assert (joined.first, joined.last, joined.explanation) == (T, T + timedelta(hours=5), "e2")


def test_fold_bounds_the_events_kept_but_not_the_count() -> None:
    alerts = [alert(f"e{n}", T + timedelta(minutes=n)) for n in range(30)]
    [one] = fold(alerts, timedelta(days=1), max_events=5)
    assert len(one.events) == 5 and one.count == 30


def test_the_resolver_of_a_dns_lookup_is_not_an_entity() -> None:
    row = {
        "source.ip": "10.20.0.17",
        "destination.ip": "10.10.0.11",
        "dns.question.name": "c2.example",
    }
    assert entities_of([row]) == {"ip": ("10.20.0.17",), "domain": ("c2.example",)}
