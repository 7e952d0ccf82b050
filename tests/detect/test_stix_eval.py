"""STIX patterns evaluated on events: operators, paths, classification, matching, live counts."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from crownwatch import config, pipeline
from crownwatch.detect import sigma
from crownwatch.detect.indicators import Matcher, match
from crownwatch.detect.stix_eval import NO_VALUE, Unsupported, classify, compile_pattern
from crownwatch.intel import kb
from crownwatch.intel.patterns import observables
from crownwatch.schema import SCHEMA
from crownwatch.store import Store

IP_AND_PORT = "[ipv4-addr:value = '1.2.3.4' AND network-traffic:dst_port = 8443]"


# -- the check on one event ------------------------------------------------------------------


def test_and_holds_only_when_both_comparisons_do() -> None:
    check = compile_pattern(IP_AND_PORT)
    assert check({"destination.ip": "1.2.3.4", "destination.port": 8443})
    assert not check({"destination.ip": "1.2.3.4", "destination.port": 443})
    assert not check({"destination.ip": "1.2.3.5", "destination.port": 8443})
    assert not check({"destination.ip": "1.2.3.4"})  # no port: the comparison cannot hold
    assert check.columns >= {"destination.ip", "destination.port", "source.ip"}


def test_or_and_parentheses_follow_stix_precedence() -> None:
    # AND binds tighter than OR: a OR (b AND c)
    check = compile_pattern(
        "[file:name = 'a.dll' OR file:name = 'b.dll' AND process:name = 'rundll32.exe']"
    )
    assert check({"file.name": "a.dll"})
    assert not check({"file.name": "b.dll", "process.name": "explorer.exe"})
    assert check({"file.name": "b.dll", "process.name": "rundll32.exe"})
    grouped = compile_pattern(
        "[(file:name = 'a.dll' OR file:name = 'b.dll') AND process:name = 'rundll32.exe']"
    )
    assert not grouped({"file.name": "a.dll"})
    assert grouped({"file.name": "a.dll", "process.name": "rundll32.exe"})


def test_in_not_and_not_equal() -> None:
    check = compile_pattern("[ipv4-addr:value IN ('1.1.1.1', '2.2.2.2')]")
    assert check({"source.ip": "2.2.2.2"}) and not check({"source.ip": "3.3.3.3"})
    negated = compile_pattern(
        "[url:value = 'http://a.example/x' AND user-account:user_id NOT = 'svc-backup']"
    )
    assert negated({"url.full": "http://a.example/x", "user.name": "alice"})
    assert not negated({"url.full": "http://a.example/x", "user.name": "svc-backup"})
    assert not negated({"url.full": "http://a.example/x"})  # no user: NOT does not hold either
    unequal = compile_pattern("[url:value = 'http://a.example/x' AND process:name != 'curl']")
    assert unequal({"url.full": "http://a.example/x", "process.name": "python"})
    assert not unequal({"url.full": "http://a.example/x", "process.name": "curl"})


def test_port_numbers_compare_as_numbers() -> None:
    check = compile_pattern(
        "[ipv4-addr:value = '1.2.3.4' AND network-traffic:dst_port >= 1024 "
        "AND network-traffic:src_port < 100]"
    )
    assert check({"source.ip": "1.2.3.4", "destination.port": 8443, "source.port": 53})
    assert not check({"source.ip": "1.2.3.4", "destination.port": 443, "source.port": 53})
    assert not check({"source.ip": "1.2.3.4", "destination.port": 8443, "source.port": 100})
    # "9" > "10" as text, not as numbers
    assert compile_pattern("[network-traffic:dst_port > 9]")({"destination.port": 10})
    with pytest.raises(Unsupported, match="text compared with a number"):
        compile_pattern("[network-traffic:dst_port = 'http']")


def test_cidr_issubset_and_issuperset() -> None:
    inside = compile_pattern("[ipv4-addr:value ISSUBSET '198.51.100.0/24']")
    assert inside({"destination.ip": "198.51.100.7"})
    assert not inside({"destination.ip": "198.51.101.7"})
    assert not inside({"destination.ip": "2001:db8::1"})  # another family
    assert not inside({"destination.ip": "not an address"})
    v6 = compile_pattern("[ipv6-addr:value ISSUBSET '2001:db8::/32']")
    assert v6({"source.ip": "2001:DB8:0:0:0:0:0:1"}) and not v6({"source.ip": "2001:db9::1"})
    outside = compile_pattern("[ipv4-addr:value ISSUPERSET '198.51.100.7/32']")
    assert outside({"source.ip": "198.51.100.7"}) and not outside({"source.ip": "198.51.100.8"})
    with pytest.raises(Unsupported, match="not an address"):
        compile_pattern("[file:name ISSUBSET '10.0.0.0/8']")


def test_matches_runs_in_linear_time_and_refuses_what_re2_cannot_run() -> None:
    pytest.importorskip("re2")
    check = compile_pattern(r"[url:value MATCHES '^https?://[^/]+/wp-admin/']")
    assert check({"url.full": "https://a.example/wp-admin/x.php"})
    assert not check({"url.full": "https://a.example/blog/wp-admin/"})
    # exponential backtracking in a backtracking engine; RE2 answers at once
    evil = compile_pattern("[process:command_line MATCHES '^(a+)+$']")
    assert not evil({"process.command_line": "a" * 100_000 + "!"})
    assert evil({"process.command_line": "aaaa"})
    with pytest.raises(Unsupported, match="RE2 cannot run"):
        compile_pattern(r"[process:command_line MATCHES '(a)\\1']")  # a back-reference
    with pytest.raises(Unsupported, match="longer than"):
        compile_pattern("[process:command_line MATCHES '" + "a" * 5000 + "']")


def test_like_is_anchored_with_percent_and_underscore() -> None:
    pytest.importorskip("re2")
    check = compile_pattern("[file:name LIKE 'invoice_%.exe']")
    assert check({"file.name": "invoice7-march.exe"})
    assert not check({"file.name": "invoice.exe"})  # _ needs one character
    assert not check({"file.name": "my invoice7.exe"})  # anchored at the start
    assert compile_pattern("[file:name LIKE 'a.b']")({"file.name": "a.b"})
    assert not compile_pattern("[file:name LIKE 'a.b']")({"file.name": "axb"})  # . is literal


def test_domains_match_their_subdomains_like_the_matcher() -> None:
    check = compile_pattern("[domain-name:value = 'Evil.COM.' AND network-traffic:dst_port = 53]")
    assert check({"dns.question.name": "cdn.evil.com", "destination.port": 53})
    assert check({"tls.server.name": "EVIL.com", "destination.port": 53})
    assert not check({"dns.question.name": "notevil.com", "destination.port": 53})
    assert not check({"dns.question.name": "evil.com.example", "destination.port": 53})


def test_hashes_are_case_free_and_seen_on_files_and_processes() -> None:
    check = compile_pattern("[file:name = 'a.dll' AND file:hashes.'SHA-256' = '" + "AB" * 32 + "']")
    assert check({"file.name": "a.dll", "file.hash.sha256": "ab" * 32})
    assert check({"file.name": "a.dll", "process.hash.sha256": "Ab" * 32})
    assert not check({"file.name": "b.dll", "file.hash.sha256": "ab" * 32})


def test_observations_joined_by_and_or_are_checked_on_the_same_event() -> None:
    both = compile_pattern("[ipv4-addr:value = '1.2.3.4'] AND [x-ja3:value = 'AABB']")
    assert both({"destination.ip": "1.2.3.4", "tls.client.ja3": "aabb"})
    assert not both({"destination.ip": "1.2.3.4"})
    either = compile_pattern("[ipv4-addr:value = '1.2.3.4'] OR [x-ja3:value = 'aabb']")
    assert either({"tls.client.ja3": "aabb"})


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [file:name = 'a']", "FOLLOWEDBY"),
        ("([ipv4-addr:value = '1.2.3.4'] AND [file:name = 'a']) WITHIN 60 SECONDS", "WITHIN"),
        ("[ipv4-addr:value = '1.2.3.4'] REPEATS 5 TIMES", "REPEATS"),
        (
            "[file:name = 'a'] START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'",
            "START/STOP",
        ),
    ],
)
def test_what_needs_state_across_events_is_unsupported(pattern: str, reason: str) -> None:
    with pytest.raises(Unsupported) as raised:
        compile_pattern(pattern)
    assert raised.value.reason == f"{reason} needs state across events"
    verdict = classify(pattern)
    assert (verdict.kind, verdict.reason) == ("unsupported", raised.value.reason)


# -- classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "kind", "reason"),
    [
        ("[ipv4-addr:value = '1.2.3.4']", "simple", ""),
        (
            "[ipv4-addr:value IN ('1.1.1.1', '2.2.2.2') OR domain-name:value = 'a.com']",
            "simple",
            "",
        ),
        ("[file:hashes.MD5 = 'ff'] OR [file:hashes.'SHA-256' = 'ee']", "simple", ""),
        ("[email-addr:value = 'a@b.c' OR ipv4-addr:value = '1.2.3.4']", "simple", ""),  # as ever
        (IP_AND_PORT, "compound", ""),
        ("[ipv4-addr:value NOT = '1.2.3.4']", "unsupported", NO_VALUE),
        ("[url:value MATCHES '^http://x']", "unsupported", NO_VALUE),
        # an event with port 8443 and another address satisfies it: no value finds it
        (
            "[ipv4-addr:value = '1.2.3.4' OR network-traffic:dst_port = 8443]",
            "unsupported",
            NO_VALUE,
        ),
        ("[email-addr:value = 'a@b.c']", "unsupported", "no column for email-addr:value"),
        (
            "[ipv4-addr:value = '1.2.3.4' AND mutex:name = 'x']",
            "unsupported",
            "no column for mutex:name",
        ),
        (
            "[ipv4-addr:value = '1.2.3.4' AND x-evil-" + "a" * 300 + ":p = 'x']",
            "unsupported",
            "no column for a custom object:…",
        ),
        ("[ipv4-addr:value = ", "unsupported", "bad pattern"),
    ],
)
def test_classify(pattern: str, kind: str, reason: str) -> None:
    verdict = classify(pattern)
    assert (verdict.kind, verdict.reason) == (kind, reason)
    assert (verdict.check is not None) == (kind == "compound")


def test_other_pattern_languages_are_unsupported() -> None:
    assert classify("title: x", "sigma").reason == "pattern type sigma"
    assert classify("rule x {}", "Y A R A!").reason == "pattern type other"


# -- matching a batch -------------------------------------------------------------------------

T_US = int(datetime(2026, 10, 8, tzinfo=UTC).timestamp() * 1_000_000)


def batch(*rows: dict[str, Any]) -> pa.RecordBatch:
    full = [
        {"@timestamp": T_US + n, "event.id": f"ev{n}", "host.name": "h", **row}
        for n, row in enumerate(rows)
    ]
    return pa.RecordBatch.from_pylist(full, schema=SCHEMA)


def matcher_of(patterns: dict[str, str]) -> Matcher:
    """A matcher over indicator id -> pattern, the way live_index and the pipeline build it."""
    values: dict[tuple[str, str], list[str]] = {}
    checks = {}
    for ident, pattern in patterns.items():
        verdict = classify(pattern)
        assert verdict.kind != "unsupported", verdict.reason
        if verdict.check is not None:
            checks[ident] = verdict.check
        for key in observables(pattern):
            values.setdefault(key, []).append(ident)
    return Matcher.build(values, checks)


EVENTS = batch(
    {"destination.ip": "1.2.3.4", "destination.port": 8443},  # ev0: both
    {"destination.ip": "1.2.3.4", "destination.port": 443},  # ev1: the address only
    {"source.ip": "1.2.3.4", "destination.port": 8443, "dns.question.name": "x.evil.com"},
    {"destination.ip": "9.9.9.9", "destination.port": 8443},  # ev3: the port only
    {"file.name": "a.dll", "file.hash.sha256": "ab" * 32},  # ev4
    {"file.name": "b.dll", "file.hash.sha256": "ab" * 32},  # ev5
)


def test_a_compound_indicator_hits_only_events_its_check_confirms() -> None:
    matcher = matcher_of(
        {
            "ind--and": IP_AND_PORT,
            "ind--file": "[file:name = 'a.dll' AND file:hashes.'SHA-256' = '" + "ab" * 32 + "']",
        }
    )
    hits = {(h.indicator_id, h.event_id, h.field) for h in match(EVENTS, matcher)}
    assert hits == {
        ("ind--and", "ev0", "destination.ip"),
        ("ind--and", "ev2", "source.ip"),
        ("ind--file", "ev4", "file.name"),
        ("ind--file", "ev4", "file.hash.sha256"),
    }


def test_simple_indicators_keep_the_vectorised_path_and_the_same_hits() -> None:
    simple = {
        "ind--ip": "[ipv4-addr:value = '1.2.3.4']",
        "ind--dom": "[domain-name:value = 'evil.com']",
    }
    alone = match(EVENTS, matcher_of(simple))
    assert {(h.indicator_id, h.event_id) for h in alone} == {
        ("ind--ip", "ev0"),
        ("ind--ip", "ev1"),
        ("ind--ip", "ev2"),
        ("ind--dom", "ev2"),
    }
    mixed = matcher_of({**simple, "ind--and": IP_AND_PORT})
    assert set(mixed.checks) == {"ind--and"}  # only the compound one carries a check
    with_compound = match(EVENTS, mixed)
    assert [h for h in with_compound if h.indicator_id != "ind--and"] == alone
    assert {h.event_id for h in with_compound if h.indicator_id == "ind--and"} == {"ev0", "ev2"}


def test_a_compound_check_on_a_column_the_batch_lacks_does_not_hold() -> None:
    matcher = matcher_of({"ind--and": IP_AND_PORT})
    plain = pa.RecordBatch.from_pylist(
        [{"event.id": "e", "destination.ip": "1.2.3.4"}],
        schema=pa.schema([("event.id", pa.string()), ("destination.ip", pa.string())]),
    )
    assert match(plain, matcher) == []


# -- the live index: which indicators are compound, which unsupported, and why -------------

T0 = "2026-09-01T00:00:00.000Z"
NOW = datetime(2026, 9, 2, tzinfo=UTC)


def _indicator(n: int, pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": T0,
        "modified": T0,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": T0,
        **extra,
    }


def _ident(n: int) -> str:
    return _indicator(n, "")["id"]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = Store.open(config.load(home=tmp_path, environ={}))
    yield s
    s.close()


def test_live_index_sorts_indicators_and_counts_the_unsupported(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    follow = "[ipv4-addr:value = '5.5.5.{}'] FOLLOWEDBY [file:name = 'x.exe']"
    objects = [
        _indicator(1, "[ipv4-addr:value = '1.1.1.1']"),
        _indicator(2, IP_AND_PORT),
        *(_indicator(10 + n, follow.format(n)) for n in range(5)),
        _indicator(20, "[url:value MATCHES '^http://']"),
        _indicator(21, "[ipv4-addr:value = '7.7.7.7'] REPEATS 3 TIMES"),
        _indicator(22, "rule x { condition: true }", pattern_type="yara"),
        _indicator(23, "[ipv4-addr:value = '8.8.8.8'] FOLLOWEDBY [file:name = 'y']", revoked=True),
    ]
    report = kb.import_objects(store, objects, "test")
    assert report.rejected == 0
    with caplog.at_level(logging.WARNING, logger="crownwatch.intel.kb"):
        live = kb.live_index(store, NOW)
    assert live.unsupported == {
        "FOLLOWEDBY needs state across events": 5,
        "no value to index": 1,
        "REPEATS needs state across events": 1,
        "pattern type yara": 1,
    }
    assert live.unsupported_examples["FOLLOWEDBY needs state across events"] == [
        _ident(10),
        _ident(11),
        _ident(12),
    ]
    assert live.unsupported_examples["no value to index"] == [_ident(20)]
    assert set(live.compound) == {_ident(2)}
    # unsupported indicators are never matched: none of their values is live
    assert all(ident in (_ident(1), _ident(2)) for ids in live.values.values() for ident in ids)
    assert live.values[("ipv4-addr", "1.2.3.4")] == [_ident(2)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "8 live indicators" in warnings[0].getMessage()
    assert "FOLLOWEDBY needs state across events: 5" in warnings[0].getMessage()


def test_the_detection_summary_reports_the_unsupported(store: Store, tmp_path: Path) -> None:
    kb.import_objects(
        store,
        [
            _indicator(1, "[ipv4-addr:value = '1.1.1.1'] FOLLOWEDBY [file:name = 'x']"),
            _indicator(2, IP_AND_PORT),
        ],
        "test",
    )
    summary = pipeline.DetectSummary()
    settings = config.load(home=tmp_path, environ={})
    detector = pipeline._detector(store, sigma.RuleSet(), settings, NOW, summary=summary)
    assert summary.indicators_unsupported == {"FOLLOWEDBY needs state across events": 1}
    assert summary.as_dict()["indicators_unsupported"] == summary.indicators_unsupported
    assert detector.matcher is not None and set(detector.matcher.checks) == {_ident(2)}
    hits = match(EVENTS, detector.matcher)
    assert {h.event_id for h in hits} == {"ev0", "ev2"}
