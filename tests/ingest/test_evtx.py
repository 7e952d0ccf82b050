"""EVTX against the real sample logs: every file whole, known records' values, damaged files."""

from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any

import evtx as rust_evtx
import orjson
import pyarrow as pa
import pytest

from crownwatch import ingest
from crownwatch.config import IngestSettings
from crownwatch.ingest import evtx
from crownwatch.ingest.batch import Rejected
from crownwatch.ingest.source import Source

YAMATO = Path("evtx") / "YamatoSecurity"
MITRE = Path("evtx") / "EVTX-to-MITRE-Attack"
DEEPBLUE = Path("evtx") / "DeepBlueCLI"
WMI = MITRE / "TA0002-Execution" / "T1047-Windows Management Instrumentation"
APT = MITRE / "EVTX_full_APT_attack_steps"
CSC_NAME = "T1027.004_ObfuscatedFilesOrInformationCompileAfterDelivery_Sysmon.evtx"
CSC = YAMATO / "DefenseEvasion" / CSC_NAME
ETERNAL = APT / "ID4624,4688,5140,5145-Eternal Romance - MS17_010_psexec (GLOBAL).evtx"
WMIEXEC = WMI / "ID4688-5145-WMIexec execution via SMB.evtx"
SYSMON_NET = WMI / "ID3-7-10-Suspicious DLL loaded (CME+Mimikatz).evtx"
SPRAY = DEEPBLUE / "password-spray.evtx"  # 295 records in chunks of 104, 106 and 85


Parsed = tuple[list[dict[str, Any]], list[Rejected], int]


def _parse(path: Path, limits: IngestSettings | None = None) -> Parsed:
    batches = list(evtx.parse(Source(path, limits or IngestSettings())))
    rows = pa.Table.from_batches([b.events for b in batches]).to_pylist()
    rejected = [r for b in batches for r in b.rejected]
    return rows, rejected, sum(b.read for b in batches)


def _record(rows: list[dict[str, Any]], record_id: int) -> dict[str, Any]:
    (row,) = [r for r in rows if r["winlog.record_id"] == record_id]
    row["fields"] = orjson.loads(row["fields"])
    return row


def _raw_count(path: Path) -> int:
    return sum(1 for _ in rust_evtx.PyEvtxParser(str(path)).records_json())


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.evtx"))


@pytest.mark.parametrize("folder", ["evtx", "sigma/regression_data"])
def test_every_real_file_parses_whole(shared_data: Path, folder: str) -> None:
    files = _files(shared_data / folder)
    assert len(files) > 150
    for path in files:
        rows, rejected, read = _parse(path)
        assert (len(rows), rejected) == (_raw_count(path), []), path
        assert len(rows) == read, path
        assert {r["event.module"] for r in rows} <= {"windows"}
        assert all(r["event.dataset"].startswith("windows.") for r in rows), path


def _has(row: dict[str, Any], expected: dict[str, Any]) -> None:
    assert {name: row[name] for name in expected} == expected


def test_sysmon_process_create(shared_data: Path) -> None:
    rows, _, _ = _parse(shared_data / CSC)
    row = _record(rows, 13252)
    assert row["@timestamp"].isoformat() == "2021-11-18T07:40:29.566033+00:00"
    _has(row, {
        "event.dataset": "windows.sysmon",
        "event.code": "1",
        "winlog.event_id": 1,
        "event.category": "process",
        "event.type": "start",
        "event.action": "process-created",
        "host.name": "PC-01.cybercat.local",
        "user.domain": "CYBERCAT",
        "user.name": "pc1-user",
        "user.id": None,  # the S-1-5-18 of Sysmon's own service is not the user
        "process.executable": r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\csc.exe",
        "process.name": "csc.exe",
        "process.command_line": r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\csc.exe  "
        r"/unsafe /nologo /target:exe /out:zoom-update.exe "
        r"C:\Users\pc1-user\Desktop\zoom-update.cs",
        "process.pid": 2604,
        "process.entity_id": "510C1E8A-036D-6196-6801-000000000F00",
        "process.parent.name": "cmd.exe",
        "process.parent.pid": 6992,
        "process.parent.command_line": '"C:\\Windows\\system32\\cmd.exe" ',
        "process.hash.sha256": "c5270c0d8718c66382240db538f9bacded8db55424768c2d942a6210b96b2720",
        "process.hash.md5": "28d96a80131c05e552066c798c0d8acb",
    })  # fmt: skip
    _has(row["fields"], {
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Provider_Name": "Microsoft-Windows-Sysmon",
        "EventRecordID": 13252,
        "Computer": "PC-01.cybercat.local",
        "OriginalFileName": "csc.exe",
        "IntegrityLevel": "Medium",
        "CommandLine": row["process.command_line"],
    })  # fmt: skip
    assert '"EventRecordID":13252' in row["event.original"]


