"""Suricata EVE JSON: one JSON object a line, mapped to ECS by ``event_type``.

Every record keeps its original keys, flattened with dots, under ``fields``
(``alert.signature_id``, ``flow_id``, ``community_id``…). Records Suricata did
not write (no timestamp, a port out of range, a bad address) are quarantined.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterator
from typing import Any

import orjson

from crownwatch.errors import ParseError
from crownwatch.ingest.batch import Batch, Row, parse_lines
from crownwatch.ingest.source import Source
from crownwatch.ingest.times import from_iso

NAME = "eve"

#: Objects nested deeper than this are kept whole under their dotted key.
MAX_DEPTH = 16

_NOT_WORD = re.compile(r"[^a-z0-9]+")
_TLS_VERSIONS = {"SSLv2": "2.0", "SSLv3": "3.0", "TLSv1": "1.0"}


def sniff(head: bytes, path: str) -> bool:
    """The first non-empty line is a JSON object with ``event_type`` and ``timestamp``."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{"):
        return False
    line, newline, _ = text.partition(b"\n")
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        # a first line longer than the head is cut: judge it by its keys
        return not newline and b'"event_type":' in line and b'"timestamp":' in line
    return isinstance(record, dict) and "event_type" in record and "timestamp" in record


def parse(src: Source) -> Iterator[Batch]:
    """Batches of events from an EVE file."""
    yield from parse_lines(src, NAME, parse_line)


