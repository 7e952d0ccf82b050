"""The literal prefilter: what each rule needs, and that it never loses a match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from crownwatch import ingest
from crownwatch.detect import sigma_prefilter
from crownwatch.detect.sigma import (
    Match,
    RuleIndex,
    RuleSet,
    add_yaml,
    bundled_rules,
    index,
    scan_batch,
)
from crownwatch.detect.sigma_frame import ORIGINAL, parse_fields
from crownwatch.ingest.source import Source
from crownwatch.schema import SCHEMA

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def event(n: int, code: int = 1, channel: str = SYSMON, **fields: Any) -> dict[str, Any]:
    data = {"EventID": code, "Channel": channel, "n": n, **fields}
    return {
        "@timestamp": 1_700_000_000_000_000,
        "event.id": f"ev{n}",
        "event.module": "windows",
        "winlog.channel": channel,
        "winlog.event_id": code,
        "event.original": orjson.dumps({"Event": data}).decode(),
        "fields": orjson.dumps(data).decode(),
    }


def rules(*detections: str, category: str = "process_creation") -> RuleSet:
    found = RuleSet()
    for number, detection in enumerate(detections):
        text = (
            f"title: rule {number}\nid: 00000000-0000-0000-0000-{number:012d}\n"
            f"logsource: {{product: windows, category: {category}}}\n"
            f"detection:\n{detection}\n"
        )
        add_yaml(found, text, f"rule{number}.yml")
    assert not found.failures, found.failures
    return found


def pairs(matches: Any) -> list[tuple[str, str]]:
    return sorted((m.rule_id, m.event_id) for m in matches)


def unfiltered(rule_index: RuleIndex) -> RuleIndex:
    """The same rules with no prefilter: every rule runs on every row of its routes."""
    return RuleIndex(rule_index.groups, rule_index.names)


def test_an_and_needs_each_operand_and_an_or_the_union() -> None:
    (rule,) = rules(
        "    a:\n        Image|endswith: '\\Tool.EXE'\n        CommandLine|contains: ' -Zap'\n"
        "    b:\n        ParentImage|endswith:\n            - '\\x.exe'\n            - '\\y.exe'\n"
        "    condition: a and b"
    ).rules
    assert set(rule.needs) == {
        frozenset({("Image", "\\tool.exe")}),
        frozenset({("CommandLine", " -zap")}),
        frozenset({("ParentImage", "\\x.exe"), ("ParentImage", "\\y.exe")}),
    }


def test_a_short_literal_makes_no_clause_beside_a_better_one() -> None:
    (rule,) = rules(
        "    a:\n        Image|endswith: '\\Tool.EXE'\n        CommandLine|contains: '-x'\n"
        "    condition: a"
    ).rules
    assert rule.needs == (frozenset({("Image", "\\tool.exe")}),)


def test_a_not_a_regex_or_an_or_with_one_gives_no_clause() -> None:
    negated, regex, mixed = rules(
        "    a:\n        Image: x\n    condition: not a",
        "    a:\n        CommandLine|re: 'a.b'\n    condition: a",
        "    a:\n        Image: x\n    b:\n        CommandLine|re: 'a.b'\n    condition: a or b",
    ).rules
    assert negated.needs == regex.needs == mixed.needs == ()


def test_keywords_need_their_plain_or_json_escaped_text_in_the_raw_record() -> None:
    (rule,) = rules("    keywords:\n        - 'C:\\Temp\\Evil'\n    condition: keywords").rules
    assert rule.needs == (
        frozenset({(ORIGINAL, "c:\\temp\\evil"), (ORIGINAL, "c:\\\\temp\\\\evil")}),
    )


def test_wildcards_need_the_longest_literal_run() -> None:
    (rule,) = rules("    a:\n        CommandLine: 'ab*longest?x'\n    condition: a").rules
    assert rule.needs == (frozenset({("CommandLine", "longest")}),)


DETECTIONS = (
    "    a:\n        Image|endswith: '\\cmd.exe'\n    condition: a",
    "    a:\n        CommandLine|contains|all:\n            - 'whoami'\n            - '/all'\n"
    "    condition: a",
    "    a:\n        CommandLine|windash|contains: ' -enc '\n    condition: a",
    "    a:\n        CommandLine|base64offset|contains: 'IEX'\n    condition: a",
    "    a:\n        Image|endswith: '.exe'\n    f:\n        CommandLine|contains: 'safe'\n"
    "    condition: a and not f",
    "    a:\n        CommandLine|cased: 'CaSe'\n    condition: a",
    "    a:\n        CommandLine|re: '(?i)^x+y$'\n    condition: a",
    "    keywords:\n        - 'évil'\n        - 'C:\\Temp\\Mimi'\n    condition: keywords",
    "    a:\n        User: 'ÉLISE'\n    b:\n        Image|startswith: 'c:\\tools\\'\n"
    "    condition: 1 of them",
    "    a:\n        CommandLine: 'pre*mid?le*post'\n    condition: a",
    "    a:\n        IntegrityLevel: 4096\n    condition: a",
)

EVENTS = (
    event(1, Image="C:\\Windows\\System32\\CMD.EXE", CommandLine="cmd /c whoami /ALL"),
    event(2, Image="x.exe", CommandLine="powershell /enc AAAA"),
    event(3, Image="y.exe", CommandLine="powershell –enc AAAA"),  # an en dash
    event(4, Image="z.exe", CommandLine="echo SUVYIChOZXc= | x"),
    event(5, Image="safe.exe", CommandLine="a safe one"),
    event(6, Image="a.bin", CommandLine="CaSe"),
    event(7, Image="a.bin", CommandLine="case"),
    event(8, Image="a.bin", CommandLine="XXXY"),
    event(9, Image="a.bin", CommandLine="ÉVIL things"),
    event(10, Image="a.bin", CommandLine="c:\\temp\\MIMI.exe"),
    event(11, Image="C:\\Tools\\a.exe", User="élise"),
    event(12, Image="a.bin", CommandLine="PRE-Middle-POST"),
    event(13, Image="a.bin", CommandLine="pre-mid-le-post", IntegrityLevel=4096),
    event(14, code=4688, channel="Security", NewProcessName="C:\\x\\cmd.exe"),
    event(15, code=3, Image="C:\\cmd.exe"),  # not routed: network_connection
)


@pytest.mark.parametrize("large", [False, True])
def test_the_prefilter_finds_exactly_what_every_rule_finds_alone(
    large: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if large:  # every column takes the RE2 path of large texts, non-ASCII rows included
        monkeypatch.setattr(sigma_prefilter, "LARGE_TEXT", 0)
    rule_index = index(rules(*DETECTIONS).rules)
    events = pa.RecordBatch.from_pylist(list(EVENTS), schema=SCHEMA)
    filtered = list(scan_batch(events, rule_index))
    alone = list(scan_batch(events, unfiltered(rule_index)))
    assert filtered == alone  # same matches, same order
    fired = {(m.title, orjson.loads(m.original)["Event"]["n"]) for m in filtered}
    expected = {
        ("rule 0", 1), ("rule 0", 14), ("rule 1", 1), ("rule 2", 2),
        ("rule 2", 3), ("rule 3", 4), ("rule 5", 6), ("rule 6", 8), ("rule 7", 9),
        ("rule 7", 10), ("rule 8", 11), ("rule 9", 12), ("rule 10", 13),
    }  # fmt: skip
    assert expected <= fired
    assert ("rule 0", 15) not in fired  # routing still applies
    assert {n for title, n in fired if title == "rule 4"} == {1, 2, 3, 4, 11, 14}


def test_rows_of_a_literal_are_found_across_unicode_values() -> None:
    (rule,) = rules("    a:\n        CommandLine|contains: 'needle'\n    condition: a").rules
    rule_index = index([rule])
    values = ["ééé", None, "xx NEEDLE", "", "ß needle ß", "needl", "e"]
    rows = [event(n, CommandLine=v) if v is not None else event(n) for n, v in enumerate(values)]
    events = pa.RecordBatch.from_pylist(rows, schema=SCHEMA)
    matches = list(scan_batch(events, rule_index))
    assert [orjson.loads(m.original)["Event"]["n"] for m in matches] == [2, 4]


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return bundled_rules()


@pytest.mark.slow
def test_real_records_give_the_same_matches_with_and_without_it(
    shared_data: Path, shipped: RuleSet
) -> None:
    files = sorted((shared_data / "sigma" / "regression_data").rglob("*.evtx"))[:80]
    files += sorted((shared_data / "evtx").rglob("*.evtx"))[:40]
    if len(files) < 100:
        pytest.skip("EVTX samples not found")
    rule_index = index(shipped.rules)
    filtered: list[Match] = []
    alone: list[Match] = []
    for path in files:
        src = Source(path)
        parser = ingest.detect(src)
        assert parser is not None
        for batch in parser.parse(src):
            filtered.extend(scan_batch(batch.events, rule_index))
            alone.extend(scan_batch(batch.events, unfiltered(rule_index)))
    assert len(filtered) > 50
    assert filtered == alone


def test_fields_are_read_alike_from_a_sliced_or_chunked_column() -> None:
    texts = [
        '{"Image": "a", "Threat Name": 5, "image": "b"}',
        None,
        "",
        '{"Image": null, "CommandLine": ["x", 1]}',
        "[1]",
        "{not json",
        '{"IMAGE": "é"}',
    ]
    whole = pa.array(texts, pa.string())
    names = ["Image", "ThreatName", "CommandLine"]
    expected = {
        "image": ["b", None, None, None, None, None, "é"],
        "threatname": ["5", None, None, None, None, None, None],
        "commandline": [None, None, None, '["x",1]', None, None, None],
    }
    for column, cut in (
        (whole, 0),
        (whole.slice(2), 2),
        (pa.chunked_array([texts[:3], texts[3:]]), 0),
    ):
        found = parse_fields(column, names)
        assert {k: found[k].to_pylist() for k in expected} == {
            k: v[cut:] for k, v in expected.items()
        }
