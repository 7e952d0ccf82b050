"""Sigma rules as Arrow predicates: modifiers, conditions, routing, real regression data."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
import yaml

from crownwatch import ingest
from crownwatch.detect.sigma import (
    RuleSet,
    add_texts,
    add_yaml,
    bundled_rules,
    index,
    load_rules,
    scan,
    scan_batch,
)
from crownwatch.ingest import syslog
from crownwatch.ingest.source import Source
from crownwatch.schema import SCHEMA

SIGMA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sigma"
SYSMON = "Microsoft-Windows-Sysmon/Operational"


def event(channel: str = SYSMON, code: int = 1, **fields: Any) -> dict[str, Any]:
    """One event row: source fields as the EVTX parser stores them, plus routing columns."""
    data = {"EventID": code, "Channel": channel, **fields}
    return {
        "@timestamp": 1_700_000_000_000_000,
        "event.id": f"ev{fields.get('n', '')}",
        "host.name": "ws1",
        "winlog.channel": channel,
        "winlog.event_id": code,
        "event.original": orjson.dumps(data).decode(),
        "fields": orjson.dumps(data).decode(),
    }


def batch(*rows: dict[str, Any]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(list(rows), schema=SCHEMA)


def compiled(detection: str, category: str = "process_creation") -> RuleSet:
    text = f"""
title: test rule
id: 00000000-0000-0000-0000-000000000001
level: high
tags: [attack.execution, attack.t1059]
logsource:
    product: windows
    category: {category}
detection:
{detection}
"""
    found = RuleSet()
    add_yaml(found, text, "<test>")
    assert not found.failures, found.failures
    assert len(found.rules) == 1
    return found


def fired(detection: str, *rows: dict[str, Any], category: str = "process_creation") -> list[int]:
    """The ``n`` of each event the rule fires on."""
    rules = compiled(detection, category).rules
    matches = scan_batch(batch(*rows), index(rules))
    return sorted(orjson.loads(m.original)["n"] for m in matches)


def test_equality_is_case_insensitive_and_plain_values_or() -> None:
    detection = """
    selection:
        Image:
            - 'C:\\Windows\\System32\\CMD.exe'
            - 'C:\\Windows\\System32\\whoami.exe'
    condition: selection
"""
    rows = [
        event(n=1, Image="c:\\windows\\system32\\cmd.exe"),
        event(n=2, Image="C:\\WINDOWS\\SYSTEM32\\WHOAMI.EXE"),
        event(n=3, Image="C:\\Windows\\System32\\cmd.exe.bak"),
        event(n=4),
    ]
    assert fired(detection, *rows) == [1, 2]


def test_contains_startswith_endswith() -> None:
    rows = [
        event(n=1, CommandLine="powershell -EncodedCommand AAAA"),
        event(n=2, CommandLine="cmd /c echo encodedcommand"),
        event(n=3, CommandLine="notepad.exe"),
    ]
    contains = "    sel:\n        CommandLine|contains: 'EncodedCommand'\n    condition: sel"
    starts = "    sel:\n        CommandLine|startswith: 'PowerShell '\n    condition: sel"
    ends = "    sel:\n        CommandLine|endswith: 'NOTEPAD.EXE'\n    condition: sel"
    assert fired(contains, *rows) == [1, 2]
    assert fired(starts, *rows) == [1]
    assert fired(ends, *rows) == [3]


def test_contains_all_and_list_of_contains() -> None:
    detection = """
    sel:
        CommandLine|contains|all:
            - 'reg'
            - ' add '
        CommandLine|contains:
            - '\\CurrentVersion\\Run'
            - '\\Policies\\Explorer\\Run'
    condition: sel
