"""STIX patterns: the syntax is checked, and the values worth matching come out normalised."""

from __future__ import annotations

import pytest

from crownwatch.intel.patterns import (
    Comparison,
    Join,
    Node,
    Observation,
    PatternError,
    Qualified,
    observables,
    parse,
    tree,
)


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


def test_tree_keeps_stix_precedence_and_qualifiers() -> None:
    node = tree(
        "[a:b = 'x' OR c:d = 1 AND e:f = 2] AND [g:h = 'y'] OR [i:j = 'z'] "
        "FOLLOWEDBY ([k:l = 'm'] WITHIN 5 SECONDS)"
    )
    assert isinstance(node, Join) and node.op == "FOLLOWEDBY" and node.observations
    either, later = node.items
    assert isinstance(either, Join) and either.op == "OR"
    both, last = either.items
    assert isinstance(both, Join) and both.op == "AND" and both.observations
    first = both.items[0]
    assert isinstance(first, Observation) and isinstance(first.expr, Join)
    assert first.expr.op == "OR" and not first.expr.observations
    assert isinstance(first.expr.items[1], Join) and first.expr.items[1].op == "AND"
    assert isinstance(last, Observation) and isinstance(last.expr, Comparison)
    assert isinstance(later, Qualified) and (later.kind, later.args) == ("WITHIN", ("5",))
    start = tree("[a:b = 'x'] START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'")
    assert isinstance(start, Qualified) and start.kind == "START"
    assert start.args == ("t'2020-01-01T00:00:00Z'", "t'2021-01-01T00:00:00Z'")


def test_tree_and_parse_agree_on_the_comparisons() -> None:
    pattern = "[file:name = 'a' AND (file:size > 10 OR file:name != 'b')] REPEATS 2 TIMES"
    found: list[Comparison] = []

    def leaves(node: Node) -> None:
        if isinstance(node, Comparison):
            found.append(node)
        elif isinstance(node, Join):
            for item in node.items:
                leaves(item)
        elif isinstance(node, Observation):
            leaves(node.expr)
        else:
            leaves(node.node)

    leaves(tree(pattern))
    assert found == parse(pattern) and len(found) == 3
    with pytest.raises(PatternError):
        tree("[a:b = 'x'] FOLLOWEDBY")