def test_security_logon_with_remote_address(shared_data: Path) -> None:
    rows, _, _ = _parse(shared_data / ETERNAL)
    row = _record(rows, 435113)
    _has(row, {
        "event.code": "4624",
        "event.dataset": "windows.security",
        "event.category": "authentication",
        "event.type": "start",
        "event.outcome": "success",
        "event.action": "logged-in",
        "user.name": "admmig",
        "user.domain": "OFFSEC",
        "user.id": "S-1-5-21-4230534742-2542757381-3142984815-1111",
        "source.ip": "10.23.123.11",
        "source.port": 41747,
        "process.executable": None,  # ProcessName "-" means none
        "process.pid": None,  # and ProcessId 0x0 too
    })  # fmt: skip
    _has(row["fields"], {"LogonType": 3, "WorkstationName": "0Konuy9q8HtkWeKS"})


def test_security_process_creation_and_share_access(shared_data: Path) -> None:
    rows, _, _ = _parse(shared_data / WMIEXEC)
    _has(_record(rows, 436755), {
        "event.code": "4688",
        "event.action": "process-created",
        "process.executable": r"C:\Windows\System32\cmd.exe",
        "process.name": "cmd.exe",
        "process.command_line":
            r"cmd.exe /Q /c cd \ 1> \\127.0.0.1\ADMIN$\__1619090610.0007844 2>&1",
        "process.pid": 0x168,
        "process.parent.pid": 0x5FC,
        "user.name": "FS03VULN$",
        "user.domain": "OFFSEC",
    })  # fmt: skip
    share = _record(rows, 436759)
    _has(share, {
        "event.code": "5145",
        "event.category": "file",
        "event.action": "share-object-checked",
        "file.path": r"\\*\ADMIN$\__1619090610.0007844",
        "file.name": "__1619090610.0007844",
        "source.ip": "10.23.123.11",
        "source.port": 50896,
        "user.name": "admmig",
    })  # fmt: skip
    assert share["fields"]["ShareName"] == r"\\*\ADMIN$"


def test_object_access_by_kind_of_object(shared_data: Path) -> None:
    dumping = MITRE / "TA0006-Credential Access" / "T1003-Credential dumping"
    mimikatz = dumping / "ID4656-4663-4658 Mimikatz sekurlsa password dump.evtx"
    rows, _, _ = _parse(shared_data / mimikatz)
    _has(_record(rows, 9217077), {
        "event.code": "4663",
        "event.category": "process",  # lsass.exe opened: a process, not a file
        "event.action": "object-accessed",
        "process.executable": r"C:\TOOLS\Security_tool\Mimikatz-fev-2020\mimikatz.exe",
        "process.name": "mimikatz.exe",
        "process.pid": 7712,
        "user.name": "admmig",
        "file.path": None,
    })  # fmt: skip
    wmiexec = APT / "ID4688,5140,5145-WMIexec execution via SMB (GLOBAL).evtx"
    rows, _, _ = _parse(shared_data / wmiexec)
    key = next(r for r in rows if r["event.code"] == "4656")
    _has(key, {
        "event.category": "registry",
        "registry.path":
            r"\REGISTRY\MACHINE\SOFTWARE\Microsoft\SystemCertificates\ROOT\Certificates",
        "process.name": "cscript.exe",
    })  # fmt: skip


