"""The demo scenario generator: determinism, real log shapes, ground truth, ATT&CK, STIX."""

from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import json
import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crownwatch.errors import UsageError
from crownwatch.scenario import actors, generate

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
ATTACK = SHARED / "attack" / "enterprise-attack-18.1.json.gz"
WRCCDC = SHARED / "logs" / "zeek-wrccdc-2018" / "tsv"

RFC3164 = re.compile(
    r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d \d\d:\d\d:\d\d "
    r"[A-Za-z0-9-]+ [A-Za-z0-9%_-]+(?:-\d-\d{6})?(?:\[\d+\])?: \S.*$"
)
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
STIX_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"

#: Zeek 6's standard columns for the logs the WRCCDC sample does not have.
ZEEK6 = {
    "conn": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes "
    "resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes "
    "resp_pkts resp_ip_bytes tunnel_parents",
    "http": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri referrer "
    "version user_agent origin request_body_len response_body_len status_code status_msg "
    "info_code info_msg tags username password proxied orig_fuids orig_filenames "
    "orig_mime_types resp_fuids resp_filenames resp_mime_types",
    "files": "ts fuid uid id.orig_h id.orig_p id.resp_h id.resp_p source depth analyzers "
    "mime_type filename duration local_orig is_orig seen_bytes total_bytes missing_bytes "
    "overflow_bytes timedout parent_fuid md5 sha1 sha256 extracted extracted_cutoff "
    "extracted_size",
}
SYSMON1 = [
    "RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "FileVersion", "Description",
    "Product", "Company", "OriginalFileName", "CommandLine", "CurrentDirectory", "User",
    "LogonGuid", "LogonId", "TerminalSessionId", "IntegrityLevel", "Hashes", "ParentProcessGuid",
    "ParentProcessId", "ParentImage", "ParentCommandLine", "ParentUser",
]  # fmt: skip
SYSMON_REQUIRED = {
    3: {"Protocol", "Initiated", "SourceIp", "SourcePort", "DestinationIp", "DestinationHostname",
        "DestinationPort", "Image"},
    22: {"QueryName", "QueryStatus", "QueryResults", "Image"},
    11: {"TargetFilename", "Image"},
    10: {"SourceImage", "TargetImage", "GrantedAccess", "CallTrace"},
}  # fmt: skip

