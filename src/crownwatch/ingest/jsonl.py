"""Generic JSON lines: one object per line, flattened to dotted keys.

ECS columns come from ``src.field_map`` (ECS name -> source field, dotted) and from keys
that already are ECS names; the time from the map's ``@timestamp`` or the first of
``TIME_KEYS`` present. Every original field is kept in ``fields``. The same mapping
serves CSV (``csvlog``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from crownwatch.errors import ParseError, UsageError
from crownwatch.ingest.batch import Batch, LineParser, Row, parse_lines
from crownwatch.ingest.source import HEAD_BYTES, Source
from crownwatch.ingest.times import from_epoch, from_iso
from crownwatch.schema import FIELDS, PROVENANCE

NAME = "jsonl"
MAX_DEPTH = 32
MAX_KEYS = 10_000
TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "date", "datetime", "eventTime")

#: ECS columns a source field may fill (the builder sets the provenance ones).
MAPPABLE = frozenset(FIELDS) - frozenset(PROVENANCE) - {"@timestamp"}
_KINDS = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_NUMBER = re.compile(r"-?\d{1,20}(?:\.\d{1,9})?")


def check_map(field_map: Mapping[str, str]) -> None:
    """Refuse a field map that names columns the event schema does not have."""
    unknown = sorted(set(field_map) - MAPPABLE - {"@timestamp"})
    if unknown:
        raise UsageError(
            f"field map names unknown ECS fields: {', '.join(unknown)}; "
            "use the flat names of the event schema, e.g. source.ip"
        )


def flatten(obj: dict[str, Any]) -> dict[str, Any]:
    """Nested objects as one level of dotted keys; lists stay values."""
    out: dict[str, Any] = {}
    _flatten(obj, "", out, 1)
    return out


def _flatten(obj: dict[str, Any], prefix: str, out: dict[str, Any], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ParseError(f"nested deeper than {MAX_DEPTH} levels")
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict) and value:
            _flatten(value, name + ".", out, depth + 1)
            continue
        if isinstance(value, list):
            _check_depth(value, depth + 1)
        out[name] = value
        if len(out) > MAX_KEYS:
            raise ParseError(f"more than {MAX_KEYS} fields")


def _check_depth(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ParseError(f"nested deeper than {MAX_DEPTH} levels")
    children = value.values() if isinstance(value, dict) else value
    for child in children:
        if isinstance(child, dict | list):
            _check_depth(child, depth + 1)


def timestamp(value: Any) -> int:
    """Microseconds of an ISO 8601 time or epoch seconds (milliseconds above 1e11)."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return from_epoch(value / 1000 if abs(value) > 1e11 else value)
    if isinstance(value, str):
        return from_iso(value)
    raise ParseError(f"bad timestamp {value!r:.40}")


def _time_key(flat: dict[str, Any], field_map: Mapping[str, str]) -> str:
    if "@timestamp" in field_map:
        return field_map["@timestamp"]
    for key in TIME_KEYS:
        if key in flat:
            return key
    lower = {k.lower(): k for k in flat}
    for key in TIME_KEYS:
        if key.lower() in lower:
            return lower[key.lower()]
    raise ParseError(f"no timestamp: none of the fields {', '.join(TIME_KEYS)}")


def to_row(flat: dict[str, Any], field_map: Mapping[str, str], dataset: str) -> Row:
    """The ECS row of one flat record: ECS-named keys, then the field map, then the time."""
    row: Row = {"event.kind": "event", "event.dataset": dataset}
    for key, value in flat.items():
        if key in MAPPABLE:
            row[key] = value
    for ecs, name in field_map.items():
        if ecs != "@timestamp" and name in flat:
            row[ecs] = flat[name]
    key = _time_key(flat, field_map)
    if key not in flat:
        raise ParseError(f"no timestamp: no field {key!r}")
    try:
        row["@timestamp"] = timestamp(flat[key])
    except ParseError as exc:
        raise ParseError(f"field {key!r}: {exc.reason}") from exc
    row["fields"] = flat
    return row


def _line_parser(field_map: Mapping[str, str]) -> LineParser:
    def parse_line(raw: bytes) -> Row:
        try:
            value = orjson.loads(raw.decode("utf-8", "replace").lstrip("\ufeff"))
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"invalid JSON: {exc}") from exc
        if not isinstance(value, dict):
            kind = _KINDS.get(type(value), "value")
            raise ParseError(f"JSON {kind} is not an object")
        return to_row(flatten(value), field_map, "json")

    return parse_line


def sniff(head: bytes, path: str) -> bool:
    """True when the first non-empty line is a JSON object (or the start of a long one)."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if not text.startswith("{"):
        return False
    line, newline, _ = text.partition("\n")
    if not newline and len(head) >= HEAD_BYTES:  # a first record longer than the head
        return text.startswith('{"')
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def parse(src: Source) -> Iterator[Batch]:
    """Batches of events from JSON lines; a line that is not an object is quarantined."""
    check_map(src.field_map)
    return parse_lines(src, NAME, _line_parser(src.field_map))
