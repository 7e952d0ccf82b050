"""Windows events as JSON lines: Winlogbeat, flat exports, evtx_dump output, bad lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from crownwatch.ingest import evtx, winjson
from crownwatch.ingest.batch import Rejected
from crownwatch.ingest.source import Source

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "windows"


def _parse(path: Path) -> tuple[list[dict[str, Any]], list[Rejected], int]:
    batches = list(winjson.parse(Source(path)))
    rows = pa.Table.from_batches([b.events for b in batches]).to_pylist()
    for row in rows:
        row["fields"] = orjson.loads(row["fields"])
    return rows, [r for b in batches for r in b.rejected], sum(b.read for b in batches)


def _has(row: dict[str, Any], expected: dict[str, Any]) -> None:
    assert {name: row[name] for name in expected} == expected


def test_winlogbeat_lines() -> None:
    rows, rejected, read = _parse(FIXTURES / "winlogbeat.jsonl")
    assert (rejected, read, len(rows)) == ([], 4, 4)
    logon, process, service, cleared = rows
    assert logon["@timestamp"].isoformat() == "2021-04-22T08:51:04.686000+00:00"
    _has(logon, {
        "event.dataset": "windows.security",
        "event.code": "4624",
        "event.action": "logged-in",
        "user.name": "admmig",
        "user.domain": "OFFSEC",
        "source.ip": "10.23.123.11",
        "source.port": 41747,
        "host.name": "fs03vuln.offsec.lan",
        "winlog.record_id": 435113,
        "message": "An account was successfully logged on.",
    })  # fmt: skip
    _has(logon["fields"], {
        "EventID": 4624,
        "LogonType": "3",
        "Provider_Name": "Microsoft-Windows-Security-Auditing",
    })  # fmt: skip
    _has(process, {
        "event.dataset": "windows.sysmon",
        "winlog.event_id": 1,
        "process.name": "csc.exe",
        "process.pid": 2604,
        "process.parent.pid": 6992,
        "process.parent.name": "cmd.exe",
        "user.domain": "CYBERCAT",
        "user.name": "pc1-user",
        "process.hash.sha1": "22a72e39d307bc628093b043ef058db1310bbf4b",
    })  # fmt: skip
    _has(service, {
        "event.action": "service-installed",
        "file.path": r"%SYSTEMROOT%\duKhLYUX.exe",
        "user.id": "S-1-5-21-3463664321-2923530833-3546627382-1000",
    })  # fmt: skip
    _has(cleared, {"event.action": "log-cleared", "user.name": "jwrig"})
    _has(cleared["fields"], {"xml_name": "LogFileCleared", "EventData.Channel": "System"})


def test_flat_exports() -> None:
    rows, rejected, read = _parse(FIXTURES / "flat.jsonl")
    assert (rejected, read) == ([], 3)
    script, logon, process = rows
    assert script["@timestamp"].isoformat() == "2017-08-30T19:14:24.419434+00:00"
    _has(script, {
        "event.dataset": "windows.powershell",
        "event.action": "powershell-script-block-logged",
        "file.name": "Out-EncodedOctalCommand.ps1",
        "process.command_line": None,
        "user.id": "S-1-5-21-1552841522-3835366585-4197357653-1001",
    })  # fmt: skip
    _has(script["fields"], {
        "Level": 5,
        "Keywords": "0x0",
        "ScriptBlockId": "07215124-2a13-47c5-a629-71de027efee4",
    })  # fmt: skip
    assert script["fields"]["ScriptBlockText"].startswith("{$UpperLowerChar = $_;")

    # nxlog names: EventTime, Hostname, SourceName, RecordNumber, Message
    assert logon["@timestamp"].isoformat() == "2021-04-22T08:51:04+00:00"
    _has(logon, {
        "host.name": "fs03vuln.offsec.lan",
        "winlog.record_id": 435113,
        "event.provider": "Microsoft-Windows-Security-Auditing",
        "event.action": "logged-in",
        "user.name": "admmig",
        "source.ip": "10.23.123.11",
        "message": "An account was successfully logged on.",
    })  # fmt: skip
    assert logon["fields"]["Computer"] == "fs03vuln.offsec.lan"
    assert "Message" not in logon["fields"] and "Hostname" not in logon["fields"]

    # no system time: Sysmon's own UtcTime is used, and stays in the fields
    assert process["@timestamp"].isoformat() == "2021-11-18T07:40:29.555000+00:00"
    assert process["fields"]["UtcTime"] == "2021-11-18 07:40:29.555"
    _has(process, {
        "winlog.event_id": 1,
        "process.name": "csc.exe",
        "process.parent.executable": r"C:\Windows\System32\cmd.exe",
    })  # fmt: skip


def test_bad_lines_are_quarantined_and_the_good_ones_kept() -> None:
    rows, rejected, read = _parse(FIXTURES / "bad.jsonl")
    assert read == 6
    assert [r["event.code"] for r in rows] == ["7045", "4624"]
    assert [r["host.name"] for r in rows] == ["IE10Win7", "fs03vuln.offsec.lan"]
    assert [r.position for r in rejected] == [2, 3, 4, 5]
    reasons = [r.reason for r in rejected]
    assert reasons[0].startswith("not JSON: ")
    assert reasons[1:] == ["not a JSON object but a list", "no timestamp", "bad EventID 'seven'"]
    assert rejected[0].raw == b"this is not JSON"


def _documents(path: Path) -> list[Any]:
    """The JSON documents of a file of concatenated, pretty-printed objects."""
    text, decoder, at = path.read_text(), json.JSONDecoder(), 0
    out: list[Any] = []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return out
        document, at = decoder.raw_decode(text, at)
        out.append(document)


SAME = ("@timestamp", "event.code", "event.dataset", "event.action", "host.name",
        "winlog.record_id", "winlog.channel", "event.provider")  # fmt: skip


def test_evtx_dump_lines_match_the_evtx_files(shared_data: Path, tmp_path: Path) -> None:
    """The Sigma regression data keeps each rule's events as EVTX and as evtx JSON."""
    pairs = [
        (j, j.with_suffix(".evtx"))
        for j in sorted((shared_data / "sigma" / "regression_data").rglob("*.json"))
        if j.with_suffix(".evtx").is_file()
    ]
    assert len(pairs) > 150
    for document, binary in pairs:
        lines = tmp_path / "events.jsonl"
        lines.write_bytes(b"\n".join(orjson.dumps(d) for d in _documents(document)) + b"\n")
        assert winjson.sniff(lines.read_bytes()[:8192], str(lines))
        rows, rejected, read = _parse(lines)
        assert rejected == [] and len(rows) == read, document
        batches = list(evtx.parse(Source(binary)))
        expected = pa.Table.from_batches([b.events for b in batches]).to_pylist()
        assert [[r[k] for k in SAME] for r in rows] == [[r[k] for k in SAME] for r in expected]


