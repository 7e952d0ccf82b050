"""Syslog files: RFC 3164 (as rsyslog writes them, PRI optional), RFC 5424, and rsyslog's ISO form.

Authentication lines of sshd, sudo, su and PAM become ECS authentication and session
events (dataset ``system.auth``); every other line is a plain ``system.syslog`` event.
Cisco IOS, ASA and FTD messages (``[seq:] [*]Mmm dd hh:mm:ss[.mmm] [TZ]: %FAC-SEV-MNEMONIC:
text``, with or without a syslog header or a leading device address) become
``cisco.ios``/``cisco.asa``/``cisco.ftd`` events; their CLI commands, configuration
changes and logins are parsed.
RFC 3164 times have no year: it comes from the file's modification time (a time more
than a day after it belongs to the year before), or from ``parse_with_year`` in tests;
Cisco device times follow the same rule.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crownwatch.errors import ConfigError, ParseError
from crownwatch.ingest.batch import Batch, LineParser, Row, parse_lines
from crownwatch.ingest.source import Source
from crownwatch.ingest.times import from_iso, to_micros

NAME = "syslog"

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
AUTH_PROGRAMS = frozenset(("sshd", "sudo", "su", "login"))
#: ``event.action`` of a CLI command a Cisco device logged (Sigma ``cisco/aaa`` rules read these).
CLI_COMMAND = "cli_command"

_BSD = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2})(?: (?P<year>\d{4}))?"
    r" (?P<hms>\d\d:\d\d:\d\d)(?P<frac>\.\d{1,9})?(?: +(?P<host>\S+))?(?: +(?P<rest>.*))?"
)
_RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<ver>\d{1,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+)"
    r" (?P<procid>\S+) (?P<msgid>\S+)(?: (?P<rest>.*))?"
)
_ISO = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d))"
    r"(?: +(?P<host>\S+))?(?: +(?P<rest>.*))?"
)
_TAG = re.compile(r"(?P<tag>[^\s\[\]:]{1,64})(?:\[(?P<pid>[^\]]{0,24})\])?(?::|(?=\s)|$) *")
#: What the sniffer wants to see: a 3164 or ISO header followed by ``tag[pid]:``.
_SNIFF_TAG = re.compile(r"[^\s\[\]:]{1,64}(?:\[\d{1,10}\])?: ")
_SD_ELEMENT = re.compile(
    r'\[(?P<id>[^\s=\]"]{1,32})(?P<params>(?: [^\s=\]"]{1,32}="(?:[^"\\]|\\.)*")*)\]'
)
_SD_PARAM = re.compile(r'([^\s=\]"]{1,32})="((?:[^"\\]|\\.)*)"')
_SD_ESCAPE = re.compile(r"\\([\"\\\]])")

_ACCEPTED = re.compile(r"Accepted (\S+) for (.*) from (\S+) port (\d+)")
_FAILED = re.compile(r"Failed (\S+) for (invalid user )?(.*) from (\S+) port (\d+)")
_INVALID = re.compile(r"Invalid user (.*) from (\S+)(?: port (\d+))?")
_DISCONNECT = re.compile(
    r"(?:error: )?(?:Disconnected from|Connection closed by|Received disconnect from)"
    r" (?:(?:invalid |authenticating )?user (\S+) )?(\S+)(?: port (\d+))?"
)
_PAM_FAILURE = re.compile(r"authentication failure; (.*)")
_PAM_ITEM = re.compile(r"(\w+)=(\S*)")
_SESSION = re.compile(r"session (opened|closed) for user ([^\s(]+)(?:\(uid=\d+\))?(?: by (.*))?")
_SU = re.compile(r"(Successful|FAILED) su for (\S+) by (\S+)")
_SU_DEBIAN = re.compile(r"(FAILED SU )?\(to (\S+)\) (\S+) on (\S+)")
_REPEATED = re.compile(r"message repeated (\d{1,9}) times: \[ ?(.*)\]")

_CISCO_TIME = (
    r"(?P<mark>[*.])?(?P<cmon>[A-Z][a-z]{2}) {1,2}(?P<cday>\d{1,2})(?: (?P<cyear>\d{4}))?"
    r" (?P<chms>\d\d:\d\d:\d\d)(?P<cfrac>\.\d{1,9})?"
    r"(?: (?P<tz>[A-Za-z]{1,6}(?:[+-]\d{1,2})?)(?=:))?"
    r"|(?P<uptime>(?:\d{1,5}[ywdh]){1,4}|\d{1,4}:\d\d:\d\d(?:\.\d{1,6})?)"
)
#: A Cisco message: [<PRI>][address ][seq: ][[name: ]time][ device] [:] %FAC-SEV-MNEMONIC: text
#: (IOS ``show logging``, IOS and ASA on the wire, or after a relay's address).
_CISCO = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?"
    r"(?:(?P<origin>[^\s<>%]{0,254}[^\s:<>%]) (?=\d{1,10}: |[*.]?[A-Z][a-z]{2} ))?"
    r"(?:(?P<seq>\d{1,10}): )?"
    r":?(?:(?:(?P<name>[A-Za-z][\w.-]{0,254}): )?(?:" + _CISCO_TIME + r"))?"
    r"(?: (?P<device>[A-Za-z0-9][\w.-]{0,254}))?"
    r" ?:? ?%(?P<code>(?P<facility>[A-Z][A-Z0-9_]{0,31}(?:-[A-Z][A-Z0-9_]{0,31}){0,2})"
    r"-(?P<sev>[0-7])-(?P<mnemonic>[A-Z0-9_]{1,64})): ?(?P<text>.*)",
    re.DOTALL,
)
_CFGLOG = re.compile(r"User:(\S{0,256})\s+logged command:(.*)", re.DOTALL)
_CONFIG_I = re.compile(r"Configured from (\S+) by (\S+)(?: on (\S+))?(?: \(([^)\s]{1,64})\))?")
_LINE = re.compile(r"(?:vty|tty|con|console|aux)\d*", re.IGNORECASE)
_SEC_LOGIN = re.compile(
    r"Login (?:Success|failed) \[user: ([^\]]*)\] \[Source: ([^\]]*)\]"
    r"(?: \[localport: (\d{1,5})\])?(?: \[Reason: ([^\]]*)\])?"
)
_ASA_EXECUTED = re.compile(r"User '([^']*)' executed the '(.*)' command")
_ASA_RUNNING = re.compile(r"User '([^']*)', running '([^']*)' from IP (\S+?),? executed '(.*)'")
_ASA_LOGIN = re.compile(
    r"Login (permitted|denied) from ([^/\s]+)/(\d{1,5}) to ([^:\s]+):([^/\s]+)/(\S+)"
    r" for user \"([^\"]*)\""
)
_ASA_AUTH = re.compile(
    r"User authentication (succeeded|failed): IP address: ([^,\s]+), Uname: (\S+)"
)


@dataclass(frozen=True, slots=True)
class Clock:
    """How an RFC 3164 time (no year, no zone) becomes an instant."""

    zone: tzinfo
    #: The file's modification time: the latest a line can be (plus a day of skew).
    mtime: datetime
    #: A fixed year for every line, instead of the modification-time rule.
    year: int | None = None


def zone(name: str) -> tzinfo:
    """The time zone named in the settings: UTC or an IANA name."""
    if name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {name!r}; use UTC or an IANA name") from exc


def clock_for(src: Source, year: int | None = None) -> Clock:
    """The clock of one file: its zone setting and its modification time."""
    try:
        mtime = datetime.fromtimestamp(src.path.stat().st_mtime, UTC)
    except OSError:
        mtime = datetime.now(UTC)
    return Clock(zone(src.limits.timezone), mtime, year)


def bsd_time(
    clock: Clock, month: str, day: str, hms: str, frac: str | None, year: str | None
) -> int:
    """Microseconds of a ``Mmm dd [yyyy] hh:mm:ss[.ffffff]`` time."""
    number = MONTHS.get(month)
    if number is None:
        raise ParseError(f"bad month {month!r}")
    hour, minute, second = (int(x) for x in hms.split(":"))
    micros = int((frac[1:] + "000000")[:6]) if frac else 0
    fixed = int(year) if year else clock.year
    try:
        moment = datetime(
            clock.mtime.year if fixed is None else fixed,
            number,
            int(day),
            hour,
            minute,
            second,
            micros,
            tzinfo=clock.zone,
        )
        if fixed is None and moment > clock.mtime + timedelta(days=1):
            moment = moment.replace(year=moment.year - 1)
    except ValueError as exc:
        raise ParseError(f"bad date: {exc}") from exc
    return to_micros(moment)


def header(text: str, clock: Clock) -> tuple[Row, str] | None:
    """The syslog header of a line as a row (time, host, program…) and the message; or None."""
    found = _header_parts(text, clock)
    if found is None:
        return None
    row, host, rest, tagged = found
    return (row, _host_and_tag(row, host, rest)) if tagged else (row, rest or "")


def _header_parts(text: str, clock: Clock) -> tuple[Row, str | None, str | None, bool] | None:
    """A syslog header as a row, plus the host and the text after it (RFC 3164 and ISO,
    ``tagged``: a ``tag[pid]:`` may follow) or the message (RFC 5424, host in the row)."""
    m = _RFC5424.match(text)
    if m:
        row = _pri(m["pri"], {"version": int(m["ver"])})
        ts = m["ts"]
        row["@timestamp"] = None if ts == "-" else from_iso(ts)
        _set(row, "host.name", m["host"], "hostname")
        _set(row, "process.name", m["app"], "appname")
        _set(row, "process.pid", m["procid"], "procid")
        _set(row, "", m["msgid"], "msgid")
        return row, None, _structured_data(m["rest"] or "", row["fields"]), False
    m = _BSD.match(text)
    if m and m["mon"] in MONTHS:
        row = _pri(m["pri"], {})
        row["@timestamp"] = bsd_time(clock, m["mon"], m["day"], m["hms"], m["frac"], m["year"])
        return row, m["host"], m["rest"], True
    m = _ISO.match(text)
    if m:
        row = _pri(m["pri"], {})
        row["@timestamp"] = from_iso(m["ts"])
        return row, m["host"], m["rest"], True
    return None


def _pri(pri: str | None, fields: dict[str, Any]) -> Row:
    row: Row = {"fields": fields}
    if pri is not None:
        code = int(pri)
        if code > 191:
            raise ParseError(f"bad syslog priority <{pri}>")
        fields["facility"] = code // 8
        fields["severity"] = code % 8
        row["event.severity"] = code % 8
    return row


def _set(row: Row, name: str, value: str, field: str) -> None:
    if value != "-":
        row["fields"][field] = value
        if name:
            row[name] = value


def _host_and_tag(row: Row, host: str | None, rest: str | None) -> str:
    if host and host.endswith(":"):  # no host: a local program's line
        rest = f"{host} {rest}" if rest else host
        host = None
    if host:
        row["host.name"] = host
        row["fields"]["hostname"] = host
    if not rest:
        return ""
    m = _TAG.match(rest)
    if not m:
        return rest
    tag = m["tag"]
    row["fields"]["appname"] = tag
    row["process.name"] = tag.split("(", 1)[0] or tag  # sshd(pam_unix) is sshd
    if m["pid"] is not None:
        row["fields"]["procid"] = m["pid"]
        row["process.pid"] = m["pid"]
    return rest[m.end() :]


def _structured_data(rest: str, fields: dict[str, Any]) -> str:
    if rest.startswith("-"):
        return rest[2:] if rest.startswith("- ") else rest[1:]
    pos = 0
    while pos < len(rest) and rest[pos] == "[":
        m = _SD_ELEMENT.match(rest, pos)
        if not m:
            raise ParseError("bad RFC 5424 structured data")
        for key, value in _SD_PARAM.findall(m["params"]):
            fields[f"{m['id']}.{key}"] = _SD_ESCAPE.sub(r"\1", value)
        pos = m.end()
    if pos == 0 and rest:
        raise ParseError("RFC 5424 line without structured data or '-'")
    message = rest[pos:]
    return (message[1:] if message.startswith(" ") else message).removeprefix("\ufeff")


def _address(value: str, ip_field: str, domain_field: str) -> Row:
    value = value.removesuffix(":")
    try:
        return {ip_field: str(ipaddress.ip_address(value))}
    except ValueError:
        return {domain_field: value} if value else {}


def _auth(outcome: str, action: str, user: str, extra: Row) -> Row:
    row: Row = {
        "event.category": "authentication",
        "event.type": "info",
        "event.outcome": outcome,
        "event.action": action,
        "user.name": user,
    }
    row.update(extra)
    return row


def _sshd(msg: str) -> tuple[Row, dict[str, Any]] | None:
    m = _ACCEPTED.match(msg)
    if m:
        extra = _address(m[3], "source.ip", "source.domain") | {"source.port": m[4]}
        return _auth("success", "ssh_login", m[2], extra), {"method": m[1]}
    m = _FAILED.match(msg)
    if m:
        extra = _address(m[4], "source.ip", "source.domain") | {"source.port": m[5]}
        return _auth("failure", "ssh_login", m[3], extra), {
            "method": m[1],
            "invalid_user": bool(m[2]),
        }
    m = _INVALID.match(msg)
    if m:
        extra = _address(m[2], "source.ip", "source.domain") | {"source.port": m[3]}
        return _auth("failure", "invalid_user", m[1], extra), {}
    m = _DISCONNECT.match(msg)
    if m:
        row = {
            "event.category": "session",
            "event.type": "end",
            "event.action": "ssh_disconnect",
            "user.name": m[1],
            "source.port": m[3],
        }
        return row | _address(m[2], "source.ip", "source.domain"), {}
    return None


def _sudo(msg: str) -> tuple[Row, dict[str, Any]] | None:
    user, sep, rest = msg.partition(" : ")
    user = user.strip()
    if not sep or not user or " " in user:
        return None
    head, _, command = rest.partition("COMMAND=")
    items = [part.strip() for part in head.split(";") if part.strip()]
    pairs = {k: v for k, _, v in (item.partition("=") for item in items if "=" in item)}
    if not {"TTY", "PWD", "USER"} & pairs.keys():
        return None
    reasons = [item for item in items if "=" not in item]
    row: Row = {
        "event.category": "authentication" if reasons else "process",
        "event.type": "info" if reasons else "start",
        "event.outcome": "failure" if reasons else "success",
        "event.action": "sudo_command",
        "user.name": user,
        "process.command_line": command.strip(),
    }
    fields: dict[str, Any] = {k.lower(): v for k, v in pairs.items()}
    if "user" in fields:
        fields["target_user"] = fields.pop("user")
    if reasons:
        fields["reason"] = "; ".join(reasons)
    return row, fields


def _su(msg: str) -> tuple[Row, dict[str, Any]] | None:
    m = _SU.match(msg)
    if m:
        outcome = "success" if m[1] == "Successful" else "failure"
        return _auth(outcome, "su", m[3], {}), {"target_user": m[2]}
    m = _SU_DEBIAN.match(msg)
    if m:
        outcome = "failure" if m[1] else "success"
        return _auth(outcome, "su", m[3], {}), {"target_user": m[2], "tty": m[4]}
    return None


def _pam(msg: str) -> tuple[Row, dict[str, Any]] | None:
    m = _PAM_FAILURE.search(msg)
    if m:
        items = dict(_PAM_ITEM.findall(m[1]))
        extra = _address(items.get("rhost", ""), "source.ip", "source.domain")
        return _auth("failure", "authentication_failure", items.get("user", ""), extra), items
    m = _SESSION.search(msg)
    if m:
        row = {
            "event.category": "session",
            "event.type": "start" if m[1] == "opened" else "end",
            "event.action": f"session_{m[1]}",
            "user.name": m[2],
        }
        return row, ({"by": m[3]} if m[3] else {})
    return None


_PROGRAM_RULES = {"sshd": (_sshd, _pam), "sudo": (_sudo, _pam), "su": (_su, _pam)}


def classify(program: str, msg: str) -> tuple[Row, dict[str, Any]] | None:
    """ECS values and extra fields of an authentication or session message, or None."""
    repeated = _REPEATED.match(msg)
    if repeated:
        msg = repeated[2]
    for rule in _PROGRAM_RULES.get(program, (_pam,)):
        found = rule(msg)
        if found:
            if repeated:
                found[1]["repeated"] = int(repeated[1])
            return found
    return None


def cisco(text: str, clock: Clock) -> Row | None:
    """A Cisco IOS, ASA or FTD message as a row, with or without a syslog header; or None."""
    if "%" not in text:  # every Cisco message has its %FACILITY-SEVERITY-MNEMONIC
        return None
    m = _CISCO.match(text)
    if m:
        return _cisco_row(_pri(m["pri"], {}), m, clock, None)
    found = _header_parts(text, clock)
    if found is None:
        return None
    row, host, rest, tagged = found
    if tagged and host and host.endswith(":"):  # no host: the tag follows the time
        rest, host = f"{host} {rest}" if rest else host, None
    m = _CISCO.match(rest or "") if rest else None
    if m is None or m["pri"]:
        return None
    row.pop("host.name", None)
    return _cisco_row(row, m, clock, host or row["fields"].pop("hostname", None))


def _cisco_row(row: Row, m: re.Match[str], clock: Clock, host: str | None) -> Row:
    fields = row["fields"]
    for origin in (host, m["origin"], m["name"], m["device"]):  # relay, then the device's id
        if origin:
            fields.setdefault("hostname", origin)
            row.update(_address(origin, "host.ip", "host.name"))
    _device_time(row, m, clock)
    facility, code = m["facility"], m["code"]
    vendor = facility if facility in ("ASA", "FTD") else "IOS"
    row.update(
        {
            "event.kind": "event",
            "event.module": "cisco",
            "event.dataset": f"cisco.{vendor.lower()}",
            "event.code": code,
            "event.severity": int(m["sev"]),
            "message": m["text"],
        }
    )
    extra = {
        "cisco.facility": facility,
        "cisco.mnemonic": m["mnemonic"],
        "cisco.sequence": m["seq"],
        "cisco.timezone": m["tz"],
        "cisco.uptime": m["uptime"],
        "cisco.time_unsynced": True if m["mark"] == "*" else None,
    }
    fields.update({k: v for k, v in extra.items() if v is not None})
    parsed = _cisco_message(vendor, m["mnemonic"], m["text"])
    if parsed:
        row.update({k: v for k, v in parsed[0].items() if v})
        fields.update({k: v for k, v in parsed[1].items() if v is not None})
    return row


def _device_time(row: Row, m: re.Match[str], clock: Clock) -> None:
    """The device's own time replaces the syslog header's unless it is marked unsynced (``*``)
    or names a zone other than UTC; without a zone it is in the zone setting, like RFC 3164."""
    if not m["cmon"]:
        return
    zone_name = (m["tz"] or "").upper()
    utc = zone_name in ("UTC", "GMT", "Z")
    if row.get("@timestamp") is None or (m["mark"] != "*" and (utc or not zone_name)):
        used = Clock(UTC, clock.mtime, clock.year) if utc else clock
        row["@timestamp"] = bsd_time(used, m["cmon"], m["cday"], m["chms"], m["cfrac"], m["cyear"])


def _cisco_message(vendor: str, mnemonic: str, text: str) -> tuple[Row, dict[str, Any]] | None:
    """ECS values and extra fields of a Cisco CLI command, configuration or login message."""
    change: Row = {"event.category": "configuration", "event.type": "change"}
    if mnemonic == "CFGLOG_LOGGEDCMD" and (m := _CFGLOG.match(text)):
        return change | {"event.action": CLI_COMMAND, "user.name": m[1]}, {"command": m[2]}
    if mnemonic == "CONFIG_I" and (m := _CONFIG_I.match(text)):
        user = None if _LINE.fullmatch(m[2]) else m[2]
        row = change | {"event.action": "config_changed", "user.name": user}
        items = {"config_source": m[1], "by": m[2], "line": m[3]}
        return row | _address(m[4] or "", "source.ip", "source.domain"), items
    if mnemonic.startswith(("LOGIN_", "WEBLOGIN_")) and (m := _SEC_LOGIN.match(text)):
        outcome = "success" if mnemonic.endswith("SUCCESS") else "failure"
        action = "web_login" if mnemonic.startswith("WEB") else "login"
        extra = _address(m[2], "source.ip", "source.domain") | {"destination.port": m[3]}
        return _auth(outcome, action, m[1], extra), ({"reason": m[4]} if m[4] else {})
    if vendor == "IOS":
        return None
    if mnemonic == "111008" and (m := _ASA_EXECUTED.match(text)):
        return change | {"event.action": CLI_COMMAND, "user.name": m[1]}, {"command": m[2]}
    if mnemonic == "111010" and (m := _ASA_RUNNING.match(text)):
        row = change | {"event.action": CLI_COMMAND, "user.name": m[1]}
        extra = _address(m[3], "source.ip", "source.domain")
        return row | extra, {"command": m[4], "interface": m[2]}
    if mnemonic in ("605004", "605005") and (m := _ASA_LOGIN.match(text)):
        outcome = "success" if m[1] == "permitted" else "failure"
        extra = _address(m[2], "source.ip", "source.domain") | {"source.port": m[3]}
        extra |= _address(m[5], "destination.ip", "destination.domain")
        return _auth(outcome, "login", m[7], extra), {"interface": m[4], "service": m[6]}
    if mnemonic in ("611101", "611102") and (m := _ASA_AUTH.match(text)):
        outcome = "success" if m[1] == "succeeded" else "failure"
        extra = _address(m[2], "source.ip", "source.domain")
        return _auth(outcome, "authentication", m[3], extra), {}
    return None


def line_parser(clock: Clock) -> LineParser:
    """A parser of one syslog line with the given clock."""

    def parse_line(raw: bytes) -> Row:
        raw = raw.lstrip(b"\0")  # a crash can leave NUL padding before the next line
        if not raw.strip():
            raise ParseError("line of NUL bytes only")
        if b"\0" in raw:
            raise ParseError("NUL byte inside the line: binary data, not text")
        text = raw.decode("utf-8", "replace")
        device = cisco(text, clock)
        if device is not None:
            return device
        found = header(text, clock)
        if found is None:
            raise ParseError("not a syslog line (no RFC 3164, RFC 5424 or ISO header)")
        row, msg = found
        row["message"] = msg
        row["event.kind"] = "event"
        row["event.module"] = "system"
        program = str(row.get("process.name", ""))
        auth = classify(program, msg)
        if auth:
            row.update(auth[0])
            for key, value in auth[1].items():  # the header's own fields win
                row["fields"].setdefault(key, value)
        is_auth = program in AUTH_PROGRAMS or row.get("event.category") == "authentication"
        row["event.dataset"] = "system.auth" if is_auth else "system.syslog"
        return row

    return parse_line


def sniff(head: bytes, path: str) -> bool:
    """True when one of the first lines has a syslog header (and the file is not JSON)."""
    lines = [ln for ln in head.decode("utf-8", "replace").splitlines()[:10] if ln.strip()]
    if not lines or lines[0].lstrip("\ufeff \t").startswith(("{", "[")):
        return False
    for line in lines:
        if _RFC5424.match(line) or ("%" in line and _CISCO.match(line)):
            return True
        bsd = _BSD.match(line)
        m = bsd if bsd and bsd["mon"] in MONTHS else _ISO.match(line)
        if m and m["host"] and m["rest"] and _SNIFF_TAG.match(m["rest"]):
            return True
    return False


def parse_with_year(src: Source, year: int) -> Iterator[Batch]:
    """Batches of events, with ``year`` for every RFC 3164 time (for tests and replays)."""
    return parse_lines(src, NAME, line_parser(clock_for(src, year)))


def parse(src: Source) -> Iterator[Batch]:
    """Batches of events; RFC 3164 years follow the file's modification time."""
    return parse_lines(src, NAME, line_parser(clock_for(src)))
