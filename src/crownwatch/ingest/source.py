"""Opening telemetry files: gzip handled transparently, lines read with a bounded length."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import BinaryIO

from crownwatch.config import IngestSettings

GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 8192
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class Source:
    """One file to ingest and the limits and hints that go with it."""

    path: Path
    limits: IngestSettings = field(default_factory=IngestSettings)
    #: For generic JSON lines and CSV: ECS field name -> the source's field name.
    field_map: dict[str, str] = field(default_factory=dict)
    #: Dataset name given by the user (``--dataset``), else the parser's own.
    dataset: str = ""

    @property
    def name(self) -> str:
        return str(self.path)

    def is_gzip(self) -> bool:
        with self.path.open("rb") as fh:
            return fh.read(2) == GZIP_MAGIC

    def open(self) -> BinaryIO:
        """The file's bytes, decompressed when it is gzip."""
        raw = self.path.open("rb")
        if raw.read(2) == GZIP_MAGIC:
            raw.seek(0)
            return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
        raw.seek(0)
        return raw

    def head(self, size: int = HEAD_BYTES) -> bytes:
        """The first bytes of the (decompressed) content, for sniffing."""
        with self.open() as fh:
            try:
                return fh.read(size)
            except (OSError, EOFError, gzip.BadGzipFile):
                return b""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a file: its number (1-based), byte offset, bytes without the newline."""

    number: int
    offset: int
    raw: bytes
    #: The whole line's length when it was longer than the limit (raw is then its head).
    overlong: int = 0


@dataclass
class Lines:
    """Lines of a file as columns: numbers, byte offsets and bytes (no newline)."""

    numbers: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.raws)

    def append(self, line: Line) -> None:
        self.numbers.append(line.number)
        self.offsets.append(line.offset)
        self.raws.append(line.raw)

    def extend(self, other: Lines) -> None:
        self.numbers += other.numbers
        self.offsets += other.offsets
        self.raws += other.raws

    def cut(self, size: int) -> tuple[Lines, Lines]:
        """The first ``size`` lines, and the rest."""
        head = Lines(self.numbers[:size], self.offsets[:size], self.raws[:size])
        return head, Lines(self.numbers[size:], self.offsets[size:], self.raws[size:])

    def lines(self) -> list[Line]:
        return [Line(*t) for t in zip(self.numbers, self.offsets, self.raws, strict=True)]


def read_runs(fh: BinaryIO | io.BufferedIOBase, max_bytes: int) -> Iterator[Line | Lines]:
    """``source.read_lines``, with the lines of a piece that need no care (none over
    the limit, blank or with a CR) given together as one ``Lines``, in bulk."""
    read = getattr(fh, "read1", fh.read)
    number = offset = 0
    carry = b""
    long_head, long_size = b"", 0  # inside a line over the limit: its head and size so far
    while True:
        chunk = read(CHUNK_BYTES)
        if not chunk:
            break
        if long_size:
            end = chunk.find(b"\n")
            if end < 0:
                long_size += len(chunk)
                continue
            long_size += end + 1
            number += 1
            yield Line(number, offset, long_head, overlong=long_size)
            offset += long_size
            long_head, long_size = b"", 0
            chunk = chunk[end + 1 :]
        data = carry + chunk
        parts = data.split(b"\n")
        carry = parts.pop()
        sizes = list(map(len, parts))
        if parts and b"\r" not in data and max(sizes) <= max_bytes and all(map(bytes.strip, parts)):
            ends = list(accumulate((size + 1 for size in sizes), initial=offset))
            yield Lines(list(range(number + 1, number + 1 + len(parts))), ends[:-1], parts)
            number, offset = number + len(parts), ends[-1]
        else:
            for part in parts:
                number += 1
                start = offset
                offset += len(part) + 1
                if len(part) > max_bytes:
                    yield Line(number, start, part[:max_bytes], overlong=len(part) + 1)
                elif part.strip():
                    yield Line(number, start, part.rstrip(b"\r"))
        if len(carry) > max_bytes:
            long_head, long_size, carry = carry[:max_bytes], len(carry), b""
    if long_size:
        yield Line(number + 1, offset, long_head, overlong=long_size)
    elif carry.strip():
        if len(carry) > max_bytes:
            yield Line(number + 1, offset, carry[:max_bytes], overlong=len(carry))
        else:
            yield Line(number + 1, offset, carry.rstrip(b"\r"))


class Fallback(Exception):
    """The block is not one the fast path can reproduce exactly."""


def read_lines(fh: BinaryIO | io.BufferedIOBase, max_bytes: int) -> Iterator[Line]:
    """Lines of a binary stream; a line over ``max_bytes`` is cut, not held in memory.

    Blank lines are skipped (they are not records) but still counted for numbering.
    """
    for run in read_runs(fh, max_bytes):
        if isinstance(run, Line):
            yield run
        else:
            yield from run.lines()
