"""One batch in, alerts out: Sigma matches and indicator hits become explained alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from crownwatch.detect import sigma
from crownwatch.detect import sigma_correlate as correlate
from crownwatch.detect.engine import Detector, IndicatorInfo, detect, indicator_info
from crownwatch.detect.indicators import Matcher
from crownwatch.schema import SCHEMA

SYSMON = "Microsoft-Windows-Sysmon/Operational"
T = datetime(2026, 10, 8, 9, 30, tzinfo=UTC)

RULE = """
title: Whoami Run
id: 11111111-1111-1111-1111-111111111111
level: {level}
tags: [attack.discovery, attack.t1033]
logsource: {{product: windows, category: process_creation}}
detection:
    selection: {{Image|endswith: '\\\\whoami.exe'}}
    condition: selection
"""


def rules(level: str = "medium") -> sigma.RuleIndex:
    found = sigma.RuleSet()
    sigma.add_yaml(found, RULE.format(level=level), "<test>")
    assert not found.failures, found.failures
    return sigma.index(found.rules)


def row(n: int, **extra: Any) -> dict[str, Any]:
    data = {"EventID": 1, "Image": extra.pop("image", "C:\\Windows\\System32\\notepad.exe")}
    return {
        "@timestamp": T,
        "event.id": f"ev{n}",
        "host.name": "WS-0008",
        "user.name": "alice",
        "winlog.channel": SYSMON,
        "winlog.event_id": 1,
        "process.command_line": extra.pop("command_line", None),
        "event.original": orjson.dumps(data).decode(),
        "fields": orjson.dumps(data).decode(),
        **extra,
    }


def batch(*rows: dict[str, Any]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(list(rows), schema=SCHEMA)


def test_a_sigma_match_is_an_alert_with_techniques_entities_and_what_it_saw() -> None:
    events = batch(
        row(1, image="C:\\Windows\\System32\\whoami.exe", command_line="whoami /all"),
        row(2),
    )
    [alert] = detect(events, Detector(rules()))
    assert (alert.kind, alert.rule, alert.severity) == (
        "sigma",
        "11111111-1111-1111-1111-111111111111",
        "medium",
    )
    assert alert.techniques == ("T1033",) and alert.events == ("ev1",) and alert.count == 1
    assert alert.entities == {"host": ("WS-0008",), "user": ("alice",)}
    assert "whoami /all" in alert.explanation and "WS-0008" in alert.explanation
    assert alert.first == alert.last == T


def test_matches_below_the_minimum_level_raise_no_alert() -> None:
    events = batch(row(1, image="C:\\Windows\\System32\\whoami.exe"))
    assert detect(events, Detector(rules("informational"))) == []
    assert len(detect(events, Detector(rules("informational"), min_level="informational"))) == 1


def test_an_indicator_hit_is_an_alert_that_names_what_the_indicator_is_linked_to() -> None:
    matcher = Matcher.build({("ipv4-addr", "45.77.126.34"): ["indicator--c2"]})
    info = IndicatorInfo("APT41 C2 address", 85, ("APT41",), ("T1071.001",))
    detector = Detector(rules(), matcher, about=lambda ident: info)
    events = batch(row(1, **{"destination.ip": "45.77.126.34", "source.ip": "10.20.0.17"}))
    [alert] = detect(events, detector)
    assert (alert.kind, alert.rule, alert.severity) == ("indicator", "indicator--c2", "high")
    assert alert.techniques == ("T1071.001",)
    assert alert.entities["ip"] == ("10.20.0.17", "45.77.126.34")
    assert "45.77.126.34" in alert.explanation and "linked to APT41" in alert.explanation
    assert "confidence 85" in alert.explanation
    assert [h.indicator_id for h in detector.hits] == ["indicator--c2"]


def test_an_indicator_linked_to_nothing_is_a_medium_alert() -> None:
    matcher = Matcher.build({("domain-name", "evil.com"): ["indicator--d"]})
    events = batch(row(1, **{"dns.question.name": "www.evil.com"}))
    [alert] = detect(events, Detector(rules(), matcher))
    assert alert.severity == "medium" and alert.entities["domain"] == ("www.evil.com",)


def test_indicator_info_reads_names_and_attack_ids_of_what_it_indicates() -> None:
    indicator = {"id": "indicator--1", "name": "bad ip", "confidence": 70}
    related = [
        {"id": "intrusion-set--1", "type": "intrusion-set", "name": "APT41"},
        {
            "id": "attack-pattern--1",
            "type": "attack-pattern",
            "name": "Web Protocols",
            "external_references": [{"source_name": "mitre-attack", "external_id": "T1071.001"}],
        },
    ]
    info = indicator_info(indicator, related)
    assert info == IndicatorInfo("bad ip", 70, ("APT41",), ("T1071.001",))


CORRELATION = """
title: Many Whoami
id: 22222222-2222-2222-2222-222222222222
level: high
correlation:
    type: event_count
    rules: [11111111-1111-1111-1111-111111111111]
    group-by: [Computer]
    timespan: 10m
    condition: {gte: 3}
"""


def test_a_correlation_is_one_alert_over_its_member_events_across_batches() -> None:
    found = sigma.RuleSet()
    sigma.add_texts(found, [(RULE.format(level="low") + "---\n" + CORRELATION, "<test>")])
    assert not found.failures, found.failures
    detector = Detector(sigma.index(found.rules), correlations=correlate.plan(found.correlations))
    whoami = {"image": "C:\\Windows\\System32\\whoami.exe"}
    first = detect(batch(row(1, **whoami), row(2, **whoami)), detector)
    second = detect(batch(row(3, **whoami)), detector)
    # the base rule's own matches are not reported: the correlation does not `generate` them
    assert first == []
    [correlated] = second
    assert correlated.events == ("ev1", "ev2", "ev3") and correlated.count == 3
    assert correlated.severity == "high" and "correlated 3 events" in correlated.explanation
    assert correlated.entities["host"] == ("WS-0008",)
