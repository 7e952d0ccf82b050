"""Turning parsed rows into Arrow record batches, and bad records into quarantine rows.

A parser produces, for every record it reads, either a row (a dict of ECS field
name -> value, with the source's own fields under ``"fields"``) or a rejection
with a reason. ``Builder`` checks and converts rows, adds provenance (stable id,
file, offset, raw text) and cuts them into batches of the event schema.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from crownwatch.errors import ParseError
from crownwatch.ingest.source import Line, Source, read_lines
from crownwatch.schema import FIELDS, INT_FIELDS, SCHEMA, coerce_int, event_id

Row = dict[str, Any]

#: Microseconds of 1900-01-01 and 2200-01-01: timestamps outside are rejected.
MIN_TS = -2208988800 * 1_000_000
MAX_TS = 7258118400 * 1_000_000

_I32 = frozenset(n for n, t in FIELDS.items() if t == pa.int32())
_STRINGS = frozenset(n for n, t in FIELDS.items() if pa.types.is_string(t))
_SET_BY_BUILDER = frozenset(("event.id", "log.file.path", "log.offset", "event.original"))

QUARANTINE_SCHEMA = pa.schema(
    [
        ("quarantine.id", pa.string()),
        ("log.file.path", pa.string()),
        ("format", pa.string()),
        ("position", pa.int64()),
        ("log.offset", pa.int64()),
        ("reason", pa.string()),
        ("raw", pa.binary()),
        ("raw_size", pa.int64()),
    ]
)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that could not be parsed, kept with where it was and why."""

    file: str
    format: str
    position: int
    offset: int
    reason: str
    raw: bytes
    raw_size: int


@dataclass
class Batch:
    """What a parser yields: events, rejected records, and how many records it read."""

    events: pa.RecordBatch
    rejected: list[Rejected] = field(default_factory=list)
    read: int = 0


