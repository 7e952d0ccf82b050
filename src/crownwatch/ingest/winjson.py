"""Windows events as JSON lines: Winlogbeat/ECS documents, evtx_dump output, flat exports.

Three shapes, one object per line:

- Winlogbeat: ``{"@timestamp": …, "winlog": {"channel", "event_id", "provider_name",
  "computer_name", "record_id", "event_data": {…}, "user_data": {…}}, "message": …}``;
- evtx_dump / the evtx JSON shape: ``{"Event": {"System": {…}, "EventData": {…}}}``;
- flat exports (nxlog, Zircolite, Get-WinEvent…): ``EventID``, ``Channel``, ``Computer``,
  ``Provider_Name``, a time, and the event data keys at the top level.

All go through ``windows.to_row``, the mapping the EVTX parser uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from crownwatch.errors import ParseError
from crownwatch.ingest import windows
from crownwatch.ingest.batch import Batch, Row, parse_lines
from crownwatch.ingest.source import Source

NAME = "winjson"
BOM = b"\xef\xbb\xbf"

#: Flat exports: the Sigma name of a system field <- the names exporters give it, first found wins.
_FLAT_SYSTEM = {
    "EventID": ("EventID", "EventId", "Id"),
    "Channel": ("Channel", "LogName"),
    "Computer": ("Computer", "Hostname", "MachineName"),
    "Provider_Name": ("Provider_Name", "ProviderName", "SourceName"),
    "EventRecordID": ("EventRecordID", "RecordId", "RecordNumber"),
    "Level": ("Level",),
    "Keywords": ("Keywords",),
    "Security_UserID": ("Security_UserID", "UserId", "UserID"),
}
#: Where flat exports keep the time; Sysmon's UtcTime is event data, so it is read, not moved.
_FLAT_TIMES = ("SystemTime", "TimeCreated_SystemTime", "TimeCreated", "EventTime", "@timestamp")
_DOTNET_DATE = re.compile(r"/Date\((-?\d{1,15})\)/")


def sniff(head: bytes, path: str) -> bool:
    """The first line is a Windows event: it has ``winlog``, ``Event.System``, or
    ``EventID`` with ``Channel`` or ``Computer``."""
    line = head.removeprefix(BOM).lstrip().split(b"\n", 1)[0].strip()
    if not line.startswith(b"{"):
        return False
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return _looks_windows(line) and b"\n" not in head.lstrip()  # a first line cut by the head
    if not isinstance(obj, dict) or "event_type" in obj or ("ts" in obj and "uid" in obj):
        return False
    event = obj.get("Event")
    return (
        isinstance(obj.get("winlog"), dict)
        or (isinstance(event, dict) and isinstance(event.get("System"), dict))
        or ("EventID" in obj and ("Channel" in obj or "Computer" in obj))
    )


def _looks_windows(line: bytes) -> bool:
    return (
        b'"winlog":{' in line
        or line.startswith(b'{"Event":{')
        or (b'"EventID":' in line and (b'"Channel":' in line or b'"Computer":' in line))
    )


def parse(src: Source) -> Iterator[Batch]:
    return parse_lines(src, NAME, parse_line)


def parse_line(raw: bytes) -> Row:
    """One JSON line of any of the three shapes as an ECS row."""
    try:
        obj = orjson.loads(raw.removeprefix(BOM))
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ParseError(f"not a JSON object but a {type(obj).__name__}")
    winlog = obj.get("winlog")
    if isinstance(winlog, dict):
        ts, system, data = _winlogbeat(obj, winlog)
        message = obj.get("message")
    elif isinstance(obj.get("Event"), dict):
        event = obj["Event"]
        when, system, data = windows.evtx_event(event)
        ts = windows.timestamp(when)
        message = windows.rendered_message(event)
    else:
        ts, system, data = _flat(obj)
        message = data.pop("Message", None)
    row = windows.to_row(ts, system, data)
    if message:
        row["message"] = message
    return row


def _winlogbeat(obj: dict[str, Any], winlog: dict[str, Any]) -> tuple[int, Row, Row]:
    event = _dict(obj.get("event"))
    system = {
        "EventID": winlog.get("event_id", event.get("code")),
        "Channel": winlog.get("channel"),
        "Computer": winlog.get("computer_name") or _dict(obj.get("host")).get("name"),
        "Provider_Name": winlog.get("provider_name") or event.get("provider"),
        "EventRecordID": winlog.get("record_id"),
        "Security_UserID": _dict(winlog.get("user")).get("identifier"),
    }
    data: Row = {}
    for section in (winlog.get("event_data"), winlog.get("user_data")):
        if isinstance(section, dict):
            data.update(windows.flat(section))
    return windows.timestamp(obj.get("@timestamp")), system, data


def _flat(obj: dict[str, Any]) -> tuple[int, Row, Row]:
    data = dict(obj)
    system: Row = {}
    for name, aliases in _FLAT_SYSTEM.items():
        for alias in aliases:
            if alias in data:
                system[name] = data.pop(alias)
                break
    when = next((data.pop(k) for k in _FLAT_TIMES if k in data), None)
    ts = _time(when if when is not None else data.get("UtcTime"))
    return ts, system, windows.flat(data)


def _time(value: Any) -> int:
    """ISO 8601 text, the .NET ``/Date(ms)/`` of ConvertTo-Json, or {"SystemTime": …}."""
    if isinstance(value, dict):
        value = value.get("SystemTime", value.get("@SystemTime"))
    if isinstance(value, str):
        match = _DOTNET_DATE.fullmatch(value)
        if match:
            return int(match.group(1)) * 1000
    return windows.timestamp(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