def test_powershell_script_block(shared_data: Path) -> None:
    rows, _, _ = _parse(shared_data / DEEPBLUE / "Powershell-Invoke-Obfuscation-encoding-menu.evtx")
    row = _record(rows, 640495)
    _has(row, {
        "event.dataset": "windows.powershell",
        "event.code": "4104",
        "event.action": "powershell-script-block-logged",
        "file.path":
            r"C:\Users\student\Desktop\Invoke-Obfuscation-master\Out-EncodedOctalCommand.ps1",
        "file.name": "Out-EncodedOctalCommand.ps1",
        "process.command_line": None,
        "user.id": "S-1-5-21-1552841522-3835366585-4197357653-1001",
    })  # fmt: skip
    assert row["fields"]["ScriptBlockText"].startswith("{$UpperLowerChar = $_;")


def test_service_install_with_qualified_event_id(shared_data: Path) -> None:
    """7045's EventID comes with Qualifiers: {"#attributes": {...}, "#text": 7045}."""
    rows, _, _ = _parse(shared_data / DEEPBLUE / "metasploit-psexec-native-target-system.evtx")
    row = _record(rows, 8623)
    _has(row, {
        "event.code": "7045",
        "winlog.event_id": 7045,
        "event.dataset": "windows.system",
        "event.category": "configuration",
        "event.type": "creation",
        "event.action": "service-installed",
        "event.provider": "Service Control Manager",
        "file.path": r"%SYSTEMROOT%\duKhLYUX.exe",
    })  # fmt: skip
    _has(row["fields"], {"ServiceName": "KgXItsbKgTJzdzwl", "EventID": 7045})


def test_user_data_log_cleared(shared_data: Path) -> None:
    """UserData's one element is unwrapped; its Channel, clashing with System's, is kept apart."""
    rows, _, _ = _parse(shared_data / DEEPBLUE / "disablestop-eventlog.evtx")
    row = _record(rows, 9252)
    _has(row, {
        "event.code": "104",
        "event.action": "log-cleared",
        "user.name": "jwrig",
        "user.domain": "DESKTOP-JR78RLP",
    })  # fmt: skip
    _has(row["fields"], {
        "SubjectUserName": "jwrig",
        "Channel": "System",
        "EventData.Channel": "System",
        "BackupPath": None,
    })  # fmt: skip
    assert "xmlns" not in row["fields"]
    rows, _, _ = _parse(shared_data / DEEPBLUE / "eventlog-dac.evtx")
    cleared = next(r for r in rows if r["event.code"] == "1102")
    _has(cleared, {
        "event.action": "audit-log-cleared",
        "user.name": "Sec504",
        "event.dataset": "windows.security",
    })  # fmt: skip


def test_unnamed_data_elements(shared_data: Path) -> None:
    rows, _, _ = _parse(shared_data / DEEPBLUE / "many-events-application.evtx")
    row = _record(rows, 7)
    _has(row["fields"], {
        "Data": "Windows(TM) - Component PPD License (DirectExperience)",
        "Data1": "63f7d6b3-2b29-5864-50cf-9f7231237dbe",
    })  # fmt: skip
    assert row["event.dataset"] == "windows.application"
    assert row["event.action"] is None  # no ECS meaning known: the generic fields only


def test_sysmon_network_connection(shared_data: Path) -> None:
    rows, _, _ = _parse(shared_data / SYSMON_NET)
    _has(next(r for r in rows if r["event.code"] == "3"), {
        "event.category": "network",
        "event.type": "connection",
        "source.ip": "10.23.42.38",
        "source.port": 62095,
        "destination.ip": "10.23.123.11",
        "destination.port": 443,
        "destination.domain": None,  # DestinationHostname "-"
        "network.transport": "tcp",
        "network.direction": "egress",
        "process.name": "powershell.exe",
        "user.domain": "OFFSEC",
        "user.name": "admmig",
    })  # fmt: skip
    access = next(r for r in rows if r["event.code"] == "10")
    assert access["process.executable"].endswith("powershell.exe")
    assert orjson.loads(access["fields"])["TargetImage"] == r"C:\Windows\system32\lsass.exe"


