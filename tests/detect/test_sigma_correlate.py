"""Sigma correlation rules as streaming state over the matches of their rules."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from crownwatch.detect.sigma import Match, RuleSet, add_yaml, index, link, load_rules, scan_batch
from crownwatch.detect.sigma_correlate import State, feed, flush, plan
from crownwatch.schema import SCHEMA

SYSMON = "Microsoft-Windows-Sysmon/Operational"
T0 = 1_700_000_000  # seconds
CORR = "00000000-0000-0000-0000-0000000000c1"


def event(n: int, at: float, host: str = "ws1", **fields: Any) -> dict[str, Any]:
    """A Sysmon process creation event ``ev{n}`` at ``T0 + at`` seconds on ``host``."""
    data = {"EventID": 1, "Channel": SYSMON, "n": n, **fields}
    return {
        "@timestamp": int((T0 + at) * 1_000_000),
        "event.id": f"ev{n}",
        "host.name": host,
        "winlog.channel": SYSMON,
        "winlog.event_id": 1,
        "event.original": orjson.dumps(data).decode(),
        "fields": orjson.dumps(data).decode(),
    }


def batch(*rows: dict[str, Any]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(list(rows), schema=SCHEMA)


def base(name: str, image: str, ident: str) -> str:
    return f"""
title: runs {image}
id: {ident}
name: {name}
level: medium
logsource: {{product: windows, category: process_creation}}
detection:
    sel: {{Image|endswith: '\\{image}'}}
    condition: sel
"""


A1 = "00000000-0000-0000-0000-0000000000a1"
WHOAMI = base("whoami", "whoami.exe", A1)
NET = base("net", "net.exe", "00000000-0000-0000-0000-0000000000a2")


def correlation(body: str, ident: str = CORR, name: str = "corr") -> str:
    return f"""
title: correlated {name}
id: {ident}
name: {name}
level: high
tags: [attack.discovery]
correlation:
{body}
"""


def rules(*docs: str) -> RuleSet:
    found = RuleSet()
    add_yaml(found, "\n---\n".join(docs), "<test>")
    link(found)
    assert not found.failures, found.failures
    return found


def run(found: RuleSet, *batches: pa.RecordBatch, state: State | None = None) -> list[Match]:
    """Every reported match of the batches, windows closed at the end unless ``state``."""
    how = plan(found.correlations)
    windows = state if state is not None else State()
    rule_index = index(found.rules)
    out: list[Match] = []
    for events in batches:
        out.extend(feed(scan_batch(events, rule_index), how, windows))
    if state is None:
        out.extend(flush(how, windows))
    return out


def fired(matches: list[Match], rule_id: str = CORR) -> list[Match]:
    return [m for m in matches if m.rule_id == rule_id]


EVENT_COUNT = correlation("""
    type: event_count
    rules: whoami
    group-by: [host.name]
    timespan: 5m
    condition: {gte: 3}
