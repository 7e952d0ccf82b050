"""Sigma rules as Arrow predicates: modifiers, conditions, routing, real regression data."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
import yaml

from crownwatch.detect.sigma import RuleSet, add_yaml, index, load_rules, scan, scan_batch
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
        "title: kw\nlogsource: {product: windows, service: security}\n"
        "detection: {keywords: [mimikatz], condition: keywords}\n",
        "keywords.yml",
    )
    add_yaml(
        found,
        "title: nowhere\nlogsource: {product: linux, service: auth}\n"
        "detection: {sel: {a: b}, condition: sel}\n",
        "linux.yml",
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
    assert reasons["bad.yml"].startswith("not loaded:")
    assert reasons["list.yml"].startswith("not loaded:")
    assert reasons["keywords.yml"] == "not compiled: keywords (values without a field)"
    assert reasons["linux.yml"] == "not compiled: logsource not routable: linux/None/auth"
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


def _regression_cases() -> list[tuple[str, list[Path]]]:
    root = SIGMA / "regression_data"
    cases = []
    for info in sorted(root.rglob("info.yml")):
        if not info.parent.relative_to(root).as_posix().startswith("rules/windows/"):
            continue
        rule_id = yaml.safe_load(info.read_text())["rule_metadata"][0]["id"]
        cases.append((rule_id, sorted(info.parent.glob("*.evtx"))))
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
    assert len(windows_rules.rules) / total >= 0.98  # measured: 2386 of 2407
    for failure in windows_rules.failures:
        assert failure.file.endswith(".yml")
        assert failure.reason.startswith(("not loaded: ", "not compiled: "))
    reasons = {f.file.rsplit("/", 1)[-1]: f.reason for f in windows_rules.failures}
    assert reasons["file_access_win_susp_credhist.yml"] == (
        "not compiled: logsource not routable: windows/file_access/None"
    )


@pytest.mark.slow
def test_regression_data_fires_its_rules(windows_rules: RuleSet) -> None:
    cases = _regression_cases()
    if not cases:
        pytest.skip(f"regression data not found under {SIGMA}")
    by_id = {r.id: r for r in windows_rules.rules}
    missed = []
    for rule_id, files in cases:
        rule = by_id.get(rule_id)
        matches = scan(files, [rule]) if rule else []
        if not matches:
            missed.append(rule_id)
        assert all(m.rule_id == rule_id for m in matches)
    fire = len(cases) - len(missed)
    print(f"regression: {fire} of {len(cases)} fire; missed: {missed}")
    assert len(cases) >= 190
    assert fire >= 185  # measured: 192 of 192
