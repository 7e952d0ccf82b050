"""MISP warninglists: real lists from pymispwarninglists, and matchers built on small ones."""

from __future__ import annotations

import pytest

from crownwatch.errors import UsageError
from crownwatch.intel import warninglists
from crownwatch.intel.warninglists import Hit, Warninglists


@pytest.fixture(scope="module")
def lists() -> Warninglists:
    return Warninglists.load()


def _on(hits: list[Hit]) -> dict[str, str]:
    return {h.list: h.entry for h in hits}


def test_public_dns_resolver(lists: Warninglists) -> None:
    hits = lists.check("8.8.8.8", "ip")
    assert (
        Hit(
            "public-dns-v4",
            "List of known IPv4 public DNS resolvers",
            "cidr",
            "8.8.8.8",
            "false-positive",
        )
        in hits
    )


def test_rfc1918(lists: Warninglists) -> None:
    assert _on(lists.check("10.1.2.3", "ip"))["rfc1918"] == "10.0.0.0/8"
    assert _on(lists.check("192.168.77.1", "ip"))["rfc1918"] == "192.168.0.0/16"
    assert "rfc1918" not in _on(lists.check("172.32.0.1", "ip"))  # just outside 172.16/12


def test_ipv6_public_dns(lists: Warninglists) -> None:
    hits = _on(lists.check("2001:4860:4860::8888", "ip"))
    assert hits["public-dns-v6"] == "2001:4860:4860::8888"
    assert hits["google-gmail-sending-ips"] == "2001:4860:4000::/36"


def test_top_domains_and_subdomains(lists: Warninglists) -> None:
    hits = _on(lists.check("www.google.com", "domain"))
    assert hits["tranco"] in ("google.com", "www.google.com")
    assert hits["cisco_top1000"] == "www.google.com"
    # a hostname list matches sub-domains of its entries
    assert _on(lists.check("mail.corp.microsoft.com.", "domain"))["tranco"] == "microsoft.com"


def test_url_is_checked_with_its_host(lists: Warninglists) -> None:
    assert _on(lists.check("https://WWW.Google.com/search?q=x", "url"))["tranco"] in (
        "google.com",
        "www.google.com",
    )
    assert _on(lists.check("http://10.20.30.40:8080/admin", "url"))["rfc1918"] == "10.0.0.0/8"


def test_unknown_values_do_not_hit(lists: Warninglists) -> None:
    assert lists.check("5f0c2a9e17b3d48a6c1e0f9b2d7a4c83", "hash") == []
    assert lists.check("qzxv-update-cdn.example-nope.top", "domain") == []
    # TEST-NET-3 is documentation space: on the RFC 5735 list only
    assert _on(lists.check("203.0.113.45", "ip")) == {"rfc5735": "203.0.113.0/24"}
    assert lists.check("not an address", "ip") == []


def test_known_hashes_and_emails(lists: Warninglists) -> None:
    empty_md5 = "D41D8CD98F00B204E9800998ECF8427E"  # upper case on purpose
    assert _on(lists.check(empty_md5, "hash"))["empty-hashes"] == empty_md5.lower()
    assert _on(lists.check("abuse@example.org", "email"))["common-contact-emails"] == (
        "/^(security|noc|soc|abuse)\\@.*\\..*$/i"
    )
    assert _on(lists.check("someone@0815.ru", "email"))["disposable-email"] == "0815.ru"


def test_kind_selects_the_lists(lists: Warninglists) -> None:
    assert lists.check("8.8.8.8", "hash") == []
    with pytest.raises(UsageError, match="unknown kind"):
        lists.check("8.8.8.8", "ipv4")
    assert lists.check("x" * (warninglists.MAX_VALUE + 1), "string") == []


def test_load_named_lists_only() -> None:
    only = Warninglists.load(["rfc1918"])
    assert [item.slug for item in only.lists] == ["rfc1918"]
    assert _on(only.check("10.1.2.3", "ip")) == {"rfc1918": "10.0.0.0/8"}
    assert only.check("8.8.8.8", "ip") == []
    with pytest.raises(UsageError, match="unknown warninglists"):
        Warninglists.load(["no-such-list"])


def test_matchers_from_small_lists() -> None:
    built = warninglists._build(
        [
            (
                "a",
                {
                    "name": "A",
                    "type": "cidr",
                    "list": ["192.0.2.0/24", "2001:db8::/32", "not-a-net", "192.0.2.9"],
                    "matching_attributes": ["ip-src", "ip-dst"],
                },
            ),
            (
                "b",
                {
                    "name": "B",
                    "type": "cidr",
                    "category": "known",
                    "list": ["192.0.2.0/24", "198.51.100.7/24"],
                    "matching_attributes": ["ip-dst"],
                },
            ),
            (
                "c",
                {
                    "name": "C",
                    "type": "string",
                    "list": [".Example.NET", "exact.example.org", 7],
                    "matching_attributes": ["domain"],
                },
            ),
            (
                "d",
                {"name": "D", "type": "regex", "list": ["/^beacon-\\d+$/i", "/([/"]},
            ),
        ]
    )
    ip = built.check("192.0.2.9", "ip")
    assert ip == [
        Hit("a", "A", "cidr", "192.0.2.0/24", "false-positive"),
        Hit("b", "B", "cidr", "192.0.2.0/24", "known"),
        Hit("a", "A", "cidr", "192.0.2.9", "false-positive"),
    ]
    assert _on(built.check("198.51.100.200", "ip")) == {"b": "198.51.100.0/24"}  # host bits dropped
    assert _on(built.check("2001:db8:1::5", "ip")) == {"a": "2001:db8::/32"}
    assert _on(built.check("deep.sub.example.net", "domain")) == {"c": "example.net"}
    assert _on(built.check("exact.example.org", "domain")) == {"c": "exact.example.org"}
    assert built.check("sub.exact.example.org", "domain") == []  # exact entries are exact
    assert _on(built.check("BEACON-42", "string")) == {"d": "/^beacon-\\d+$/i"}
    assert len(built.regexes) == 1  # the broken regex is skipped
