"""Reading STIX from files: bundles, single objects or lists of objects; gzip; folders."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

MAX_FILE_BYTES = 2 << 30
#: Files larger than this are read as a stream, an object at a time (bounded memory).
STREAM_ABOVE = 64 << 20
MAX_OBJECT_CHARS = 16 << 20
_OBJECTS_KEY = re.compile(r'"objects"\s*:\s*\[')


class Unreadable(Exception):
    """A file that holds no STIX we can read, with the reason."""


def read(path: Path) -> Iterator[Any]:
    """The objects in one file (a bundle, an object, or a JSON list of objects).

    Raises ``Unreadable`` before the first object when the file cannot be used; a large
    bundle is streamed, so a break in the middle raises after the objects before it.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            compressed = fh.read(2) == b"\x1f\x8b"
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from exc
    if size > STREAM_ABOVE or (compressed and size > STREAM_ABOVE // 8):
        return _stream(path, compressed)
    return iter(_read_whole(path))


def _read_whole(path: Path) -> list[Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from exc
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise Unreadable(f"broken gzip: {exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise Unreadable(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise Unreadable(f"not JSON: {exc}") from exc
    if isinstance(doc, dict) and doc.get("type") == "bundle":
        found = doc.get("objects", [])
        if not isinstance(found, list):
            raise Unreadable("bundle objects is not a list")
        return found
    if isinstance(doc, dict) and ("type" in doc or "Event" in doc or "response" in doc):
        return [doc]  # one STIX object, or a MISP event (or search response)
    if isinstance(doc, list):
        return doc
    raise Unreadable("neither a STIX bundle, an object nor a list of objects")


def _stream(path: Path, compressed: bool) -> Iterator[Any]:
    """Objects of a big bundle, decoded one at a time from a sliding buffer."""
    opener = gzip.open if compressed else open
    decoder = json.JSONDecoder()
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        buf = fh.read(1 << 20)
        start = _OBJECTS_KEY.search(buf[:65536])
        if start is None or not buf.lstrip().startswith("{"):
            raise Unreadable("not a STIX bundle with an objects list")
        pos = start.end()
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buf) and buf[pos] == "]":
                return
            try:
                obj, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                more = fh.read(1 << 20)
                if not more:
                    raise Unreadable(f"bundle breaks off: {exc}") from exc
                if len(buf) - pos > MAX_OBJECT_CHARS:
                    reason = f"an object longer than {MAX_OBJECT_CHARS} characters"
                    raise Unreadable(reason) from exc
                buf, pos = buf[pos:] + more, 0
                continue
            except RecursionError as exc:
                raise Unreadable("an object nested too deep") from exc
            yield obj
            pos = end
            if pos > 1 << 20:
                buf, pos = buf[pos:], 0


def files(paths: list[Path]) -> Iterator[Path]:
    """Files named, and files under folders named (hidden ones skipped)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.parts)
            )
        else:
            yield path