#: What the line of each step must show (any one of these, case-insensitive).
EVIDENCE: dict[str, tuple[str, ...]] = {
    "phishing-attachment": (".chm",),
    "chm-opened": ("hh.exe",),
    "cmd-from-chm": ("cmd.exe",),
    "powershell-cradle": ("DownloadString", "WriteAllBytes"),
    "dropper-download": ("static.vaultcdn-assets.com", "149.28.71.205", "DeviceSync.dat"),
    "dropper-masquerade": ("DeviceSyncSvc.exe",),
    "scheduled-task": ("DeviceSyncTask",),
    "task-elevated-run": ("DeviceSyncTask", "DeviceSyncSvc.exe"),
    "c2-https-beacon": ("45.77.126.34", "api.nimbus-telemetry.com", "sync.ondemand-patch.net"),
    "c2-tls-channel": ("api.nimbus-telemetry.com",),
    "plugin-download": ("45.77.126.34", "dsmod.dll", "rr.exe"),
    "lsass-dump": ("comsvcs", "lsass.exe", "dsync.tmp"),
    "lsass-dump-upload": ("45.77.126.34",),
    "collect-plm-vault": ("InfuMax-3",),
    "discover-owner": ("whoami",),
    "discover-system": ("systeminfo",),
    "discover-network": ("ipconfig",),
    "discover-domain-accounts": ("user /domain", "10.10.0.10"),
    "discover-admin-groups": ("Domain Admins", "10.10.0.10"),
    "discover-remote-systems": ("nltest", "Domain Computers", "ping", "git01", "10.10.0.10",
                                "10.10.2.10"),
    "discover-shares": ("FS-RND-01 /all", "PLM01 /all", "10.10.1.21", "10.10.1.30"),
    "stolen-admin-logon": ("{admin}",),
    "smb-admin-share": ("{admin}", "10.10.1.21"),
    "remote-service-exec": ("__output", "{admin}", "10.10.1.21"),
    "rdp-to-plm": ("3389", "{admin}"),
    "tool-transfer": ("rr.exe", "{admin}", "10.10.1.30"),
    "ssh-to-eln": ("{admin}", "eln01", "10.10.2.20"),
    "collect-rnd-share": ("HX-2231", "10.10.1.21", "{victim}"),
    "collect-source-code": ("git.helix.corp", "10.10.2.10"),
    "collect-eln-database": ("mysqldump", "tar czf", "rm -rf", "sudo["),
    "collect-plm-archive": ("ptc_cache", "10.10.1.30", "{admin}"),
    "archive-rar": ("-hpGl4ssR3agent!26",),
    "archive-staged": (".rar",),
    "exfil-over-c2": ("45.77.126.34",),
    "clear-event-logs": ("wevtutil", '"event_id":1102', '"event_id":104,'),
    "delete-staging": ("del /f",),
    "qakbot-attachment": ("Invoice_44817.zip",),
    "qakbot-user-opens-js": ("Invoice_44817.js",),
    "qakbot-js-download": ("curl.exe",),
    "qakbot-dll-download": ("91.215.85.147", "kbq.dll"),
    "qakbot-rundll32": ("kbq.dll,DrawThemeIcon",),
    "qakbot-hollowing": ("wermgr.exe",),
    "qakbot-scheduled-task": ("Ywqpeuyg",),
    "qakbot-discover-network": ("ipconfig", "arp", "route"),
    "qakbot-discover-owner": ("whoami",),
    "qakbot-discover-trusts": ("nltest /domain_trusts",),
    "qakbot-c2": ("wermgr.exe", "{commodity_ip}"),
    "qakbot-dga": ("NXDOMAIN", '"QueryStatus":"9003"', "\tdns\t"),
    "qakbot-smb-bruteforce": ('"event_id":4625', "\t445\t", '"DestinationPort":"445"'),
}  # fmt: skip
PHASES = (
    "initial-access",
    "execution",
    "persistence",
    "command-and-control",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "staging",
    "exfiltration",
    "anti-forensics",
)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "out"
    generate(path, "small", 7)
    return path


@pytest.fixture(scope="module")
def summary(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "truth" / "summary.json").read_text())
    return data