"""
    rows = [
        event(
            n=1, CommandLine='REG   ADD "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"'
        ),
        event(
            n=2, CommandLine='reg query "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"'
        ),
        event(n=3, CommandLine="reg add HKCU\\Software\\Policies\\Explorer\\Run /v x"),
        event(n=4, CommandLine="reg add HKCU\\Software\\Classes"),
    ]
    assert fired(detection, *rows) == [1, 3]


def test_wildcards_and_escaped_wildcards() -> None:
    rows = [
        event(n=1, CommandLine="a*b"),
        event(n=2, CommandLine="aXYZb"),
        event(n=3, CommandLine="a?b"),
        event(n=4, CommandLine="aQb"),
        event(n=5, CommandLine="a%b_c"),
    ]
    assert fired("    sel:\n        CommandLine: 'a*b'\n    condition: sel", *rows) == [1, 2, 3, 4]
    assert fired("    sel:\n        CommandLine: 'a\\*b'\n    condition: sel", *rows) == [1]
    assert fired("    sel:\n        CommandLine: 'a?b'\n    condition: sel", *rows) == [1, 3, 4]
    assert fired("    sel:\n        CommandLine: 'a\\?b'\n    condition: sel", *rows) == [3]
    # SQL LIKE / regex characters in a value are literal
    assert fired("    sel:\n        CommandLine: 'a%b_c'\n    condition: sel", *rows) == [5]
    assert fired("    sel:\n        CommandLine: 'a.b'\n    condition: sel", *rows) == []


def test_wildcard_in_the_middle_and_several_patterns_of_one_field() -> None:
    # In Sigma "\*" is a literal star: a backslash before a wildcard is written "\\*"
    detection = """
    sel:
        Image:
            - 'C:\\Users\\\\*\\AppData\\\\*.exe'
            - '*\\Temp\\\\?.exe'
            - '*\\rundll32.exe'
            - 'C:\\Lit\\*'
    condition: sel
"""
    rows = [
        event(n=1, Image="C:\\Users\\bob\\AppData\\Local\\evil.EXE"),
        event(n=2, Image="C:\\Windows\\Temp\\x.exe"),
        event(n=3, Image="C:\\Windows\\Temp\\xy.exe"),
        event(n=4, Image="C:\\Windows\\System32\\RUNDLL32.exe"),
        event(n=5, Image="D:\\Users\\bob\\AppData\\evil.exe"),
        event(n=6, Image="C:\\Lit*"),
        event(n=7, Image="C:\\Lit\\x.exe"),
    ]
    assert fired(detection, *rows) == [1, 2, 4, 6]


def test_re_is_case_sensitive_unless_i_flag() -> None:
    rows = [
        event(n=1, CommandLine="Invoke-Mimikatz -Dump"),
        event(n=2, CommandLine="invoke-mimikatz"),
    ]
    sensitive = "    sel:\n        CommandLine|re: 'Invoke-Mimi[a-z]+'\n    condition: sel"
    insensitive = "    sel:\n        CommandLine|re|i: 'Invoke-Mimi[a-z]+'\n    condition: sel"
    assert fired(sensitive, *rows) == [1]
    assert fired(insensitive, *rows) == [1, 2]


def test_cased_modifier() -> None:
    rows = [event(n=1, CommandLine="run Payload"), event(n=2, CommandLine="run payload")]
    assert fired(
        "    sel:\n        CommandLine|cased|contains: 'Payload'\n    condition: sel", *rows
    ) == [1]


def test_windash_and_base64offset() -> None:
    rows = [
        event(n=1, CommandLine="powershell -enc AAA"),
        event(n=2, CommandLine="powershell /enc AAA"),
        event(n=3, CommandLine="powershell enc AAA"),
    ]
    assert fired(
        "    sel:\n        CommandLine|windash|contains: ' -enc '\n    condition: sel", *rows
    ) == [
        1,
        2,
    ]
    encoded = base64.b64encode(b"xx IEX (New-Object Net.WebClient)").decode()
    b64 = (
        "    sel:\n        CommandLine|base64offset|contains: 'IEX (New-Object'\n    condition: sel"
    )
    rows = [event(n=1, CommandLine=f"powershell -e {encoded}"), event(n=2, CommandLine="iex")]
    assert fired(b64, *rows) == [1]


def test_cidr_numeric_exists_null_fieldref() -> None:
    net = [
        event(SYSMON, 3, n=1, DestinationIp="10.1.2.3", DestinationPort=445, User="a"),
        event(SYSMON, 3, n=2, DestinationIp="8.8.8.8", DestinationPort=53, User=""),
        event(SYSMON, 3, n=3, DestinationIp="not an ip", DestinationPort="0x1bd"),
    ]
    cat = "network_connection"
    cidr = "    sel:\n        DestinationIp|cidr: '10.0.0.0/8'\n    condition: sel"
    gt = "    sel:\n        DestinationPort|gt: 100\n    condition: sel"
    exists = "    sel:\n        User|exists: true\n    condition: sel"
    null = "    sel:\n        User: null\n    condition: sel"
    assert fired(cidr, *net, category=cat) == [1]
    assert fired(gt, *net, category=cat) == [1, 3]
    assert fired(exists, *net, category=cat) == [1, 2]
    assert fired(null, *net, category=cat) == [2, 3]
    rows = [
        event(n=1, User="CORP\\bob", ParentUser="corp\\BOB"),
        event(n=2, User="CORP\\bob", ParentUser="CORP\\alice"),
    ]
    fieldref = "    sel:\n        User|fieldref: ParentUser\n    condition: not sel"
    assert fired(fieldref, *rows) == [2]


def test_conditions_one_of_all_of_not() -> None:
    rows = [
        event(n=1, Image="C:\\x\\a.exe", CommandLine="alpha"),
        event(n=2, Image="C:\\x\\b.exe", CommandLine="beta"),
        event(n=3, Image="C:\\x\\a.exe", CommandLine="beta"),
        event(n=4, Image="C:\\x\\c.exe"),
    ]
    sels = """
    selection_a:
        Image|endswith: '\\a.exe'
    selection_b:
        CommandLine: 'beta'
    filter:
        CommandLine: 'alpha'
