"""The CSV parser: header, field map, ECS-named columns, and bad rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from crownwatch.errors import UsageError
from crownwatch.ingest import csvlog
from crownwatch.ingest.batch import Batch, Rejected
from crownwatch.ingest.source import Source

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "text"
VPN_MAP = {
    "user.name": "User",
    "source.ip": "Source IP",
    "event.action": "Action",
    "source.bytes": "Bytes",
}


def run(batches: Iterable[Batch]) -> tuple[list[dict[str, Any]], list[Rejected], int]:
    done = list(batches)
    events = pa.Table.from_batches([b.events for b in done]).to_pylist()
    return events, [r for b in done for r in b.rejected], sum(b.read for b in done)


def test_field_map_values_and_bad_rows() -> None:
    events, rejected, read = run(csvlog.parse(Source(FIXTURES / "vpn.csv", field_map=VPN_MAP)))
    assert (len(events), len(rejected), read) == (3, 6, 9)  # the header is not a record

    alice, bob, erin = events
    assert alice["@timestamp"] == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # column "Time"
    assert (alice["user.name"], alice["source.ip"], alice["event.action"]) == (
        "alice",
        "198.51.100.23",
        "login",
    )
    assert (alice["source.bytes"], alice["event.dataset"]) == (1200, "csv")
    assert json.loads(alice["fields"])["Note"] == "first, with comma"
    assert json.loads(bob["fields"])["Note"] == 'quote "inside"'
    assert bob["source.bytes"] is None  # an absurd number is not a column value
    assert erin["@timestamp"] == datetime(2026, 11, 2, 8, 10, tzinfo=UTC)  # epoch seconds
    assert json.loads(erin["fields"])["Note"] == "caf\ufffd"

    assert {r.position: r.reason for r in rejected} == {
        4: "row has 5 columns, the header has 6",
        5: "bad CSV: unexpected end of data (a quoted field spanning lines is not supported)",
        6: "row has 1 columns, the header has 6",
        8: "NUL byte inside the line: binary data, not text",
        9: "field 'Time': bad timestamp 'not-a-time'",
        10: "bad CSV: ',' expected after '\"'",
    }


def test_ecs_named_columns_map_without_a_field_map() -> None:
    (event,), rejected, read = run(csvlog.parse(Source(FIXTURES / "ecs.csv")))
    assert (rejected, read) == ([], 1)
    assert event["@timestamp"] == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # BOM, CRLF
    assert (event["source.ip"], event["destination.ip"], event["destination.port"]) == (
        "10.9.8.7",
        "203.0.113.9",
        8443,
    )
    assert event["event.action"] == "upload"
    extra = json.loads(event["fields"])
    assert (extra["column6"], extra["event.action_2"]) == ("extra", "dup")


def test_unusable_header_quarantines_every_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text('time,"user\n2026-11-02T08:00:00Z,alice\n')
    events, rejected, read = run(csvlog.parse(Source(path)))
    assert (events, read) == ([], 2)
    assert rejected[0].reason.startswith("bad CSV: unexpected end of data")
    assert rejected[1].reason.startswith("no usable header line: bad CSV: unexpected end of data")


def test_huge_field_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("ts,msg\n" + "1793606400," + "x" * 200_000 + "\n" + "1793606401,small\n")
    events, rejected, _ = run(csvlog.parse(Source(path)))
    assert rejected[0].reason == "bad CSV: field larger than field limit (131072)"
    assert [json.loads(e["fields"])["msg"] for e in events] == ["small"]


def test_never_sniffed_and_bad_map_refused() -> None:
    assert not csvlog.sniff((FIXTURES / "vpn.csv").read_bytes(), "vpn.csv")
    with pytest.raises(UsageError, match="unknown ECS fields: src_ip"):
        csvlog.parse(Source(FIXTURES / "vpn.csv", field_map={"src_ip": "Source IP"}))
