"""The shared ingest machinery: bounded line reading, the batch builder, stable ids."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pyarrow as pa

from crownwatch.config import IngestSettings
from crownwatch.errors import ParseError
from crownwatch.ingest.batch import Builder, parse_lines
from crownwatch.ingest.source import Source, read_lines
from crownwatch.schema import SCHEMA, coerce_int, event_id


def test_read_lines_numbers_offsets_and_cuts_overlong_lines() -> None:
    data = b"one\r\n\n" + b"x" * 50 + b"\nthree\nlast-without-newline"
    lines = list(read_lines(io.BytesIO(data), max_bytes=20))
    assert [(ln.number, ln.offset) for ln in lines] == [(1, 0), (3, 6), (4, 57), (5, 63)]
    assert lines[0].raw == b"one" and lines[2].raw == b"three"
    assert lines[1].overlong == 51 and lines[1].raw == b"x" * 20
    assert lines[3].raw == b"last-without-newline"


def test_gzip_is_transparent(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(gzip.compress(b"hello\nworld\n"))
    src = Source(path)
    assert src.is_gzip() and src.head() == b"hello\nworld\n"


def _row(ts: object, **extra: object) -> dict[str, object]:
    return {"@timestamp": ts, "event.dataset": "t.test", **extra}


def test_builder_converts_types_and_adds_provenance(tmp_path: Path) -> None:
    src = Source(tmp_path / "f.log")
    b = Builder(src, "test")
    b.add(
        _row(
            1_600_000_000_000_000,
            **{
                "source.port": "443",
                "destination.port": 99999999999,
                "user.name": 42,
                "host.name": "",
                "fields": {"a": 1, "b": [1, 2]},
            },
        ),
        b"raw1",
        1,
        0,
    )
    b.add(_row(1_600_000_000_000_001, **{"source.port": 22}), b"raw2\xff", 2, 5)
    batch = b.flush()
    assert batch.events.schema == SCHEMA and batch.read == 2 and not batch.rejected
    rows = batch.events.to_pylist()
    assert rows[0]["source.port"] == 443  # numeric text becomes a number
    assert rows[0]["destination.port"] is None  # out of int32 range: dropped, not wrapped
    assert rows[0]["user.name"] == "42" and rows[0]["host.name"] is None
    assert rows[0]["fields"] == '{"a":1,"b":[1,2]}'
    assert rows[0]["event.id"] == event_id("t.test", 1, b"raw1")
    assert rows[1]["event.original"] == "raw2\ufffd"  # invalid UTF-8 kept, replaced
    assert (rows[1]["log.offset"], rows[1]["log.file.path"]) == (5, str(tmp_path / "f.log"))


def test_builder_rejects_missing_and_absurd_timestamps(tmp_path: Path) -> None:
    b = Builder(Source(tmp_path / "f"), "test")
    b.add(_row(None), b"a", 1, 0)
    b.add(_row("2020-01-01"), b"b", 2, 2)
    b.add(_row(10**20), b"c", 3, 4)
    b.add(_row(0), b"d", 4, 6)
    batch = b.flush()
    assert batch.read == 4 and batch.events.num_rows == 1
    assert [r.reason[:13] for r in batch.rejected] == [
        "no timestamp",
        "bad timestamp",
        "bad timestamp",
    ]
    assert [r.position for r in batch.rejected] == [1, 2, 3]


def test_dataset_given_by_user_wins(tmp_path: Path) -> None:
    b = Builder(Source(tmp_path / "f", dataset="custom.ds"), "test")
    b.add(_row(1), b"x", 1, 0)
    assert b.flush().events.column("event.dataset").to_pylist() == ["custom.ds"]


def test_parse_lines_quarantines_bad_lines_and_keeps_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "f.log"
    path.write_bytes(b"1 ok\nbad\n" + b"9" * 100 + b"\n# comment\n2 ok\n")

    def parse_line(raw: bytes) -> dict[str, object] | None:
        if raw.startswith(b"#"):
            return None
        if raw == b"bad":
            raise ParseError("not a record")
        if len(raw) > 50:
            raise AssertionError("overlong lines never reach the parser")
        return _row(int(raw.split()[0]))

    limits = IngestSettings(max_record_bytes=50)
    batches = list(parse_lines(Source(path, limits), "test", parse_line, batch_size=2))
    events = pa.Table.from_batches([b.events for b in batches])
    rejected = [r for b in batches for r in b.rejected]
    assert events.column("@timestamp").cast(pa.int64()).to_pylist() == [1, 2]
    assert sum(b.read for b in batches) == 4  # the comment is not a record
    assert [(r.position, r.reason) for r in rejected] == [
        (2, "not a record"),
        (3, "record of 101 bytes is over the 50-byte limit"),
    ]
    assert rejected[1].raw_size == 101


def test_event_id_is_stable_and_position_sensitive() -> None:
    assert event_id("a", 1, b"x") == event_id("a", 1, b"x")
    assert len({event_id("a", 1, b"x"), event_id("a", 2, b"x"), event_id("b", 1, b"x")}) == 3


def test_coerce_int_handles_attacker_numbers() -> None:
    assert [coerce_int(v) for v in ("12", " 7 ", "0x1F", "3.9", "-", "", "nan", True, 2**70)] == [
        12,
        7,
        31,
        3,
        None,
        None,
        None,
        None,
        None,
    ]


def test_builder_keeps_columns_aligned_when_rows_differ(tmp_path: Path) -> None:
    b = Builder(Source(tmp_path / "f"), "test")
    b.add(_row(1, **{"user.name": "a"}), b"1", 1, 0)
    b.add(_row(2, **{"host.name": "h2"}), b"2", 2, 2)
    b.add(_row(3), b"3", 3, 4)
    b.add(_row(4, **{"user.name": "d", "host.name": "h4"}), b"4", 4, 6)
    rows = b.flush().events.select(["user.name", "host.name"]).to_pylist()
    assert rows == [
        {"user.name": "a", "host.name": None},
        {"user.name": None, "host.name": "h2"},
        {"user.name": None, "host.name": None},
        {"user.name": "d", "host.name": "h4"},
    ]
