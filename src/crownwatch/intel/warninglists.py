"""MISP warninglists: known-good values that must not alert, matched fast and offline.

The lists are the JSON files ``pymispwarninglists`` carries. ``Warninglists.load`` builds
the matchers once: one dict of exact entries (strings, hashes; lower-cased), one dict of
host suffixes (``hostname`` lists, and ``string`` entries that start with a dot such as
``.google.ad``: ``x.google.com`` hits ``google.com``), one dict per IP version and prefix
length for the CIDR lists (a look-up costs one dict probe per prefix length present), one
Aho-Corasick automaton for every ``substring`` entry and the ``regex`` entries compiled
once. A value is checked only against the lists whose ``matching_attributes`` fit its kind.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ahocorasick
import orjson
import pymispwarninglists

from crownwatch.errors import UsageError

log = logging.getLogger(__name__)

MAX_VALUE = 8192  # longer values match nothing: no list entry is that long
MAX_SCAN = 4096  # substring and regex lists look at the first characters only
MAX_REGEX = 4096  # longest regex entry compiled
KINDS = {
    "ip": frozenset(("ip-src", "ip-dst")),
    "domain": frozenset(("domain", "hostname")),
    "url": frozenset(("url", "uri", "link")),
    "hash": frozenset(
        (
            "md5",
            "sha1",
            "sha224",
            "sha256",
            "sha384",
            "sha512",
            "ssdeep",
            "imphash",
            "tlsh",
            "filename|md5",
            "filename|sha1",
            "filename|sha256",
            "x509-fingerprint-sha1",
        )
    ),
    "email": frozenset(
        ("email", "email-src", "email-dst", "target-email", "whois-registrant-email")
    ),
    "string": frozenset(),  # every list
}
_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


@dataclass(frozen=True)
class Hit:
    """A value found on a warninglist."""

    list: str  # the list's folder name in misp-warninglists, e.g. "public-dns-v4"
    name: str  # its title
    type: str  # string, hostname, substring, regex or cidr
    entry: str  # the list entry that matched
    category: str  # "false-positive" (the default) or "known"


@dataclass(frozen=True)
class _List:
    slug: str
    name: str
    type: str
    category: str
    attributes: frozenset[str]


def data_folder() -> Path:
    """Where ``pymispwarninglists`` keeps the lists (one folder per list, ``list.json``)."""
    return Path(pymispwarninglists.__file__ or "").parent / "data" / "misp-warninglists" / "lists"


class _Groups:
    """Interned tuples of list numbers, so each entry stores one int whatever its lists."""

    def __init__(self) -> None:
        self.tuples: list[tuple[int, ...]] = []
        self._ids: dict[tuple[int, ...], int] = {}

    def merged(self, group: int | None, number: int) -> int:
        """The group of ``group``'s lists plus list ``number``."""
        members = () if group is None else self.tuples[group]
        if group is not None and number in members:
            return group
        members = (*members, number)
        found = self._ids.get(members)
        if found is None:
            found = self._ids[members] = len(self.tuples)
            self.tuples.append(members)
        return found


@dataclass
class Warninglists:
    """The loaded lists and their matchers; build with ``Warninglists.load``."""

    lists: list[_List]
    groups: list[tuple[int, ...]]
    exact: dict[str, int]
    suffixes: dict[str, int]
    networks: dict[int, dict[int, dict[int, int]]]  # IP version → prefix length → net → group
    substrings: Any  # ahocorasick.Automaton of entry → (entry, group), or None
    regexes: list[tuple[re.Pattern[str], str, int]]  # (compiled, entry, list number)
    kinds: dict[str, frozenset[int]]  # kind → numbers of the lists that apply

    @classmethod
    def load(cls, names: list[str] | None = None) -> Warninglists:
        """Load the named lists (folder names; all when None) and build the matchers."""
        folder = data_folder()
        available = sorted(p.parent.name for p in folder.glob("*/list.json"))
        chosen = available if names is None else list(dict.fromkeys(names))
        unknown = sorted(set(chosen) - set(available))
        if unknown:
            raise UsageError(f"unknown warninglists {unknown}; known: {', '.join(available)}")
        return _build(
            (slug, orjson.loads((folder / slug / "list.json").read_bytes())) for slug in chosen
        )

    def check(self, value: str, kind: str) -> list[Hit]:
        """The lists ``value`` (of ``kind``: ip, domain, url, hash, email, string) is on."""
        if kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        value = value.strip()
        if not value or len(value) > MAX_VALUE:
            return []
        found: dict[tuple[int, str], None] = {}
        if kind == "ip":
            self._ip(value, found)
        elif kind == "domain":
            self._host(value, found)
        else:
            self._text(value, found, self.kinds[kind])
        if kind == "url":
            self._host(urlsplit(value if "//" in value else "//" + value).hostname or "", found)
        return [
            Hit(item.slug, item.name, item.type, entry, item.category)
            for item, entry in ((self.lists[n], e) for n, e in found)
        ]

    def _add(
        self, found: dict[tuple[int, str], None], group: int, entry: str, wanted: frozenset[int]
    ) -> None:
        for number in self.groups[group]:
            if number in wanted:
                found[(number, entry)] = None

    def _text(self, value: str, found: dict[tuple[int, str], None], wanted: frozenset[int]) -> None:
        low = value.lower()
        group = self.exact.get(low)
        if group is not None:
            self._add(found, group, low, wanted)
        if self.substrings is not None:
            for _, (entry, group) in self.substrings.iter(low[:MAX_SCAN]):
                self._add(found, group, entry, wanted)
        for pattern, entry, number in self.regexes:
            if number in wanted and pattern.search(value[:MAX_SCAN]):
                found[(number, entry)] = None

    def _host(self, host: str, found: dict[tuple[int, str], None]) -> None:
        """A host name (domain lists, its parent domains too) or an IP address (ip lists)."""
        host = host.strip().lower().rstrip(".")
        if not host or self._ip(host.strip("[]"), found):
            return
        wanted = self.kinds["domain"]
        self._text(host, found, wanted)
        labels = host.split(".")
        for start in range(len(labels)):
            suffix = ".".join(labels[start:])
            group = self.suffixes.get(suffix)
            if group is not None:
                self._add(found, group, suffix, wanted)

    def _ip(self, value: str, found: dict[tuple[int, str], None]) -> bool:
        """Add the hits of an IP address on the ip lists; False when it is not one."""
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        wanted = self.kinds["ip"]
        number, bits = int(address), address.max_prefixlen
        for prefix, nets in self.networks[address.version].items():
            network = number >> (bits - prefix) << (bits - prefix)
            group = nets.get(network)
            if group is not None:
                entry = str(ipaddress.ip_network((network, prefix)))
                self._add(found, group, entry.removesuffix(f"/{bits}"), wanted)
        group = self.exact.get(str(address))
        if group is not None:
            self._add(found, group, str(address), wanted)
        return True