"""
    assert fired(sels + "    condition: 1 of selection_*", *rows) == [1, 2, 3]
    assert fired(sels + "    condition: all of selection_*", *rows) == [3]
    assert fired(sels + "    condition: selection_a and not filter", *rows) == [3]
    # a missing field does not match, so "not" of it does
    assert fired(sels + "    condition: not filter and not selection_b", *rows) == [4]
    assert fired(sels + "    condition: all of them", *rows) == []


def test_routing_by_channel_and_event_id() -> None:
    detection = "    sel:\n        Image|endswith: '\\evil.exe'\n    condition: sel"
    rows = [
        event(SYSMON, 1, n=1, Image="C:\\evil.exe"),
        event(SYSMON, 3, n=2, Image="C:\\evil.exe"),  # network connection: not this logsource
        event("Security", 4688, n=3, NewProcessName="C:\\evil.exe"),  # Security name of Image
        event("Security", 4624, n=4, NewProcessName="C:\\evil.exe"),
    ]
    assert fired(detection, *rows) == [1, 3]
    assert fired(detection, *rows, category="network_connection") == [2]


def test_match_carries_rule_and_event_details() -> None:
    rules = compiled("    sel:\n        Image: 'C:\\a.exe'\n    condition: sel").rules
    (match,) = scan_batch(batch(event(n=7, Image="C:\\a.exe")), index(rules))
    assert match.rule_id == "00000000-0000-0000-0000-000000000001"
    assert (match.title, match.level, match.host, match.event_code) == (
        "test rule",
        "high",
        "ws1",
        1,
    )
    assert match.tags == ("attack.execution", "attack.t1059")
    assert match.event_id == "ev7"


def test_bad_rules_are_reported_and_good_ones_kept() -> None:
    found = RuleSet()
    add_yaml(found, "title: [unclosed", "bad.yml")
    add_yaml(found, "- 1\n- 2\n", "list.yml")
    add_yaml(
        found,
        "title: modifier\nlogsource: {product: windows, service: security}\ndetection:\n"
        "  sel:\n    a|nosuchmodifier: b\n  condition: sel\n",
        "modifier.yml",
    )
    add_yaml(
        found,
        "title: nowhere\nlogsource: {product: aws, service: cloudtrail}\n"
        "detection: {sel: {a: b}, condition: sel}\n",
        "aws.yml",
    )
    add_yaml(
        found,
        "title: undefined\nlogsource: {product: windows, service: security}\n"
        "detection: {sel: {a: b}, condition: sel and other}\n",
        "undefined.yml",
    )
    add_yaml(
        found,
        "title: good\nlogsource: {product: windows, service: security}\n"
        "detection: {sel: {EventID: 1102}, condition: sel}\n",
        "good.yml",
    )
    reasons = {f.file: f.reason for f in found.failures}
    lines = {f.file: f.line for f in found.failures}
    assert reasons["bad.yml"].startswith("not loaded:")
    assert lines["bad.yml"] == 1  # the YAML parser's mark
    assert reasons["list.yml"].startswith("not loaded:")
    assert "nosuchmodifier" in reasons["modifier.yml"]
    assert lines["modifier.yml"] == 5  # the line naming the refused modifier
    assert reasons["aws.yml"] == "not compiled: logsource not routable: aws/None/cloudtrail"
    assert "other" in reasons["undefined.yml"]
    assert [r.title for r in found.rules] == ["good"]
    matches = scan_batch(batch(event("Security", 1102, n=1)), index(found.rules))
    assert [m.title for m in matches] == ["good"]


def test_unreadable_fields_of_one_event_do_not_hide_the_others() -> None:
    rules = compiled("    sel:\n        Image|endswith: '\\a.exe'\n    condition: sel").rules
    broken = event(n=1, Image="C:\\a.exe") | {"fields": "{not json"}
    good = event(n=2, Image="C:\\a.exe")
    matches = list(scan_batch(batch(broken, good), index(rules)))
    assert [orjson.loads(m.original)["n"] for m in matches] == [2]


def test_scan_of_several_files_keeps_each_match_with_its_file(windows_rules: RuleSet) -> None:
    root = SIGMA / "regression_data" / "rules" / "windows"
    run_key = root / "process_creation" / "proc_creation_win_reg_add_run_key"
    amsi = root / "registry" / "registry_set" / "registry_set_amsi_disable"
    files = sorted(run_key.glob("*.evtx")) + sorted(amsi.glob("*.evtx"))
    if len(files) != 2:
        pytest.skip("regression data not found")
    wanted = ("Potential Persistence Attempt Via Run Keys", "AMSI Disabled via Registry")
    rules = [r for r in windows_rules.rules if r.title.startswith(wanted)]
    matches = scan(files, rules, batch_rows=100)
    found = {(m.title.split(" ")[0], m.file.rsplit("/", 1)[-1], m.event_code) for m in matches}
    assert found == {
        ("Potential", files[0].name, 1),
        ("AMSI", files[1].name, 13),
    }
    run = next(m for m in matches if m.file == str(files[0]))
    assert run.host == "ar-win-1"
    assert "CurrentVersion\\\\Run" in run.original


def rule_text(logsource: str, detection: str, title: str = "test rule", **extra: str) -> str:
    head = "".join(f"{k}: {v}\n" for k, v in extra.items())
    return f"title: {title}\n{head}logsource: {logsource}\ndetection:\n{detection}\n"


def other(dataset: str, original: str, n: int, **fields: Any) -> dict[str, Any]:
    """A non-Windows event: its dataset, raw text and source fields; ECS values as given."""
    ecs = {k.replace("__", "."): fields.pop(k) for k in list(fields) if "__" in k}
    return {
        "@timestamp": 1_700_000_000_000_000,
        "event.id": f"ev{n}",
        "event.dataset": dataset,
        "event.module": dataset.split(".")[0],
        "event.original": original,
        "fields": orjson.dumps({"n": n, **fields}).decode(),
        **ecs,
    }


def fired_n(found: RuleSet, *rows: dict[str, Any]) -> list[int]:
    assert not found.failures, found.failures
    matches = scan_batch(batch(*rows), index(found.rules))
    return sorted(orjson.loads(m_fields(m, rows))["n"] for m in matches)


def m_fields(match: Any, rows: tuple[dict[str, Any], ...]) -> str:
    return next(str(r["fields"]) for r in rows if r["event.id"] == match.event_id)


def test_keywords_match_the_raw_record_case_insensitively() -> None:
    detection = """
    keywords:
        - 'Mimikatz'
        - 'sekurlsa::*::logonpasswords'
        - 'C:\\Temp\\evil'
    condition: keywords
