"""Indicator matching over event batches: kinds, parent domains, case, IPv6, the demo scenario."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from crownwatch import config, lake, pipeline
from crownwatch.detect.indicators import Hit, Matcher, match, sightings
from crownwatch.intel import decay, kb, stixfiles
from crownwatch.schema import SCHEMA
from crownwatch.store import Store

T = datetime(2026, 10, 8, 9, 30, tzinfo=UTC)
T_US = int(T.timestamp() * 1_000_000)

VALUES: dict[tuple[str, str], list[str]] = {
    ("ipv4-addr", "45.77.126.34"): ["indicator--ip4"],
    ("ipv6-addr", "2001:db8::1"): ["indicator--ip6"],
    ("domain-name", "evil.com"): ["indicator--evil", "indicator--evil-2"],
    ("domain-name", "c2.example.org"): ["indicator--c2"],
    ("url", "https://evil.com/a.js"): ["indicator--url"],
    ("sha256", "ab" * 32): ["indicator--sha256"],
    ("md5", "cd" * 16): ["indicator--md5"],
    ("user-agent", "EvilBot/1.0"): ["indicator--ua"],
    ("ja3", "e7d705a3286e19ea42f587b344ee6865"): ["indicator--ja3"],
    ("file-name", "payload.dll"): ["indicator--file"],
    ("email-addr", "boss@evil.com"): ["indicator--mail"],
}


def batch(*rows: dict[str, Any]) -> pa.RecordBatch:
    full = [
        {"@timestamp": T_US + n, "event.id": f"ev{n}", "host.name": f"host{n}", **row}
        for n, row in enumerate(rows)
    ]
    return pa.RecordBatch.from_pylist(full, schema=SCHEMA)


def found(*rows: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(indicator id, field, event id) of every hit."""
    return {(h.indicator_id, h.field, h.event_id) for h in match(batch(*rows), MATCHER)}


MATCHER = Matcher.build(VALUES)


def test_a_hit_carries_the_indicator_the_field_and_the_event() -> None:
    hits = match(batch({}, {"destination.ip": "45.77.126.34", "source.ip": "10.0.0.5"}), MATCHER)
    assert hits == [
        Hit(
            "indicator--ip4",
            "ipv4-addr",
            "45.77.126.34",
            "destination.ip",
            "ev1",
            datetime(2026, 10, 8, 9, 30, 0, 1, tzinfo=UTC),
            "host1",
        )
    ]


def test_every_kind_in_its_fields() -> None:
    assert found(
        {"source.ip": "45.77.126.34"},
        {"host.ip": "45.77.126.34"},
        {"url.full": "https://evil.com/a.js"},
        {"file.hash.sha256": "ab" * 32},
        {"process.hash.md5": "cd" * 16},
        {"user_agent.original": "EvilBot/1.0"},
        {"tls.client.ja3": "e7d705a3286e19ea42f587b344ee6865"},
        {"file.name": "payload.dll"},
        {"tls.server.name": "c2.example.org"},
        {"message": "boss@evil.com", "user.name": "boss@evil.com"},  # no email field yet
    ) == {
        ("indicator--ip4", "source.ip", "ev0"),
        ("indicator--ip4", "host.ip", "ev1"),
        ("indicator--url", "url.full", "ev2"),
        ("indicator--sha256", "file.hash.sha256", "ev3"),
        ("indicator--md5", "process.hash.md5", "ev4"),
        ("indicator--ua", "user_agent.original", "ev5"),
        ("indicator--ja3", "tls.client.ja3", "ev6"),
        ("indicator--file", "file.name", "ev7"),
        ("indicator--c2", "tls.server.name", "ev8"),
    }


