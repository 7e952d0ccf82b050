"""Suricata EVE JSON parser: sniffing, ECS mapping per event type, quarantine of bad lines."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from crownwatch.errors import ParseError
from crownwatch.ingest import detect, eve
from crownwatch.ingest.batch import Rejected
from crownwatch.ingest.source import Source

DATA = Path(__file__).resolve().parents[1] / "data" / "eve"
GOOD = DATA / "eve.json"
BAD = DATA / "eve-bad.json"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

TS = "2026-11-02T08:01:02.123456+0000"


def _parse(path: Path) -> tuple[list[dict[str, Any]], list[Rejected], int]:
    events: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    read = 0
    for batch in eve.parse(Source(path)):
        events.extend(batch.events.to_pylist())
        rejected.extend(batch.rejected)
        read += batch.read
    return events, rejected, read


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    parsed, rejected, read = _parse(GOOD)
    assert rejected == []
    assert read == len(parsed) == 24
    return parsed


def _of(events: list[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event.dataset"] == dataset]


def _fields(event: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(event["fields"])
    return value


def test_sniff_claims_eve_lines() -> None:
    head = GOOD.read_bytes()[:8192]
    assert eve.sniff(head, "eve.json")
    assert eve.sniff(head, "whatever.log")  # the name is only a hint
    assert detect(Source(GOOD)) is eve


def test_sniff_claims_a_first_line_longer_than_the_head() -> None:
    line = b'{"timestamp":"%s","event_type":"alert","payload":"%s"}' % (TS.encode(), b"A" * 9000)
    assert eve.sniff(line[:8192], "eve.json")


def test_sniff_rejects_other_formats() -> None:
    assert not eve.sniff(b'{"ts":1541026800.1,"uid":"C1","id.orig_h":"10.0.0.1"}\n', "conn.log")
    assert not eve.sniff(b'{"timestamp":"%s","message":"no event type"}\n' % TS.encode(), "a.json")
    assert not eve.sniff(b"Nov  2 08:01:02 host sshd[1]: Accepted password\n", "auth.log")
    assert not eve.sniff(b'[{"timestamp":"x","event_type":"alert"}]\n', "eve.json")
    assert not eve.sniff(b"", "eve.json")


def test_sniff_rejects_real_zeek_and_syslog_files() -> None:
    logs = SHARED / "logs"
    files = sorted(p for p in logs.rglob("*") if p.is_file()) if logs.is_dir() else []
    if not any("json" in p.name for p in files):
        pytest.skip(f"no Zeek JSON logs under {logs}")
    for path in files:
        assert not eve.sniff(Source(path).head(), str(path)), path


def test_alerts(events: list[dict[str, Any]]) -> None:
    http, dns, tls = _of(events, "suricata.alert")
    assert http["event.kind"] == "alert"
    assert http["event.category"] == "intrusion_detection"
    assert http["rule.id"] == "2018358"
    assert http["rule.name"] == (
        "ET HUNTING GENERIC SUSPICIOUS POST to Dotted Quad with Fake Browser 1"
    )
    assert http["rule.category"] == "Potentially Bad Traffic"
    assert http["event.severity"] == 2
    assert (http["event.action"], http["event.type"]) == ("allowed", "allowed")
    assert http["url.full"] == "http://203.0.113.50/gate.php?id=77"
    assert http["http.request.method"] == "POST"
    assert http["@timestamp"] == datetime(2026, 11, 2, 8, 1, 2, 123456, tzinfo=UTC)
    assert (dns["event.action"], dns["event.type"]) == ("blocked", "denied")
    assert dns["rule.id"] == "2027758"
    assert dns["dns.question.name"] == "update.kr-sync.cc"
    assert dns["dns.question.type"] == "A"
    assert tls["rule.name"] == "ET JA3 Hash - Possible Malware - Cobalt Strike"
    assert tls["event.severity"] == 3
    assert tls["tls.server.name"] == "cdn.update-check.net"
    assert tls["tls.client.ja3"] == "72a589da586844d7f0818ce684948eea"
    assert tls["source.bytes"] is None  # an alert's partial flow counters stay in fields
    assert _fields(tls)["flow.bytes_toclient"] == 3344


def test_flows(events: list[dict[str, Any]]) -> None:
    closed, unanswered, v6 = _of(events, "suricata.flow")
    assert closed["event.category"] == "network"
    assert closed["event.type"] == "connection"
    assert (closed["source.bytes"], closed["destination.bytes"]) == (1840, 5120)
    assert closed["network.bytes"] == 6960
    assert closed["event.duration"] == 1_251_688_000  # 08:01:01.998312 -> 08:01:03.250000
    assert (closed["event.outcome"], closed["event.action"]) == ("success", "flow-timeout")
    assert closed["network.protocol"] == "http"
    assert unanswered["event.outcome"] == "failure"
    assert unanswered["destination.port"] == 445
    assert unanswered["network.protocol"] is None
    assert unanswered["network.bytes"] == 132
    assert v6["source.ip"] == "2001:db8::a15"
    assert v6["destination.ip"] == "2001:db8::35"
    assert v6["network.transport"] == "udp"
    assert v6["@timestamp"] == datetime(2026, 11, 2, 7, 9, 1, 430555, tzinfo=UTC)  # +0100
    assert v6["event.duration"] == 4_250_000
    assert v6["event.action"] == "flow-shutdown"
    assert _fields(v6)["src_ip"] == "2001:0db8:0000:0000:0000:0000:0000:0a15"


def test_dns(events: list[dict[str, Any]]) -> None:
    query, answer, v3 = _of(events, "suricata.dns")
    assert (query["event.category"], query["event.type"]) == ("network", "protocol")
    assert query["dns.question.name"] == "update.kr-sync.cc"
    assert query["dns.response_code"] is None
    assert answer["dns.question.name"] == "www.suricata.io"
    assert answer["dns.response_code"] == "NOERROR"
    answers = _fields(answer)["dns.answers"]
    assert [a["rdata"] for a in answers] == ["suricata.io", "192.0.78.24"]
    assert _fields(answer)["dns.grouped.A"] == ["192.0.78.24"]
    assert v3["dns.question.name"] == "wpad.corp.example"
    assert v3["dns.question.type"] == "A"
    assert v3["dns.response_code"] == "NXDOMAIN"


def test_http(events: list[dict[str, Any]]) -> None:
    post, pdf, proxy = _of(events, "suricata.http")
    assert post["url.domain"] == "203.0.113.50"
    assert post["url.path"] == "/gate.php"
    assert post["user_agent.original"] == "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"
    assert post["http.response.body.bytes"] == 312
    assert pdf["url.full"] == "http://intranet.corp.example:8080/wiki/Design/Turbine_Blade_v7.pdf"
    assert pdf["http.response.status_code"] == 200
    assert pdf["http.request.method"] == "GET"
    assert proxy["url.full"] == "http://files.example.org/upload/drop.zip?k=1"
    assert proxy["url.path"] == "/upload/drop.zip"
    assert proxy["http.request.method"] == "PUT"
    assert proxy["http.response.status_code"] == 403
    assert proxy["user_agent.original"] == "curl/8.5.0"


def test_tls(events: list[dict[str, Any]]) -> None:
    beacon, microsoft, google = _of(events, "suricata.tls")
    assert beacon["tls.server.name"] == "cdn.update-check.net"
    assert beacon["tls.version"] == "1.2"
    assert beacon["tls.server.subject"] == "CN=cdn.update-check.net"
    assert beacon["tls.server.issuer"] == "CN=cdn.update-check.net"
    assert beacon["tls.client.ja3"] == "72a589da586844d7f0818ce684948eea"
    assert beacon["tls.server.ja3s"] == "b742b407517bac9536a77a7b0fee28e9"
    assert microsoft["tls.version"] == "1.3"
    assert microsoft["tls.server.subject"] is None
    assert google["tls.version"] == "1.0"
    assert _fields(google)["tls.version"] == "TLSv1"
    assert google["tls.server.issuer"] == "C=US, O=Google Trust Services, CN=WR2"
    assert google["tls.client.ja3"] is None


def test_fileinfo(events: list[dict[str, Any]]) -> None:
    pdf, smb, exe = _of(events, "suricata.fileinfo")
    assert (pdf["event.category"], pdf["event.type"]) == ("file", "info")
    assert pdf["file.name"] == "Turbine_Blade_v7.pdf"
    assert pdf["file.path"] == "/wiki/Design/Turbine_Blade_v7.pdf"
    assert pdf["file.size"] == 48213
    assert pdf["file.hash.md5"] == "5d41402abc4b2a76b9719d911017c592"
    assert pdf["url.domain"] == "intranet.corp.example"
    assert smb["file.name"] == "compound_x17.xlsx"
    assert smb["file.path"] == "RnD\\formulas\\compound_x17.xlsx"
    assert smb["file.size"] == 1288004
    assert smb["network.protocol"] == "smb"
    assert _fields(smb)["smb.share"] == "\\\\fs01\\research"
    assert exe["file.hash.sha256"] == (
        "ef797c8118f02dfb649607dd5d3f8c7623048c9c063d532cc95c5ed7a898a64f"
    )
    assert exe["file.hash.sha1"] == "7c4a8d09ca3762af61e59520943dc26494f8941b"
    assert exe["user_agent.original"] == "Microsoft BITS/7.8"
    assert exe["url.full"] == "http://203.0.113.9/a/svchost.exe"


def test_anomaly(events: list[dict[str, Any]]) -> None:
    applayer, decode, stream = _of(events, "suricata.anomaly")
    assert applayer["event.kind"] == "event"
    assert applayer["event.category"] == "network"
    assert applayer["event.action"] == "APPLAYER_DETECT_PROTOCOL_ONLY_ONE_DIRECTION"
    assert _fields(applayer)["anomaly.layer"] == "proto_detect"
    assert _fields(applayer)["anomaly.type"] == "applayer"
    assert decode["event.action"] == "decoder.ipv4.trunc_pkt"
    assert decode["source.port"] == 0
    assert "flow_id" not in _fields(decode)
    assert stream["event.action"] == "stream.pkt_invalid_timestamp"


def test_other_event_types_get_common_fields(events: list[dict[str, Any]]) -> None:
    (stats,) = _of(events, "suricata.stats")
    assert stats["source.ip"] is None
    assert stats["event.category"] is None
    assert stats["host.name"] == "sensor-dmz-01"
    assert _fields(stats)["stats.capture.kernel_drops"] == 12
    (ssh,) = _of(events, "suricata.ssh")
    assert ssh["destination.port"] == 22
    assert _fields(ssh)["ssh.client.software_version"] == "OpenSSH_9.6"
    (dht,) = _of(events, "suricata.bittorrent_dht")
    assert _fields(dht)["event_type"] == "bittorrent-dht"


def test_common_fields_and_provenance(events: list[dict[str, Any]]) -> None:
    lines = GOOD.read_bytes().splitlines()
    assert {e["event.module"] for e in events} == {"suricata"}
    assert {e["host.name"] for e in events} == {"sensor-dmz-01"}
    assert [e["event.original"] for e in events] == [line.decode() for line in lines]
    assert len({e["event.id"] for e in events}) == len(events)
    first = _fields(events[0])
    assert first["flow_id"] == 1137483962284557
    assert first["community_id"] == "1:oZbqBd7k5+q3OSCO3tS0+w0N0xs="
    assert first["alert.signature_id"] == 2018358
    assert first["metadata.flowbits"] == ["http.dottedquadhost"]
    assert events[1]["log.offset"] == len(lines[0]) + 1


def test_bad_lines_are_quarantined_and_good_ones_parse() -> None:
    parsed, rejected, read = _parse(BAD)
    assert read == 12
    assert len(parsed) + len(rejected) == read
    assert [e["event.dataset"] for e in parsed] == [
        "suricata.alert",
        "suricata.flow",
        "suricata.dns",
        "suricata.tls",
    ]
    assert parsed[0]["rule.id"] == "2018358"
    assert parsed[1]["network.bytes"] == 6960
    assert parsed[3]["tls.server.name"] == "cdn.update-check.net"
    reasons = {r.position: r.reason for r in rejected}
    assert sorted(reasons) == [2, 4, 5, 7, 8, 9, 10, 11]
    assert reasons[2].startswith("not JSON")
    assert reasons[4] == "no timestamp"
    assert reasons[5] == "bad timestamp 'yesterday at noon'"
    assert reasons[7] == "not a JSON object but a list"
    assert "UTF-8" in reasons[8]
    assert "depth" in reasons[9]
    assert reasons[10] == "src_port out of range: 70000"
    assert reasons[11].startswith("dest_port out of range")
    lines = BAD.read_bytes().splitlines()
    assert [r.raw for r in rejected if r.position == 8] == [lines[7]]
    assert {r.format for r in rejected} == {"eve"}


def test_gzip_copy_parses_the_same(tmp_path: Path) -> None:
    packed = tmp_path / "eve.json.gz"
    with GOOD.open("rb") as plain, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(plain, out)
    assert eve.sniff(Source(packed).head(), str(packed))
    plain_events, _, _ = _parse(GOOD)
    gz_events, rejected, read = _parse(packed)
    assert rejected == []
    assert read == 24
    for row in plain_events + gz_events:
        del row["log.file.path"]
    assert gz_events == plain_events


def _line(**extra: Any) -> bytes:
    return orjson.dumps({"timestamp": TS, "event_type": "flow", **extra})


def test_timestamp_forms_agree() -> None:
    assert eve.timestamp(TS) == eve.timestamp("2026-11-02T08:01:02.123456Z")
    assert eve.timestamp("2026-11-02T09:01:02.123456+0100") == eve.timestamp(TS)
    assert eve.timestamp("2009-11-24T21:27:09.534255") == 1259098029534255  # no zone: UTC
    with pytest.raises(ParseError, match="bad timestamp"):
        eve.timestamp(1541026800)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"src_port": -1}, "src_port out of range: -1"),
        ({"dest_port": True}, "dest_port out of range: True"),
        ({"dest_port": "80"}, "dest_port out of range: '80'"),
        ({"src_ip": "10.0.0.300"}, "bad src_ip '10.0.0.300'"),
        ({"dest_ip": ["10.0.0.1"]}, "bad dest_ip ['10.0.0.1']"),
        ({"event_type": 7}, "bad event_type 7"),
        ({"event_type": "--"}, "bad event_type '--'"),
    ],
)
def test_bad_values_raise(extra: dict[str, Any], reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        eve.parse_line(_line(**extra))
    assert caught.value.reason == reason


def test_deep_objects_are_kept_whole_past_the_depth_limit() -> None:
    deep: dict[str, Any] = {"leaf": "x"}
    for _ in range(eve.MAX_DEPTH + 4):
        deep = {"k": deep}
    row = eve.parse_line(_line(extra=deep))
    ((name, value),) = ((k, v) for k, v in row["fields"].items() if k.startswith("extra"))
    assert name == "extra" + ".k" * eve.MAX_DEPTH  # MAX_DEPTH objects expanded
    assert value == {"k": {"k": {"k": {"k": {"leaf": "x"}}}}}  # the 4 levels left, whole


def test_event_type_is_made_safe_for_a_dataset_name() -> None:
    row = eve.parse_line(_line(event_type="../../Etc/Passwd"))
    assert row["event.dataset"] == "suricata.etc_passwd"


def test_flow_with_unusable_times_has_no_duration() -> None:
    row = eve.parse_line(
        _line(
            proto="UDP", flow={"start": "garbage", "end": TS, "state": "new", "bytes_toserver": 60}
        )
    )
    assert row["event.duration"] is None
    assert row["event.outcome"] == "unknown"  # UDP "new" is not a failed handshake
    assert (row["source.bytes"], row["network.bytes"]) == (60, 60)
