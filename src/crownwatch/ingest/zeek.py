"""Zeek logs, TSV (with the ``#fields`` header) and JSON, every log type.

Known logs get ECS fields from ``MAPS``; any other log keeps the connection
fields (``id.orig_h``…) and all of its columns under ``fields``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import PurePath
from typing import Any

import orjson

from crownwatch.errors import ParseError
from crownwatch.ingest.batch import Batch, Row, parse_lines
from crownwatch.ingest.source import Source
from crownwatch.ingest.times import from_epoch, from_iso

NAME = "zeek"

COMMON = {
    "id.orig_h": "source.ip",
    "id.orig_p": "source.port",
    "id.resp_h": "destination.ip",
    "id.resp_p": "destination.port",
    "proto": "network.transport",
}

#: Zeek log -> (ECS category, type, {zeek column: ECS field}).
MAPS: dict[str, tuple[str, str, dict[str, str]]] = {
    "conn": (
        "network",
        "connection",
        {
            "service": "network.protocol",
            "orig_bytes": "source.bytes",
            "resp_bytes": "destination.bytes",
            "conn_state": "event.action",
        },
    ),
    "dns": (
        "network",
        "protocol",
        {
            "query": "dns.question.name",
            "qtype_name": "dns.question.type",
            "rcode_name": "dns.response_code",
        },
    ),
    "http": (
        "web",
        "access",
        {
            "host": "url.domain",
            "uri": "url.path",
            "method": "http.request.method",
            "status_code": "http.response.status_code",
            "user_agent": "user_agent.original",
            "request_body_len": "http.request.body.bytes",
            "response_body_len": "http.response.body.bytes",
        },
    ),
    "ssl": (
        "network",
        "protocol",
        {
            "server_name": "tls.server.name",
            "version": "tls.version",
            "subject": "tls.server.subject",
            "issuer": "tls.server.issuer",
            "ja3": "tls.client.ja3",
            "ja3s": "tls.server.ja3s",
        },
    ),
    "x509": (
        "network",
        "info",
        {
            "certificate.subject": "tls.server.subject",
            "certificate.issuer": "tls.server.issuer",
        },
    ),
    "files": (
        "file",
        "info",
        {
            "filename": "file.name",
            "md5": "file.hash.md5",
            "sha1": "file.hash.sha1",
            "sha256": "file.hash.sha256",
            "seen_bytes": "file.size",
            "source": "network.protocol",
        },
    ),
    "notice": (
        "intrusion_detection",
        "info",
        {
            "note": "rule.name",
            "msg": "message",
            "src": "source.ip",
            "dst": "destination.ip",
            "p": "destination.port",
        },
    ),
    "smb_files": (
        "file",
        "access",
        {"action": "event.action", "name": "file.name", "size": "file.size"},
    ),
    "smb_mapping": ("network", "access", {"path": "file.path"}),
    "rdp": ("network", "protocol", {"cookie": "user.name", "result": "event.action"}),
    "ntlm": (
        "authentication",
        "info",
        {
            "username": "user.name",
            "domainname": "user.domain",
            "hostname": "source.domain",
        },
    ),
    "kerberos": ("authentication", "info", {"request_type": "event.action"}),
    "ssh": (
        "network",
        "protocol",
        {"client": "user_agent.original", "direction": "network.direction"},
    ),
    "dce_rpc": ("network", "protocol", {"operation": "event.action"}),
    "ftp": ("network", "protocol", {"user": "user.name", "command": "event.action"}),
    "smtp": ("network", "protocol", {"subject": "message", "user_agent": "user_agent.original"}),
    "weird": ("network", "info", {"name": "event.action"}),
    "software": ("host", "info", {"host": "source.ip", "name": "event.action"}),
    "known_hosts": ("host", "info", {"host": "source.ip"}),
    "pe": ("file", "info", {}),
    "syslog": ("network", "protocol", {"message": "message"}),
}

KNOWN_LOGS = frozenset(MAPS) | {"dhcp", "tunnel", "dpd", "snmp", "sip", "radius", "modbus"}
_LOG_NAME = re.compile(r"[a-z0-9_]{1,40}")
_ESCAPE = re.compile(rb"\\(\\|x[0-9a-fA-F]{2})")


def sniff(head: bytes, path: str) -> bool:
    if head.startswith(b"#separator"):
        return True
    first = head.lstrip().split(b"\n", 1)[0]
    if not first.startswith(b"{"):
        return False
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(record, dict) or "ts" not in record:
        return False
    return bool({"_path", "uid", "id.orig_h", "fuid"} & record.keys()) or (
        _log_from_path(path) in KNOWN_LOGS
    )


def parse(src: Source) -> Iterator[Batch]:
    yield from parse_lines(src, NAME, _line_parser(src))


def _line_parser(src: Source) -> Callable[[bytes], Row | None]:
    """TSV or JSON, chosen by the first line that starts with ``#`` or ``{``: garbage
    before it (a bad first record, NULs a crash left) must not decide for the file."""
    tsv, json = _tsv_parser(src), _json_parser(src)
    chosen: list[Callable[[bytes], Row | None]] = []

    def parse_line(line: bytes) -> Row | None:
        if not chosen:
            start = line.lstrip()[:1]
            if start in (b"{", b"#"):
                chosen.append(json if start == b"{" else tsv)
        return (chosen[0] if chosen else tsv)(line)

    return parse_line


def _log_from_path(path: str) -> str:
    return PurePath(path).name.split(".", 1)[0].lower()


def _guess_log(record: dict[str, Any]) -> str:
    for key, log in (
        ("query", "dns"),
        ("server_name", "ssl"),
        ("ja3", "ssl"),
        ("method", "http"),
        ("conn_state", "conn"),
        ("fuid", "files"),
        ("note", "notice"),
    ):
        if key in record:
            return log
    return "unknown"


def to_row(log: str, record: dict[str, Any], original: bytes | None = None) -> Row:
    """ECS fields for one Zeek record (a dict of its columns, already typed).

    ``original`` is the record's JSON text when it has one: it is kept as ``fields``
    as it is, rather than serialised again.
    """
    ts = record.get("ts")
    if ts is None:
        raise ParseError("no ts")
    row: Row = {
        "@timestamp": from_iso(ts) if isinstance(ts, str) else from_epoch(ts),
        "event.module": "zeek",
        "event.dataset": f"zeek.{log}",
        "event.kind": "alert" if log == "notice" else "event",
        "fields": original or record,
    }
    category, typ, mapping = MAPS.get(log, ("network", "info", {}))
    row["event.category"] = category
    row["event.type"] = typ
    for key, ecs in COMMON.items():
        if key in record:
            row[ecs] = record[key]
    for key, ecs in mapping.items():
        value = record.get(key)
        if value is not None:
            row[ecs] = value
    extra = _EXTRA.get(log)
    if extra:
        extra(record, row)
    return row


def _conn(record: dict[str, Any], row: Row) -> None:
    duration = record.get("duration")
    if isinstance(duration, int | float) and abs(duration) < 1e9:  # not inf, fits in int64 ns
        row["event.duration"] = int(duration * 1e9)
    total = sum(
        v for v in (record.get("orig_bytes"), record.get("resp_bytes")) if isinstance(v, int)
    )
    if total:
        row["network.bytes"] = total
    if record.get("local_orig") is True and record.get("local_resp") is False:
        row["network.direction"] = "outbound"
    elif record.get("local_orig") is False and record.get("local_resp") is True:
        row["network.direction"] = "inbound"
    elif record.get("local_orig") is True and record.get("local_resp") is True:
        row["network.direction"] = "internal"


def _http(record: dict[str, Any], row: Row) -> None:
    host, uri = record.get("host"), record.get("uri")
    if isinstance(host, str) and isinstance(uri, str):
        row["url.full"] = f"http://{host}{uri}"


def _outcome(record: dict[str, Any], row: Row, key: str = "success") -> None:
    value = record.get(key)
    if isinstance(value, bool):
        row["event.outcome"] = "success" if value else "failure"


def _kerberos(record: dict[str, Any], row: Row) -> None:
    _outcome(record, row)
    client = record.get("client")
    if isinstance(client, str) and client:
        name, _, realm = client.partition("/")
        row["user.name"] = name
        if realm:
            row["user.domain"] = realm


def _smb_files(record: dict[str, Any], row: Row) -> None:
    path, name = record.get("path"), record.get("name")
    if isinstance(path, str) and isinstance(name, str):
        row["file.path"] = f"{path.rstrip(chr(92))}\\{name}"
    elif isinstance(name, str):
        row["file.path"] = name


def _files(record: dict[str, Any], row: Row) -> None:
    for host_key, ecs in (("tx_hosts", "source.ip"), ("rx_hosts", "destination.ip")):
        hosts = record.get(host_key)
        if isinstance(hosts, list) and hosts and ecs not in row:
            row[ecs] = hosts[0]


_EXTRA: dict[str, Callable[[dict[str, Any], Row], None]] = {
    "conn": _conn,
    "http": _http,
    "ntlm": _outcome,
    "kerberos": _kerberos,
    "ssh": lambda r, row: _outcome(r, row, "auth_success"),
    "smb_files": _smb_files,
    "files": _files,
}


def _unescape(raw: bytes) -> str:
    """Undo the TSV writer's escapes: ``\\\\`` for a backslash, ``\\xNN`` for a byte."""
    if b"\\" in raw:
        raw = _ESCAPE.sub(_unescape_one, raw)
    return raw.decode("utf-8", "replace")