def test_subdomains_match_their_parent_but_look_alikes_do_not() -> None:
    hits = match(
        batch(
            {"dns.question.name": "evil.com"},
            {"dns.question.name": "a.b.evil.com"},
            {"url.domain": "notevil.com"},
            {"url.domain": "evil.com.attacker.net"},
            {"destination.domain": "evil.co"},
            {"source.domain": "x.example.org"},  # a sibling of c2.example.org, not below it
            {"tls.server.name": "deep.c2.example.org"},
        ),
        MATCHER,
    )
    assert {(h.indicator_id, h.value, h.event_id) for h in hits} == {
        ("indicator--evil", "evil.com", "ev0"),
        ("indicator--evil-2", "evil.com", "ev0"),
        ("indicator--evil", "evil.com", "ev1"),
        ("indicator--evil-2", "evil.com", "ev1"),
        ("indicator--c2", "c2.example.org", "ev6"),
    }


def test_a_name_that_is_its_own_indicator_and_below_another_hits_both() -> None:
    matcher = Matcher.build(
        {("domain-name", "evil.com"): ["i1"], ("domain-name", "a.evil.com"): ["i2"]}
    )
    hits = match(batch({"dns.question.name": "x.a.evil.com"}), matcher)
    assert sorted((h.indicator_id, h.value) for h in hits) == [
        ("i1", "evil.com"),
        ("i2", "a.evil.com"),
    ]


def test_case_and_trailing_dots_where_they_carry_no_meaning() -> None:
    assert found(
        {"dns.question.name": "WWW.Evil.COM."},
        {"file.hash.sha256": "AB" * 32},
        {"tls.client.ja3": "E7D705A3286E19EA42F587B344EE6865"},
        {"user_agent.original": "evilbot/1.0"},  # user agents are matched as written
        {"url.full": "HTTPS://EVIL.COM/A.JS"},  # and so are URLs
        {"file.name": "PAYLOAD.DLL"},
    ) == {
        ("indicator--evil", "dns.question.name", "ev0"),
        ("indicator--evil-2", "dns.question.name", "ev0"),
        ("indicator--sha256", "file.hash.sha256", "ev1"),
        ("indicator--ja3", "tls.client.ja3", "ev2"),
    }


def test_ipv6_in_any_written_form() -> None:
    assert found(
        {"source.ip": "2001:0db8:0000:0000:0000:0000:0000:0001"},
        {"destination.ip": "2001:DB8::1"},
        {"host.ip": "2001:db8::2"},
        {"source.ip": "not:an:address"},
        {"destination.ip": "45.77.126.35"},
    ) == {
        ("indicator--ip6", "source.ip", "ev0"),
        ("indicator--ip6", "destination.ip", "ev1"),
    }


def test_repeated_values_and_several_fields_of_one_event() -> None:
    rows = [{"source.ip": "45.77.126.34"}] * 500 + [
        {"dns.question.name": "evil.com", "url.domain": "cdn.evil.com", "source.ip": "10.1.1.1"}
    ]
    hits = match(batch(*rows), MATCHER)
    assert len([h for h in hits if h.indicator_id == "indicator--ip4"]) == 500
    assert {(h.field, h.event_id) for h in hits if h.indicator_id == "indicator--evil"} == {
        ("dns.question.name", "ev500"),
        ("url.domain", "ev500"),
    }


def test_null_columns_missing_columns_and_an_empty_batch() -> None:
    assert match(batch({}, {}, {"message": "45.77.126.34 evil.com"}), MATCHER) == []
    assert match(batch(), MATCHER) == []
    assert match(pa.RecordBatch.from_pylist([], schema=SCHEMA), MATCHER) == []
    narrow = pa.RecordBatch.from_pylist(
        [{"event.id": "n1", "url.domain": "evil.com"}, {"event.id": "n2", "url.domain": None}],
        schema=pa.schema([("event.id", pa.string()), ("url.domain", pa.string())]),
    )
    hits = match(narrow, MATCHER)
    assert {(h.indicator_id, h.event_id, h.timestamp, h.host) for h in hits} == {
        ("indicator--evil", "n1", None, None),
        ("indicator--evil-2", "n1", None, None),
    }
    assert match(batch({"source.ip": "45.77.126.34"}), Matcher.build({})) == []


