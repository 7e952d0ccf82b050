"""Windows events to ECS rows: the mapping shared by the EVTX and Windows JSON parsers.

A parser hands over the event's system fields under the names Sigma's Windows rules
use (``EventID``, ``Channel``, ``Computer``, ``Provider_Name``, ``EventRecordID``…)
and its event data as one flat dict (``TargetUserName``, ``Image``…); ``to_row``
builds the ECS row, with ``fields`` = system fields + event data, Zircolite style.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from crownwatch.errors import ParseError
from crownwatch.ingest.times import from_iso, to_micros
from crownwatch.schema import coerce_int

Row = dict[str, Any]
Data = dict[str, Any]
Fix = Callable[[Row, Data], None]

SECURITY = "Microsoft-Windows-Security-Auditing"
SYSMON = "Microsoft-Windows-Sysmon"
POWERSHELL = "Microsoft-Windows-PowerShell"
EVENTLOG = "Microsoft-Windows-Eventlog"
SERVICES = "Service Control Manager"

#: System fields, as named in ``fields``; event data keys that clash get "EventData." before.
SYSTEM_NAMES = frozenset(
    ("EventID", "Channel", "Computer", "Provider_Name", "EventRecordID", "Level", "Keywords",
     "Security_UserID")
)  # fmt: skip

_DATASETS = {
    "Security": "windows.security",
    "System": "windows.system",
    "Microsoft-Windows-Sysmon/Operational": "windows.sysmon",
    "Microsoft-Windows-PowerShell/Operational": "windows.powershell",
}
_PROVIDER_DATASETS = {SECURITY: "windows.security", SYSMON: "windows.sysmon"}
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_MAX_DEPTH = 6
_EMPTY = ("-", "", "0x0", None)


# --- reading the evtx JSON shape: {"Event": {"System": {...}, "EventData": {...}}} ---


def evtx_event(event: Any) -> tuple[Any, Data, Data]:
    """The SystemTime, the system fields and the event data of an evtx-style ``Event``."""
    if not isinstance(event, dict):
        raise ParseError("Event is not an object")
    system = event.get("System")
    if not isinstance(system, dict):
        raise ParseError("Event has no System")
    get = system.get
    event_id = get("EventID")
    if isinstance(event_id, dict):  # {"#attributes": {"Qualifiers": …}, "#text": 7045}
        event_id = event_id.get("#text")
    names: Data = {
        "EventID": event_id,
        "Channel": get("Channel"),
        "Computer": get("Computer"),
        "Provider_Name": _attr(get("Provider"), "Name"),
        "EventRecordID": get("EventRecordID"),
        "Level": get("Level"),
        "Keywords": get("Keywords"),
        "Security_UserID": _attr(get("Security"), "UserID"),
    }
    return _attr(get("TimeCreated"), "SystemTime"), names, event_data(event)


def event_data(event: Data) -> Data:
    """EventData, UserData and any other section of an ``Event``, as one flat dict."""
    data = event.get("EventData")
    if (
        isinstance(data, dict)
        and "Data" not in data
        and "#attributes" not in data
        and (len(event) == 2 or (len(event) == 3 and "#attributes" in event))
    ):
        return data  # the common case: named <Data> elements only, already name -> value
    out: Data = {}
    for name, section in event.items():
        if name in ("System", "#attributes", "RenderingInfo") or section is None:
            continue
        if name == "EventData" and isinstance(section, dict):
            _event_data(section, out)
        elif isinstance(section, dict):  # UserData and the like: one element, its children
            for child in section.values():
                if isinstance(child, dict):
                    _flatten(child, "", out, 0)
        else:
            out[name] = section
    return out


def rendered_message(event: Data) -> Any:
    """The message text a forwarded event carries in RenderingInfo, if any."""
    info = event.get("RenderingInfo")
    return info.get("Message") if isinstance(info, dict) else None


def _event_data(section: Data, out: Data) -> None:
    for key, value in section.items():
        if key == "Data":
            _unnamed(value, out)
        elif key == "#attributes":
            _attributes(value, "", out)
        elif isinstance(value, dict):
            _flatten(value, key + ".", out, 1)
        else:
            out[key] = value


def _unnamed(value: Any, out: Data) -> None:
    """<Data> elements: named ones become name -> text; unnamed ones Data, Data1, Data2…"""
    if isinstance(value, dict) and "#text" in value and _name_of(value) is None:
        value = value["#text"]
    items = value if isinstance(value, list) else [value]
    index = 0
    for item in items:
        name = _name_of(item) if isinstance(item, dict) else None
        if name is not None:
            out[name] = _text_of(item)
            continue
        out["Data" if index == 0 else f"Data{index}"] = (
            _text_of(item) if isinstance(item, dict) else item
        )
        index += 1


def _name_of(item: Data) -> str | None:
    attrs = item.get("#attributes")
    name = attrs.get("Name") if isinstance(attrs, dict) else item.get("@Name", item.get("Name"))
    return name if isinstance(name, str) and name else None


def _text_of(item: Data) -> Any:
    for key in ("#text", "text", "Value", "value"):
        if key in item:
            return item[key]
    return None


def _flatten(node: Data, prefix: str, out: Data, depth: int) -> None:
    """Nested elements as dotted names; attributes as children; "#text" as the element itself."""
    for key, value in node.items():
        if key == "#attributes":
            _attributes(value, prefix, out)
            continue
        name = (prefix[:-1] or "Data") if key == "#text" else prefix + key
        if isinstance(value, dict) and depth < _MAX_DEPTH:
            _flatten(value, name + ".", out, depth + 1)
        else:
            out[name] = value


def _attributes(attrs: Any, prefix: str, out: Data) -> None:
    if isinstance(attrs, dict):
        for key, value in attrs.items():
            if not key.startswith("xmlns"):
                out[prefix + key] = value


def _attr(element: Any, name: str) -> Any:
    """An XML attribute: ``{"#attributes": {name: value}}`` (evtx) or ``{"@name": value}``."""
    try:
        return element["#attributes"][name]
    except (KeyError, TypeError, IndexError):
        return element.get("@" + name) if isinstance(element, dict) else None


def flat(section: Data) -> Data:
    """A dict of event data with nested objects flattened to dotted names."""
    for value in section.values():
        if isinstance(value, dict):
            out: Data = {}
            _flatten(section, "", out, 0)
            return out
    return section


def timestamp(text: Any) -> int:
    """A Windows time (SystemTime, ISO 8601; no zone means UTC) as microseconds."""
    if not isinstance(text, str):
        raise ParseError("no timestamp" if text is None else f"bad timestamp {text!r:.40}")
    try:
        return to_micros(datetime.fromisoformat(text))
    except ValueError:
        return from_iso(text)


# --- the ECS row ---


def to_row(ts: int, system: Data, data: Data) -> Row:
    """The ECS row of one event from its time, system fields (Sigma names) and event data.

    ``system`` is the caller's own dict: its EventID is set to the integer it holds.
    """
    event_id = system.get("EventID")
    if type(event_id) is not int:
        event_id = coerce_int(event_id)
    if event_id is None or not 0 <= event_id < 2**31:
        raise ParseError(f"bad EventID {system.get('EventID')!r:.40}")
    system["EventID"] = event_id
    channel = system.get("Channel")
    if type(channel) is not str:
        channel = _str(channel)
    provider = system.get("Provider_Name")
    if type(provider) is not str:
        provider = _str(provider)
    row: Row = {
        "@timestamp": ts,
        "event.kind": "event",
        "event.module": "windows",
        "event.dataset": dataset(channel[:128], provider[:128]),
        "event.code": str(event_id),
        "event.provider": provider,
        "winlog.event_id": event_id,
        "winlog.channel": channel,
        "winlog.provider_name": provider,
        "winlog.record_id": system.get("EventRecordID"),
        "host.name": system.get("Computer"),
        "fields": _fields(system, data),
    }
    spec = SPECS.get((provider, event_id))
    if spec is not None:
        row["event.category"] = spec.category
        row["event.type"] = spec.type
        row["event.outcome"] = spec.outcome
        row["event.action"] = spec.action
        for ecs, name in spec.copy:
            value = data.get(name)
            if value not in _EMPTY:
                row[ecs] = value
        for fix in spec.fixes:
            fix(row, data)
        _derived(row)
    if "user.id" not in row and provider != SYSMON:
        sid = system.get("Security_UserID")
        if sid:
            row["user.id"] = sid
    return row


def _fields(system: Data, data: Data) -> str:
    """System fields and event data as one JSON object (spliced: no merged dict is built)."""
    try:
        head = orjson.dumps(system, default=str)
        if not data:
            return head.decode()
        if not SYSTEM_NAMES.isdisjoint(data):
            data = {("EventData." + k if k in SYSTEM_NAMES else k): v for k, v in data.items()}
        return (head[:-1] + b"," + orjson.dumps(data, default=str)[1:]).decode()
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise ParseError(f"event data cannot be kept as JSON: {exc}") from exc


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


@lru_cache(maxsize=4096)
def dataset(channel: str, provider: str) -> str:
    """``windows.security``, ``windows.sysmon``… else ``windows.<channel as a slug>``."""
    known = _DATASETS.get(channel) or _PROVIDER_DATASETS.get(provider)
    if known:
        return known
    slug = _NOT_ALNUM.sub("_", channel.lower()).strip("_")[:80]
    return f"windows.{slug or 'unknown'}"


def _derived(row: Row) -> None:
    """Names from paths, user names split at the backslash, IPv4-mapped addresses unwrapped."""
    exe = row.get("process.executable")
    if isinstance(exe, str) and "process.name" not in row:
        row["process.name"] = basename(exe)
    parent = row.get("process.parent.executable")
    if isinstance(parent, str):
        row["process.parent.name"] = basename(parent)
    user = row.get("user.name")
    if isinstance(user, str) and "\\" in user and "user.domain" not in row:
        row["user.domain"], row["user.name"] = user.split("\\", 1)
    ip = row.get("source.ip")
    if isinstance(ip, str) and ip.startswith("::ffff:") and "." in ip:
        row["source.ip"] = ip[7:]


def basename(path: str) -> str:
    """The last part of a Windows or POSIX path."""
    return path[max(path.rfind("\\"), path.rfind("/")) + 1 :]


# --- fixes: per-event computations beyond copying a field ---


def _file_name(row: Row, data: Data) -> None:
    path = row.get("file.path")
    if isinstance(path, str):
        row["file.name"] = basename(path)


def _share_path(row: Row, data: Data) -> None:
    share, target = data.get("ShareName"), data.get("RelativeTargetName")
    if isinstance(share, str) and isinstance(target, str) and target not in _EMPTY:
        row["file.path"] = share.rstrip("\\") + "\\" + target.lstrip("\\")
        row["file.name"] = basename(target)


def _object(row: Row, data: Data) -> None:
    """4656/4663: a file, a registry key, a process, an account database object…"""
    kind, name = data.get("ObjectType"), data.get("ObjectName")
    row["event.category"] = (
        _OBJECT_CATEGORIES.get(kind, "host") if isinstance(kind, str) else "host"
    )
    if name in _EMPTY:
        return
    if kind == "File":
        row["file.path"] = name
        _file_name(row, data)
    elif kind == "Key":
        row["registry.path"] = name


_OBJECT_CATEGORIES = {
    "File": "file",
    "Key": "registry",
    "Process": "process",
    "SAM_SERVER": "iam",
    "SAM_DOMAIN": "iam",
    "SAM_USER": "iam",
    "SAM_GROUP": "iam",
    "SAM_ALIAS": "iam",
}


def _status_outcome(row: Row, data: Data) -> None:
    status = data.get("Status")
    if status is not None:
        row["event.outcome"] = "success" if coerce_int(status) == 0 else "failure"


def _hashes(prefix: str) -> Fix:
    def fix(row: Row, data: Data) -> None:
        text = data.get("Hashes", data.get("Hash"))
        if not isinstance(text, str):
            return
        for part in text.split(",", 8):
            alg, _, value = part.partition("=")
            alg = alg.strip().lower()
            if alg in ("md5", "sha1", "sha256") and value:
                row[f"{prefix}.hash.{alg}"] = value.strip().lower()

    return fix


def _registry_value(row: Row, data: Data) -> None:
    path = row.get("registry.path")
    if isinstance(path, str):
        row["registry.value"] = basename(path)


def _registry_type(row: Row, data: Data) -> None:
    kind = data.get("EventType")
    if kind == "CreateKey":
        row["event.type"] = "creation"
    elif kind in ("DeleteKey", "DeleteValue"):
        row["event.type"] = "deletion"


def _direction(row: Row, data: Data) -> None:
    initiated = data.get("Initiated")
    if initiated in (True, "true", "True"):
        row["network.direction"] = "egress"
    elif initiated in (False, "false", "False"):
        row["network.direction"] = "ingress"


# --- the table: (provider, event id) -> what the event means in ECS ---


@dataclass(frozen=True, slots=True)
class Spec:
    """ECS values of one kind of event, the fields it copies (ECS name, source name), fixes."""

    category: str
    type: str
    outcome: str
    action: str
    copy: tuple[tuple[str, str], ...]
    fixes: tuple[Fix, ...]


def _spec(ecs: str, *groups: dict[str, str], fixes: tuple[Fix, ...] = ()) -> Spec:
    """``ecs`` is "category type outcome action"; each group maps source name -> ECS name."""
    category, kind, outcome, action = ecs.split()
    copy = tuple((target, name) for group in groups for name, target in group.items())
    return Spec(category, kind, outcome, action, copy, fixes)


# Groups of fields: source name -> ECS name.
TARGET_USER = {
    "TargetUserName": "user.name",
    "TargetDomainName": "user.domain",
    "TargetUserSid": "user.id",
    "TargetSid": "user.id",
}
SUBJECT_USER = {
    "SubjectUserName": "user.name",
    "SubjectDomainName": "user.domain",
    "SubjectUserSid": "user.id",
}
SOURCE = {"IpAddress": "source.ip", "IpPort": "source.port"}
DESTINATION = {"IpAddress": "destination.ip", "IpPort": "destination.port"}
CALLER = {"ProcessName": "process.executable", "ProcessId": "process.pid"}
CALLER_PROCESS = {"CallerProcessName": "process.executable", "CallerProcessId": "process.pid"}
NEW_PROCESS = {
    "NewProcessName": "process.executable",
    "NewProcessId": "process.pid",
    "CommandLine": "process.command_line",
    "ParentProcessName": "process.parent.executable",
    "ProcessId": "process.parent.pid",
}
IMAGE = {
    "Image": "process.executable",
    "ProcessId": "process.pid",
    "ProcessGuid": "process.entity_id",
    "User": "user.name",
}
SOURCE_IMAGE = {
    "SourceImage": "process.executable",
    "SourceProcessId": "process.pid",
    "SourceProcessGuid": "process.entity_id",
    "SourceProcessGUID": "process.entity_id",
    "SourceUser": "user.name",
}
PARENT = {
    "CommandLine": "process.command_line",
    "ParentImage": "process.parent.executable",
    "ParentCommandLine": "process.parent.command_line",
    "ParentProcessId": "process.parent.pid",
    "ParentProcessGuid": "process.parent.entity_id",
}
NETWORK = {
    "SourceIp": "source.ip",
    "SourcePort": "source.port",
    "SourceHostname": "source.domain",
    "DestinationIp": "destination.ip",
    "DestinationPort": "destination.port",
    "DestinationHostname": "destination.domain",
    "Protocol": "network.transport",
}
TARGET_FILE = {"TargetFilename": "file.path"}
LOADED = {"ImageLoaded": "file.path"}
REGISTRY = {"TargetObject": "registry.path"}
REGISTRY_DATA = {"Details": "registry.data.strings"}
PIPE = {"PipeName": "file.name"}
WMI_USER = {"User": "user.name"}

_FILE = (_file_name,)
_HASHED = (_file_name, _hashes("file"))
_STATUS = (_status_outcome,)

_security = {
    4624: _spec("authentication start success logged-in", TARGET_USER, SOURCE, CALLER),
    4625: _spec("authentication start failure logon-failed", TARGET_USER, SOURCE, CALLER),
    4634: _spec("authentication end success logged-out", TARGET_USER),
    4647: _spec("authentication end success logged-out", TARGET_USER),
    4648: _spec("authentication start success explicit-credentials-logon", SUBJECT_USER,
                CALLER, DESTINATION),
    4672: _spec("iam info success special-privileges-assigned", SUBJECT_USER),
    4688: _spec("process start success process-created", SUBJECT_USER, NEW_PROCESS),
    4689: _spec("process end success process-exited", SUBJECT_USER, CALLER),
    4697: _spec("configuration creation success service-installed", SUBJECT_USER,
                {"ServiceFileName": "file.path"}),
    4698: _spec("configuration creation success scheduled-task-created", SUBJECT_USER),
    4720: _spec("iam creation success user-account-created", SUBJECT_USER),
    4728: _spec("iam change success added-member-to-group", SUBJECT_USER),
    4732: _spec("iam change success added-member-to-group", SUBJECT_USER),
    4768: _spec("authentication start success kerberos-tgt-requested", TARGET_USER, SOURCE,
                fixes=_STATUS),
    4769: _spec("authentication start success kerberos-service-ticket-requested", TARGET_USER,
                SOURCE, fixes=_STATUS),
    4776: _spec("authentication start success credentials-validated",
                {"TargetUserName": "user.name"}, fixes=_STATUS),
    5140: _spec("file access success share-accessed", SUBJECT_USER, SOURCE,
                {"ShareName": "file.path"}),
    5145: _spec("file access success share-object-checked", SUBJECT_USER, SOURCE,
                fixes=(_share_path,)),
    4656: _spec("file access success object-handle-requested", SUBJECT_USER, CALLER,
                fixes=(_object,)),
    4663: _spec("file access success object-accessed", SUBJECT_USER, CALLER, fixes=(_object,)),
    4699: _spec("configuration deletion success scheduled-task-deleted", SUBJECT_USER),
    4702: _spec("configuration change success scheduled-task-updated", SUBJECT_USER),
    4726: _spec("iam deletion success user-account-deleted", SUBJECT_USER),
    4738: _spec("iam change success user-account-changed", SUBJECT_USER),
    4740: _spec("iam change success user-account-locked-out", TARGET_USER),
    4756: _spec("iam change success added-member-to-group", SUBJECT_USER),
    4771: _spec("authentication start failure kerberos-preauth-failed", TARGET_USER, SOURCE),
    4798: _spec("iam info success group-membership-enumerated", SUBJECT_USER, CALLER_PROCESS),
    4799: _spec("iam info success group-membership-enumerated", SUBJECT_USER, CALLER_PROCESS),
}  # fmt: skip

_sysmon = {
    1: _spec("process start success process-created", IMAGE, PARENT,
             fixes=(_hashes("process"),)),
    2: _spec("file change success file-creation-time-changed", IMAGE, TARGET_FILE, fixes=_FILE),
    3: _spec("network connection success network-connection", IMAGE, NETWORK,
             fixes=(_direction,)),
    4: _spec("host change success sysmon-state-changed"),
    5: _spec("process end success process-terminated", IMAGE),
    6: _spec("host info success driver-loaded", LOADED, fixes=_HASHED),
    7: _spec("process change success image-loaded", IMAGE, LOADED, fixes=_HASHED),
    8: _spec("process change success remote-thread-created", SOURCE_IMAGE),
    9: _spec("file access success raw-access-read", IMAGE, {"Device": "file.path"}),
    10: _spec("process access success process-accessed", SOURCE_IMAGE),
    11: _spec("file creation success file-created", IMAGE, TARGET_FILE, fixes=_FILE),
    12: _spec("registry change success registry-object-added-or-deleted", IMAGE, REGISTRY,
              fixes=(_registry_type, _registry_value)),
    13: _spec("registry change success registry-value-set", IMAGE, REGISTRY, REGISTRY_DATA,
              fixes=(_registry_value,)),
    14: _spec("registry change success registry-object-renamed", IMAGE, REGISTRY,
              fixes=(_registry_value,)),
    15: _spec("file creation success file-stream-created", IMAGE, TARGET_FILE, fixes=_HASHED),
    16: _spec("configuration change success sysmon-config-changed"),
    17: _spec("file creation success pipe-created", IMAGE, PIPE),
    18: _spec("file access success pipe-connected", IMAGE, PIPE),
    19: _spec("configuration change success wmi-filter-registered", WMI_USER),
    20: _spec("configuration change success wmi-consumer-registered", WMI_USER),
    21: _spec("configuration change success wmi-binding-registered", WMI_USER),
    22: _spec("network protocol success dns-query", IMAGE, {"QueryName": "dns.question.name"}),
    23: _spec("file deletion success file-deleted", IMAGE, TARGET_FILE, fixes=_HASHED),
    24: _spec("host change success clipboard-changed", IMAGE),
    25: _spec("process change success process-tampered", IMAGE),
    26: _spec("file deletion success file-delete-detected", IMAGE, TARGET_FILE, fixes=_HASHED),
    27: _spec("file denied failure file-executable-blocked", IMAGE, TARGET_FILE, fixes=_HASHED),
    28: _spec("file denied failure file-shredding-blocked", IMAGE, TARGET_FILE, fixes=_HASHED),
    29: _spec("file creation success file-executable-detected", IMAGE, TARGET_FILE,
              fixes=_HASHED),
    255: _spec("host info unknown sysmon-error"),
}  # fmt: skip

_others = {
    (EVENTLOG, 1102): _spec("configuration deletion success audit-log-cleared", SUBJECT_USER),
    (EVENTLOG, 104): _spec("configuration deletion success log-cleared", SUBJECT_USER),
    (SERVICES, 7045): _spec("configuration creation success service-installed",
                            {"ImagePath": "file.path"}),
    (SERVICES, 7036): _spec("host change success service-state-changed"),
    (POWERSHELL, 4103): _spec("process info success powershell-pipeline-executed"),
    (POWERSHELL, 4104): _spec("process info success powershell-script-block-logged",
                              {"Path": "file.path"}, fixes=_FILE),
}  # fmt: skip

#: (provider name, event id) -> Spec.
SPECS: dict[tuple[str, int], Spec] = {
    **{(SECURITY, k): v for k, v in _security.items()},
    **{(SYSMON, k): v for k, v in _sysmon.items()},
    **_others,
}
