"""The CEF parser on spec examples and vendor-style records, escapes and bad lines."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from crownwatch.errors import ParseError
from crownwatch.ingest import cef, jsonl, syslog
from crownwatch.ingest.batch import Batch, Rejected
from crownwatch.ingest.source import Source

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "text"
LOGHUB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "logs" / "loghub"
CLOCK = syslog.Clock(UTC, datetime(2026, 11, 3, tzinfo=UTC))


Parsed = tuple[list[dict[str, Any]], list[Rejected], int]


def run(batches: Iterable[Batch]) -> tuple[list[dict[str, Any]], list[Rejected], int]:
    done = list(batches)
    events = pa.Table.from_batches([b.events for b in done]).to_pylist()
    return events, [r for b in done for r in b.rejected], sum(b.read for b in done)


@pytest.fixture
def parsed(tmp_path: Path) -> Parsed:
    """The fixture file, copied with a known modification time (for the header's year)."""
    path = tmp_path / "cef.log"
    shutil.copy(FIXTURES / "cef.log", path)
    mtime = datetime(2026, 11, 3, tzinfo=UTC).timestamp()
    os.utime(path, (mtime, mtime))
    return run(cef.parse(Source(path)))


def fields(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(event["fields"])
    return result


def test_counts_and_quarantine_reasons(
    parsed: Parsed,
) -> None:
    events, rejected, read = parsed
    assert (len(events), len(rejected), read) == (9, 5, 14)
    assert {r.position: r.reason for r in rejected} == {
        10: "no timestamp: no rt and no syslog header time",
        11: "CEF header has 5 of the 7 '|' separators it needs",
        12: "NUL byte inside the line: binary data, not text",
        13: "bad rt time '99999999999999999999'",
        14: "no 'CEF:<version>|' in the line",
    }


def test_spec_examples_and_escapes(
    parsed: Parsed,
) -> None:
    events = parsed[0]
    worm = events[0]  # after a syslog header, no rt: the header's time and host
    assert worm["@timestamp"] == datetime(2026, 9, 19, 8, 26, 10, tzinfo=UTC)
    assert (worm["host.name"], worm["rule.name"], worm["rule.id"]) == (
        "host",
        "worm successfully stopped",
        "100",
    )
    assert (worm["source.ip"], worm["destination.ip"], worm["source.port"]) == (
        "10.0.0.1",
        "2.1.2.2",
        1232,
    )
    assert (worm["event.severity"], worm["event.module"], worm["event.kind"]) == (
        10,
        "cef",
        "event",
    )
    assert fields(worm)["deviceVendor"] == "Security"

    pipe, backslash, newline = events[1], events[2], events[3]
    assert pipe["rule.name"] == "detected a | in message"
    assert pipe["event.action"] == "blocked a ="
    assert pipe["destination.ip"] == "1.1.1.1"
    assert pipe["@timestamp"] == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert backslash["rule.name"] == "detected a \\ in packet"
    assert backslash["event.action"] == "blocked a \\"
    assert newline["message"] == "Detected a threat.\n No action needed."
    assert newline["@timestamp"] == datetime(2026, 11, 2, 8, 15, 30, tzinfo=UTC)


def test_firewall_record_with_labels_and_duration(
    parsed: Parsed,
) -> None:
    fw = parsed[0][4]
    assert fw["@timestamp"] == datetime(2026, 11, 2, 8, 20, 11, tzinfo=UTC)
    assert fw["host.name"] == "pa-fw01.corp.example"  # dvchost wins over the syslog host
    assert (fw["source.ip"], fw["source.port"], fw["destination.port"]) == (
        "10.20.30.40",
        51514,
        443,
    )
    assert (fw["source.bytes"], fw["destination.bytes"]) == (1203, 987654)
    assert (fw["network.transport"], fw["network.protocol"]) == ("tcp", "ssl")
    assert (fw["user.name"], fw["event.action"]) == ("corp\\jdoe", "allow")
    assert fw["event.duration"] == 11_000_000_000
    assert fw["event.provider"] == "PAN-OS"
    extra = fields(fw)
    assert extra["Rule"] == "allow-outbound-web"
    assert extra["Source Zone"] == "trust"
    assert extra["SessionID"] == "123456"
    assert extra["sourceTranslatedAddress"] == "198.51.100.2"
    assert (extra["syslog.hostname"], extra["syslog.facility"]) == ("pa-fw01", 1)


def test_proxy_dlp_and_ids_records(
    parsed: Parsed,
) -> None:
    proxy, dlp, ids, odd = parsed[0][5:9]
    assert proxy["url.full"] == "https://files.evil.example.net/drop/x.exe?id=7"
    assert proxy["user_agent.original"] == "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
    assert (proxy["http.request.method"], proxy["event.outcome"]) == ("GET", "failure")
    assert proxy["file.hash.md5"] == "44d88612fea8a8f36de82e1278abb02f"
    assert (proxy["file.name"], proxy["file.size"]) == ("x.exe", 482304)
    assert proxy["@timestamp"] == datetime(2026, 11, 2, 8, 40, 0, 123000, tzinfo=UTC)

    assert dlp["event.severity"] == 10  # Very-High
    assert dlp["file.path"] == "C:\\Users\\alice\\Documents\\formula-7.xlsx"
    assert dlp["file.size"] is None  # an absurd fsize is dropped from the column...
    assert fields(dlp)["fsize"] == "99999999999999999999999"  # ...and kept as it came
    assert dlp["file.hash.sha256"].startswith("2c26b46b")
    assert (dlp["user.name"], dlp["source.domain"], dlp["event.outcome"]) == (
        "alice",
        "ws-042",
        "success",
    )
    assert fields(dlp)["Device"] == "Kingston DataTraveler"

    assert ids["@timestamp"] == datetime(2026, 11, 2, 8, 45, tzinfo=UTC)  # RFC 5424 header
    assert (ids["host.name"], ids["event.severity"], ids["network.transport"]) == (
        "ids01",
        6,
        "udp",
    )
    assert ids["rule.id"] == "1:2019401:4"

    assert odd["message"] == "caf\ufffd user"
    assert odd["user.name"] == "b\ufffdob"
    assert (odd["source.ip"], odd["source.port"]) == (None, None)
    assert (fields(odd)["src"], fields(odd)["spt"]) == ("not-an-ip", "70000")


def test_extension_parsing() -> None:
    assert cef.extension("act=blocked a \\= dst=1.1.1.1 path=C:\\\\x msg=a\\nb") == {
        "act": "blocked a =",
        "dst": "1.1.1.1",
        "path": "C:\\x",
        "msg": "a\nb",
    }
    with pytest.raises(ParseError, match="more than 1000 extension keys"):
        cef.extension(" ".join(f"k{i}=v" for i in range(1001)))
    with pytest.raises(ParseError, match="no key=value"):
        cef.extension("just words")


def test_time_forms() -> None:
    assert cef.timestamp("1793606400000", CLOCK) == 1793606400 * 1_000_000
    assert cef.timestamp("Nov 02 2026 08:20:11 +02:00", CLOCK) == (1793607611 - 7200) * 1_000_000
    assert cef.timestamp("Nov 02 2026 08:20:11.250 UTC", CLOCK) == 1793607611_250_000
    assert cef.timestamp("Nov 02 08:20:11", CLOCK) == 1793607611 * 1_000_000  # year from clock
    with pytest.raises(ParseError, match="unknown time zone 'Nowhere/Atlantis'"):
        cef.timestamp("Nov 02 2026 08:20:11 Nowhere/Atlantis", CLOCK)


def test_sniff() -> None:
    assert cef.sniff((FIXTURES / "cef.log").read_bytes()[:8192], "x.log")
    assert cef.sniff(b"<134>1 2026-11-02T08:45:00Z ids01 snort - - - CEF:0|a|b|c|d|e|1|x=1\n", "")
    assert not cef.sniff(b"hello CEF:0|a|b|c|d|e|1|x=1\n", "cef.log")
    assert not cef.sniff((FIXTURES / "app.jsonl").read_bytes()[:8192], "")
    assert not jsonl.sniff((FIXTURES / "cef.log").read_bytes()[:8192], "")
    openssh = LOGHUB / "OpenSSH_2k.log"
    if openssh.exists():
        assert not cef.sniff(openssh.read_bytes()[:8192], str(openssh))