""")


def test_event_count_over_the_threshold_within_the_timespan_fires() -> None:
    found = rules(WHOAMI, EVENT_COUNT)
    rows = [event(n, at, Image="C:\\Windows\\whoami.exe") for n, at in ((1, 0), (2, 60), (3, 120))]
    matches = run(found, batch(*rows))
    [hit] = fired(matches)
    assert hit.title == "correlated corr" and hit.level == "high"
    assert hit.tags == ("attack.discovery",)
    assert hit.group == (("host.name", "ws1"),) and hit.host == "ws1"
    assert hit.events == ("ev1", "ev2", "ev3")
    assert hit.first == datetime.fromtimestamp(T0, UTC)
    assert hit.timestamp == datetime.fromtimestamp(T0 + 120, UTC)
    # generate is false: the base rule's own matches are input, not output
    assert [m.rule_id for m in matches] == [CORR]


def test_event_count_spread_beyond_the_timespan_does_not_fire() -> None:
    found = rules(WHOAMI, EVENT_COUNT)
    rows = [event(n, at, Image="C:\\Windows\\whoami.exe") for n, at in ((1, 0), (2, 240), (3, 480))]
    assert fired(run(found, batch(*rows))) == []


def test_generate_true_reports_the_base_matches_too() -> None:
    found = rules(WHOAMI, EVENT_COUNT.replace("timespan: 5m", "timespan: 5m\n    generate: true"))
    rows = [event(n, n, Image="C:\\Windows\\whoami.exe") for n in (1, 2, 3)]
    matches = run(found, batch(*rows))
    assert len(fired(matches)) == 1
    assert len(fired(matches, A1)) == 3


def test_group_by_keeps_hosts_apart() -> None:
    found = rules(WHOAMI, EVENT_COUNT)
    img = "C:\\Windows\\whoami.exe"
    rows = [event(1, 0, "ws1", Image=img), event(2, 1, "ws2", Image=img), event(3, 2, Image=img)]
    assert fired(run(found, batch(*rows))) == []
    rows.append(event(4, 3, "ws1", Image=img))
    [hit] = fired(run(found, batch(*rows)))
    assert hit.group == (("host.name", "ws1"),) and hit.events == ("ev1", "ev3", "ev4")


def test_value_count_counts_distinct_values() -> None:
    found = rules(
        WHOAMI,
        correlation("""
    type: value_count
    rules: whoami
    group-by: [host.name]
    timespan: 10m
    condition: {gte: 3, field: User}
"""),
    )
    img = "C:\\Windows\\whoami.exe"
    same = [event(n, n, Image=img, User="CORP\\alice") for n in range(1, 6)]
    assert fired(run(found, batch(*same))) == []
    users = ["alice", "bob", "alice", "carol"]
    rows = [event(n, n, Image=img, User=f"CORP\\{u}") for n, u in enumerate(users, 1)]
    [hit] = fired(run(found, batch(*rows)))
    assert hit.events == ("ev1", "ev2", "ev3", "ev4")


TEMPORAL = """
    type: {kind}
    rules: [whoami, net]
    group-by: [host.name]
    timespan: 1m