@pytest.fixture(scope="module")
def truth(out: Path) -> list[dict[str, Any]]:
    lines = (out / "truth" / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _records(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if not line.startswith("#")]


def _ts(path: str, line: str) -> int:
    """Microseconds of a record line as written."""
    if path.startswith("windows/"):
        stamp = json.loads(line)["@timestamp"]
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        return int(moment.timestamp()) * 1_000_000 + moment.microsecond
    if path.startswith("zeek/"):
        seconds, micros = line.split("\t", 1)[0].split(".")
        return int(seconds) * 1_000_000 + int(micros)
    moment = datetime.strptime("2026 " + line[:15], "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000


def _iso(us: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    return moment.isoformat().replace("+00:00", "Z")


def _assets(out: Path) -> dict[str, dict[str, str]]:
    with (out / "inventory" / "assets.csv").open() as f:
        return {row["hostname"]: row for row in csv.DictReader(f)}


# --- determinism --------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs(out: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, "small", 7)
    assert _digests(again) == _digests(out)
    other = tmp_path / "other"
    generate(other, "small", 8)
    first, second = _digests(out), _digests(other)
    day = "windows/2026-10-06/security.jsonl"
    assert first[day] != second[day]
    assert first["inventory/users.csv"] != second["inventory/users.csv"]


def test_regenerating_replaces_a_scenario_but_refuses_foreign_folders(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown size"):
        generate(tmp_path / "x", "huge", 7)
    foreign = tmp_path / "foreign"
    (foreign / "windows").mkdir(parents=True)
    (foreign / "windows" / "mine.txt").write_text("keep me")
    with pytest.raises(UsageError, match="no scenario"):
        generate(foreign, "small", 7)
    assert (foreign / "windows" / "mine.txt").read_text() == "keep me"


# --- shapes -------------------------------------------------------------------------------


def test_windows_lines_have_the_winlogbeat_shape(out: Path) -> None:
    seen: Counter[tuple[str, int]] = Counter()
    last_id: dict[tuple[str, str], int] = {}
    for path in sorted((out / "windows").rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            doc = json.loads(line)
            assert set(doc) == {"@timestamp", "event", "host", "winlog"}
            assert ISO_MS.match(doc["@timestamp"])
            w = doc["winlog"]
            assert doc["event"]["code"] == str(w["event_id"])
            assert doc["event"]["provider"] == w["provider_name"]
            assert doc["event"]["kind"] == "event"
            assert doc["host"]["name"] == w["computer_name"]
            assert w["computer_name"].endswith(".helix.corp")
            key = (w["computer_name"], w["channel"])
            assert w["record_id"] > last_id.get(key, 0), "record ids increase per host+channel"
            last_id[key] = w["record_id"]
            data = w.get("event_data", w.get("user_data"))
            assert isinstance(data, dict) and all(isinstance(v, str) for v in data.values())
            seen[(w["channel"], w["event_id"])] += 1
            if w["channel"] == "Microsoft-Windows-Sysmon/Operational":
                assert w["provider_name"] == "Microsoft-Windows-Sysmon"
                if w["event_id"] == 1:
                    assert list(data) == SYSMON1
                    assert re.match(
                        r"^SHA1=[0-9A-F]{40},MD5=[0-9A-F]{32},SHA256=[0-9A-F]{64}$", data["Hashes"]
                    )
                    assert data["UtcTime"] == doc["@timestamp"][:23].replace("T", " ")
                else:
                    assert SYSMON_REQUIRED[w["event_id"]] <= set(data)
    sec, sysmon = "Security", "Microsoft-Windows-Sysmon/Operational"
    for code in (4624, 4625, 4634, 4672, 4648, 4698, 5140, 5145, 1102):
        assert seen[(sec, code)] > 0, code
    for code in (1, 3, 10, 11, 22):
        assert seen[(sysmon, code)] > 0, code
    assert seen[("System", 7045)] >= 3 and seen[("System", 7036)] > 0
    assert seen[("Microsoft-Windows-PowerShell/Operational", 4104)] > 0


def test_zeek_files_have_real_headers_and_matching_rows(out: Path) -> None:
    real = {}
    if WRCCDC.is_dir():
        for log in ("dns", "ssl", "smb_files", "ssh"):
            with gzip.open(WRCCDC / f"{log}.log.gz", "rt") as f:
                real[log] = next(line for line in f if line.startswith("#fields")).split("\t")[1:]
                real[log][-1] = real[log][-1].strip()
    expected = {log: cols.split() for log, cols in ZEEK6.items()} | real
    logs_seen = set()
    for path in sorted((out / "zeek").rglob("*.log")):
        lines = path.read_text().splitlines()
        log = path.stem
        logs_seen.add(log)
        assert lines[0] == "#separator \\x09"
        assert lines[1:4] == ["#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-"]
        assert lines[4] == f"#path\t{log}"
        assert lines[5].startswith("#open\t2026-")
        fields = lines[6].split("\t")[1:]
        types = lines[7].split("\t")[1:]
        assert lines[6].startswith("#fields\t") and lines[7].startswith("#types\t")
        assert len(fields) == len(types)
        if log in expected:
            assert fields == expected[log], log
        assert lines[-1].startswith("#close\t")
        previous = 0.0
        for row in lines[8:-1]:
            values = row.split("\t")
            assert len(values) == len(fields), (path, row)
            assert float(values[0]) >= previous
            previous = float(values[0])
            assert re.match(r"^C[0-9A-Za-z]{17}$", values[fields.index("uid")])
    assert logs_seen == {"conn", "dns", "http", "ssl", "files", "smb_files", "ssh"}


def test_zeek_uids_are_shared_with_conn(out: Path) -> None:
    conn_uids: set[str] = set()
    for path in (out / "zeek").rglob("conn.log"):
        conn_uids |= {r.split("\t")[1] for r in _records(path)}
    for log in ("dns", "ssl", "http", "smb_files", "ssh", "files"):
        column = 2 if log == "files" else 1
        for path in (out / "zeek").rglob(f"{log}.log"):
            uids = {r.split("\t")[column] for r in _records(path)}
            assert uids <= conn_uids, (log, sorted(uids - conn_uids)[:3])


def test_syslog_lines_are_rfc3164(out: Path) -> None:
    auth = vpn = 0
    for path in sorted((out / "syslog").rglob("*.log")):
        for line in path.read_text().splitlines():
            assert RFC3164.match(line), line
            if path.name == "vpn.log":
                vpn += 1
                assert re.search(r" vpn01 %ASA-[4-6]-\d{6}: ", line)
            else:
                auth += 1
    assert auth > 500 and vpn > 20


def test_events_are_in_time_order_in_every_file(out: Path, summary: dict[str, Any]) -> None:
    for rel in summary["files"]:
        stamps = [_ts(rel, line) for line in _records(out / rel)]
        assert stamps == sorted(stamps), rel
        assert rel.split("/")[1] == _iso(stamps[0])[:10], "files hold their own day"


# --- summary ------------------------------------------------------------------------------


def test_summary_counts_match_the_files(out: Path, summary: dict[str, Any]) -> None:
    files = sorted(
        str(p.relative_to(out))
        for d in ("windows", "zeek", "syslog")
        for p in (out / d).rglob("*")
        if p.is_file()
    )
    assert sorted(summary["files"]) == files
    counts = {rel: len(_records(out / rel)) for rel in files}
    assert summary["files"] == counts
    assert summary["total_events"] == sum(counts.values())
    assert 40_000 <= summary["total_events"] <= 70_000
    groups: Counter[str] = Counter()
    for rel, n in counts.items():
        group, _, name = rel.split("/")
        groups[f"{group}/{name.split('.')[0]}"] += n
    assert summary["groups"] == dict(groups)
    stamps = [_ts(rel, line) for rel in files for line in _records(out / rel)]
    assert summary["time_range"] == {"first": _iso(min(stamps)), "last": _iso(max(stamps))}
    hosts = set()
    for rel in files:
        for line in _records(out / rel):
            if rel.startswith("windows/"):
                hosts.add(json.loads(line)["host"]["name"])
            elif rel.startswith("syslog/"):
                hosts.add(line[16:].split(" ", 1)[0])
    assert summary["hosts"] == sorted(hosts)
    assert summary["malicious"]["apt41"] > summary["malicious"]["commodity"] > 100
    assert "git" in summary["users"] and "backup" in summary["users"]
    assert summary["incidents"]["apt41"]["stolen_account"] in summary["users"]


def test_inventory_has_the_crown_jewels(out: Path) -> None:
    assets = _assets(out)
    jewels = {row["role"]: row for row in assets.values() if row["crown_jewel"] == "true"}
    assert set(jewels) == {"source_code", "rnd_share", "eln_lims", "plm"}
    assert all(10_000_000 <= int(r["ip_value_usd"]) <= 500_000_000 for r in jewels.values())
    assert all(r["criticality"] == "5" and r["ip"].startswith("10.") for r in jewels.values())
    assert len(assets) == 50
    with (out / "inventory" / "users.csv").open() as f:
        users = list(csv.DictReader(f))
    people = [u for u in users if u["workstation"]]
    assert {u["workstation"] for u in people} <= set(assets)
    assert all(assets[u["workstation"]]["owner"] == u["username"] for u in people)
    admins = [u for u in users if u["is_admin"] == "true"]
    assert admins and all(u["username"].startswith("adm-") for u in admins)


def test_office_hours_and_weekends_shape_the_activity(out: Path) -> None:
    by_day: Counter[str] = Counter()
    hours: Counter[int] = Counter()
    for path in (out / "windows").rglob("security.jsonl"):
        for line in path.read_text().splitlines():
            doc = json.loads(line)
            data = doc["winlog"].get("event_data", {})
            if doc["winlog"]["event_id"] == 4624 and data.get("LogonType") in ("2", "11"):
                by_day[doc["@timestamp"][:10]] += 1
                hours[int(doc["@timestamp"][11:13])] += 1
    weekdays = [by_day[f"2026-10-{d:02d}"] for d in range(5, 10)]
    weekend = [by_day["2026-10-10"], by_day["2026-10-11"]]
    assert min(weekdays) > 25 and max(weekend) < min(weekdays) / 3
    morning = sum(n for h, n in hours.items() if 4 <= h <= 9)
    assert morning / sum(hours.values()) > 0.8


# --- ground truth -------------------------------------------------------------------------


def test_truth_points_at_lines_that_show_the_step(
    out: Path, truth: list[dict[str, Any]], summary: dict[str, Any]
) -> None:
    assets = _assets(out)
    apt = summary["incidents"]["apt41"]
    names = {
        "{admin}": apt["stolen_account"],
        "{victim}": apt["victim"],
        "{commodity_ip}": assets[summary["incidents"]["commodity"]["workstation"]]["ip"],
    }
    lookups = {}  # a DNS flow's conn row shows its query in dns.log under the same uid
    for path in (out / "zeek").rglob("dns.log"):
        lookups.update({r.split("\t")[1]: r for r in _records(path)})
    blobs: dict[str, bytes] = {}
    for row in truth:
        blob = blobs.setdefault(row["file"], (out / row["file"]).read_bytes())
        assert blob.count(b"\n", 0, row["offset"]) + 1 == row["line"]
        assert row["offset"] == 0 or blob[row["offset"] - 1 : row["offset"]] == b"\n"
        line = blob[row["offset"] : blob.index(b"\n", row["offset"])].decode()
        assert not line.startswith("#")
        if row["file"].endswith("conn.log") and "\t53\tudp\tdns\t" in line:
            line = lookups[line.split("\t")[1]]
        options = list(EVIDENCE[row["step"]])
        for key, value in names.items():
            options = [o.replace(key, value) for o in options]
        assert any(o.lower() in line.lower() for o in options), (row, line[:300])
        assert row["incident"] in ("apt41", "commodity")
        assert row["actor"] == ("APT41" if row["incident"] == "apt41" else "Qakbot")
        assert re.match(r"^T\d{4}(\.\d{3})?$", row["technique"])
    steps = {s["step"] for s in summary["incidents"]["apt41"]["steps"]}
    steps |= {s["step"] for s in summary["incidents"]["commodity"]["steps"]}
    assert {row["step"] for row in truth} == steps


def test_the_intrusion_runs_the_kill_chain_in_order(
    out: Path, truth: list[dict[str, Any]], summary: dict[str, Any]
) -> None:
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for row in truth:
        if row["incident"] != "apt41":
            continue
        blob = (out / row["file"]).read_bytes()
        line = blob[row["offset"] : blob.index(b"\n", row["offset"])].decode()
        ts = _ts(row["file"], line)
        first[row["phase"]] = min(ts, first.get(row["phase"], ts))
        last[row["phase"]] = max(ts, last.get(row["phase"], ts))
    assert set(first) == set(PHASES)
    order = [first[p] for p in PHASES[:-1]]
    assert order == sorted(order)
    assert last["anti-forensics"] > last["exfiltration"]
    assert all(s["events"] > 0 for s in summary["incidents"]["apt41"]["steps"])
    assert first["exfiltration"] - first["initial-access"] > 24 * 3600 * 1_000_000


def test_lateral_movement_and_collection_reach_every_crown_jewel(
    out: Path, truth: list[dict[str, Any]]
) -> None:
    jewels = {row["ip"] for row in _assets(out).values() if row["crown_jewel"] == "true"}
    touched = set()
    for row in truth:
        if row["phase"] in ("lateral-movement", "collection") and row["file"].startswith("zeek/"):
            blob = (out / row["file"]).read_bytes()
            line = blob[row["offset"] : blob.index(b"\n", row["offset"])].decode()
            touched.add(line.split("\t")[4])
    assert jewels <= touched


def test_beacon_is_regular_and_exfiltration_is_large(
    out: Path, truth: list[dict[str, Any]]
) -> None:
    beacons, exfil = [], []
    for row in truth:
        if not row["file"].endswith("conn.log"):
            continue
        blob = (out / row["file"]).read_bytes()
        values = blob[row["offset"] : blob.index(b"\n", row["offset"])].decode().split("\t")
        if values[4] != "45.77.126.34":
            continue
        if row["step"] == "c2-https-beacon":
            beacons.append(float(values[0]))
        elif row["step"] == "exfil-over-c2":
            exfil.append(int(values[9]))
    gaps = [b - a for a, b in itertools.pairwise(beacons)]
    fast = [g for g in gaps if g < 120]
    assert len(fast) > 300
    assert 55 <= statistics.median(fast) <= 65 and statistics.pstdev(fast) < 6
    assert sum(exfil) > 3_000_000_000
    assert sum(1 for b in exfil if 419_430_400 <= b < 419_500_000) >= 8


def test_the_commodity_infection_stays_off_the_crown_jewels(
    out: Path, truth: list[dict[str, Any]]
) -> None:
    jewels = {row["ip"] for row in _assets(out).values() if row["crown_jewel"] == "true"}
    names = {h for h, row in _assets(out).items() if row["crown_jewel"] == "true"}
    dga = 0
    for row in truth:
        if row["incident"] != "commodity":
            continue
        blob = (out / row["file"]).read_bytes()
        line = blob[row["offset"] : blob.index(b"\n", row["offset"])].decode()
        assert not any(ip in line for ip in jewels)
        assert not any(f"{name}.helix.corp" in line for name in names)
        dga += "NXDOMAIN" in line
    assert dga >= 40


# --- ATT&CK -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def attack() -> dict[str, Any]:
    if not ATTACK.is_file():
        pytest.skip(f"ATT&CK bundle not found at {ATTACK}")
    with gzip.open(ATTACK, "rb") as f:
        objects = json.load(f)["objects"]
    live = [o for o in objects if not o.get("revoked") and not o.get("x_mitre_deprecated")]
    by_id = {o["id"]: o for o in live}

    def ext(obj: dict[str, Any]) -> str:
        refs = obj.get("external_references", [])
        return next((r["external_id"] for r in refs if r.get("source_name") == "mitre-attack"), "")

    uses: dict[str, set[str]] = defaultdict(set)
    names: dict[str, str] = {}
    for obj in live:
        if obj["type"] in ("intrusion-set", "malware", "tool"):
            names[obj["name"]] = ext(obj)
    for rel in live:
        if rel["type"] == "relationship" and rel["relationship_type"] == "uses":
            src, dst = by_id.get(rel["source_ref"]), by_id.get(rel["target_ref"])
            if src and dst:
                uses[ext(src)].add(ext(dst))
    phases = {
        ext(o): {p["phase_name"] for p in o.get("kill_chain_phases", [])}
        for o in live
        if o["type"] == "attack-pattern"
    }
    return {"uses": uses, "names": names, "phases": phases}


@pytest.mark.parametrize(("key", "group"), [("apt41", "G0096"), ("commodity", "S0650")])
def test_techniques_and_software_are_documented_in_attack(
    attack: dict[str, Any], key: str, group: str
) -> None:
    data = actors.load()[key]
    uses = attack["uses"]
    assert data["attack_id"] == group
    software = data.get("software", {})
    for name, info in software.items():
        assert attack["names"][name] == info["attack_id"]
        assert info["attack_id"] in uses[group], f"{name} is not used by {group}"
    undocumented = []
    for tid, info in data["techniques"].items():
        who = info["documented_by"]
        everyone = {group} | {s["attack_id"] for s in software.values()}
        if who is None:
            assert not any(tid in uses[x] for x in everyone), f"{tid} is documented after all"
            undocumented.append(tid)
        else:
            source = group if who in ("APT41", "QakBot") else software[who]["attack_id"]
            assert tid in uses[source], f"{tid} is not documented for {who}"
    assert len(undocumented) <= 2
    for step in data["steps"]:
        assert step["technique"] in data["techniques"]
        assert step["tactic"] in attack["phases"][step["technique"]], step


# --- intelligence -------------------------------------------------------------------------


def test_stix_bundle_is_valid_and_has_some_but_not_all_indicators(out: Path) -> None:
    doc = json.loads((out / "report" / "apt41-bundle.json").read_text())
    assert doc["type"] == "bundle" and re.match(rf"^bundle--{UUID4}$", doc["id"])
    objects = {o["id"]: o for o in doc["objects"]}
    amber = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
    assert objects[amber]["definition"] == {"tlp": "amber"}
    for obj in doc["objects"]:
        assert obj["spec_version"] == "2.1"
        assert obj["id"].split("--")[0] == obj["type"]
        if obj["type"] != "marking-definition":
            assert re.match(rf"^{obj['type']}--{UUID4}$", obj["id"])
            assert STIX_TIME.match(obj["created"]) and STIX_TIME.match(obj["modified"])
        if obj["type"] not in ("marking-definition", "identity"):
            assert obj["object_marking_refs"] == [amber]
            assert obj["created_by_ref"] in objects
        if obj["type"] == "indicator":
            assert obj["pattern_type"] == "stix" and obj["indicator_types"]
            assert STIX_TIME.match(obj["valid_from"])
            assert re.match(
                r"^\[(domain-name|ipv4-addr|url):value = '[^']+'\]$|"
                r"^\[file:hashes\.'SHA-256' = '[0-9a-f]{64}'\]$",
                obj["pattern"],
            )
        if obj["type"] == "relationship":
            assert obj["relationship_type"] in ("indicates", "uses", "attributed-to")
            assert obj["source_ref"] in objects and obj["target_ref"] in objects
        if obj["type"] == "attack-pattern":
            ref = obj["external_references"][0]
            assert ref["source_name"] == "mitre-attack" and ref["external_id"].startswith("T")
    group = next(o for o in doc["objects"] if o["type"] == "intrusion-set")
    assert group["name"] == "APT41" and "Wicked Panda" in group["aliases"]
    assert {o["name"] for o in doc["objects"] if o["type"] == "malware"} == {
        "DUSTPAN",
        "KEYPLUG",
        "DUSTTRAP",
    }
    report = next(o for o in doc["objects"] if o["type"] == "report")
    assert set(report["object_refs"]) <= set(objects) and report["published"]
    indicators = json.loads((out / "truth" / "indicators.json").read_text())
    in_bundle = {i["value"] for i in indicators if i["in_bundle"]}
    patterns = [o["pattern"] for o in doc["objects"] if o["type"] == "indicator"]
    found = {v for v in (i["value"] for i in indicators) if any(f"'{v}'" in p for p in patterns)}
    assert found == in_bundle
    assert 0 < len(in_bundle) < len(indicators)
    seen = [i for i in indicators if i["seen_in_logs"]]
    assert any(i["in_bundle"] for i in seen) and any(not i["in_bundle"] for i in seen)


def test_indicators_seen_in_logs_are_exactly_those_in_the_logs(out: Path) -> None:
    text = "\n".join(
        p.read_text().lower()
        for d in ("windows", "zeek", "syslog")
        for p in (out / d).rglob("*")
        if p.is_file()
    )
    for indicator in json.loads((out / "truth" / "indicators.json").read_text()):
        assert (indicator["value"].lower() in text) == indicator["seen_in_logs"], indicator


def test_report_defangs_indicators_and_names_the_actor(out: Path) -> None:
    text = (out / "report" / "apt41-report.txt").read_text()
    assert "APT41" in text and "DUSTPAN" in text and "KEYPLUG" in text
    assert "hxxps://static[.]vaultcdn-assets[.]com/assets/js/jquery-3.7.1.min.js" in text
    assert "45.77.126[.]34" in text and "api[.]nimbus-telemetry[.]com" in text
    assert "45.77.126.34" not in text and "api.nimbus-telemetry.com" not in text
    assert re.search(r"\bT1566\.001\b", text) and "comsvcs.dll MiniDump" in text
    assert "57ae74a78de2cc2a4fbfe5055e2c414658bce9154bed622868315c8e473c7e13" in text