"""
    found = RuleSet()
    add_yaml(found, rule_text("{product: windows, service: security}", detection), "kw.yml")
    rows = [
        event("Security", 4688, n=1, CommandLine="c:\\tools\\MIMIKATZ.exe"),
        event("Security", 4688, n=2, CommandLine="sekurlsa::minidump::LogonPasswords"),
        event("Security", 4688, n=3, CommandLine="sekurlsa logonpasswords"),
        event("Security", 4688, n=4, CommandLine="copy x c:\\temp\\EVIL.dll"),  # JSON: \\
        event(SYSMON, 1, n=5, CommandLine="mimikatz"),  # another channel
    ]
    assert fired_n(found, *rows) == [1, 2, 4]


def test_keywords_with_a_field_selection() -> None:
    detection = """
    sel:
        EventID: 7045
    keywords:
        - 'psexesvc'
    condition: sel and keywords
"""
    found = RuleSet()
    add_yaml(found, rule_text("{product: windows, service: system}", detection), "kw.yml")
    rows = [
        event("System", 7045, n=1, ServiceName="PSEXESVC"),
        event("System", 7036, n=2, ServiceName="PSEXESVC"),
        event("System", 7045, n=3, ServiceName="other"),
    ]
    assert fired_n(found, *rows) == [1]


def test_a_filter_document_applies_to_the_rules_it_names() -> None:
    rule = rule_text(
        "{product: windows, category: process_creation}",
        "    sel:\n        Image|endswith: '\\\\whoami.exe'\n    condition: sel",
        title="whoami",
        name="whoami_rule",
        id="00000000-0000-0000-0000-0000000000aa",
    )
    other_rule = rule_text(
        "{product: windows, category: process_creation}",
        "    sel:\n        Image|endswith: '\\\\hostname.exe'\n    condition: sel",
        title="hostname",
    )
    flt = """title: admins run whoami