"""


def test_temporal_needs_every_rule_within_the_timespan() -> None:
    found = rules(WHOAMI, NET, correlation(TEMPORAL.format(kind="temporal")))
    who, net = "C:\\Windows\\whoami.exe", "C:\\Windows\\System32\\net.exe"
    only_whoami = [event(n, n, Image=who) for n in (1, 2, 3)]
    assert fired(run(found, batch(*only_whoami))) == []
    too_late = [event(1, 0, Image=who), event(2, 120, Image=net)]
    assert fired(run(found, batch(*too_late))) == []
    other_host = [event(1, 0, Image=who), event(2, 10, "ws2", Image=net)]
    assert fired(run(found, batch(*other_host))) == []
    both = [event(1, 30, Image=net), event(2, 0, Image=who)]
    [hit] = fired(run(found, batch(*both)))
    assert hit.events == ("ev2", "ev1")  # in time order


def test_temporal_ordered_needs_the_order() -> None:
    found = rules(WHOAMI, NET, correlation(TEMPORAL.format(kind="temporal_ordered")))
    who, net = "C:\\Windows\\whoami.exe", "C:\\Windows\\System32\\net.exe"
    assert fired(run(found, batch(event(1, 0, Image=net), event(2, 10, Image=who)))) == []
    [hit] = fired(run(found, batch(event(1, 0, Image=who), event(2, 10, Image=net))))
    assert hit.events == ("ev1", "ev2")


def test_temporal_extended_condition_and_not_is_refused() -> None:
    either = TEMPORAL.format(kind="temporal") + '    condition: "whoami or net"\n'
    found = rules(WHOAMI, NET, correlation(either))
    who = "C:\\Windows\\whoami.exe"
    assert len(fired(run(found, batch(event(1, 0, Image=who))))) == 1
    absent = TEMPORAL.format(kind="temporal") + '    condition: "whoami and not net"\n'
    refused = RuleSet()
    add_yaml(refused, "\n---\n".join([WHOAMI, NET, correlation(absent)]), "<test>")
    [failure] = refused.failures
    assert "'not'" in failure.reason and refused.correlations == []


def test_state_carries_across_batches_and_is_kept_by_the_caller() -> None:
    found = rules(WHOAMI, EVENT_COUNT)
    img = "C:\\Windows\\whoami.exe"
    first = batch(event(1, 0, Image=img), event(2, 10, Image=img))
    second = batch(event(3, 20, Image=img))
    assert fired(run(found, first) + run(found, second)) == []  # a fresh state each time
    state = State()
    assert fired(run(found, first, state=state)) == []
    [hit] = fired(run(found, second, state=state))
    assert hit.events == ("ev1", "ev2", "ev3")


def test_state_is_bounded_in_keys_members_and_time() -> None:
    found = rules(WHOAMI, EVENT_COUNT)
    img = "C:\\Windows\\whoami.exe"
    state = State(max_keys=100, max_events=10)
    hosts = [event(n, 0, f"host{n}", Image=img) for n in range(1_000)]
    run(found, batch(*hosts), state=state)
    assert len(state.groups[CORR]) == 100 and state.evicted == 900
    later = batch(event(5_000, 3_600, "late", Image=img))  # an hour on: every window expired
    run(found, later, state=state)
    assert list(state.groups[CORR]) == [("late",)]

    at_most = rules(WHOAMI, EVENT_COUNT.replace("{gte: 3}", "{lt: 1000}"))
    state = State(max_events=10)
    run(at_most, batch(*[event(n, n, Image=img) for n in range(50)]), state=state)
    [window] = state.groups[CORR].values()
    assert len(window.members) == 10 and state.truncated == 40


def test_upper_bound_conditions_are_decided_when_the_window_closes() -> None:
    found = rules(WHOAMI, EVENT_COUNT.replace("{gte: 3}", "{lt: 3}"))
    img = "C:\\Windows\\whoami.exe"
    rows = [event(1, 0, Image=img), event(2, 10, Image=img), event(3, 20, "ws2", Image=img)]
    rows += [event(n, 30 + n, "ws2", Image=img) for n in (4, 5)]
    [hit] = fired(run(found, batch(*rows)))  # at the end of input; ws2 had 3
    assert hit.group == (("host.name", "ws1"),) and hit.events == ("ev1", "ev2")


def test_value_sum_and_percentile() -> None:
    def firing(condition: str, kind: str) -> list[Match]:
        found = rules(
            WHOAMI,
            correlation(f"""
    type: {kind}
    rules: whoami
    timespan: 1h
    condition: {condition}
"""),
        )
        img = "C:\\Windows\\whoami.exe"
        rows = [event(n, n, Image=img, Size=s) for n, s in enumerate([10, 20, "x", 300], 1)]
        return fired(run(found, batch(*rows)))

    assert len(firing("{gt: 300, field: Size}", "value_sum")) == 1  # 330, "x" is not a number
    assert firing("{gt: 400, field: Size}", "value_sum") == []
    assert len(firing("{gte: 110, field: Size}", "value_avg")) == 1
    assert len(firing("{gte: 20, field: Size}", "value_median")) == 1
    assert firing("{gte: 300, field: Size, percentile: 50}", "value_percentile") == []
    assert len(firing("{gte: 300, field: Size, percentile: 90}", "value_percentile")) == 1


def test_aliases_group_fields_named_differently_per_rule() -> None:
    found = rules(
        WHOAMI,
        NET,
        correlation("""
    type: temporal
    rules: [whoami, net]
    group-by: [user]
    timespan: 1m
    aliases:
        user:
            whoami: User
            net: SubjectUserName
