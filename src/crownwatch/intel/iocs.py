"""Indicators in report text: IPs, domains, URLs, hashes, e-mail addresses and CVE ids.

The regular expressions accept the usual defanged forms (``hxxp``, ``[.]``, ``(.)``,
``[dot]``, ``(dot)``, ``[:]``, ``[@]``, ``[at]``) and every value is re-fanged. False
positives are cut: a domain needs a real top-level domain (IANA's list, carried by
``pymispwarninglists``), a name ending in a file extension that is also a TLD
(``invoice.zip``) counts only when defanged, ``1.2.3.4`` right after "version" is
kept with a low confidence, and private or reserved addresses and well-known domains
are dropped with their reason. A caller's ``warninglist(kind, value) -> bool``
replaces the small built-in allowlist.
"""

from __future__ import annotations

import functools
import importlib.util
import ipaddress
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from crownwatch.errors import CrownwatchError

#: kinds: ipv4-addr, ipv6-addr, domain-name, url, email-addr, md5, sha1, sha256, cve
Warninglist = Callable[[str, str], bool]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MAX_URL = 2048
MAX_LABELS = 12  # bounds the work per candidate: "a.a.a.…" stays linear
MAX_DROPPED = 200
BASE_CONFIDENCE = {
    "sha256": 85,
    "sha1": 85,
    "md5": 80,
    "url": 70,
    "ipv4-addr": 65,
    "ipv6-addr": 65,
    "domain-name": 65,
    "email-addr": 60,
    "cve": 90,
}
DEFANGED_BONUS = 20
VERSION_CONFIDENCE = 20
PATTERN_PATHS = {
    "ipv4-addr": "ipv4-addr:value",
    "ipv6-addr": "ipv6-addr:value",
    "domain-name": "domain-name:value",
    "url": "url:value",
    "email-addr": "email-addr:value",
    "md5": "file:hashes.MD5",
    "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'",
}

#: Well-known domains (and their sub-domains) that are never indicators by themselves.
ALLOWED_DOMAINS = _words(
    """example.com example.net example.org example.edu microsoft.com windows.com
    windowsupdate.com office.com office365.com live.com outlook.com msn.com bing.com
    azure.com google.com gmail.com youtube.com apple.com icloud.com amazon.com
    facebook.com twitter.com x.com linkedin.com wikipedia.org mozilla.org w3.org
    mitre.org nist.gov cisa.gov us-cert.gov first.org iana.org ietf.org rfc-editor.org
    virustotal.com cloudflare.com github.com"""
)
#: Hosts of reference links (documentation, catalogues): their URLs are not indicators.
REFERENCE_HOSTS = _words(
    """example.com example.net example.org mitre.org nist.gov cisa.gov us-cert.gov
    first.org iana.org ietf.org rfc-editor.org wikipedia.org virustotal.com twitter.com
    x.com linkedin.com learn.microsoft.com docs.microsoft.com support.microsoft.com
    msrc.microsoft.com w3.org"""
)
EXAMPLE_MAIL_DOMAINS = frozenset(("example.com", "example.net", "example.org", "example.edu"))
#: The hashes of the empty input: a common false positive.
EMPTY_HASHES = frozenset(
    (
        "d41d8cd98f00b204e9800998ecf8427e",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    )
)
#: Public resolvers: named in reports as connectivity checks, not as infrastructure.
PUBLIC_RESOLVERS = frozenset(
    ("8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "208.67.222.222")
)
_FILE_EXTENSIONS = _words(
    """zip mov py sh ps pl md rs so app pm ts rb one cab exe dll doc docx xls xlsx ppt pptx
    pdf txt log dat bin tmp ini cfg conf json xml html htm php asp aspx jsp js vbs hta lnk
    msi iso img jar java cpp cs go lua sql db bak tar gz rar apk dmg pkg deb rpm sys scr
    png jpg gif bmp svg css csv yml yaml rst chm eml msg pst vhd run download"""
)

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOT = r"(?:\.|[\[({] ?(?:\.|dot) ?[\])}])"
_TLD = r"(?:[a-z]{2,24}|xn--[a-z0-9-]{1,59})"
_HOST = rf"{_LABEL}(?:{_DOT}{_LABEL}){{0,{MAX_LABELS - 2}}}{_DOT}{_TLD}"
_END = rf"(?![\w-])(?!{_DOT}\w)"
_AT = r"(?:@|[ ]?[\[({][ ]?(?:@|at)[ ]?[\])}][ ]?)"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPDOT = r"(?:\.|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\))"

_URL = re.compile(
    r"(?<![\w])(h[tx]{2}ps?|f[tx]p|sftp)(?:(?::|\[:\]|\(:\))//|\[://\])([^\s<>\"'`]+)", re.I
)
_EMAIL = re.compile(rf"(?<![\w.%+-])([a-z0-9][a-z0-9._%+-]{{0,63}}){_AT}({_HOST}){_END}", re.I)
_DOMAIN = re.compile(rf"(?<![\w@./\\-])({_HOST}){_END}", re.I)
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:{_IPDOT}{_OCTET}){{3}}(?![\w]|\.\d|/\d)", re.I)
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9a-f]{0,4}(?::|\[:\])){2,7}[0-9a-f]{0,4}(?![\w:]|\.\w)", re.I)
_HASH = re.compile(r"(?<![\w])[0-9a-f]{32,64}(?![\w])", re.I)
_CVE = re.compile(
    r"(?<![\w])CVE[-\u2010\u2011\u2013\u2014](\d{4})[-\u2010\u2011\u2013\u2014](\d{4,7})(?!\d)",
    re.I,
)
_VERSION = re.compile(r"(?:version|ver\.?|build|release|firmware)\s*:?\s*$", re.I)
_FANG = re.compile(r"[ ]?[\[({][ ]?(\.|dot|:|@|at|://)[ ]?[\])}][ ]?", re.I)
_TLD_LIST = ("data", "misp-warninglists", "lists", "tlds", "list.json")
_HASH_KINDS = {32: "md5", 40: "sha1", 64: "sha256"}


