"""The knowledge base on SQLite and PostgreSQL: import, versions, rejects, look-ups, ATT&CK."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from crownwatch import config
from crownwatch.intel import attack, kb
from crownwatch.store import Store

T0, T1 = "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"


def _indicator(n: int, value: str, modified: str = T0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": T0,
        "modified": modified,
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": T0,
        **extra,
    }


def test_versions_newest_wins_and_reimport_changes_nothing(store: Store) -> None:
    first = kb.import_objects(store, [_indicator(1, "1.1.1.1"), _indicator(2, "2.2.2.2")], "a")
    assert (first.added, first.updated, first.unchanged, first.rejected) == (2, 0, 0, 0)
    again = kb.import_objects(store, [_indicator(1, "1.1.1.1")], "a")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)
    newer = kb.import_objects(store, [_indicator(1, "9.9.9.9", modified=T1)], "a")
    assert (newer.added, newer.updated) == (0, 1)
    older = kb.import_objects(
        store, [_indicator(2, "3.3.3.3", modified="2025-01-01T00:00:00Z")], "a"
    )
    assert older.updated == 1
    assert kb.get(store, _indicator(1, "")["id"])["pattern"] == "[ipv4-addr:value = '9.9.9.9']"
    assert kb.get(store, _indicator(2, "")["id"])["pattern"] == "[ipv4-addr:value = '2.2.2.2']"
    values = kb.lookup_values(store)
    assert ("ipv4-addr", "9.9.9.9") in values and ("ipv4-addr", "1.1.1.1") not in values
    assert values[("ipv4-addr", "2.2.2.2")] == [_indicator(2, "")["id"]]


def test_bad_objects_are_rejected_one_at_a_time(store: Store) -> None:
    good = _indicator(1, "1.1.1.1")
    bad = [
        "not an object",
        {"type": "indicator", "id": "indicator--nope"},
        {**_indicator(2, "x"), "pattern": "[ipv4-addr:value = "},
        {**_indicator(3, "x"), "created": "yesterday"},
        {**_indicator(4, "x"), "confidence": 101},
        {
            "type": "relationship",
            "spec_version": "2.1",
            "created": T0,
            "modified": T0,
            "id": "relationship--00000000-0000-4000-8000-000000000001",
        },
        {**_indicator(5, "x"), "id": "malware--00000000-0000-4000-8000-000000000005"},
    ]
    report = kb.import_objects(store, [bad[0], good, *bad[1:]], "feed")
    assert (report.added, report.rejected) == (1, len(bad))
    joined = " | ".join(report.reasons)
    for needle in (
        "not a JSON object",
        "bad id",
        "bad pattern",
        "bad created",
        "confidence must be",
        "missing relationship_type",
        "bad id 'malware--",
    ):
        assert needle in joined, needle


def test_stix_20_is_upgraded_and_tlp_is_kept_or_inherited(store: Store) -> None:
    old = {
        "type": "malware",
        "id": "malware--00000000-0000-4000-8000-000000000001",
        "created": T0,
        "modified": T0,
        "name": "Evil",
        "labels": ["backdoor"],
    }
    marked = {
        **_indicator(1, "1.1.1.1"),
        "object_marking_refs": ["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"],
    }
    kb.import_objects(store, [old, marked, _indicator(2, "2.2.2.2")], "x", default_tlp="amber")
    upgraded = kb.get(store, old["id"])
    assert upgraded is not None
    assert (upgraded["spec_version"], upgraded["malware_types"], upgraded["is_family"]) == (
        "2.1",
        ["backdoor"],
        True,
    )
    from sqlalchemy import select

    from crownwatch.store.models import StixObject

    with store.engine.connect() as conn:
        tlps = dict(conn.execute(select(StixObject.id, StixObject.tlp)).all())
    assert tlps[marked["id"]] == "red" and tlps[_indicator(2, "")["id"]] == "amber"


def test_attack_profile_and_questions_later_stages_ask(store: Store) -> None:
    objects = attack.objects()
    report = kb.import_objects(store, copy.deepcopy(objects), attack.SOURCE, default_tlp="clear")
    assert report.added == len(objects) == 24_771 and report.rejected == 0
    [apt41] = kb.resolve(store, "Wicked Panda")
    profile = kb.profile(store, apt41)
    assert profile["attack_id"] == "G0096" and "BARIUM" in profile["aliases"]
    techniques = {t["id"] for items in profile["techniques"].values() for t in items}
    assert {"T1566.001", "T1003.001", "T1560.001"} <= techniques
    assert "S0154" in {s["id"] for s in profile["software"]}  # Cobalt Strike
    assert "C0017" in {c["id"] for c in profile["campaigns"]}
    users = {g["name"] for g in kb.groups_using(store, "T1566.001")}
    assert "APT41" in users and len(users) > 50
    assert kb.resolve(store, "g0096")[0]["name"] == "APT41"
    assert kb.counts(store)["intrusion-set"] == 187


def test_sightings_decay_and_warninglists_decide_what_matches(store: Store) -> None:
    from datetime import UTC, datetime, timedelta

    from crownwatch.intel.warninglists import Warninglists

    now = datetime(2026, 3, 1, tzinfo=UTC)
    fresh = _indicator(1, "45.77.12.34", confidence=90, valid_from="2026-02-25T00:00:00Z")
    old = _indicator(2, "45.77.12.35", confidence=90, valid_from="2025-06-01T00:00:00Z")
    resolver = _indicator(3, "8.8.8.8", confidence=90, valid_from="2026-02-25T00:00:00Z")
    kb.import_objects(store, [fresh, old, resolver], "feed")
    lists = Warninglists.load(["public-dns-v4"])
    index = kb.live_index(store, now, lists=lists)
    assert set(index.values) == {("ipv4-addr", "45.77.12.34")}
    assert (index.decayed, index.warninglisted) == (1, 1)
    # a sighting yesterday brings the old indicator back: its age counts from then
    assert kb.record_sightings(store, [(old["id"], now - timedelta(days=1), 3)]) == 1
    kb.record_sightings(store, [(old["id"], now - timedelta(days=20), 2)])
    assert kb.sightings(store, [old["id"]])[old["id"]]["count"] == 5
    assert ("ipv4-addr", "45.77.12.35") in kb.live_index(store, now).values
    status = kb.indicator_status(store, kb.get(store, resolver["id"]) or {}, now, lists=lists)
    assert status["decay"]["live"] and not status["matches"]
    assert status["warninglists"][0]["list"] == "public-dns-v4"


def test_actors_targeting_a_sector_and_country(tmp_path: Path) -> None:
    from crownwatch.intel import galaxy

    s = Store.open(config.load(home=tmp_path, environ={}))
    objects = attack.objects()
    kb.import_objects(s, galaxy.actors(objects), galaxy.SOURCE, "clear")
    pharma = {o["name"] for o in kb.actors_targeting(s, sector="pharmacy")}
    both = {
        o["name"]
        for o in kb.actors_targeting(s, sector="Pharmacy", country="United States of America")
    }
    assert "APT41" in pharma and both <= pharma and both
    assert kb.actors_targeting(s) == []
    s.close()
