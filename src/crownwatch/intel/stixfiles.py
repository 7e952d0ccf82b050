"""Reading STIX from files: bundles, single objects or lists of objects; gzip; folders."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

MAX_FILE_BYTES = 2 << 30


class Unreadable(Exception):
    """A file that holds no STIX we can read, with the reason."""


def read(path: Path) -> list[Any]:
    """The objects in one file (a bundle, an object, or a JSON list of objects)."""
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
    if isinstance(doc, dict) and "type" in doc:
        return [doc]
    if isinstance(doc, list):
        return doc
    raise Unreadable("neither a STIX bundle, an object nor a list of objects")


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