@dataclass(frozen=True)
class Found:
    """One indicator: kind, re-fanged value, defanged or not, confidence, first offset."""

    kind: str
    value: str
    defanged: bool
    confidence: int
    start: int


@functools.cache
def tlds() -> frozenset[str]:
    """IANA's top-level domains, lower case, from the MISP warninglist ``tlds``.

    The file is found without importing ``pymispwarninglists`` (its import takes seconds).
    """
    spec = importlib.util.find_spec("pymispwarninglists")
    if spec is None or not spec.submodule_search_locations:
        raise CrownwatchError("pymispwarninglists is not installed; it carries the TLD list")
    path = Path(spec.submodule_search_locations[0], *_TLD_LIST)
    return frozenset(str(t).lower() for t in orjson.loads(path.read_bytes())["list"])


def refang(text: str) -> str:
    """``hxxps://evil[.]com`` -> ``https://evil.com``; ``a[at]b(dot)c`` -> ``a@b.c``."""
    text = _FANG.sub(lambda m: {"dot": ".", "at": "@"}.get(m.group(1).lower(), m.group(1)), text)
    head, sep, rest = text.partition("://")
    if sep:
        head = re.sub(r"^h[tx]{2}p", "http", re.sub(r"^f[tx]p", "ftp", head.lower()))
    return head + sep + rest