def test_unknown_kinds_are_ignored() -> None:
    matcher = Matcher.build({("windows-registry-key", "HKLM\\Run"): ["i1"], **VALUES})
    assert "windows-registry-key" not in matcher.arrays
    assert found({"registry.path": "HKLM\\Run"}) == set()
    assert match(batch({"registry.path": "HKLM\\Run"}), matcher) == []


def test_sightings_count_events_per_indicator_at_the_latest_time() -> None:
    t1, t2 = datetime(2026, 10, 7, tzinfo=UTC), datetime(2026, 10, 9, tzinfo=UTC)
    hits = [
        Hit("i1", "domain-name", "evil.com", "dns.question.name", "e1", t1, "h"),
        Hit("i1", "domain-name", "evil.com", "url.domain", "e1", t1, "h"),  # same event
        Hit("i1", "domain-name", "evil.com", "url.domain", "e2", t2, "h"),
        Hit("i2", "ipv4-addr", "1.2.3.4", "source.ip", "e3", t1, "h"),
        Hit("i2", "ipv4-addr", "1.2.3.4", "source.ip", "e4", None, "h"),
        Hit("i3", "ipv4-addr", "5.6.7.8", "source.ip", "e5", None, "h"),
    ]
    assert sightings(hits) == [("i1", t2, 2), ("i2", t1, 2)]
    assert sightings([]) == []


# --- end to end: the demo scenario's APT41 report against its own telemetry ---------------


@pytest.fixture(scope="module")
def lake_and_kb(
    tmp_path_factory: pytest.TempPathFactory, small_scenario: Path
) -> Iterator[tuple[Path, Path]]:
    small, home = small_scenario, tmp_path_factory.mktemp("iocs") / "home"
    settings = config.load(home=home, environ={})
    store = Store.open(settings)
    try:
        summary = pipeline.ingest_files(
            [str(small / d) for d in ("windows", "zeek", "syslog")], settings, store
        )
        assert summary.exit_code == 0 and summary.added > 0
        report = kb.import_objects(
            store, stixfiles.read(small / "report" / "apt41-bundle.json"), "apt41-report"
        )
        assert report.rejected == 0 and report.added > 0
    finally:
        store.close()
    yield small, home


NOW = datetime(2026, 10, 12, tzinfo=UTC)
APT41_HASH = "57ae74a78de2cc2a4fbfe5055e2c414658bce9154bed622868315c8e473c7e13"


def _scan(
    settings: config.Settings, small: Path, matcher: Matcher
) -> tuple[list[Hit], dict[str, str]]:
    """Every hit in the lake, batch by batch, and event id -> incident of the ground truth."""
    con = lake.connect(settings.lake_dir)
    try:
        table = con.sql("select * from events").to_arrow_table()
        hits = [h for b in table.to_batches(max_chunksize=8192) for h in match(b, matcher)]
        return hits, _incident_of_events(con, small)
    finally:
        con.close()


def test_the_apt41_report_finds_the_apt41_intrusion(lake_and_kb: tuple[Path, Path]) -> None:
    small, home = lake_and_kb
    settings = config.load(home=home, environ={})
    store = Store.open(settings)
    try:
        # by the end of the scenario the report's addresses and its URL have decayed under
        # the default model (confidence 85, valid from 2026-09-01); its domains and hashes
        # are still live
        live = kb.live_index(store, NOW)
        assert {kind for kind, _ in live.values} == {"sha256", "domain-name"}
        assert live.decayed == 3
        hits, incident = _scan(settings, small, Matcher.build(live.values))
        assert {(h.value, h.field) for h in hits} == {
            (APT41_HASH, "process.hash.sha256"),
            ("sync.ondemand-patch.net", "dns.question.name"),
            ("static.vaultcdn-assets.com", "dns.question.name"),
            ("static.vaultcdn-assets.com", "destination.domain"),
            ("static.vaultcdn-assets.com", "tls.server.name"),
        }
        assert {incident.get(h.event_id) for h in hits} == {"apt41"}
        hashes = [h for h in hits if h.value == APT41_HASH]
        assert len(hashes) == 2 and {h.host for h in hashes} == {"WS-0008.helix.corp"}

        found = sightings(hashes)
        assert found == [
            (hashes[0].indicator_id, max(h.timestamp for h in hashes if h.timestamp), 2)
        ]
        assert kb.record_sightings(store, found) == 1
        seen = kb.sightings(store, [hashes[0].indicator_id])[hashes[0].indicator_id]
        assert seen["count"] == 2 and seen["last_seen"] == found[0][1]
        assert datetime(2026, 10, 5, tzinfo=UTC) <= found[0][1] < NOW
    finally:
        store.close()


