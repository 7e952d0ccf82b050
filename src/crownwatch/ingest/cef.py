"""ArcSight Common Event Format lines, bare or after a syslog header.

``CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension``:
``\\|`` and ``\\\\`` are escaped in the header, ``\\=``, ``\\\\``, ``\\n`` and ``\\r`` in
extension values, and a value runs until the next `` key=``. Common extension keys map to
ECS; every key is kept in ``fields``, and custom ones (``cs1``…) also under their label.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from crownwatch.errors import ConfigError, ParseError
from crownwatch.ingest import syslog
from crownwatch.ingest.batch import Batch, LineParser, Row, parse_lines
from crownwatch.ingest.source import Source
from crownwatch.ingest.times import from_epoch, from_iso

NAME = "cef"
MAX_KEYS = 1000

_START = re.compile(r"CEF:\d{1,3}\|")
_HEADER = re.compile(r"CEF:" + r"((?:[^|\\]|\\.)*)\|" * 7)
_HEADER_ESCAPE = re.compile(r"\\([|\\])")
_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z0-9_.\[\]-]{1,64})=")
_VALUE_ESCAPE = re.compile(r"\\([=\\nr])")
_UNESCAPED = {"=": "=", "\\": "\\", "n": "\n", "r": "\r"}
_DATE = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) (?P<day>\d{1,2})(?: (?P<year>\d{4}))? (?P<hms>\d\d:\d\d:\d\d)"
    r"(?P<frac>\.\d{1,9})?(?: (?P<zone>[A-Za-z_/+-]{1,40}|[+-]\d\d:?\d\d))?"
)
_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)")

#: Extension keys copied to ECS as they are.
_ECS = {
    "spt": "source.port",
    "dpt": "destination.port",
    "shost": "source.domain",
    "dhost": "destination.domain",
    "request": "url.full",
    "requestMethod": "http.request.method",
    "requestClientApplication": "user_agent.original",
    "act": "event.action",
    "fname": "file.name",
    "filePath": "file.path",
    "fsize": "file.size",
    "in": "source.bytes",
    "out": "destination.bytes",
    "msg": "message",
    "dvchost": "host.name",
    "sproc": "process.name",
    "spid": "process.pid",
}
#: Extension keys whose value must be an IP address to reach ECS.
_IPS = {"src": "source.ip", "dst": "destination.ip", "dvc": "host.ip"}
_HASHES = {32: "file.hash.md5", 40: "file.hash.sha1", 64: "file.hash.sha256"}
_SEVERITY_WORDS = {"low": 3, "medium": 6, "high": 8, "very-high": 10}
_SUCCESS = frozenset(("success", "succeeded", "successful", "ok"))
_FAILURE = frozenset(("failure", "failed", "fail"))


def _split(text: str) -> tuple[list[str], str]:
    """The seven header fields after ``CEF:`` and the extension."""
    m = _HEADER.match(text)
    if not m:
        found = len(re.findall(r"(?<!\\)\|", text))
        raise ParseError(f"CEF header has {found} of the 7 '|' separators it needs")
    return [_HEADER_ESCAPE.sub(r"\1", part) for part in m.groups()], text[m.end() :]


def extension(text: str) -> dict[str, str]:
    """The ``key=value`` pairs of a CEF extension, unescaped."""
    keys = list(_KEY.finditer(text))
    if len(keys) > MAX_KEYS:
        raise ParseError(f"more than {MAX_KEYS} extension keys")
    if not keys and text.strip():
        raise ParseError("CEF extension has no key=value pair")
    out: dict[str, str] = {}
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(text)
        value = text[m.end() : end].rstrip()
        out[m[1]] = _VALUE_ESCAPE.sub(lambda e: _UNESCAPED[e[1]], value)
    return out


def _zone(name: str | None, clock: syslog.Clock) -> tzinfo:
    if not name:
        return clock.zone
    m = _OFFSET.fullmatch(name)
    if m:
        delta = timedelta(hours=int(m[2]), minutes=int(m[3]))
        if delta >= timedelta(hours=24):
            raise ParseError(f"bad time zone offset {name!r}")
        return timezone(-delta if m[1] == "-" else delta)
    try:
        return syslog.zone(name)
    except ConfigError as exc:  # a zone named by the record is the record's fault
        raise ParseError(f"unknown time zone {name!r}") from exc


def timestamp(value: str, clock: syslog.Clock) -> int:
    """Microseconds of a CEF time: epoch milliseconds, ``MMM dd [yyyy] HH:mm:ss[.SSS] [zone]``
    or ISO 8601."""
    text = value.strip()
    if _digits(text):
        if len(text) > 16:
            raise ParseError(f"epoch time out of range: {text:.40}")
        number = int(text)
        return from_epoch(number / 1000 if number > 1e11 else number)
    m = _DATE.fullmatch(text)
    if not m:
        return from_iso(text)
    local = syslog.Clock(_zone(m["zone"], clock), clock.mtime, clock.year)
    return syslog.bsd_time(local, m["mon"], m["day"], m["hms"], m["frac"], m["year"])


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _time(ext: dict[str, str], key: str, clock: syslog.Clock) -> int | None:
    if key not in ext:
        return None
    try:
        return timestamp(ext[key], clock)
    except ParseError as exc:
        raise ParseError(f"bad {key} time {ext[key]!r:.40}") from exc


def _severity(text: str) -> int | None:
    value = text.strip().lower()
    if _digits(value) and len(value) <= 2:
        number = int(value)
        return number if number <= 10 else None
    return _SEVERITY_WORDS.get(value)


def _outcome(value: str) -> str | None:
    word = value.strip().lower()
    if not word:
        return None
    return "success" if word in _SUCCESS else "failure" if word in _FAILURE else "unknown"


def _port(value: str) -> int | None:
    return int(value) if _digits(value) and len(value) <= 5 and int(value) <= 65535 else None


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def to_row(header: list[str], ext: dict[str, str], clock: syslog.Clock) -> Row:
    """The ECS row of one parsed CEF record (without the syslog header's time and host)."""
    version, vendor, product, dversion, signature, name, severity = header
    fields: dict[str, Any] = {
        "cefVersion": version,
        "deviceVendor": vendor,
        "deviceProduct": product,
        "deviceVersion": dversion,
        "deviceEventClassId": signature,
        "name": name,
        "severity": severity,
    }
    for key, value in ext.items():  # the header's names win over extension keys
        fields.setdefault(key, value)
    for key, value in ext.items():  # cs1=… cs1Label=Foo → Foo=…
        label = ext.get(f"{key}Label")
        if label:
            fields.setdefault(label, value)
    row: Row = {
        "event.kind": "event",
        "event.module": "cef",
        "event.dataset": "cef",
        "event.provider": product,
        "event.severity": _severity(severity),
        "rule.id": signature,
        "rule.name": name,
        "message": name,
        "fields": fields,
    }
    for key, ecs in _ECS.items():
        if key in ext:
            row[ecs] = ext[key]
    for key, ecs in _IPS.items():
        if key in ext:
            row[ecs] = _ip(ext[key])
    row["source.port"] = _port(ext.get("spt", ""))
    row["destination.port"] = _port(ext.get("dpt", ""))
    row["user.name"] = ext.get("suser") or ext.get("duser")
    row["network.transport"] = ext.get("proto", "").lower()
    row["network.protocol"] = ext.get("app", "").lower()
    row["event.outcome"] = _outcome(ext.get("outcome", ""))
    digest = ext.get("fileHash", "").strip().lower()
    if len(digest) in _HASHES and all(c in "0123456789abcdef" for c in digest):
        row[_HASHES[len(digest)]] = digest
    row["@timestamp"] = _time(ext, "rt", clock)
    start, end = _time(ext, "start", clock), _time(ext, "end", clock)
    if start is not None and end is not None and end >= start:
        row["event.duration"] = (end - start) * 1000
    return row


def line_parser(clock: syslog.Clock) -> LineParser:
    """A parser of one CEF line with the given clock (for a syslog header's year)."""

    def parse_line(raw: bytes) -> Row:
        if b"\0" in raw:
            raise ParseError("NUL byte inside the line: binary data, not text")
        text = raw.decode("utf-8", "replace")
        start = _START.search(text)
        if not start:
            raise ParseError("no 'CEF:<version>|' in the line")
        parts, ext = _split(text[start.start() :])
        row = to_row(parts, extension(ext), clock)
        prefix = text[: start.start()].strip()
        found = syslog.header(prefix, clock) if prefix else None
        if found:
            head = found[0]
            row["fields"].update({f"syslog.{k}": v for k, v in head["fields"].items()})
            row.setdefault("host.name", head.get("host.name"))
            if row["@timestamp"] is None:
                row["@timestamp"] = head["@timestamp"]
        elif prefix:
            row["fields"]["prefix"] = prefix[:1000]
        if row["@timestamp"] is None:
            raise ParseError("no timestamp: no rt and no syslog header time")
        return row

    return parse_line


def sniff(head: bytes, path: str) -> bool:
    """True when the first line is a CEF record, bare or after a syslog header."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    line = text.split("\n", 1)[0]
    start = _START.search(line)
    if not start:
        return False
    prefix = line[: start.start()].strip()
    clock = syslog.Clock(UTC, datetime.now(UTC))
    try:
        return not prefix or syslog.header(prefix, clock) is not None
    except ParseError:
        return False


def parse(src: Source) -> Iterator[Batch]:
    """Batches of CEF events; records without a time are quarantined."""
    return parse_lines(src, NAME, line_parser(syslog.clock_for(src)))
