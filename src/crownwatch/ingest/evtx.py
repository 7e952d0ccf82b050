"""Windows event log files (.evtx), read with the Rust ``evtx`` parser.

Each record comes back as JSON text (``{"Event": {"System": …, "EventData": …}}``),
which is what ``event.original`` keeps; ``windows.to_row`` maps it to ECS. Records
or whole chunks the Rust parser cannot read are quarantined with its reason, and
parsing goes on with the next one. Gzip files are decompressed to a temporary
file first, so a truncated gzip still gives the records before the damage.
"""

from __future__ import annotations

import gzip
import re
import tempfile
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

import orjson
from evtx import PyEvtxParser

from crownwatch.errors import ParseError
from crownwatch.ingest import windows
from crownwatch.ingest.batch import Batch, Builder
from crownwatch.ingest.source import Source

NAME = "evtx"
MAGIC = b"ElfFile\0"
HEADER_BYTES = 4096
CHUNK_BYTES = 65536
#: The largest EVTX file there can be: 65535 chunks after the header.
MAX_FILE_BYTES = HEADER_BYTES + 0xFFFF * CHUNK_BYTES
#: A guard against a parser that keeps failing without moving on.
MAX_FAILURES = 0x10000

_RECORD = re.compile(r"record (?:IDs |number )(\d+)")
_CHUNK = re.compile(r"chunk number (\d+)")


def sniff(head: bytes, path: str) -> bool:
    """An EVTX file starts with its magic (the file name does not matter)."""
    return head.startswith(MAGIC)


def parse(src: Source) -> Iterator[Batch]:
    builder = Builder(src, NAME)
    if src.is_gzip():
        with tempfile.TemporaryFile() as tmp:
            _decompress(src, tmp, builder)
            tmp.seek(0)
            yield from _records(tmp, builder)
    else:
        with src.open() as fh:
            yield from _records(fh, builder)
    yield builder.flush()


def _decompress(src: Source, out: BinaryIO, builder: Builder) -> None:
    """Copy the decompressed bytes to ``out``; damage ends the copy and is quarantined.

    ``read1`` hands over each piece as soon as it is decompressed, so a cut gzip keeps
    everything before the cut (``read`` would drop the pieces of its last call).
    """
    with gzip.open(src.path, "rb") as fh:
        try:
            while piece := fh.read1(min(1 << 20, MAX_FILE_BYTES + 1 - out.tell())):
                out.write(piece)
        except (OSError, EOFError, zlib.error) as exc:
            builder.reject(b"", -1, out.tell(), f"gzip unreadable past this point: {exc}")
    if out.tell() > MAX_FILE_BYTES:
        out.truncate(MAX_FILE_BYTES)
        builder.reject(
            b"", -1, MAX_FILE_BYTES, "larger than an EVTX file can be: the rest is not read"
        )


def _records(fh: BinaryIO, builder: Builder) -> Iterator[Batch]:
    try:
        records = PyEvtxParser(fh).records_json()
    except (OSError, RuntimeError, ValueError) as exc:
        builder.reject(b"", 0, 0, f"not a readable EVTX file: {exc}")
        return
    max_bytes = builder.src.limits.max_record_bytes
    index = failures = 0
    while failures < MAX_FAILURES:
        index += 1
        try:
            record = cast(dict[str, Any], next(records))  # records are dicts, errors raise
        except StopIteration:
            break
        except (RuntimeError, OSError, ValueError) as exc:  # a record or chunk it cannot read
            failures += 1
            _reject_failure(builder, index, str(exc))
        else:
            _record(builder, record, index, max_bytes)
        if builder.full():
            yield builder.flush()
    else:
        builder.reject(b"", index, -1, f"gave up after {failures} unreadable records or chunks")
    _check_size(fh, builder)


def _record(builder: Builder, record: dict[str, Any], index: int, max_bytes: int) -> None:
    text = record.get("data")
    position = record.get("event_record_id") or index
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else b""
    if len(raw) > max_bytes:
        builder.reject(raw, position, -1, f"record over the {max_bytes}-byte limit", len(raw))
        return
    try:
        event = orjson.loads(raw)["Event"]
        ts_text, system, data = windows.evtx_event(event)
        ts = windows.timestamp(ts_text or record.get("timestamp"))
        row = windows.to_row(ts, system, data)
        message = windows.rendered_message(event)
        if message:
            row["message"] = message
    except ParseError as exc:
        builder.reject(raw, position, -1, exc.reason)
        return
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        builder.reject(raw, position, -1, f"{type(exc).__name__}: {exc}")
        return
    builder.add(row, raw, position, -1)


def _reject_failure(builder: Builder, index: int, reason: str) -> None:
    """Quarantine what the Rust parser reports, placed by the record id or chunk it names."""
    record = _RECORD.search(reason)
    chunk = _CHUNK.search(reason)
    position = int(record.group(1)) if record else index
    offset = HEADER_BYTES + int(chunk.group(1)) * CHUNK_BYTES if chunk else -1
    builder.reject(b"", position, offset, f"evtx: {reason}")


def _check_size(fh: BinaryIO, builder: Builder) -> None:
    """A file cut inside a chunk loses that chunk's records silently: say so."""
    size = fh.seek(0, 2)
    rest = (size - HEADER_BYTES) % CHUNK_BYTES
    if rest:
        builder.reject(
            b"", -1, size - rest,
            f"file ends inside a chunk: its last {rest} bytes (a partial chunk) cannot be read",
        )  # fmt: skip
