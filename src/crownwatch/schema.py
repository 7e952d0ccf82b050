"""The Arrow schema of a normalised event: flat ECS field names, one column each.

Columns are named exactly as ECS names them (``process.command_line``), so that
Sigma pipelines, Elastic and analysts' habits carry over; in DuckDB quote them:
``select "host.name", count(*) from events group by 1``.

Besides the ECS columns every event keeps ``event.original`` (the raw record as
text) and ``fields``: a JSON object of the source's own field names and values,
flattened (``Image``, ``CommandLine``, ``id.orig_h``…), so that rules can address
either naming.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import xxhash

TS = pa.timestamp("us", tz="UTC")

_STR = pa.string()
_I32 = pa.int32()
_I64 = pa.int64()

#: name -> Arrow type, in column order.
FIELDS: dict[str, pa.DataType] = {
    "@timestamp": TS,
    "event.id": _STR,
    "event.kind": _STR,
    "event.category": _STR,
    "event.type": _STR,
    "event.action": _STR,
    "event.outcome": _STR,
    "event.dataset": _STR,
    "event.module": _STR,
    "event.code": _STR,
    "event.provider": _STR,
    "event.severity": _I32,
    "event.duration": _I64,
    "message": _STR,
    "host.name": _STR,
    "host.ip": _STR,
    "user.name": _STR,
    "user.domain": _STR,
    "user.id": _STR,
    "source.ip": _STR,
    "source.port": _I32,
    "source.bytes": _I64,
    "source.domain": _STR,
    "destination.ip": _STR,
    "destination.port": _I32,
    "destination.bytes": _I64,
    "destination.domain": _STR,
    "network.transport": _STR,
    "network.protocol": _STR,
    "network.bytes": _I64,
    "network.direction": _STR,
    "process.pid": _I64,
    "process.entity_id": _STR,
    "process.name": _STR,
    "process.executable": _STR,
    "process.command_line": _STR,
    "process.parent.pid": _I64,
    "process.parent.entity_id": _STR,
    "process.parent.name": _STR,
    "process.parent.executable": _STR,
    "process.parent.command_line": _STR,
    "process.hash.md5": _STR,
    "process.hash.sha1": _STR,
    "process.hash.sha256": _STR,
    "file.path": _STR,
    "file.name": _STR,
    "file.size": _I64,
    "file.hash.md5": _STR,
    "file.hash.sha1": _STR,
    "file.hash.sha256": _STR,
    "dns.question.name": _STR,
    "dns.question.type": _STR,
    "dns.response_code": _STR,
    "url.full": _STR,
    "url.domain": _STR,
    "url.path": _STR,
    "http.request.method": _STR,
    "http.response.status_code": _I32,
    "http.request.body.bytes": _I64,
    "http.response.body.bytes": _I64,
    "user_agent.original": _STR,
    "tls.version": _STR,
    "tls.server.name": _STR,
    "tls.server.subject": _STR,
    "tls.server.issuer": _STR,
    "tls.client.ja3": _STR,
    "tls.server.ja3s": _STR,
    "winlog.channel": _STR,
    "winlog.event_id": _I32,
    "winlog.provider_name": _STR,
    "winlog.record_id": _I64,
    "registry.path": _STR,
    "registry.value": _STR,
    "registry.data.strings": _STR,
    "rule.id": _STR,
    "rule.name": _STR,
    "rule.category": _STR,
    "log.file.path": _STR,
    "log.offset": _I64,
    "event.original": _STR,
    "fields": _STR,
}

SCHEMA = pa.schema([pa.field(name, typ) for name, typ in FIELDS.items()])

_xxh3 = xxhash.xxh3_128_hexdigest

INT_FIELDS = frozenset(n for n, t in FIELDS.items() if pa.types.is_integer(t))

#: Columns a parser must not set itself: the batch builder fills them.
PROVENANCE = ("event.id", "log.file.path", "log.offset", "event.original", "fields")


def event_id(dataset: str, position: int, raw: bytes) -> str:
    """A stable id: the same record at the same place in the same kind of source.

    The position (line number, or the EVTX record id) keeps identical lines in one
    file apart, so ingesting a file twice, or a copy of it, adds nothing while two
    identical log lines both count.
    """
    return _xxh3(b"%s\0%d\0%s" % (dataset.encode(), position, raw))


def empty_table() -> pa.Table:
    """A table with the event schema and no rows."""
    return SCHEMA.empty_table()


def column_names() -> list[str]:
    return list(FIELDS)


def coerce_int(value: Any) -> int | None:
    """An integer from attacker-controlled input, or None when it is not one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    try:
        text = str(value).strip()
        if not text or text == "-":
            return None
        number = int(text, 16) if text[:2].lower() == "0x" else int(float(text))
    except (ValueError, OverflowError):
        return None
    return number if -(2**63) <= number < 2**63 else None