logsource: {product: windows, category: process_creation}
filter:
    rules:
        - whoami_rule
    selection:
        User|startswith: 'CORP\\adm-'
    condition: not selection
"""
    found = RuleSet()
    add_texts(found, [(rule, "a.yml"), (other_rule, "b.yml"), (flt, "filters/admins.yml")])
    assert sorted(r.title for r in found.rules) == ["hostname", "whoami"]
    rows = [
        event(n=1, Image="C:\\Windows\\whoami.exe", User="CORP\\bob"),
        event(n=2, Image="C:\\Windows\\whoami.exe", User="CORP\\adm-bob"),
        event(n=3, Image="C:\\Windows\\hostname.exe", User="CORP\\adm-bob"),  # not named
    ]
    assert fired_n(found, *rows) == [1, 3]
    alone = RuleSet()
    add_texts(alone, [(rule, "a.yml")])
    assert fired_n(alone, *rows[:2]) == [1, 2]


def test_linux_rules_see_their_syslog_datasets_only() -> None:
    detection = "    keywords:\n        - 'Corrupted MAC on input'\n    condition: keywords"
    found = RuleSet()
    add_yaml(found, rule_text("{product: linux, service: sshd}", detection), "sshd.yml")
    line = "Jun 1 10:00:00 h sshd[1]: Corrupted MAC on input."
    rows = [
        other("system.auth", line, 1),
        other("system.syslog", line, 2),  # sshd lines are auth lines
        other("zeek.ssh", line, 3),
        other("system.auth", "Jun 1 10:00:00 h sshd[1]: Accepted password", 4),
    ]
    assert fired_n(found, *rows) == [1]
    found = RuleSet()
    add_yaml(found, rule_text("{product: linux}", detection), "any.yml")
    assert fired_n(found, *rows) == [1, 2]


def test_zeek_service_rules_use_zeek_field_names() -> None:
    detection = """
    sel:
        endpoint: 'svcctl'
        operation: 'CreateServiceW'
    condition: sel
