"""The alerts table on SQLite and PostgreSQL: dedupe within the window, listing, detected files."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crownwatch import config
from crownwatch.detect.alerts import Alert
from crownwatch.store import Store
from crownwatch.store import alerts as alerts_store

T = datetime(2026, 10, 8, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def alert(event: str, when: datetime, host: str = "ws1", **extra: Any) -> Alert:
    fields: dict[str, Any] = {
        "kind": "sigma",
        "rule": "rule-1",
        "title": "Suspicious thing",
        "severity": "medium",
        "first": when,
        "last": when,
        "explanation": f"matched {event}",
        "techniques": ("T1059.001",),
        "entities": {"host": (host,), "user": ("alice",)},
        "events": (event,),
        "count": 1,
    }
    return Alert(**{**fields, **extra})


def test_the_same_rule_on_the_same_host_within_the_window_is_one_alert(store: Store) -> None:
    first = alerts_store.save(store, [alert("e1", T), alert("e2", T + timedelta(hours=2))], DAY, 10)
    assert (first.added, first.updated) == (1, 0)
    later = alerts_store.save(
        store, [alert("e3", T + timedelta(hours=20), severity="high")], DAY, 10
    )
    assert (later.added, later.updated) == (0, 1)
    [one] = alerts_store.listing(store)
    assert one["events"] == ["e1", "e2", "e3"] and one["count"] == 3
    assert one["first"] == T and one["last"] == T + timedelta(hours=20)
    assert one["severity"] == "high" and one["techniques"] == ["T1059.001"]
    assert one["explanation"] == "matched e3" and one["status"] == "new"


def test_another_host_or_a_later_day_is_another_alert(store: Store) -> None:
    alerts_store.save(store, [alert("e1", T)], DAY, 10)
    other = alerts_store.save(store, [alert("e2", T, host="ws2")], DAY, 10)
    later = alerts_store.save(store, [alert("e3", T + 3 * DAY)], DAY, 10)
    assert (other.added, later.added) == (1, 1)
    assert len(alerts_store.listing(store)) == 3


def test_saving_the_same_events_again_counts_them_once(store: Store) -> None:
    alerts_store.save(store, [alert("e1", T), alert("e2", T)], DAY, 10)
    again = alerts_store.save(store, [alert("e1", T), alert("e2", T)], DAY, 10)
    assert (again.added, again.updated) == (0, 1)
    [one] = alerts_store.listing(store)
    assert one["count"] == 2


def test_events_kept_per_alert_are_bounded_but_counted(store: Store) -> None:
    many = [alert(f"e{n}", T + timedelta(seconds=n)) for n in range(25)]
    alerts_store.save(store, many, DAY, 10)
    [one] = alerts_store.listing(store)
    assert len(one["events"]) == 10 and one["count"] == 25


def test_listing_filters_by_severity_and_kind_and_puts_the_worst_first(store: Store) -> None:
    alerts_store.save(
        store,
        [
            alert("e1", T, host="a", severity="low"),
            alert("e2", T, host="b", severity="critical"),
            replace(alert("e3", T, host="c"), kind="indicator", severity="high"),
        ],
        DAY,
        10,
    )
    assert [a["severity"] for a in alerts_store.listing(store)] == ["critical", "high", "low"]
    assert [a["severity"] for a in alerts_store.listing(store, min_severity="high")] == [
        "critical",
        "high",
    ]
    assert [a["kind"] for a in alerts_store.listing(store, kind="indicator")] == ["indicator"]


def test_detected_parts_are_remembered(store: Store) -> None:
    assert alerts_store.detected_parts(store) == set()
    alerts_store.mark_detected(store, [("events/a.parquet", 3), ("events/b.parquet", 4)])
    alerts_store.mark_detected(store, [("events/a.parquet", 3)])
    assert alerts_store.detected_parts(store) == {"events/a.parquet", "events/b.parquet"}


def test_a_rule_that_fires_on_many_hosts_is_demoted_to_informational(store: Store) -> None:
    routine = [alert(f"e{n}", T + n * DAY, host=f"ws{n}") for n in range(5)]
    # on many hosts but on one day: a burst, not routine
    burst = [replace(alert(f"b{n}", T, host=f"ws{n}"), rule="rule-3") for n in range(5)]
    rare = [replace(alert("x1", T, host="ws1"), rule="rule-2")]
    alerts_store.save(store, routine + burst + rare, DAY, 10)
    assert alerts_store.demote_common(store, 5, 3) == {"rule-1": 5}
    listed = alerts_store.listing(store)
    assert {(a["rule"], a["severity"]) for a in listed} == {
        ("rule-1", "informational"),
        ("rule-2", "medium"),
        ("rule-3", "medium"),
    }
    demoted = [a for a in listed if a["rule"] == "rule-1"]
    assert all(a["explanation"].endswith("(kept for hunts).") for a in demoted)
    assert all(a["explanation"].count("Demoted") == 1 for a in demoted)
    # a later alert of a common rule is demoted too, its explanation noted once
    alerts_store.save(store, [alert("e9", T + timedelta(hours=1), host="ws9")], DAY, 10)
    assert alerts_store.demote_common(store, 5, 3) == {"rule-1": 6}
    assert {a["severity"] for a in alerts_store.listing(store) if a["rule"] == "rule-1"} == {
        "informational"
    }
    assert alerts_store.demote_common(store, 0, 3) == {}


def test_detecting_the_same_events_from_scratch_gives_the_same_ids(tmp_path: Path) -> None:
    ids = []
    for name in ("one", "two"):
        fresh = Store.open(config.load(home=tmp_path / name, environ={}))
        try:
            alerts_store.save(fresh, [alert("e1", T), alert("e2", T, host="ws2")], DAY, 10)
            ids.append(sorted(a["id"] for a in alerts_store.listing(fresh)))
        finally:
            fresh.close()
    assert ids[0] == ids[1] and len(set(ids[0])) == 2
