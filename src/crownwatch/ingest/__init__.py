"""Telemetry parsers: one module per format, an explicit registry, format detection.

Each parser module has ``NAME``, ``sniff(head, path) -> bool`` (a cheap test on
the first decompressed bytes; the path is only a hint) and
``parse(src) -> Iterator[Batch]``.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from crownwatch.errors import UsageError
from crownwatch.ingest import cef, csvlog, eve, evtx, jsonl, syslog, winjson, zeek
from crownwatch.ingest.batch import Batch, Rejected
from crownwatch.ingest.source import Source

#: Sniffing order: the most specific formats first, generic JSON lines last.
PARSERS: dict[str, ModuleType] = {
    p.NAME: p for p in (evtx, zeek, eve, winjson, cef, syslog, jsonl, csvlog)
}

__all__ = ["PARSERS", "Batch", "Rejected", "Source", "detect", "expand", "parser_for"]


def detect(src: Source) -> ModuleType | None:
    """The parser whose sniffer accepts the file's first bytes, or None."""
    head = src.head()
    if not head:
        return None
    for parser in PARSERS.values():
        if parser.sniff(head, str(src.path)):
            return parser
    return None


def parser_for(src: Source, fmt: str | None) -> ModuleType | None:
    """The parser named by ``fmt``, else the detected one; unknown names are a UsageError."""
    if fmt:
        try:
            return PARSERS[fmt]
        except KeyError:
            known = ", ".join(PARSERS)
            raise UsageError(f"unknown format {fmt!r}; known formats: {known}") from None
    return detect(src)


def expand(args: list[str]) -> tuple[list[Path], list[str]]:
    """Files named by paths, folders (recursively) and globs; and the arguments that name none."""
    files: list[Path] = []
    missing: list[str] = []
    for arg in args:
        path = Path(arg)
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            files.extend(found)
        else:
            matches = (
                sorted(Path(p) for p in glob.glob(arg, recursive=True) if Path(p).is_file())
                if _is_glob(arg)
                else []
            )
            if matches:
                files.extend(matches)
            else:
                missing.append(arg)
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    return list(unique.values()), missing


def _is_glob(arg: str) -> bool:
    return any(c in arg for c in "*?[")


def read(src: Source, parser: ModuleType) -> Iterator[Batch]:
    """Batches of one source through the given parser."""
    yield from parser.parse(src)