def quarantine_table(rejected: list[Rejected]) -> pa.Table:
    """Rejected records as a table with the quarantine schema."""
    ids = [
        event_id(f"quarantine:{r.format}", r.position, r.file.encode() + b"\0" + r.raw)
        for r in rejected
    ]
    return pa.table(
        [
            pa.array(ids, pa.string()),
            pa.array([r.file for r in rejected], pa.string()),
            pa.array([r.format for r in rejected], pa.string()),
            pa.array([r.position for r in rejected], pa.int64()),
            pa.array([r.offset for r in rejected], pa.int64()),
            pa.array([r.reason for r in rejected], pa.string()),
            pa.array([r.raw for r in rejected], pa.binary()),
            pa.array([r.raw_size for r in rejected], pa.int64()),
        ],
        schema=QUARANTINE_SCHEMA,
    )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=str).decode()
    return str(value)


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class Builder:
    """Collects rows and rejections for one source and cuts them into batches."""

    def __init__(self, src: Source, fmt: str, batch_size: int | None = None) -> None:
        self.src = src
        self.format = fmt
        self.file = str(src.path)
        self.batch_size = batch_size or src.limits.batch_size
        self.rows: list[Row] = []
        self.rejected: list[Rejected] = []
        self.read = 0

    def add(self, row: Row, raw: bytes, position: int, offset: int) -> None:
        """Check one parsed row and keep it, or reject it with the reason."""
        self.read += 1
        try:
            self.rows.append(self._normalise(row, raw, position, offset))
        except ParseError as exc:
            self.reject(raw, position, offset, exc.reason, counted=True)

    def reject(
        self,
        raw: bytes,
        position: int,
        offset: int,
        reason: str,
        size: int = 0,
        counted: bool = False,
    ) -> None:
        """Quarantine one record; ``size`` is its full length when ``raw`` is cut."""
        if not counted:
            self.read += 1
        limit = self.src.limits.max_quarantine_bytes
        self.rejected.append(
            Rejected(
                self.file, self.format, position, offset, reason[:500], raw[:limit],
                size or len(raw),
            )
        )

    def full(self) -> bool:
        return len(self.rows) + len(self.rejected) >= self.batch_size

    def flush(self) -> Batch:
        """The rows and rejections gathered so far, as one batch."""
        rows, self.rows = self.rows, []
        rejected, self.rejected = self.rejected, []
        read, self.read = self.read, 0
        events = self._to_arrow(rows, rejected)
        return Batch(events, rejected, read)

    def _normalise(self, row: Row, raw: bytes, position: int, offset: int) -> Row:
        ts = row.get("@timestamp")
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise ParseError("no timestamp" if ts is None else f"bad timestamp {ts!r:.60}")
        if not MIN_TS <= ts < MAX_TS:
            raise ParseError(f"timestamp out of range: {ts}")
        out: Row = {"@timestamp": ts}
        for name, value in row.items():
            if value is None or value == "" or name == "@timestamp" or name in _SET_BY_BUILDER:
                continue
            if name == "fields":
                continue
            if name in INT_FIELDS:
                number = coerce_int(value)
                if number is not None and (name not in _I32 or -(2**31) <= number < 2**31):
                    out[name] = number
            elif name in _STRINGS:
                out[name] = _text(value)
            else:
                raise ParseError(f"parser produced unknown field {name!r}")
        if self.src.dataset:
            out["event.dataset"] = self.src.dataset
        dataset = out.setdefault("event.dataset", self.format)
        out["event.id"] = event_id(dataset, position, raw)
        out["log.file.path"] = self.file
        out["log.offset"] = offset
        out["event.original"] = raw.decode("utf-8", "replace")
        fields = row.get("fields")
        if fields:
            try:
                out["fields"] = orjson.dumps(fields, default=_default).decode()
            except (TypeError, orjson.JSONEncodeError) as exc:
                raise ParseError(f"fields cannot be kept: {exc}") from exc
        return out

    def _to_arrow(self, rows: list[Row], rejected: list[Rejected]) -> pa.RecordBatch:
        try:
            return pa.RecordBatch.from_pylist(rows, schema=SCHEMA)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            pass
        good: list[Row] = []
        for row in rows:  # one bad row must not sink the batch: find it
            try:
                pa.RecordBatch.from_pylist([row], schema=SCHEMA)
                good.append(row)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                raw = str(row.get("event.original", "")).encode()
                rejected.append(
                    Rejected(
                        self.file, self.format, -1, int(row.get("log.offset") or 0),
                        f"cannot convert: {exc}"[:500], raw[: self.src.limits.max_quarantine_bytes],
                        len(raw),
                    )
                )
        return pa.RecordBatch.from_pylist(good, schema=SCHEMA)


LineParser = Callable[[bytes], Row | None]
"""Parses one line; returns a row, None for a line that is not a record
(a header or comment), or raises ParseError."""


def parse_lines(src: Source, fmt: str, parse_line: LineParser, batch_size: int = 0) -> Iterator[Batch]:
    """Drive a per-line parser over a file: the shared loop of every line format."""
    builder = Builder(src, fmt, batch_size or None)
    max_bytes = src.limits.max_record_bytes
    try:
        with src.open() as fh:
            for line in read_lines(fh, max_bytes):
                _one_line(builder, parse_line, line, max_bytes)
                if builder.full():
                    yield builder.flush()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        builder.reject(b"", -1, -1, f"file unreadable past this point: {exc}")
    yield builder.flush()


def _one_line(builder: Builder, parse_line: LineParser, line: Line, max_bytes: int) -> None:
    if line.overlong:
        builder.reject(
            line.raw, line.number, line.offset,
            f"record of {line.overlong} bytes is over the {max_bytes}-byte limit",
            size=line.overlong,
        )
        return
    try:
        row = parse_line(line.raw)
    except ParseError as exc:
        builder.reject(line.raw, line.number, line.offset, exc.reason)
        return
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        builder.reject(line.raw, line.number, line.offset, f"{type(exc).__name__}: {exc}")
        return
    if row is not None:
        builder.add(row, line.raw, line.number, line.offset)
