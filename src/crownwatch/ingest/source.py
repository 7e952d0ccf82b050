"""Opening telemetry files: gzip handled transparently, lines read with a bounded length."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
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


def read_lines(fh: BinaryIO | io.BufferedIOBase, max_bytes: int) -> Iterator[Line]:
    """Lines of a binary stream; a line over ``max_bytes`` is cut, not held in memory.

    Blank lines are skipped (they are not records) but still counted for numbering.
    The stream is read in pieces and split in bulk: this loop is every text format's.
    """
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
        parts = (carry + chunk).split(b"\n")
        carry = parts.pop()
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
