"""Indicators in report text: every form, defanged ones, false positives, STIX patterns."""

from __future__ import annotations

from stix2patterns.validator import run_validator  # type: ignore[import-untyped]

from crownwatch.intel import iocs
from crownwatch.intel.patterns import observables

EVERY_FORM = """
The first stage came from hxxp://update-check[.]info/dl/stage2.bin and the second from
hxxps[:]//cdn.files-mirror[.]org/a/b.php?id=7&x=1 (mirror at https://203.0.114.9:8443/x).
C2 servers: 45.77.126[.]34, 149.28.71(.)205, 198.51.99.7 and 2a03:2880:f10c:83:face:b00c:0:25de.
Domains: evil-domain[.]com, login-portal(.)net, secure-update(dot)biz, stats[dot]top and
plain-c2.ru. Phishing came from billing[@]invoice-mail[.]com and hr[at]jobs-portal[.]co[.]uk,
replies went to ops.team@mail-relay.de.
Hashes: MD5 5e2b601f0f9e39f935a7ff6b82da855e, SHA1 a94a8fe5ccb19ba61c4c0873d391e987982fbbd3,
SHA256 2482fa92f84ead81b3609ac80bb935bee9adbbd01c28f3f44363d7f8807c0c7b.
They exploited CVE-2023-23397 and cve-2021-44228.
"""
EXPECTED = {
    ("url", "http://update-check.info/dl/stage2.bin"),
    ("url", "https://cdn.files-mirror.org/a/b.php?id=7&x=1"),
    ("url", "https://203.0.114.9:8443/x"),
    ("ipv4-addr", "45.77.126.34"),
    ("ipv4-addr", "149.28.71.205"),
    ("ipv4-addr", "198.51.99.7"),
    ("ipv6-addr", "2a03:2880:f10c:83:face:b00c:0:25de"),
    ("domain-name", "evil-domain.com"),
    ("domain-name", "login-portal.net"),
    ("domain-name", "secure-update.biz"),
    ("domain-name", "stats.top"),
    ("domain-name", "plain-c2.ru"),
    ("email-addr", "billing@invoice-mail.com"),
    ("email-addr", "hr@jobs-portal.co.uk"),
    ("email-addr", "ops.team@mail-relay.de"),
    ("md5", "5e2b601f0f9e39f935a7ff6b82da855e"),
    ("sha1", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"),
    ("sha256", "2482fa92f84ead81b3609ac80bb935bee9adbbd01c28f3f44363d7f8807c0c7b"),
    ("cve", "CVE-2023-23397"),
    ("cve", "CVE-2021-44228"),
}


def test_every_form_defanged_or_not_gives_exactly_the_expected_set() -> None:
    found, dropped = iocs.find(EVERY_FORM)
    assert {(f.kind, f.value) for f in found} == EXPECTED
    assert dropped == []
    by_value = {f.value: f for f in found}
    assert by_value["45.77.126.34"].defanged
    assert not by_value["198.51.99.7"].defanged
    assert by_value["45.77.126.34"].confidence > by_value["198.51.99.7"].confidence


def test_false_positives_are_not_emitted_and_dropped_ones_say_why() -> None:
    text = (
        "The loader runs cmd.exe, opens report.pdf and checks for Windows version 10.0.19041. "
        "It tests connectivity on 127.0.0.1 and 10.1.2.3, and fetches https://example.com/a "
        "and example.com, never invoice.zip; it calls System.Net.WebClient and reads "
        "https://attack.mitre.org/techniques/T1059/001/. The empty file hash "
        "d41d8cd98f00b204e9800998ecf8427e is not a sample."
    )
    found, dropped = iocs.find(text)
    assert found == []
    reasons = {(d["type"], d["value"]): d["reason"] for d in dropped}
    assert reasons[("ipv4-addr", "127.0.0.1")] == "private or reserved address"
    assert reasons[("ipv4-addr", "10.1.2.3")] == "private or reserved address"
    assert reasons[("domain-name", "example.com")] == "on a warninglist"
    assert reasons[("url", "https://example.com/a")] == "on a warninglist"
    assert reasons[("domain-name", "invoice.zip")] == "looks like a file name"
    assert reasons[("md5", "d41d8cd98f00b204e9800998ecf8427e")] == "on a warninglist"
    assert not any(v in ("cmd.exe", "report.pdf") for _, v in reasons)


def test_a_version_number_that_looks_like_an_address_is_kept_with_low_confidence() -> None:
    found, _ = iocs.find("Upgrade to version 1.2.3.4 now. The beacon calls 1.2.3.4 hourly.")
    assert [(f.kind, f.value) for f in found] == [("ipv4-addr", "1.2.3.4")]
    alone, _ = iocs.find("The beacon calls 1.2.3.4 hourly.")
    versioned, _ = iocs.find("Upgrade to version 1.2.3.4 now.")
    assert versioned[0].confidence == iocs.VERSION_CONFIDENCE < alone[0].confidence


def test_a_defanged_file_extension_domain_counts_and_a_plain_one_does_not() -> None:
    found, dropped = iocs.find("Payload hosted on files-drop[.]zip, attachment invoice.zip.")
    assert [(f.kind, f.value) for f in found] == [("domain-name", "files-drop.zip")]
    assert dropped == [
        {"type": "domain-name", "value": "invoice.zip", "reason": "looks like a file name"}
    ]


def test_a_caller_warninglist_replaces_the_builtin_allowlist() -> None:
    listed = {("domain-name", "evil-domain.com")}
    found, dropped = iocs.find(
        "C2 at evil-domain[.]com, test page on example.com.",
        lambda kind, value: (kind, value) in listed,
    )
    assert [(f.kind, f.value) for f in found] == [("domain-name", "example.com")]
    assert dropped == [
        {"type": "domain-name", "value": "evil-domain.com", "reason": "on a warninglist"}
    ]


def test_domains_inside_urls_and_mail_addresses_are_not_repeated() -> None:
    found, _ = iocs.find("See hxxps://a.bad-host[.]net/x and admin[@]bad-host[.]net.")
    assert {(f.kind, f.value) for f in found} == {
        ("url", "https://a.bad-host.net/x"),
        ("email-addr", "admin@bad-host.net"),
    }


def test_refang() -> None:
    assert iocs.refang("hXXps[:]//a[.]b(dot)com/x") == "https://a.b.com/x"
    assert iocs.refang("user[at]host [.] org") == "user@host.org"


def test_patterns_are_valid_stix_and_name_the_value_back() -> None:
    found, _ = iocs.find(EVERY_FORM + " hxxp://quote-test[.]com/it's")
    names = {"md5": "md5", "sha1": "sha1", "sha256": "sha256"}
    for f in found:
        if f.kind == "cve":
            continue
        pattern = iocs.pattern(f.kind, f.value)
        assert run_validator(pattern, stix_version="2.1") == [], pattern
        assert observables(pattern) == [(names.get(f.kind, f.kind), f.value)]
    assert iocs.pattern("url", "http://quote-test.com/it's") == (
        "[url:value = 'http://quote-test.com/it\\'s']"
    )