"""
    found = RuleSet()
    add_yaml(found, rule_text("{product: zeek, service: dce_rpc}", detection), "z.yml")
    rows = [
        other("zeek.dce_rpc", "{}", 1, endpoint="svcctl", operation="CreateServiceW"),
        other("zeek.dce_rpc", "{}", 2, endpoint="svcctl", operation="OpenSCManagerW"),
        other("zeek.dns", "{}", 3, endpoint="svcctl", operation="CreateServiceW"),
    ]
    assert fired_n(found, *rows) == [1]


def test_generic_categories_map_to_zeek_and_suricata_columns() -> None:
    dns = "    sel:\n        query|endswith: '.onion.ly'\n    condition: sel"
    proxy = """
    sel:
        c-useragent|contains: 'sqlmap'
        cs-method: 'POST'
    condition: sel
"""
    found = RuleSet()
    add_yaml(found, rule_text("{category: dns}", dns, title="dns"), "dns.yml")
    add_yaml(found, rule_text("{category: proxy}", proxy, title="proxy"), "proxy.yml")
    rows = [
        other("zeek.dns", "{}", 1, query="x.onion.ly", dns__question__name="x.onion.ly"),
        other("suricata.dns", "{}", 2, dns__question__name="Y.ONION.LY"),
        other("zeek.dns", "{}", 3, dns__question__name="example.com"),
        other("system.syslog", "x.onion.ly", 4, query="x.onion.ly"),  # not a DNS log
        other(
            "zeek.http", "{}", 5, user_agent__original="sqlmap/1.7", http__request__method="POST"
        ),
        other("suricata.http", "{}", 6, user_agent__original="sqlmap", http__request__method="GET"),
    ]
    assert fired_n(found, *rows) == [1, 2, 5]


def test_a_generic_category_rule_naming_a_field_we_do_not_have_is_reported() -> None:
    detection = "    sel:\n        c-uri-extension: 'exe'\n    condition: sel"
    found = RuleSet()
    add_yaml(found, rule_text("{category: proxy}", detection), "ext.yml")
    assert not found.rules
    assert found.failures[0].reason == (
        "not compiled: field not in proxy logs we read: c-uri-extension"
    )


def test_windows_file_access_and_defender_names_with_spaces() -> None:
    access = "    sel:\n        TargetFilename|contains: '\\\\Protect\\\\'\n    condition: sel"
    av = "    sel:\n        ThreatName|contains: 'EICAR'\n    condition: sel"
    found = RuleSet()
    add_yaml(found, rule_text("{product: windows, category: file_access}", access), "a.yml")
    add_yaml(found, rule_text("{product: windows, service: windefend}", av), "b.yml")
    defender = "Microsoft-Windows-Windows Defender/Operational"
    rows = [
        event(
            "Security",
            4663,
            n=1,
            ObjectName="C:\\Users\\a\\AppData\\Roaming\\Microsoft\\Protect\\k",
        ),
        event("Security", 4624, n=2, ObjectName="C:\\x\\Protect\\k"),
        event(defender, 1116, n=3, **{"Threat Name": "Virus:DOS/EICAR_Test_File"}),
    ]
    assert fired(access, *rows, category="file_access") == [1]
    matches = scan_batch(batch(*rows), index(found.rules))
    assert sorted(orjson.loads(m.original)["n"] for m in matches) == [1, 3]


#: Regression cases no shipped parser can read yet: rule id -> why.
KNOWN_GAPS: dict[str, str] = {}


def _regression_cases() -> list[tuple[str, str, list[Path]]]:
    """(rule id, case folder, sample files) of every case under regression_data."""
    root = SIGMA / "regression_data"
    cases = []
    for info in sorted(root.rglob("info.yml")):
        rule_id = yaml.safe_load(info.read_text())["rule_metadata"][0]["id"]
        samples = sorted(p for p in info.parent.iterdir() if p.suffix in (".evtx", ".raw"))
        cases.append((rule_id, info.parent.relative_to(root).as_posix(), samples))
    return cases


@pytest.fixture(scope="module")
def windows_rules() -> RuleSet:
    if not (SIGMA / "rules" / "windows").is_dir():
        pytest.skip(f"SigmaHQ rules not found at {SIGMA}")
    return load_rules([SIGMA / "rules" / "windows"])


@pytest.mark.slow
def test_whole_windows_folder_compiles_and_reports_failures(windows_rules: RuleSet) -> None:
    total = len(windows_rules.rules) + len(windows_rules.failures)
    print(f"rules/windows: {len(windows_rules.rules)} compiled, {len(windows_rules.failures)} not")
    assert total >= 2400
    assert len(windows_rules.rules) / total >= 0.99  # measured: 2406 of 2407
    for failure in windows_rules.failures:
        assert failure.file.endswith(".yml")
        assert failure.reason.startswith(("not loaded: ", "not compiled: "))
    reasons = {f.file.rsplit("/", 1)[-1]: f.reason for f in windows_rules.failures}
    assert reasons["file_rename_win_ransomware.yml"] == (
        "not compiled: logsource not routable: windows/file_rename/None"
    )
    compiled = {r.file.rsplit("/", 1)[-1] for r in windows_rules.rules}
    assert "file_access_win_susp_credhist.yml" in compiled  # Security 4663
    assert "win_alert_mimikatz_keywords.yml" in compiled  # keywords, any Windows channel


@pytest.mark.slow
def test_regression_data_fires_its_rules() -> None:
    """Every regression sample of SigmaHQ (rules, emerging threats, threat hunting) fires
    its rule with the rules crownwatch ships, loaded with every set."""
    cases = _regression_cases()
    if not cases:
        pytest.skip(f"regression data not found under {SIGMA}")
    shipped = bundled_rules(("core", "emerging-threats", "threat-hunting"))
    by_id = {r.id: r for r in shipped.rules}
    missed = {}
    for rule_id, folder, files in cases:
        rule = by_id.get(rule_id)
        matches = scan(files, [rule]) if rule and files else []
        if not matches:
            missed[rule_id] = folder
        assert all(m.rule_id == rule_id for m in matches)
    fire = len(cases) - len(missed)
    gaps = {k: v for k, v in missed.items() if k in KNOWN_GAPS}
    print(f"regression: {fire} of {len(cases)} fire; known gaps: {gaps}")
    assert len(cases) >= 200
    raws = [f for _, _, files in cases for f in files if f.suffix == ".raw"]
    assert raws  # Cisco IOS lines (rules/cisco/aaa): read by the syslog parser
    assert all(ingest.detect(Source(f)) is syslog for f in raws)
    assert sum(1 for _, folder, _ in cases if not folder.startswith("rules/")) >= 10
    assert set(missed) == set(KNOWN_GAPS), {k: v for k, v in missed.items() if k not in gaps}


def test_expand_takes_its_placeholder_values_from_the_settings(tmp_path: Path) -> None:
    from crownwatch import config
    from crownwatch.detect.sigma import placeholder_values

    text = """
title: admins
id: 00000000-0000-0000-0000-000000000042
level: high
logsource: {product: windows, category: process_creation}
detection:
    sel:
        User|expand: '%admins%'
    condition: sel
"""
    unset = RuleSet()
    add_yaml(unset, text, "<test>")
    assert not unset.rules and "[detect.placeholders] admins" in unset.failures[0].reason
    settings_file = tmp_path / "crownwatch.toml"
    settings_file.write_text('[detect.placeholders]\nadmins = ["HELIX\\\\alice", "HELIX\\\\bob"]\n')
    settings = config.load(home=tmp_path, environ={})
    found = RuleSet(placeholders=placeholder_values(settings))
    add_yaml(found, text, "<test>")
    rows = [event(n=1, User="HELIX\\bob"), event(n=2, User="HELIX\\carol")]
    assert sorted(
        orjson.loads(m.original)["n"] for m in scan_batch(batch(*rows), index(found.rules))
    ) == [1]