def test_with_longer_lifetimes_the_network_indicators_hit_only_apt41(
    lake_and_kb: tuple[Path, Path],
) -> None:
    small, home = lake_and_kb
    settings = config.load(home=home, environ={})
    store = Store.open(settings)
    try:
        model = decay.Model(kinds={kind: (365.0, 1.0) for kind in decay.DEFAULT_KINDS})
        live = kb.live_index(store, NOW, model=model)
        assert len(live.values) == 8 and live.decayed == 0
        hits, incident = _scan(settings, small, Matcher.build(live.values))
    finally:
        store.close()
    # every hit is an event of the APT41 intrusion, none of the commodity malware's
    assert {incident.get(h.event_id) for h in hits} == {"apt41"}
    assert {(h.kind, h.value, h.field) for h in hits} == {
        ("ipv4-addr", "45.77.126.34", "destination.ip"),
        ("domain-name", "sync.ondemand-patch.net", "dns.question.name"),
        ("domain-name", "static.vaultcdn-assets.com", "dns.question.name"),
        ("domain-name", "static.vaultcdn-assets.com", "destination.domain"),
        ("domain-name", "static.vaultcdn-assets.com", "tls.server.name"),
        ("sha256", APT41_HASH, "process.hash.sha256"),
    }
    assert all(h.indicator_id in live.values[(h.kind, h.value)] for h in hits)
    beacons = [h for h in hits if h.value == "45.77.126.34"]
    assert len(beacons) > 1000 and len({h.event_id for h in beacons}) == len(beacons)


def _incident_of_events(con: Any, small: Path) -> dict[str, str]:
    """event.id -> incident, for the malicious lines of the ground truth."""
    rows = [
        orjson.loads(line)
        for line in (small / "truth" / "events.jsonl").read_bytes().split(b"\n")
        if line
    ]
    con.register(
        "truth",
        pa.Table.from_pylist(
            [
                {
                    "path": str((small / r["file"]).resolve()),
                    "offset": r["offset"],
                    "incident": r["incident"],
                }
                for r in rows
            ]
        ),
    )
    return dict(
        con.execute(
            'SELECT e."event.id", t.incident FROM truth t JOIN events e '
            'ON e."log.file.path" = t.path AND e."log.offset" = t.offset'
        ).fetchall()
    )


def test_confirmed_keeps_simple_hits_and_compound_hits_whose_check_holds() -> None:
    """What a retro-hunt applies to the rows it reads back from the lake."""
    from crownwatch.detect.indicators import confirmed
    from crownwatch.detect.stix_eval import compile_pattern

    check = compile_pattern("[ipv4-addr:value = '45.77.126.34' AND network-traffic:dst_port = 443]")
    matcher = Matcher.build(VALUES, {"indicator--ip4": check})
    hits = [
        Hit("indicator--ip4", "ipv4-addr", "45.77.126.34", "destination.ip", e, None, None)
        for e in ("e1", "e2", "e3")
    ] + [Hit("indicator--evil", "domain-name", "evil.com", "url.domain", "e2", None, None)]
    rows = {
        "e1": {"destination.ip": "45.77.126.34", "destination.port": 443},
        "e2": {"destination.ip": "45.77.126.34", "destination.port": 80},
    }
    kept = confirmed(hits, rows, matcher)
    assert [(h.indicator_id, h.event_id) for h in kept] == [
        ("indicator--ip4", "e1"),
        ("indicator--evil", "e2"),  # simple: kept as found
    ]  # e3: its row is missing, so its check cannot be confirmed
    assert confirmed(hits, {}, MATCHER) == hits  # no compound indicator: nothing to check
