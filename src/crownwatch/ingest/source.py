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
    """
    number = 0
    offset = 0
    readline = fh.readline
    while True:
        chunk = readline(max_bytes + 1)
        if not chunk:
            return
        number += 1
        start = offset
        offset += len(chunk)
        if len(chunk) > max_bytes and not chunk.endswith(b"\n"):
            size = len(chunk)
            while True:  # skip the rest of the overlong line in bounded pieces
                more = readline(1 << 20)
                if not more:
                    break
                size += len(more)
                offset += len(more)
                if more.endswith(b"\n"):
                    break
            yield Line(number, start, chunk[:max_bytes], overlong=size)
            continue
        raw = chunk.rstrip(b"\r\n")
        if raw.strip():
            yield Line(number, start, raw)