def test_sniff_and_detect(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / SPRAY
    assert evtx.sniff(path.read_bytes()[:8192], str(path))
    assert not evtx.sniff(b'{"Event":{"System":{}}}\n', "x.evtx")
    packed = tmp_path / "spray.evtx.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    assert ingest.detect(Source(packed)) is evtx


def test_gzip_gives_the_same_events(shared_data: Path, tmp_path: Path) -> None:
    plain, _, _ = _parse(shared_data / SPRAY)
    packed = tmp_path / "spray.evtx.gz"
    packed.write_bytes(gzip.compress((shared_data / SPRAY).read_bytes()))
    rows, rejected, read = _parse(packed)
    assert rejected == [] and read == len(rows) == 295
    assert [r["event.id"] for r in rows] == [r["event.id"] for r in plain]


def test_truncated_gzip_keeps_what_came_before(shared_data: Path, tmp_path: Path) -> None:
    full, _, _ = _parse(shared_data / SPRAY)
    packed = gzip.compress((shared_data / SPRAY).read_bytes())
    cut = tmp_path / "spray.evtx.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    rows, rejected, read = _parse(cut)
    assert len(rows) + len(rejected) == read
    assert 0 < len(rows) < 295
    assert {r["event.id"] for r in rows} <= {r["event.id"] for r in full}
    assert any(r.reason.startswith("gzip unreadable past this point") for r in rejected)


def test_file_cut_inside_a_chunk(shared_data: Path, tmp_path: Path) -> None:
    full, _, _ = _parse(shared_data / SPRAY)
    data = (shared_data / SPRAY).read_bytes()
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(data[: 4096 + 65536 + 30000])  # chunk 0 whole, chunk 1 in part
    rows, rejected, read = _parse(cut)
    assert [r["event.id"] for r in rows] == [r["event.id"] for r in full[:104]]
    assert [r.reason for r in rejected] == [
        "file ends inside a chunk: its last 30000 bytes (a partial chunk) cannot be read"
    ]
    assert read == 105


def test_corrupt_bytes_in_a_chunk(shared_data: Path, tmp_path: Path) -> None:
    full, _, _ = _parse(shared_data / SPRAY)
    data = bytearray((shared_data / SPRAY).read_bytes())
    noise = random.Random(2).randbytes(50)
    data[4096 + 20000 : 4096 + 20050] = noise  # inside the records of chunk 0
    data[4096 + 65536 + 600 : 4096 + 65536 + 700] = noise * 2  # the string table of chunk 1
    bad = tmp_path / "corrupt.evtx"
    bad.write_bytes(bytes(data))
    rows, rejected, read = _parse(bad)
    assert len(rows) + len(rejected) == read
    ids = {r["event.id"] for r in rows}
    assert {r["event.id"] for r in full[210:]} <= ids  # chunk 2 is untouched
    assert {r["event.id"] for r in full[:27]} <= ids  # chunk 0 before the damage
    assert ids <= {r["event.id"] for r in full}
    assert rejected and all(r.reason.startswith("evtx: ") for r in rejected)
    assert any("record IDs 105..210" in r.reason and r.position == 105 for r in rejected)


def test_random_bytes_behind_the_magic(tmp_path: Path) -> None:
    path = tmp_path / "random.evtx"
    path.write_bytes(evtx.MAGIC + random.Random(7).randbytes(200_000))
    rows, rejected, read = _parse(path)
    assert rows == [] and rejected and len(rejected) == read
    assert all(r.reason for r in rejected)


def test_header_only_and_magic_only(tmp_path: Path) -> None:
    path = tmp_path / "magic.evtx"
    path.write_bytes(evtx.MAGIC)
    rows, rejected, read = _parse(path)
    assert rows == [] and read == 1
    assert rejected[0].reason.startswith("not a readable EVTX file")


def test_records_over_the_size_limit_are_quarantined(shared_data: Path) -> None:
    path = shared_data / DEEPBLUE / "Powershell-Invoke-Obfuscation-encoding-menu.evtx"
    rows, rejected, read = _parse(path, IngestSettings(max_record_bytes=1500))
    assert rows and rejected and len(rows) + len(rejected) == read == _raw_count(path)
    assert all(r.reason == "record over the 1500-byte limit" for r in rejected)
    assert all(r.raw_size > 1500 for r in rejected)
    assert all(len(r["event.original"]) <= 1500 for r in rows)