@pytest.mark.parametrize(
    ("head", "claimed"),
    [
        ((FIXTURES / "winlogbeat.jsonl").read_bytes(), True),
        ((FIXTURES / "flat.jsonl").read_bytes(), True),
        (b'\xef\xbb\xbf{"Event":{"System":{"EventID":4624}}}\n', True),
        (b'{"EventID":4624,"Computer":"WS-001"}', True),
        (b'{"ts":1521911720.865716,"uid":"CXWv6p3arKYeMETxOg","id.orig_h":"10.47.1.100"}\n', False),
        (b'{"timestamp":"2018-03-24T17:15:20.865716+0000","event_type":"alert"}\n', False),
        (b'{"EventID":4624,"event_type":"alert","Channel":"Security"}\n', False),
        (b'{"level":"info","msg":"started","EventID":3}\n', False),
        (b"[1, 2, 3]\n", False),
        (b"ElfFile\0", False),
    ],
)
def test_sniff(head: bytes, claimed: bool) -> None:
    assert winjson.sniff(head, "events.json") is claimed


def test_sniff_a_first_line_longer_than_the_head() -> None:
    line = (FIXTURES / "winlogbeat.jsonl").read_bytes().splitlines()[1]
    long = line.replace(b'"RuleName":"', b'"RuleName":"' + b"x" * 9000)
    assert winjson.sniff(long[:8192], "events.json")
    assert not winjson.sniff(b'{"message":"' + b"x" * 9000, "events.json")


def test_xml_converted_shapes(tmp_path: Path) -> None:
    """XML-to-JSON converters write attributes as "@Name" and <Data> as a list."""
    lines = [
        {"Event": {
            "System": {
                "Provider": {"@Name": "Microsoft-Windows-Security-Auditing"},
                "EventID": "4624",
                "TimeCreated": {"@SystemTime": "2021-04-22T08:51:04.686763Z"},
                "Channel": "Security",
                "Computer": "fs03vuln.offsec.lan",
            },
            "EventData": {"Data": [
                {"@Name": "TargetUserName", "#text": "admmig"},
                {"@Name": "IpAddress", "#text": "::ffff:10.23.123.11"},
                "unnamed",
            ]},
        }},
        {"Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-CAPI2"}},
                "EventID": 70,
                "TimeCreated": {"#attributes": {"SystemTime": "2021-05-06T09:13:42.1Z"}},
                "Channel": "Microsoft-Windows-CAPI2/Operational",
            },
            "UserData": {"CryptAcquireCertificatePrivateKey": {
                "Certificate": {"#attributes": {"subjectName": "wec02.offsec.lan"}},
                "EventAuxInfo": {"#attributes": {"ProcessName": "mimikatz.exe"}},
            }},
        }},
    ]  # fmt: skip
    path = tmp_path / "converted.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines))
    (logon, capi), rejected, _ = _parse(path)
    assert rejected == []
    _has(logon, {
        "event.action": "logged-in",
        "event.provider": "Microsoft-Windows-Security-Auditing",
        "user.name": "admmig",
        "source.ip": "10.23.123.11",
    })  # fmt: skip
    _has(logon["fields"], {"TargetUserName": "admmig", "Data": "unnamed"})
    _has(capi, {
        "event.dataset": "windows.microsoft_windows_capi2_operational",
        "event.code": "70",
        "host.name": None,
    })  # fmt: skip
    _has(capi["fields"], {
        "Certificate.subjectName": "wec02.offsec.lan",
        "EventAuxInfo.ProcessName": "mimikatz.exe",
    })  # fmt: skip
