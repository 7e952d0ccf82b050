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
import pyarrow.compute as pc

from crownwatch.errors import ParseError
from crownwatch.ingest.source import Source, read_lines
from crownwatch.schema import FIELDS, INT_FIELDS, SCHEMA, coerce_int, event_id

Row = dict[str, Any]

#: Microseconds of 1900-01-01 and 2200-01-01: timestamps outside are rejected.
MIN_TS = -2208988800 * 1_000_000
MAX_TS = 7258118400 * 1_000_000

_EMPTY = pa.scalar("", pa.string())
_I32 = frozenset(n for n, t in FIELDS.items() if t == pa.int32())

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


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=_default).decode()
    return str(value)


def _int(value: Any, bits: int) -> int | None:
    number = coerce_int(value)
    if number is None or not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
        return None
    return number


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _fields_json(value: Any) -> str | None:
    """The source's own fields as JSON text; parsers may hand over JSON text already."""
    if not value:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return orjson.dumps({str(k): _text(v) for k, v in dict(value).items()}).decode()


def _column(name: str, values: list[Any]) -> pa.Array:
    """One column, converted in one go; odd values (attacker input) take the slow path."""
    typ = FIELDS[name]
    try:
        array = pa.array(values, typ)
        # what an empty text can come from here (a bytearray or memoryview equals b"")
        empty = pa.types.is_string(typ) and ("" in values or b"" in values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        array = _slow_column(name, typ, values)
        empty = True
    if pa.types.is_string(typ) and empty and array.null_count < len(array):
        array = pc.if_else(pc.equal(array, _EMPTY), pa.scalar(None, typ), array)
    return array


def _slow_column(name: str, typ: pa.DataType, values: list[Any]) -> pa.Array:
    if name not in INT_FIELDS:
        return pa.array([_text(v) for v in values], typ)
    try:  # numbers given as text: one vectorised cast
        return pa.array(values, pa.string()).cast(typ)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        bits = 32 if name in _I32 else 64
        return pa.array([_int(v, bits) for v in values], typ)


def original_column(raws: list[bytes]) -> pa.Array:
    try:
        return pa.array(raws, pa.binary()).cast(pa.string())
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return pa.array([r.decode("utf-8", "replace") for r in raws], pa.string())


class Builder:
    """Collects rows and rejections for one source and cuts them into batches."""

    def __init__(self, src: Source, fmt: str, batch_size: int | None = None) -> None:
        self.src = src
        self.format = fmt
        self.file = str(src.path)
        self.batch_size = batch_size or src.limits.batch_size
        self.rows: list[Row] = []
        self.raws: list[bytes] = []
        self.ids: list[str] = []
        self.offsets: list[int] = []
        self.rejected: list[Rejected] = []
        self.read = 0

    def add(self, row: Row, raw: bytes, position: int, offset: int) -> None:
        """Keep one parsed row, or reject it when its timestamp or fields are unusable."""
        self.read += 1
        ts = row.get("@timestamp")
        if type(ts) is not int or not MIN_TS <= ts < MAX_TS:
            reason = "no timestamp" if ts is None else f"bad timestamp {ts!r:.60}"
            self.reject(raw, position, offset, reason, counted=True)
            return
        try:  # here, not at flush: one record too deep for JSON must not sink its batch
            row["fields"] = _fields_json(row.get("fields"))
        except (TypeError, ValueError, RecursionError) as exc:
            self.reject(raw, position, offset, f"fields not storable as JSON: {exc}", counted=True)
            return
        dataset = self.src.dataset or row.get("event.dataset") or self.format
        row["event.dataset"] = dataset
        self.rows.append(row)
        self.raws.append(raw)
        self.ids.append(event_id(str(dataset), position, raw))
        self.offsets.append(offset)

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
                self.file,
                self.format,
                position,
                offset,
                reason[:500],
                raw[:limit],
                size or len(raw),
            )
        )

    def full(self) -> bool:
        return len(self.rows) + len(self.rejected) >= self.batch_size

    def flush(self) -> Batch:
        """The rows and rejections gathered so far, as one batch."""
        events = self._to_arrow()
        batch = Batch(events, self.rejected, self.read)
        self.rows, self.raws, self.ids, self.offsets, self.rejected = [], [], [], [], []
        self.read = 0
        return batch

    def _to_arrow(self) -> pa.RecordBatch:
        rows = self.rows
        n = len(rows)
        names: set[str] = set().union(*rows)  # the fields any row has
        gathered = {name: [row.get(name) for row in rows] for name in names}
        unknown = gathered.keys() - FIELDS.keys() - {"fields"}
        if unknown:
            raise ValueError(f"parser {self.format} produced unknown fields: {sorted(unknown)}")
        fields = gathered.pop("fields", None)
        columns: list[pa.Array] = []
        nulls: dict[pa.DataType, pa.Array] = {}
        for name, typ in FIELDS.items():
            if name == "event.id":
                columns.append(pa.array(self.ids, typ))
            elif name == "log.file.path":
                columns.append(pa.array([self.file] * n, typ))
            elif name == "log.offset":
                columns.append(pa.array(self.offsets, typ))
            elif name == "event.original":
                columns.append(original_column(self.raws))
            elif name == "fields":
                texts = [_fields_json(f) for f in fields] if fields else [None] * n
                columns.append(pa.array(texts, typ))
            elif name in gathered:
                columns.append(_column(name, gathered[name]))
            else:  # one all-null array per type serves every absent column of that type
                if typ not in nulls:
                    nulls[typ] = pa.nulls(n, typ)
                columns.append(nulls[typ])
        return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)


LineParser = Callable[[bytes], Row | None]
"""Parses one line; returns a row, None for a line that is not a record
(a header or comment), or raises ParseError."""


def parse_lines(
    src: Source, fmt: str, parse_line: LineParser, batch_size: int = 0
) -> Iterator[Batch]:
    """Drive a per-line parser over a file: the shared loop of every line format."""
    builder = Builder(src, fmt, batch_size or None)
    max_bytes = src.limits.max_record_bytes
    add, reject = builder.add, builder.reject
    try:
        with src.open() as fh:
            for line in read_lines(fh, max_bytes):
                raw = line.raw
                if line.overlong:
                    reason = f"record of {line.overlong} bytes is over the {max_bytes}-byte limit"
                    reject(raw, line.number, line.offset, reason, size=line.overlong)
                    continue
                try:
                    row = parse_line(raw)
                except ParseError as exc:
                    reject(raw, line.number, line.offset, exc.reason)
                except BUGS_ON_BAD_INPUT as exc:
                    reject(raw, line.number, line.offset, f"{type(exc).__name__}: {exc}")
                else:
                    if row is not None:
                        add(row, raw, line.number, line.offset)
                if len(builder.rows) + len(builder.rejected) >= builder.batch_size:
                    yield builder.flush()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        reject(b"", -1, -1, f"file unreadable past this point: {exc}")
    yield builder.flush()


#: What a parser may raise on input it did not foresee: the record is quarantined.
BUGS_ON_BAD_INPUT = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
    OverflowError,
)
