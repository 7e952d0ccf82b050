"""Log formats of the scenario and the sink that streams events into per-day files.

Events are emitted in any order within a window, buffered, and written in time
order by ``Sink.flush``; the sink numbers Windows records per host and channel,
counts lines and bytes, and remembers where each malicious event landed.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

DAY_US = 86_400_000_000
SECOND = 1_000_000
HOUR = 3_600_000_000

#: Zeek 6 columns and types for each log the scenario writes.
ZEEK: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "conn": (
        (
            "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
            "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp",
            "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
            "tunnel_parents",
        ),
        (
            "time", "string", "addr", "port", "addr", "port", "enum", "string", "interval",
            "count", "count", "string", "bool", "bool", "count", "string", "count", "count",
            "count", "count", "set[string]",
        ),
    ),
    "dns": (
        (
            "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "trans_id",
            "rtt", "query", "qclass", "qclass_name", "qtype", "qtype_name", "rcode", "rcode_name",
            "AA", "TC", "RD", "RA", "Z", "answers", "TTLs", "rejected",
        ),
        (
            "time", "string", "addr", "port", "addr", "port", "enum", "count", "interval",
            "string", "count", "string", "count", "string", "count", "string", "bool", "bool",
            "bool", "bool", "count", "vector[string]", "vector[interval]", "bool",
        ),
    ),
    "http": (
        (
            "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "trans_depth",
            "method", "host", "uri", "referrer", "version", "user_agent", "origin",
            "request_body_len", "response_body_len", "status_code", "status_msg", "info_code",
            "info_msg", "tags", "username", "password", "proxied", "orig_fuids", "orig_filenames",
            "orig_mime_types", "resp_fuids", "resp_filenames", "resp_mime_types",
        ),
        (
            "time", "string", "addr", "port", "addr", "port", "count", "string", "string",
            "string", "string", "string", "string", "string", "count", "count", "count",
            "string", "count", "string", "set[enum]", "string", "string", "set[string]",
            "vector[string]", "vector[string]", "vector[string]", "vector[string]",
            "vector[string]", "vector[string]",
        ),
    ),
    "ssl": (
        (
            "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "version", "cipher",
            "curve", "server_name", "resumed", "last_alert", "next_protocol", "established",
            "ssl_history", "cert_chain_fps", "client_cert_chain_fps", "sni_matches_cert",
            "validation_status",
        ),
        (
            "time", "string", "addr", "port", "addr", "port", "string", "string", "string",
            "string", "bool", "string", "string", "bool", "string", "vector[string]",
            "vector[string]", "bool", "string",
        ),
    ),
    "files": (
        (
            "ts", "fuid", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "source",
            "depth", "analyzers", "mime_type", "filename", "duration", "local_orig", "is_orig",
            "seen_bytes", "total_bytes", "missing_bytes", "overflow_bytes", "timedout",
            "parent_fuid", "md5", "sha1", "sha256", "extracted", "extracted_cutoff",
            "extracted_size",
        ),
        (
            "time", "string", "string", "addr", "port", "addr", "port", "string", "count",
            "set[string]", "string", "string", "interval", "bool", "bool", "count", "count",
            "count", "count", "bool", "string", "string", "string", "string", "string", "bool",
            "count",
        ),
    ),
    "smb_files": (
        (
            "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "fuid", "action",
            "path", "name", "size", "prev_name", "times.modified", "times.accessed",
            "times.created", "times.changed",
        ),
        (
            "time", "string", "addr", "port", "addr", "port", "string", "enum", "string",
            "string", "count", "string", "time", "time", "time", "time",
        ),
    ),
    "ssh": (
        (
            "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "version",
            "auth_success", "auth_attempts", "direction", "client", "server", "cipher_alg",
            "mac_alg", "compression_alg", "kex_alg", "host_key_alg", "host_key",
            "remote_location.country_code", "remote_location.region", "remote_location.city",
            "remote_location.latitude", "remote_location.longitude",
        ),
        (
            "time", "string", "addr", "port", "addr", "port", "count", "bool", "count", "enum",
            "string", "string", "string", "string", "string", "string", "string", "string",
            "string", "string", "string", "double", "double",
        ),
    ),
}  # fmt: skip

#: Windows channel key -> (channel, default provider).
CHANNELS: dict[str, tuple[str, str]] = {
    "security": ("Security", "Microsoft-Windows-Security-Auditing"),
    "sysmon": ("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon"),
    "system": ("System", "Service Control Manager"),
    "powershell": ("Microsoft-Windows-PowerShell/Operational", "Microsoft-Windows-PowerShell"),
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS: dict[int, tuple[str, str]] = {}


def _day(index: int) -> tuple[str, str]:
    """ISO date and RFC 3164 'Mmm dd' of a day number since the epoch."""
    found = _DAYS.get(index)
    if found is None:
        moment = datetime.fromtimestamp(index * 86_400, UTC)
        found = (moment.strftime("%Y-%m-%d"), f"{_MONTHS[moment.month - 1]} {moment.day:2d}")
        _DAYS[index] = found
    return found


def _clock(us: int) -> tuple[str, int, int, int, int]:
    day, rem = divmod(us, DAY_US)
    seconds, micros = divmod(rem, SECOND)
    hour, seconds = divmod(seconds, 3600)
    minute, second = divmod(seconds, 60)
    return _day(day)[0], hour, minute, second, micros


def iso_ms(us: int) -> str:
    """``2026-10-05T08:01:02.123Z`` (Winlogbeat's @timestamp)."""
    date, h, m, s, micros = _clock(us)
    return f"{date}T{h:02d}:{m:02d}:{s:02d}.{micros // 1000:03d}Z"


def iso_us(us: int) -> str:
    """``2026-10-05T08:01:02.123456Z``, or ``…:02Z`` on a whole second (as ``isoformat``)."""
    date, h, m, s, micros = _clock(us)
    fraction = f".{micros:06d}" if micros else ""
    return f"{date}T{h:02d}:{m:02d}:{s:02d}{fraction}Z"


def sysmon_time(us: int) -> str:
    """``2026-10-05 08:01:02.123`` (Sysmon's UtcTime)."""
    date, h, m, s, micros = _clock(us)
    return f"{date} {h:02d}:{m:02d}:{s:02d}.{micros // 1000:03d}"


def syslog_time(us: int) -> str:
    """``Oct  5 08:01:02`` (RFC 3164, UTC)."""
    day, rem = divmod(us, DAY_US)
    hour, rem = divmod(rem // SECOND, 3600)
    minute, second = divmod(rem, 60)
    return f"{_day(day)[1]} {hour:02d}:{minute:02d}:{second:02d}"


def zeek_time(us: int) -> str:
    """Epoch seconds with six decimals, as Zeek writes ``ts``."""
    seconds, micros = divmod(us, SECOND)
    return f"{seconds}.{micros:06d}"


def zeek_stamp(us: int) -> str:
    """``2026-10-05-00-00-00`` as in Zeek's ``#open``/``#close`` lines."""
    date, h, m, s, _ = _clock(us)
    return f"{date}-{h:02d}-{m:02d}-{s:02d}"


def zeek_header(log: str, opened_us: int) -> list[str]:
    fields, types = ZEEK[log]
    return [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{log}",
        f"#open\t{zeek_stamp(opened_us)}",
        "#fields\t" + "\t".join(fields),
        "#types\t" + "\t".join(types),
    ]


def zeek_escape(text: str) -> str:
    """Zeek's ASCII writer doubles backslashes in string values."""
    return text.replace("\\", "\\\\")


def stream_path(stream: str, us: int) -> str:
    """The file, relative to OUT, of a stream (``zeek/conn``) on the day of ``us``."""
    group, name = stream.split("/", 1)
    ext = "jsonl" if group == "windows" else "log"
    return f"{group}/{_day(us // DAY_US)[0]}/{name}.{ext}"


Event = tuple[int, int, str, Any, str | None, str | None, dict[str, str] | None]


class Sink:
    """Buffers emitted events and writes them, in time order, to per-day files."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.pending: list[Event] = []
        self.seq = 0
        self.handles: dict[str, IO[bytes]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.record_ids: dict[tuple[str, str], int] = {}
        self.truth: list[dict[str, Any]] = []
        self.hosts: set[str] = set()
        self.users: set[str] = set()
        self.first: int | None = None
        self.last: int | None = None
        self.written_until = 0

    def emit(
        self,
        ts: int,
        stream: str,
        payload: Any,
        host: str | None = None,
        user: str | None = None,
        truth: dict[str, str] | None = None,
    ) -> None:
        """Queue one record: a Winlogbeat dict, a tuple of Zeek values, or a syslog body."""
        if ts < self.written_until:
            raise ValueError(f"event at {ts} is older than what is already written ({stream})")
        self.seq += 1
        self.pending.append((ts, self.seq, stream, payload, host, user, truth))

    def flush(self, until: int | None = None) -> None:
        """Write every queued event older than ``until`` (all of them when None)."""
        self.pending.sort(key=_order)
        if until is None:
            ready, self.pending = self.pending, []
        else:
            cut = bisect.bisect_left(self.pending, until, key=_time)
            ready, self.pending = self.pending[:cut], self.pending[cut:]
            self.written_until = until
        chunks: dict[str, list[bytes]] = {}
        for ts, _, stream, payload, host, user, truth in ready:
            path = stream_path(stream, ts)
            info = self.files.get(path)
            if info is None:
                info = self._open(path, stream, ts)
            line = self._render(stream, payload, ts)
            info["lines"] += 1
            info["line"] += 1
            if truth is not None:
                self.truth.append(
                    {"file": path, "line": info["line"], "offset": info["offset"], **truth}
                )
            info["offset"] += len(line)
            chunks.setdefault(path, []).append(line)
            if host:
                self.hosts.add(host)
            if user:
                self.users.add(user)
            if self.first is None:
                self.first = ts
            self.last = ts
        for path, lines in chunks.items():
            self.handles[path].write(b"".join(lines))

    def close(self) -> None:
        """Write Zeek ``#close`` lines and close every file."""
        for path, handle in self.handles.items():
            if path.startswith("zeek/"):
                day = datetime.strptime(path.split("/")[1], "%Y-%m-%d").replace(tzinfo=UTC)
                stamp = int(day.timestamp()) * SECOND + DAY_US
                handle.write(f"#close\t{zeek_stamp(stamp)}\n".encode())
            handle.close()
        self.handles = {}

    def _open(self, path: str, stream: str, ts: int) -> dict[str, Any]:
        target = self.out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = target.open("wb")
        offset = line = 0
        if stream.startswith("zeek/"):
            header = zeek_header(stream[5:], ts - ts % DAY_US)
            data = "".join(h + "\n" for h in header).encode()
            handle.write(data)
            offset, line = len(data), len(header)
        self.handles[path] = handle
        #: lines: records written; line: the last physical line number; offset: bytes written
        info: dict[str, Any] = {"stream": stream, "lines": 0, "line": line, "offset": offset}
        self.files[path] = info
        return info

    def _render(self, stream: str, payload: Any, ts: int) -> bytes:
        if stream.startswith("windows/"):
            winlog = payload["winlog"]
            key = (winlog["computer_name"], winlog["channel"])
            number = self.record_ids.get(key, 0) + 1
            self.record_ids[key] = number
            winlog["record_id"] = number
            return orjson.dumps(payload) + b"\n"
        if stream.startswith("zeek/"):
            return ("\t".join(payload) + "\n").encode()
        return f"{syslog_time(ts)} {payload}\n".encode()


def _order(event: Event) -> tuple[int, int]:
    return event[0], event[1]


def _time(event: Event) -> int:
    return event[0]