def pattern(kind: str, value: str) -> str:
    """The STIX pattern matching one indicator, e.g. ``[domain-name:value = 'a.b']``."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{PATTERN_PATHS[kind]} = '{escaped}']"


def builtin_listed(kind: str, value: str) -> bool:
    """The built-in allowlist: well-known domains, reference links, empty-file hashes."""
    if kind == "domain-name":
        return _under(value, ALLOWED_DOMAINS)
    if kind == "url":
        return _under(_url_host(value), REFERENCE_HOSTS)
    if kind == "email-addr":
        return _under(value.rpartition("@")[2], EXAMPLE_MAIL_DOMAINS)
    if kind in ("md5", "sha1", "sha256"):
        return value in EMPTY_HASHES
    return kind in ("ipv4-addr", "ipv6-addr") and value in PUBLIC_RESOLVERS


def find(
    text: str, warninglist: Warninglist | None = None
) -> tuple[list[Found], list[dict[str, str]]]:
    """The indicators in ``text`` (first-seen order) and the dropped ones with reasons."""
    listed = warninglist or builtin_listed
    found: dict[tuple[str, str], Found] = {}
    dropped: dict[tuple[str, str], str] = {}

    def add(kind: str, value: str, raw: str, at: int, confidence: int | None = None) -> None:
        defanged = _FANG.search(raw) is not None or raw[:4].lower() in ("hxxp", "fxp:")
        reason = _reason(kind, value, raw, defanged, listed)
        if reason:
            if len(dropped) < MAX_DROPPED:
                dropped.setdefault((kind, value), reason)
            return
        score = BASE_CONFIDENCE[kind] if confidence is None else confidence
        if defanged:
            score = min(95, score + DEFANGED_BONUS)
        old = found.get((kind, value))
        if old is None:
            found[(kind, value)] = Found(kind, value, defanged, score, at)
        elif old.confidence < score:
            found[(kind, value)] = Found(kind, value, defanged or old.defanged, score, old.start)

    taken: list[tuple[int, int]] = []
    for m in _URL.finditer(text):
        raw = _trim(m.group(0))
        taken.append((m.start(), m.start() + len(raw)))
        url = _url(raw)
        if url:
            add("url", url, raw, m.start())
    mails: list[tuple[int, int]] = []
    for m in _EMAIL.finditer(text):
        if not _inside(m.start(), taken) and _tld_ok(refang(m.group(2))):
            mails.append(m.span())
            add("email-addr", refang(m.group(0)).lower(), m.group(0), m.start())
    taken = sorted(taken + mails)
    for m in _DOMAIN.finditer(text):
        value = refang(m.group(1)).lower().rstrip(".")
        if not _inside(m.start(), taken) and _tld_ok(value):
            add("domain-name", value, m.group(1), m.start())
    for m in _IPV4.finditer(text):
        if not _inside(m.start(), taken):
            before = text[max(0, m.start() - 24) : m.start()]
            low = VERSION_CONFIDENCE if _VERSION.search(before) else None
            add("ipv4-addr", refang(m.group(0)), m.group(0), m.start(), low)
    for m in _IPV6.finditer(text):
        if not _inside(m.start(), taken) and any(c not in ":[]" for c in m.group(0)):
            try:
                value = ipaddress.IPv6Address(m.group(0).replace("[:]", ":")).compressed
            except ValueError:
                continue
            add("ipv6-addr", value, m.group(0), m.start())
    for m in _HASH.finditer(text):
        value = m.group(0).lower()
        if len(value) in _HASH_KINDS and not value.isdigit() and len(set(value)) > 4:
            add(_HASH_KINDS[len(value)], value, value, m.start())
    for m in _CVE.finditer(text):
        value = f"CVE-{m.group(1)}-{m.group(2)}"
        add("cve", value, value, m.start())
    return _demote_plain(sorted(found.values(), key=lambda f: f.start)), [
        {"type": kind, "value": value, "reason": reason}
        for (kind, value), reason in dropped.items()
    ]


def _demote_plain(found: list[Found]) -> list[Found]:
    """When a report defangs its indicators, its plain links and names are likely references."""
    if not any(f.defanged for f in found):
        return found
    return [
        Found(f.kind, f.value, f.defanged, max(10, f.confidence - 25), f.start)
        if f.kind in ("url", "domain-name") and not f.defanged
        else f
        for f in found
    ]


def _reason(kind: str, value: str, raw: str, defanged: bool, listed: Warninglist) -> str:
    """Why an indicator is dropped, or ""."""
    host = _url_host(value) if kind == "url" else value
    if _is_ip(host) and not ipaddress.ip_address(host).is_global:
        return "private or reserved address"
    if kind == "domain-name" and not defanged:
        last = raw.rstrip(".").rpartition(".")[2]
        if last.lower() in _FILE_EXTENSIONS:
            return "looks like a file name"
        if last[:1].isupper() and not raw.isupper():
            return "looks like a code identifier"
    if kind != "cve" and listed(kind, value):
        return "on a warninglist"
    return ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _tld_ok(host: str) -> bool:
    return host.rstrip(".").rpartition(".")[2].lower() in tlds()


def _under(host: str, domains: frozenset[str]) -> bool:
    """``host`` is one of ``domains`` or a sub-domain of one."""
    parts = host.lower().rstrip(".").split(".")
    return any(".".join(parts[i:]) in domains for i in range(len(parts) - 1))


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    i = bisect_right(spans, (pos, 1 << 62)) - 1
    return i >= 0 and spans[i][0] <= pos < spans[i][1]


def _trim(raw: str) -> str:
    """A URL without the punctuation that ends its sentence or closes its brackets."""
    while raw:
        last = raw[-1]
        if last in ".,;:!?'\"" or (
            last in ")]}>"
            and raw.count({")": "(", "]": "[", "}": "{", ">": "<"}[last]) < raw.count(last)
        ):
            raw = raw[:-1]
        else:
            break
    return raw[:MAX_URL]


def _url(raw: str) -> str | None:
    """The re-fanged URL with scheme and host in lower case, or None if its host is not one."""
    url = refang(raw)
    scheme, _, rest = url.partition("://")
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:cut].lower(), rest[cut:]
    host = _url_host(f"{scheme}://{netloc}")
    if not host:
        return None
    if not _is_ip(host) and not (_tld_ok(host) and re.fullmatch(_HOST, host, re.I)):
        return None
    return f"{scheme}://{netloc}{tail}"


def _url_host(url: str) -> str:
    netloc = url.partition("://")[2]
    netloc = re.split(r"[/?#]", netloc, maxsplit=1)[0].rpartition("@")[2]
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.rpartition(":")[0] if netloc.count(":") == 1 else netloc
