"""The syslog parser on the loghub samples and on a fixture of every shape and bad line."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from crownwatch.config import IngestSettings
from crownwatch.errors import ConfigError
from crownwatch.ingest import syslog
from crownwatch.ingest.batch import Batch, Rejected
from crownwatch.ingest.source import Source

LOGHUB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "logs" / "loghub"
FIXTURES = Path(__file__).resolve().parents[1] / "data" / "text"


def run(batches: Iterable[Batch]) -> tuple[list[dict[str, Any]], list[Rejected], int]:
    done = list(batches)
    events = pa.Table.from_batches([b.events for b in done]).to_pylist()
    return events, [r for b in done for r in b.rejected], sum(b.read for b in done)


def sample(name: str) -> Path:
    path = LOGHUB / name
    if not path.exists():
        pytest.skip(f"shared sample {path} is missing")
    return path


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_openssh_sample_outcomes_match_an_independent_count() -> None:
    path = sample("OpenSSH_2k.log")
    lines = path.read_text().splitlines()
    events, rejected, read = run(syslog.parse_with_year(Source(path), 2015))
    assert read == len(lines) == 2000
    assert rejected == []
    assert len(events) == 2000
    counts = Counter((e["event.action"], e["event.outcome"]) for e in events)
    accepted = sum(1 for ln in lines if re.search(r"sshd\[\d+\]: Accepted \S+ for \S+ from", ln))
    failed = sum(1 for ln in lines if re.search(r"Failed \S+ for .+ from \S+ port \d+", ln))
    invalid = sum(1 for ln in lines if re.search(r"sshd\[\d+\]: Invalid user ", ln))
    pam = sum(1 for ln in lines if "authentication failure;" in ln)
    assert (accepted, invalid) == (1, 113)
    assert counts[("ssh_login", "success")] == accepted
    assert counts[("ssh_login", "failure")] == failed
    assert counts[("invalid_user", "failure")] == invalid
    assert counts[("authentication_failure", "failure")] == pam
    assert {e["event.dataset"] for e in events} == {"system.auth"}


def test_openssh_sample_values() -> None:
    path = sample("OpenSSH_2k.log")
    events, _, _ = run(syslog.parse_with_year(Source(path), 2015))
    first = events[0]
    assert first["@timestamp"] == at(2015, 12, 10, 6, 55, 46)
    assert (first["host.name"], first["process.name"], first["process.pid"]) == (
        "LabSZ",
        "sshd",
        24200,
    )
    assert first["message"].startswith(
        "reverse mapping checking getaddrinfo for ns.marryaldkfaczcz"
    )
    assert first["event.category"] is None
    assert first["event.original"] == path.read_text().splitlines()[0]

    failed = events[5]  # Failed password for invalid user webmaster from 173.234.31.186 port 38926
    assert failed["event.category"] == "authentication"
    assert failed["event.outcome"] == "failure"
    assert (failed["user.name"], failed["source.ip"], failed["source.port"]) == (
        "webmaster",
        "173.234.31.186",
        38926,
    )
    assert json.loads(failed["fields"])["method"] == "password"
    assert json.loads(failed["fields"])["invalid_user"] is True

    accepted = next(e for e in events if e["event.outcome"] == "success")
    assert accepted["@timestamp"] == at(2015, 12, 10, 9, 32, 20)
    assert (accepted["user.name"], accepted["source.ip"], accepted["source.port"]) == (
        "fztu",
        "119.137.62.142",
        49116,
    )

    pam_host = events[11]  # rhost=ec2-52-80-34-196.cn-north-1.compute.amazonaws.com.cn
    assert pam_host["event.action"] == "authentication_failure"
    assert pam_host["source.domain"] == "ec2-52-80-34-196.cn-north-1.compute.amazonaws.com.cn"
    assert pam_host["source.ip"] is None

    bye = events[13]  # Received disconnect from 52.80.34.196: 11: Bye Bye [preauth]
    assert (bye["event.category"], bye["event.type"]) == ("session", "end")
    assert bye["source.ip"] == "52.80.34.196"
    assert bye["event.outcome"] is None


def test_linux_sample_pam_su_and_plain_lines() -> None:
    path = sample("Linux_2k.log")
    lines = path.read_text().splitlines()
    assert syslog.sniff(path.read_bytes()[:8192], str(path))
    events, rejected, read = run(syslog.parse_with_year(Source(path), 2005))
    assert (len(events), len(rejected), read) == (2000, 0, 2000)

    first = events[0]
    assert first["@timestamp"] == at(2005, 6, 14, 15, 16, 1)
    assert (first["process.name"], first["process.pid"]) == ("sshd", 19939)
    assert json.loads(first["fields"])["appname"] == "sshd(pam_unix)"
    assert (first["event.outcome"], first["source.ip"]) == ("failure", "218.188.2.4")
    assert first["event.dataset"] == "system.auth"

    root = events[3]  # rhost=220-135-151-1.hinet-ip.hinet.net  user=root
    assert (root["user.name"], root["source.domain"]) == (
        "root",
        "220-135-151-1.hinet-ip.hinet.net",
    )

    opened = [e for e in events if e["event.action"] == "session_opened"]
    assert len(opened) == sum(1 for ln in lines if "session opened for user" in ln)
    su = next(e for e in opened if e["process.name"] == "su")
    assert (su["user.name"], su["event.type"], su["event.dataset"]) == (
        "cyrus",
        "start",
        "system.auth",
    )

    restart = next(e for e in events if e["process.name"] == "syslogd")
    assert (restart["message"], restart["event.dataset"]) == ("1.4.1: restart.", "system.syslog")
    gdm = next(e for e in events if e["process.name"] == "gdm" and e["event.outcome"])
    assert (gdm["event.outcome"], gdm["source.ip"], gdm["source.domain"]) == ("failure", None, None)
    ftp = next(e for e in events if e["process.name"] == "ftpd")
    assert ftp["event.dataset"] == "system.syslog"
    assert ftp["message"].startswith("connection from 24.54.76.216 (24-54-76-216.bflony")


def test_apache_error_log_is_not_claimed_and_is_quarantined_when_forced() -> None:
    path = sample("Apache_2k.log")
    assert not syslog.sniff(path.read_bytes()[:8192], str(path))
    events, rejected, read = run(syslog.parse(Source(path)))
    assert (len(events), len(rejected), read) == (0, 2000, 2000)
    assert {r.reason for r in rejected} == {
        "not a syslog line (no RFC 3164, RFC 5424 or ISO header)"
    }
    assert rejected[0].raw.startswith(b"[Sun Dec 04 04:47:44 2005] [notice]")
    assert rejected[0].position == 1


def test_fixture_values_of_every_shape() -> None:
    events, rejected, read = run(
        syslog.parse_with_year(Source(FIXTURES / "syslog_mixed.log"), 2026)
    )
    assert read == len(events) + len(rejected) == 22
    ev = events

    accepted = ev[0]
    assert accepted["@timestamp"] == at(2026, 11, 2, 8, 0, 1)
    assert (accepted["source.ip"], accepted["user.name"]) == ("2001:db8::7", "alice")
    assert accepted["event.severity"] == 6
    fields = json.loads(accepted["fields"])
    assert (fields["facility"], fields["severity"], fields["method"]) == (4, 6, "publickey")

    repeated = ev[2]
    assert (repeated["user.name"], repeated["event.outcome"]) == ("root", "failure")
    assert json.loads(repeated["fields"])["repeated"] == 3

    gone = ev[3]
    assert (gone["event.action"], gone["user.name"], gone["source.port"]) == (
        "ssh_disconnect",
        "root",
        41822,
    )

    sudo_ok, sudo_bad, sudo_session = ev[4], ev[5], ev[6]
    assert sudo_ok["process.command_line"] == "/usr/bin/tar czf /tmp/designs.tgz /srv/rnd/designs"
    assert (sudo_ok["user.name"], sudo_ok["event.outcome"]) == ("alice", "success")
    assert json.loads(sudo_ok["fields"])["target_user"] == "root"
    assert (sudo_bad["user.name"], sudo_bad["event.outcome"]) == ("bob", "failure")
    assert sudo_bad["event.category"] == "authentication"
    assert json.loads(sudo_bad["fields"])["reason"] == "3 incorrect password attempts"
    assert (sudo_session["event.action"], sudo_session["user.name"]) == ("session_opened", "root")

    su_failed, su_ok = ev[7], ev[8]
    assert (su_failed["user.name"], su_failed["event.outcome"]) == ("mallory", "failure")
    assert json.loads(su_failed["fields"])["target_user"] == "root"
    assert (su_ok["user.name"], su_ok["event.outcome"]) == ("alice", "success")

    vpn = ev[9]  # RFC 5424 with structured data and a BOM before the message
    assert vpn["@timestamp"] == datetime(2026, 11, 2, 8, 4, 0, 123456, tzinfo=UTC)
    assert (vpn["host.name"], vpn["process.name"], vpn["process.pid"]) == (
        "vpn-gw01",
        "openvpn",
        7781,
    )
    assert vpn["message"] == "client 198.51.100.23:51000 authenticated as carol"
    assert vpn["event.dataset"] == "system.syslog"
    sd = json.loads(vpn["fields"])
    assert sd["msgid"] == "LOGIN"
    assert sd["origin.ip"] == "198.51.100.9"
    assert sd["meta.note"] == 'a "quoted" ] bracket'
    assert (sd["facility"], vpn["event.severity"]) == (10, 6)

    iso = ev[10]  # rsyslog's ISO form, +01:00
    assert iso["@timestamp"] == datetime(2026, 11, 2, 8, 5, 0, 250000, tzinfo=UTC)
    assert (iso["host.name"], iso["process.name"]) == ("filesrv01", "kernel")

    cron = ev[11]
    assert (cron["event.action"], cron["event.dataset"]) == ("session_closed", "system.syslog")
    assert ev[12]["message"] == "caf\ufffd \ufffd\ufffd login banner"
    padded = ev[13]  # NUL padding before the line, as a crash leaves it
    assert (padded["event.action"], padded["source.ip"]) == ("invalid_user", "192.0.2.10")

    reasons = {r.position: r.reason for r in rejected}
    assert reasons == {
        15: "NUL byte inside the line: binary data, not text",
        16: "not a syslog line (no RFC 3164, RFC 5424 or ISO header)",
        17: "bad syslog priority <999>",
        18: "bad date: day is out of range for month",
        19: "bad RFC 5424 structured data",
        20: "no timestamp",
        21: "NUL byte inside the line: binary data, not text",
        22: "bad date: hour must be in 0..23",
    }
    assert rejected[0].raw.startswith(b"\x89PNG")


def test_year_comes_from_the_modification_time(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_text(
        "Dec 31 23:59:50 h app: old year\n"
        "Jan  1 00:00:10 h app: new year\n"
        "Jan  1 20:00:00 h app: within a day of the mtime\n"
        "Mar  1 12:00:00 h app: months after the mtime\n"
    )
    mtime = at(2027, 1, 1, 0, 5).timestamp()
    os.utime(path, (mtime, mtime))
    events, _, _ = run(syslog.parse(Source(path)))
    assert [e["@timestamp"] for e in events] == [
        at(2026, 12, 31, 23, 59, 50),
        at(2027, 1, 1, 0, 0, 10),
        at(2027, 1, 1, 20, 0, 0),
        at(2026, 3, 1, 12, 0, 0),
    ]


def test_timezone_setting(tmp_path: Path) -> None:
    path = tmp_path / "messages"
    path.write_text("Nov  2 08:00:01 h app: local time\n")
    paris = Source(path, limits=IngestSettings(timezone="Europe/Paris"))
    events, _, _ = run(syslog.parse_with_year(paris, 2026))
    assert events[0]["@timestamp"] == at(2026, 11, 2, 7, 0, 1)
    with pytest.raises(ConfigError, match="unknown time zone"):
        syslog.parse(Source(path, limits=IngestSettings(timezone="Mars/Olympus_Mons")))


def test_overlong_line_is_quarantined_and_its_neighbours_parse(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(
        b"Nov  2 08:00:01 h app: before\n"
        + b"Nov  2 08:00:02 h app: " + b"A" * 5000 + b"\n"
        + b"Nov  2 08:00:03 h app: after\n"
    )  # fmt: skip
    small = Source(path, limits=IngestSettings(max_record_bytes=200))
    events, rejected, read = run(syslog.parse_with_year(small, 2026))
    assert [e["message"] for e in events] == ["before", "after"]
    assert read == 3
    assert rejected[0].reason == "record of 5024 bytes is over the 200-byte limit"
    assert rejected[0].raw_size == 5024


def test_sniff_wants_a_syslog_header_and_refuses_json() -> None:
    assert syslog.sniff(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick\n", "x")
    assert syslog.sniff(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - x\n", ""
    )
    assert not syslog.sniff(b'{"ts": "Oct 11 22:14:15 h app: x"}\n', "a.log")
    assert not syslog.sniff(b"2026-11-02T08:00:00Z INFO something happened\n", "app.log")
    assert not syslog.sniff(b"#separator \\x09\n#path\tconn\n", "conn.log")


def test_cisco_messages_of_every_shape() -> None:
    events, rejected, read = run(syslog.parse_with_year(Source(FIXTURES / "cisco.log"), 2026))
    assert read == 12
    assert [(r.position, r.reason) for r in rejected] == [(8, "no timestamp")]  # uptime only
    ev = events

    cmd = ev[0]  # a relay's address, a sequence number, a device time without year or zone
    assert cmd["@timestamp"] == datetime(2026, 2, 17, 13, 40, 3, 673000, tzinfo=UTC)
    assert (cmd["event.dataset"], cmd["event.module"]) == ("cisco.ios", "cisco")
    assert (cmd["event.code"], cmd["event.severity"]) == ("PARSER-5-CFGLOG_LOGGEDCMD", 5)
    assert (cmd["host.ip"], cmd["host.name"], cmd["user.name"]) == ("172.16.5.10", None, "admin")
    assert cmd["message"] == "User:admin  logged command:no access-session port-control"
    assert (cmd["event.category"], cmd["event.action"]) == ("configuration", "cli_command")
    fields = json.loads(cmd["fields"])
    assert fields["command"] == "no access-session port-control"
    assert (fields["cisco.facility"], fields["cisco.sequence"]) == ("PARSER", "6705")

    buffered = ev[1]  # show logging: unsynced clock, a line name rather than a user
    assert buffered["@timestamp"] == at(2026, 3, 1, 18, 46, 11)
    assert (buffered["user.name"], buffered["source.ip"]) == (None, "10.34.195.36")
    assert json.loads(buffered["fields"])["cisco.time_unsynced"] is True

    ok = ev[2]  # on the wire: PRI, sequence, origin-id hostname, zone
    assert (ok["host.name"], ok["user.name"], ok["event.outcome"]) == (
        "router1",
        "admin",
        "success",
    )
    assert (ok["source.ip"], ok["destination.port"], ok["event.category"]) == (
        "10.1.1.5",
        22,
        "authentication",
    )
    assert json.loads(ok["fields"])["facility"] == 23

    failed = ev[3]  # after an RFC 3164 header: the device's UTC time wins over the relay's
    assert failed["@timestamp"] == datetime(2026, 2, 17, 13, 40, 3, 673000, tzinfo=UTC)
    assert (failed["host.ip"], failed["user.name"], failed["event.outcome"]) == (
        "10.0.0.1",
        "bob",
        "failure",
    )
    assert json.loads(failed["fields"])["reason"] == "Login Authentication Failed"

    built, executed, permitted = ev[4], ev[5], ev[6]
    assert [e["event.dataset"] for e in (built, executed, permitted)] == ["cisco.asa"] * 3
    assert (built["event.code"], built["host.ip"], built["event.severity"]) == (
        "ASA-6-302013",
        "10.1.1.1",
        6,
    )
    assert (executed["host.name"], executed["user.name"]) == ("asa1", "enable_15")
    assert json.loads(executed["fields"])["command"] == "write memory"
    assert (permitted["user.name"], permitted["source.ip"], permitted["source.port"]) == (
        "admin",
        "10.0.0.5",
        52611,
    )

    uptime = ev[7]  # uptime stamp: the header's time
    assert (uptime["@timestamp"], uptime["host.name"], uptime["user.name"]) == (
        at(2026, 2, 17, 13, 40, 5),
        "router1",
        "alice",
    )
    web = ev[8]  # RFC 5424 header; the unsynced device time gives way to it
    assert web["@timestamp"] == at(2026, 2, 17, 13, 40, 6)
    assert (web["host.name"], web["event.action"], web["user.name"]) == (
        "rtr2",
        "web_login",
        "cisco_tac_admin",
    )

    kernel, percent = ev[9], ev[10]  # a program's text with a % stays a syslog line
    assert (kernel["event.dataset"], kernel["process.name"]) == ("system.syslog", "kernel")
    assert kernel["message"].startswith("%FOO-1-BAR: ")
    assert (percent["event.dataset"], percent["message"]) == ("system.syslog", "100% done")


def test_cisco_regression_sample_is_sniffed_and_parsed(shared_data: Path) -> None:
    folder = shared_data / "sigma" / "regression_data" / "rules" / "cisco" / "aaa"
    path = next(folder.rglob("*.raw"))
    assert syslog.sniff(path.read_bytes()[:8192], str(path))
    events, rejected, _ = run(syslog.parse_with_year(Source(path), 2026))
    assert not rejected
    assert [(e["event.code"], e["host.ip"], e["user.name"]) for e in events] == [
        ("PARSER-5-CFGLOG_LOGGEDCMD", "172.16.5.10", "admin")
    ]


def test_cisco_time_year_and_zone(tmp_path: Path) -> None:
    path = tmp_path / "ios.log"
    path.write_text(
        "1: Dec 31 23:59:50.100: %SYS-5-CONFIG_I: Configured from console by a on vty0\n"
        "2: Jan  1 00:00:10: %SYS-5-CONFIG_I: Configured from console by a on vty0\n"
        "3: Mar  1 2025 12:00:00 UTC: %SYS-5-CONFIG_I: year and zone given\n"
        "Jan  1 00:04:00 r1 4: Jan  1 01:03:59 CET: %SYS-5-CONFIG_I: other zone: relay time\n"
    )
    mtime = at(2027, 1, 1, 0, 5).timestamp()
    os.utime(path, (mtime, mtime))
    paris = Source(path, limits=IngestSettings(timezone="Europe/Paris"))
    events, rejected, _ = run(syslog.parse(paris))
    assert not rejected
    assert [e["@timestamp"] for e in events] == [
        datetime(2026, 12, 31, 22, 59, 50, 100000, tzinfo=UTC),  # Paris, year before the mtime
        at(2026, 12, 31, 23, 0, 10),
        at(2025, 3, 1, 12, 0, 0),
        at(2026, 12, 31, 23, 4, 0),
    ]
    assert json.loads(events[3]["fields"])["cisco.timezone"] == "CET"


def test_sniff_takes_cisco_lines_but_not_any_percent_sign() -> None:
    assert syslog.sniff(b"000013: *Mar  1 18:46:11: %SYS-5-CONFIG_I: Configured\n", "x.log")
    assert syslog.sniff(b"%ASA-6-302013: Built outbound TCP connection 1\n", "asa.log")
    assert not syslog.sniff(b"progress 100%: done\nload 5% at 12:00:00\n", "app.log")
    assert not syslog.sniff(b"id,msg\n1,%SYS-5-CONFIG_I: x\n", "a.csv")
