"""STIX patterns: the syntax is checked, and the values worth matching come out normalised."""

from __future__ import annotations

import pytest

from crownwatch.intel.patterns import PatternError, observables, parse


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[ipv4-addr:value = '45.77.12.34']", [("ipv4-addr", "45.77.12.34")]),
        (
            "[domain-name:value = 'Update.Example-CDN.com.']",
            [("domain-name", "update.example-cdn.com")],
        ),
        (
            "[file:hashes.'SHA-256' = 'ABCDEF' OR file:hashes.MD5 = 'FF00']",
            [("sha256", "abcdef"), ("md5", "ff00")],
        ),
        ("[file:name = 'it\\'s.exe']", [("file-name", "it's.exe")]),
        ("[ipv6-addr:value = '2001:DB8:0:0:0:0:0:1']", [("ipv6-addr", "2001:db8::1")]),
        (
            "([domain-name:value = 'a.com'] AND [url:value = 'http://a.com/x']) WITHIN 300 SECONDS",
            [("domain-name", "a.com"), ("url", "http://a.com/x")],
        ),
        (
            "[ipv4-addr:value IN ('1.1.1.1', '2.2.2.2')]",
            [("ipv4-addr", "1.1.1.1"), ("ipv4-addr", "2.2.2.2")],
        ),
        ("[ipv4-addr:value NOT = '10.0.0.1']", []),  # negated: nothing to look for
        ("[process:command_line MATCHES '^cmd.*']", []),  # valid, but not an indexed value
        (
            "[file:name = 'a'] START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'",
            [("file-name", "a")],
        ),
    ],
)
def test_observables(pattern: str, expected: list[tuple[str, str]]) -> None:
    assert observables(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "ipv4-addr:value = '1.2.3.4'",
        "[ipv4-addr:value = '1.2.3.4'",
        "[ipv4-addr:value '1']",
        "[ipv4-addr:value ~ '1']",
        "[] ",
        "[a:b = 'x'] AND",
        "[a:b = 'x'] WITHIN SECONDS",
        "[" * 200 + "a:b = 'x'" + "]" * 200,
        "[a:b = 'x' AND c:d = ]",
    ],
)
def test_bad_patterns_are_errors(pattern: str) -> None:
    with pytest.raises(PatternError):
        parse(pattern)


def test_parse_reports_operators_and_negation() -> None:
    [first, second] = parse(
        "[network-traffic:dst_port > 1024 AND network-traffic:src_ref.value NOT LIKE '10.%']"
    )
    assert (first.object_type, first.path, first.op, first.value) == (
        "network-traffic",
        "dst_port",
        ">",
        1024.0,
    )
    assert (second.op, second.negated, second.value) == ("LIKE", True, "10.%")
