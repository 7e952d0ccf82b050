"""The generic JSON lines parser: flattening, ECS mapping, times, and bad lines."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from crownwatch.errors import ParseError, UsageError
from crownwatch.ingest import jsonl, syslog
from crownwatch.ingest.batch import Batch, Rejected
from crownwatch.ingest.source import Source

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "text"


def run(batches: Iterable[Batch]) -> tuple[list[dict[str, Any]], list[Rejected], int]:
    done = list(batches)
    events = pa.Table.from_batches([b.events for b in done]).to_pylist()
    return events, [r for b in done for r in b.rejected], sum(b.read for b in done)


def fields(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(event["fields"])
    return result


def test_fixture_values() -> None:
    path = FIXTURES / "app.jsonl"
    events, rejected, read = run(jsonl.parse(Source(path)))
    assert (len(events), len(rejected), read) == (6, 10, 16)

    nested = events[0]  # nested ECS objects map to their flat names
    assert nested["@timestamp"] == datetime(2026, 11, 2, 8, 0, 0, 123000, tzinfo=UTC)
    assert (nested["event.action"], nested["event.category"]) == ("file-download", "file")
    assert (nested["source.ip"], nested["source.port"], nested["user.name"]) == (
        "10.1.2.3",
        50123,
        "alice",
    )
    assert (nested["file.path"], nested["file.size"]) == (
        "/srv/rnd/designs/turbine-v7.step",
        48213344,
    )
    assert (nested["event.dataset"], nested["event.kind"]) == ("json", "event")
    assert nested["event.original"] == path.read_bytes().splitlines()[0].decode()

    flat = events[1]  # epoch seconds, flat dotted ECS keys, other keys only in fields
    assert flat["@timestamp"] == datetime(2026, 11, 2, 8, 1, tzinfo=UTC)
    assert (flat["user.name"], flat["source.ip"]) == ("bob", "10.1.2.4")
    assert fields(flat)["app.project"] == "rnd/firmware"
    assert fields(flat)["action"] == "clone"
    assert flat["event.action"] is None

    millis = events[2]
    assert millis["@timestamp"] == datetime(2026, 11, 2, 8, 2, 0, 123000, tzinfo=UTC)
    assert millis["process.command_line"] == "git clone --mirror git@internal:rnd/firmware.git"
    assert fields(millis)["tags"] == ["ci", "mirror"]

    bad_utf8 = events[3]  # a naive ISO time is UTC; invalid UTF-8 became U+FFFD
    assert bad_utf8["@timestamp"] == datetime(2026, 11, 2, 8, 3, tzinfo=UTC)
    assert bad_utf8["message"] == "caf\ufffd invalid utf8 \ufffd"

    absurd = events[4]
    assert absurd["@timestamp"] == datetime(2026, 11, 2, 8, 4, tzinfo=UTC)  # from +01:00
    assert absurd["source.bytes"] is None
    assert absurd["destination.port"] == 443

    spoof = events[5]  # provenance columns cannot be set by the record
    assert spoof["event.original"] == path.read_bytes().splitlines()[5].decode()
    assert spoof["event.id"] != "spoofed"
    assert spoof["user.name"] == "carol"
    assert fields(spoof)["event.original"] == "spoofed"

    assert {r.position: r.reason for r in rejected} == {
        7: "JSON array is not an object",
        8: "JSON string is not an object",
        9: "invalid JSON: unexpected end of data: line 1 column 43 (char 42)",
        10: "no timestamp: none of the fields @timestamp, timestamp, time, ts, date, datetime, "
        "eventTime",
        11: "field 'time': bad timestamp 'yesterday'",
        12: "nested deeper than 32 levels",
        13: "invalid JSON: unexpected character, expected a JSON value: line 1 column 1 (char 0)",
        14: "invalid JSON: number is infinity when parsed as double: line 1 column 10 (char 9)",
        15: "field 'time': bad epoch timestamp 1e+17",
        16: "invalid JSON: unexpected character, expected a JSON value: line 1 column 10 (char 9)",
    }


def test_field_map_and_dataset(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    record = {
        "created_at": "2026-11-02T08:30:00Z",
        "time": "1999-01-01T00:00:00Z",
        "actor": {"login": "mallory", "ip": "198.51.100.66"},
        "action": "repo.download_zip",
        "repo": "corp/crown-jewels",
    }
    path.write_bytes(orjson.dumps(record) + b"\n")
    src = Source(
        path,
        field_map={
            "@timestamp": "created_at",
            "user.name": "actor.login",
            "source.ip": "actor.ip",
            "event.action": "action",
        },
        dataset="github.audit",
    )
    (event,), rejected, _ = run(jsonl.parse(src))
    assert rejected == []
    assert event["@timestamp"] == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)  # the map wins
    assert (event["user.name"], event["source.ip"]) == ("mallory", "198.51.100.66")
    assert (event["event.action"], event["event.dataset"]) == ("repo.download_zip", "github.audit")
    assert fields(event)["repo"] == "corp/crown-jewels"

    with pytest.raises(UsageError, match=r"unknown ECS fields: user\.login"):
        jsonl.parse(Source(path, field_map={"user.login": "actor.login"}))


def test_too_many_keys_is_rejected_and_the_next_line_parses(tmp_path: Path) -> None:
    path = tmp_path / "wide.jsonl"
    wide = {f"k{i}": i for i in range(10_001)} | {"ts": 1793606400}
    path.write_bytes(orjson.dumps(wide) + b'\n{"ts": 1793606400, "ok": true}\n')
    events, rejected, read = run(jsonl.parse(Source(path)))
    assert read == 2
    assert rejected[0].reason == "more than 10000 fields"
    assert rejected[0].raw_size == len(orjson.dumps(wide))
    assert fields(events[0]) == {"ts": 1793606400, "ok": True}


def test_timestamp_forms() -> None:
    assert jsonl.timestamp(1793606400) == 1793606400 * 1_000_000
    assert jsonl.timestamp(1793606400123) == 1793606400123 * 1000
    assert jsonl.timestamp("1793606400.5") == 1793606400_500_000
    assert jsonl.timestamp("2026-11-02T08:00:00+00:00") == 1793606400 * 1_000_000
    with pytest.raises(ParseError):
        jsonl.timestamp(True)
    with pytest.raises(ParseError):
        jsonl.timestamp({"nested": 1})


def test_sniff() -> None:
    assert jsonl.sniff((FIXTURES / "app.jsonl").read_bytes()[:8192], "x.log")
    assert jsonl.sniff(b'\xef\xbb\xbf\n{"a": 1}\n', "")
    assert jsonl.sniff((b'{"' + b"a" * 9000)[:8192], "")  # a first record longer than the head
    assert not jsonl.sniff(b"[1, 2]\n", "")
    assert not jsonl.sniff(b"{not json}\n", "")
    assert not jsonl.sniff((FIXTURES / "syslog_mixed.log").read_bytes()[:8192], "")
    assert not syslog.sniff((FIXTURES / "app.jsonl").read_bytes()[:8192], "")