def _build(loaded: Iterable[tuple[str, object]]) -> Warninglists:
    groups = _Groups()
    lists: list[_List] = []
    exact: dict[str, int] = {}
    suffixes: dict[str, int] = {}
    networks: dict[int, dict[int, dict[int, int]]] = {4: {}, 6: {}}
    substrings: dict[str, int] = {}
    regexes: list[tuple[re.Pattern[str], str, int]] = []
    for slug, doc in loaded:
        if not isinstance(doc, dict) or not isinstance(doc.get("list"), list):
            log.warning("warninglist %s: no list of entries, skipped", slug)
            continue
        number = len(lists)
        kind = str(doc.get("type", "string"))
        attributes = doc.get("matching_attributes") or []
        lists.append(
            _List(
                slug,
                str(doc.get("name", slug)),
                kind,
                str(doc.get("category", "false-positive")),
                frozenset(a for a in attributes if isinstance(a, str)),
            )
        )
        entries = [e.strip() for e in doc["list"] if isinstance(e, str) and e.strip()]
        bad = len(doc["list"]) - len(entries)
        if kind == "cidr":
            for entry in entries:
                bad += not _add_network(groups, networks, entry, number)
        elif kind == "regex":
            compiled = [(_regex(e), e) for e in entries]
            regexes.extend((c, e, number) for c, e in compiled if c is not None)
            bad += sum(c is None for c, _ in compiled)
        elif kind == "substring":
            _merge(groups, substrings, (e.lower() for e in entries), number)
        else:
            dotted = kind == "hostname"
            _merge(
                groups,
                suffixes,
                (e.lower().strip(".") for e in entries if dotted or e[0] == "."),
                number,
            )
            _merge(
                groups, exact, (e.lower() for e in entries if not dotted and e[0] != "."), number
            )
        if bad:
            log.warning("warninglist %s: %d entries skipped (not usable as %s)", slug, bad, kind)
    kinds = {
        kind: frozenset(i for i, item in enumerate(lists) if not wanted or item.attributes & wanted)
        for kind, wanted in KINDS.items()
    }
    return Warninglists(
        lists, groups.tuples, exact, suffixes, networks, _automaton(substrings), regexes, kinds
    )


def _merge(groups: _Groups, index: dict[str, int], keys: Iterable[str], number: int) -> None:
    """Add list ``number`` to the group of every key."""
    single = groups.merged(None, number)
    get = index.get
    for key in keys:
        old = get(key)
        index[key] = single if old is None else groups.merged(old, number)


def _add_network(
    groups: _Groups, networks: dict[int, dict[int, dict[int, int]]], entry: str, number: int
) -> bool:
    """Add an ``address[/prefix]`` entry (host bits ignored); False when it is not one."""
    address, _, length = entry.partition("/")
    family, version, bits = (socket.AF_INET6, 6, 128) if ":" in address else (socket.AF_INET, 4, 32)
    try:
        packed = socket.inet_pton(family, address)
    except OSError:
        return False
    if length and not (length.isdigit() and int(length) <= bits):
        return False
    prefix = int(length) if length else bits
    key = int.from_bytes(packed, "big") >> (bits - prefix) << (bits - prefix)
    by_prefix = networks[version].setdefault(prefix, {})
    by_prefix[key] = groups.merged(by_prefix.get(key), number)
    return True


def _regex(entry: str) -> re.Pattern[str] | None:
    """A MISP ``/body/flags`` regex (or a bare one) compiled, or None when unusable."""
    if len(entry) > MAX_REGEX:
        return None
    body, flags = entry, 0
    if entry.startswith("/") and entry.rfind("/") > 0:
        end = entry.rfind("/")
        body = entry[1:end]
        for letter in entry[end + 1 :]:
            flags |= _FLAGS.get(letter, 0)
    try:
        return re.compile(body, flags)
    except re.error:
        return None


def _automaton(entries: dict[str, int]) -> Any:
    if not entries:
        return None
    automaton = ahocorasick.Automaton()
    for entry, group in entries.items():
        automaton.add_word(entry, (entry, group))
    automaton.make_automaton()
    return automaton