def parse_line(raw: bytes) -> Row:
    """One EVE line as a row; raises ParseError for a line Suricata did not write."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise ParseError(f"not a JSON object but a {type(record).__name__}")
    kind = record.get("event_type")
    if not isinstance(kind, str) or not kind:
        raise ParseError("no event_type" if kind is None else f"bad event_type {kind!r:.40}")
    event_type = _NOT_WORD.sub("_", kind[:64].lower()).strip("_")
    if not event_type:
        raise ParseError(f"bad event_type {kind!r:.40}")
    row: Row = {
        "@timestamp": timestamp(record.get("timestamp")),
        "event.kind": "event",
        "event.module": "suricata",
        "event.dataset": f"suricata.{event_type}",
        "source.ip": _ip(record, "src_ip"),
        "source.port": _port(record, "src_port"),
        "destination.ip": _ip(record, "dest_ip"),
        "destination.port": _port(record, "dest_port"),
        "network.transport": _lower(record.get("proto")),
        "network.protocol": _protocol(record.get("app_proto")),
        "host.name": _str(record.get("host")),
        "fields": flatten(record),
    }
    mapper = _BY_TYPE.get(event_type)
    if mapper is not None:
        mapper(record, row)
    return row


def timestamp(value: Any) -> int:
    """Suricata's time (``2026-11-02T08:01:02.123456+0000``) as epoch microseconds.

    Python 3.11's ``fromisoformat`` reads the offset without a colon.
    """
    if value is None:
        raise ParseError("no timestamp")
    if not isinstance(value, str):
        raise ParseError(f"bad timestamp {value!r:.40}")
    return from_iso(value)


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """Nested objects as dotted keys; lists are kept as values."""
    out: dict[str, Any] = {}
    _flatten_into(out, record, "", 0)
    return out


def _flatten_into(out: dict[str, Any], obj: dict[str, Any], prefix: str, depth: int) -> None:
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict) and value and depth < MAX_DEPTH:
            _flatten_into(out, value, name + ".", depth + 1)
        else:
            out[name] = value


def _alert(record: dict[str, Any], row: Row) -> None:
    alert = _obj(record, "alert")
    action = _str(alert.get("action"))
    row["event.kind"] = "alert"
    row["event.category"] = "intrusion_detection"
    row["event.type"] = {"allowed": "allowed", "blocked": "denied"}.get(action or "", "info")
    row["event.action"] = action
    row["event.severity"] = alert.get("severity")
    row["rule.id"] = _str(alert.get("signature_id"))
    row["rule.name"] = _str(alert.get("signature"))
    row["rule.category"] = _str(alert.get("category"))
    for name in ("http", "dns", "tls"):
        if isinstance(record.get(name), dict):
            _APP_LAYER[name](record, row)


def _flow(record: dict[str, Any], row: Row) -> None:
    flow = _obj(record, "flow")
    row["event.category"] = "network"
    row["event.type"] = "connection"
    to_server, to_client = _int(flow.get("bytes_toserver")), _int(flow.get("bytes_toclient"))
    row["source.bytes"] = to_server
    row["destination.bytes"] = to_client
    if to_server is not None or to_client is not None:
        row["network.bytes"] = (to_server or 0) + (to_client or 0)
    row["event.duration"] = _duration(flow.get("start"), flow.get("end"))
    state, reason = _str(flow.get("state")), _str(flow.get("reason"))
    if state in ("established", "closed"):
        row["event.outcome"] = "success"
    elif state == "new" and row["network.transport"] == "tcp":
        row["event.outcome"] = "failure"  # the handshake never completed
    else:
        row["event.outcome"] = "unknown"
    if reason or state:
        row["event.action"] = f"flow-{reason or state}"


def _dns(record: dict[str, Any], row: Row) -> None:
    dns = _obj(record, "dns")
    question = dns
    for key in ("queries", "query"):  # EVE v3 requests/responses; v2 alert context
        listed = dns.get(key)
        if isinstance(listed, list) and listed and isinstance(listed[0], dict):
            question = listed[0]
            break
    row["event.category"] = row.get("event.category") or "network"
    row["event.type"] = row.get("event.type") or "protocol"
    row["dns.question.name"] = _str(dns.get("rrname")) or _str(question.get("rrname"))
    row["dns.question.type"] = _str(dns.get("rrtype")) or _str(question.get("rrtype"))
    row["dns.response_code"] = _str(dns.get("rcode"))


def _http(record: dict[str, Any], row: Row) -> None:
    http = _obj(record, "http")
    host, url = _str(http.get("hostname")), _str(http.get("url"))
    row["event.category"] = row.get("event.category") or "web"
    row["event.type"] = row.get("event.type") or "access"
    row["url.domain"] = host
    if url:
        row["url.path"], row["url.full"] = _url(host, _int(http.get("http_port")), url)
    row["http.request.method"] = _str(http.get("http_method"))
    row["http.response.status_code"] = http.get("status")
    row["user_agent.original"] = _str(http.get("http_user_agent"))
    row["http.response.body.bytes"] = http.get("length")


def _tls(record: dict[str, Any], row: Row) -> None:
    tls = _obj(record, "tls")
    row["event.category"] = row.get("event.category") or "network"
    row["event.type"] = row.get("event.type") or "protocol"
    row["tls.server.name"] = _str(tls.get("sni"))
    row["tls.version"] = _tls_version(_str(tls.get("version")))
    row["tls.server.subject"] = _str(tls.get("subject"))
    row["tls.server.issuer"] = _str(tls.get("issuerdn"))
    row["tls.client.ja3"] = _str(_obj(tls, "ja3").get("hash"))
    row["tls.server.ja3s"] = _str(_obj(tls, "ja3s").get("hash"))


def _fileinfo(record: dict[str, Any], row: Row) -> None:
    info = _obj(record, "fileinfo")
    path = _str(info.get("filename"))
    row["event.category"] = "file"
    row["event.type"] = "info"
    row["file.path"] = path
    row["file.name"] = re.split(r"[/\\]", path)[-1] if path else None
    row["file.size"] = info.get("size")
    for algorithm in ("md5", "sha1", "sha256"):
        row[f"file.hash.{algorithm}"] = _str(info.get(algorithm))
    if isinstance(record.get("http"), dict):
        _http(record, row)


def _anomaly(record: dict[str, Any], row: Row) -> None:
    row["event.category"] = "network"
    row["event.type"] = "info"
    row["event.action"] = _str(_obj(record, "anomaly").get("event"))


_APP_LAYER = {"http": _http, "dns": _dns, "tls": _tls}
_BY_TYPE = {
    "alert": _alert,
    "flow": _flow,
    "dns": _dns,
    "http": _http,
    "tls": _tls,
    "fileinfo": _fileinfo,
    "anomaly": _anomaly,
}


def _duration(start: Any, end: Any) -> int | None:
    """Nanoseconds from flow.start to flow.end, or None when either is unusable."""
    try:
        began, ended = timestamp(start), timestamp(end)
    except ParseError:
        return None
    return (ended - began) * 1000 if ended >= began else None


def _ip(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ParseError(f"bad {key} {value!r:.40}")
    try:
        return _normal_ip(value)
    except ValueError as exc:
        raise ParseError(f"bad {key} {value!r:.40}") from exc


@functools.lru_cache(maxsize=65536)
def _normal_ip(value: str) -> str:
    """The address in its canonical form (Suricata writes IPv6 uncompressed)."""
    return str(ipaddress.ip_address(value))


def _port(record: dict[str, Any], key: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise ParseError(f"{key} out of range: {value!r:.40}")
    return value


def _protocol(value: Any) -> str | None:
    name = _lower(value)
    return None if name in ("failed", "unknown") else name


def _tls_version(value: str | None) -> str | None:
    """ECS form: ``TLS 1.2`` -> ``1.2``, ``TLSv1`` -> ``1.0``, ``SSLv3`` -> ``3.0``."""
    if not value:
        return None
    if value.startswith("TLS "):
        return value[4:].split(" ", 1)[0]  # "TLS 1.3 draft-28" -> "1.3"
    return _TLS_VERSIONS.get(value)


def _url(host: str | None, port: int | None, url: str) -> tuple[str, str | None]:
    """ECS url.path (no query) and url.full; a proxy request's URL is already full."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else "/"
        full: str | None = url
    else:  # a path, or the authority of a CONNECT, or "*"
        path = url
        authority = f"{host}:{port}" if host and port and port != 80 else host
        full = f"http://{authority}{url}" if host and url.startswith("/") else None
    return path.split("?", 1)[0].split("#", 1)[0], full


def _obj(record: dict[str, Any], key: str) -> dict[str, Any]:
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, str) else str(value)


def _lower(value: Any) -> str | None:
    text = _str(value)
    return text.lower() if text else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
