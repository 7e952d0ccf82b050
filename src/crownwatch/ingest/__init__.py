"""Telemetry parsers: one module per format, an explicit registry, format detection.

Each parser module has ``NAME``, ``sniff(head, path) -> bool`` (a cheap test on
the first decompressed bytes; the path is only a hint) and
``parse(src) -> Iterator[Batch]``.
"""

from __future__ import annotations

import glob
import os
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
    """Files named by paths, folders (recursively) and globs; and what could not be used.

    The second list says, for each argument (or folder inside one) that gave nothing,
    why: ``"x.log: no such file, folder or glob"``, ``"dir: cannot read: …"``.
    """
    files: list[Path] = []
    problems: list[str] = []
    for arg in args:
        path = Path(arg)
        try:
            if path.is_file():
                files.append(path)
                continue
            if path.is_dir():
                files.extend(_walk(path, problems))
                continue
        except OSError as exc:
            problems.append(f"{arg}: cannot read: {exc.strerror or exc}")
            continue
        matches = (
            sorted(Path(p) for p in glob.glob(arg, recursive=True) if Path(p).is_file())
            if _is_glob(arg)
            else []
        )
        if matches:
            files.extend(matches)
        else:
            problems.append(f"{arg}: no such file, folder or glob")
    unique: dict[Path, Path] = {}
    for f in files:  # absolute: a file's path is its provenance in the lake
        unique.setdefault(f.resolve(), f.absolute())
    return list(unique.values()), problems


def _walk(folder: Path, problems: list[str]) -> list[Path]:
    """Every file under a folder, hidden ones aside; folders that cannot be read are reported."""

    def unreadable(exc: OSError) -> None:
        problems.append(f"{exc.filename}: cannot read: {exc.strerror or exc}")

    found: list[Path] = []
    for root, dirs, names in os.walk(folder, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
    return [f for f in found if f.is_file()]


def _is_glob(arg: str) -> bool:
    return any(c in arg for c in "*?[")


def read(src: Source, parser: ModuleType) -> Iterator[Batch]:
    """Batches of one source through the given parser."""
    yield from parser.parse(src)