"""),
    )
    who, net = "C:\\Windows\\whoami.exe", "C:\\Windows\\net.exe"
    apart = [event(1, 0, Image=who, User="alice"), event(2, 5, Image=net, SubjectUserName="bob")]
    assert fired(run(found, batch(*apart))) == []
    same = [
        event(1, 0, Image=who, User="bob"),
        event(2, 5, "ws9", Image=net, SubjectUserName="bob"),
    ]
    [hit] = fired(run(found, batch(*same)))
    assert hit.group == (("user", "bob"),)


def test_correlations_chain() -> None:
    outer = correlation(
        """
    type: event_count
    rules: corr
    group-by: [host.name]
    timespan: 1h
    condition: {gte: 2}
""",
        ident="00000000-0000-0000-0000-0000000000c2",
        name="outer",
    )
    inner = EVENT_COUNT.replace("{gte: 3}", "{gte: 2}")
    found = rules(WHOAMI, inner, outer)
    img = "C:\\Windows\\whoami.exe"
    matches = run(found, batch(*[event(n, n, Image=img) for n in range(1, 6)]))
    [hit] = fired(matches, "00000000-0000-0000-0000-0000000000c2")
    assert hit.events == ("ev1", "ev2", "ev3", "ev4")
    assert hit.group == (("host.name", "ws1"),)
    assert fired(matches) == []  # the inner one has generate: false under the outer one


def test_a_reference_to_an_unknown_rule_is_a_failure_with_the_reason() -> None:
    found = RuleSet()
    text = WHOAMI + "\n---\n" + EVENT_COUNT.replace("rules: whoami", "rules: [whoami, nosuch]")
    add_yaml(found, text, "<test>")
    link(found)
    assert [r.title for r in found.rules] == ["runs whoami.exe"]  # the base rule still works
    assert found.correlations == []
    [failure] = found.failures
    assert "nosuch" in failure.reason and "unknown" in failure.reason
    assert failure.title == "correlated corr"


def test_a_correlation_may_refer_to_rules_of_other_files(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(WHOAMI)
    (tmp_path / "b.yml").write_text(EVENT_COUNT.replace("rules: whoami", f"rules: {A1.upper()}"))
    found = load_rules([tmp_path])
    assert not found.failures, found.failures
    [c] = found.correlations
    assert c.rules == (A1,)  # by id, in any case
    assert found.rules[0].carry == frozenset({"host.name"})


def test_shipped_rules_contain_no_correlations() -> None:
    data = resources.files("crownwatch.data").joinpath("sigma", "sigma-rules.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        texts = [
            archive.read(n).decode("utf-8", "replace")
            for n in archive.namelist()
            if n.endswith((".yml", ".yaml"))
        ]
    with_correlation = [t for t in texts if "\ncorrelation:" in f"\n{t}"]
    # SigmaHQ ships none today; when it does, they must load (this test then checks them)
    found = RuleSet()
    for at, text in enumerate(with_correlation):
        add_yaml(found, text, f"<zip {at}>")
    link(found)
    assert len(found.correlations) == len(with_correlation)


def test_cli_json_reports_correlations(tmp_path: Path, shared_data: Path) -> None:
    folder = (
        shared_data
        / "sigma/regression_data/rules/windows/process_creation"
        / "proc_creation_win_curl_custom_user_agent"
    )
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    evtx = next(folder.glob("*.evtx"))
    curl = """
title: curl
id: 00000000-0000-0000-0000-0000000000a3
name: curl
level: low
logsource: {product: windows, category: process_creation}
detection:
    sel: {CommandLine|contains: 'curl'}
    condition: sel
"""
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(
        curl
        + "\n---\n"
        + EVENT_COUNT.replace("rules: whoami", "rules: curl").replace("{gte: 3}", "{gte: 1}")
    )
    command = ["sigma", "scan", "--json", "--rules", str(rule_file), str(evtx)]
    result = subprocess.run(
        [sys.executable, "-m", "crownwatch", *command],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all(line["rule_id"] == CORR for line in lines)
    hit = lines[0]
    assert set(hit) >= {"rule_id", "rule_title", "level", "tags", "timestamp", "host", "file"}
    assert hit["group"] == {"host.name": hit["host"]} and len(hit["events"]) == 1