def _unescape_one(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    return b"\\" if code == b"\\" else bytes([int(code[1:], 16)])


def _bool(value: str) -> bool:
    return value == "T"


def _convert(zeek_type: str) -> Callable[[str], Any] | None:
    """The converter of a Zeek type; None for text, which stays as it is."""
    if zeek_type in ("count", "int", "port"):
        return int
    if zeek_type in ("time", "interval", "double"):
        return float
    if zeek_type == "bool":
        return _bool
    return None


Column = tuple[str, Callable[[str], Any] | None, bool]
"""A TSV column: its name, converter, and whether it is a set or vector."""


def _columns(names: list[str], types: list[str]) -> list[Column]:
    columns: list[Column] = []
    for i, name in enumerate(names):
        typ = types[i] if i < len(types) else "string"
        if typ.startswith(("set[", "vector[")):
            columns.append((name, _convert(typ[typ.index("[") + 1 : -1]), True))
        else:
            columns.append((name, _convert(typ), False))
    return columns


def log_name(value: str) -> str:
    """A log name fit for a dataset; anything odd (attacker-made) becomes ``unknown``."""
    value = value.strip().lower()
    return value if _LOG_NAME.fullmatch(value) else "unknown"


def _tsv_parser(src: Source) -> Callable[[bytes], Row | None]:
    state: dict[str, Any] = {
        "log": log_name(_log_from_path(str(src.path))),
        "columns": None,
        "names": [],
        "types": [],
        "sep": "\t",
        "set_sep": ",",
        "unset": "-",
        "empty": "(empty)",
    }

    def header(line: bytes) -> None:
        if line.startswith(b"#separator"):
            given = line.split(b" ", 1)[1].strip() if b" " in line else b"\\x09"
            state["sep"] = _unescape(given) or "\t"
            return
        key, _, value = line.decode("utf-8", "replace").partition(state["sep"])
        key = key[1:]
        if key == "fields":
            state["names"], state["types"] = value.split(state["sep"]), []
        elif key == "types":
            state["types"] = value.split(state["sep"])
        elif key == "path":
            state["log"] = log_name(value)
        elif key == "set_separator":
            state["set_sep"] = value
        elif key == "unset_field":
            state["unset"] = value
        elif key == "empty_field":
            state["empty"] = value
        else:
            return
        state["columns"] = _columns(state["names"], state["types"]) if state["names"] else None

    def parse_line(line: bytes) -> Row | None:
        if line.startswith(b"#"):
            header(line)
            return None
        columns: list[Column] | None = state["columns"]
        if columns is None:
            raise ParseError("data line before any #fields header")
        escaped = b"\\" in line
        values = (
            [_unescape(v) for v in line.split(state["sep"].encode())]
            if escaped
            else line.decode("utf-8", "replace").split(state["sep"])
        )
        if len(values) != len(columns):
            raise ParseError(f"{len(values)} columns where #fields names {len(columns)}")
        unset, empty = state["unset"], state["empty"]
        record: dict[str, Any] = {}
        for (name, convert, is_set), text in zip(columns, values, strict=True):
            if text == unset:
                continue
            if is_set:
                items = [] if text == empty else text.split(state["set_sep"])
                record[name] = [convert(v) for v in items] if convert else items
            elif text == empty:
                record[name] = ""
            else:
                record[name] = convert(text) if convert else text
        return to_row(state["log"], record)

    return parse_line


def _json_parser(src: Source) -> Callable[[bytes], Row | None]:
    path_log = _log_from_path(str(src.path))

    def parse_line(line: bytes) -> Row | None:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"not JSON: {exc}") from exc
        if not isinstance(record, dict):
            raise ParseError("JSON line is not an object")
        log = record.get("_path")
        if isinstance(log, str) and log:
            log = log_name(log)
        else:
            log = path_log if path_log in KNOWN_LOGS else _guess_log(record)
        return to_row(log, record, line)

    return parse_line
