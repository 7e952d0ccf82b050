"""CSV with a header row, chosen by name (``--format csvlog``), never by sniffing.

Each line is read on its own with the csv module (strict quoting, the module's default
bound of 131,072 characters a field), so a quoted field that spans lines is quarantined
("unexpected end of data"), and so is the line holding its rest when its column count
is wrong. Columns map to ECS as for JSON lines (``jsonl.to_row``); a row whose column
count differs from the header's is quarantined.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from crownwatch.errors import ParseError
from crownwatch.ingest import jsonl
from crownwatch.ingest.batch import Batch, LineParser, Row, parse_lines
from crownwatch.ingest.source import Source

NAME = "csvlog"
MAX_COLUMNS = 10_000


def cells(text: str) -> list[str]:
    """The fields of one CSV line."""
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as exc:
        hint = (
            " (a quoted field spanning lines is not supported)" if "end of data" in str(exc) else ""
        )
        raise ParseError(f"bad CSV: {exc}{hint}") from exc


def column_names(row: list[str]) -> list[str]:
    """Header cells as unique names: blanks become ``column<n>``, repeats get ``_<n>``."""
    if len(row) > MAX_COLUMNS:
        raise ParseError(f"header has {len(row)} columns, over the limit of {MAX_COLUMNS}")
    names: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(row, 1):
        base = cell.strip() or f"column{i}"
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        names.append(name)
    return names


def _text(raw: bytes) -> str:
    if b"\0" in raw:
        raise ParseError("NUL byte inside the line: binary data, not text")
    return raw.decode("utf-8", "replace")


def _line_parser(src: Source) -> LineParser:
    header: list[str] = []
    failed: list[str] = []

    def parse_line(raw: bytes) -> Row | None:
        if failed:
            raise ParseError(f"no usable header line: {failed[0]}")
        if not header:
            try:
                header.extend(column_names(cells(_text(raw).lstrip("\ufeff"))))
            except ParseError as exc:
                failed.append(exc.reason)
                raise
            return None
        row = cells(_text(raw))
        if len(row) != len(header):
            raise ParseError(f"row has {len(row)} columns, the header has {len(header)}")
        return jsonl.to_row(dict(zip(header, row, strict=True)), src.field_map, "csv")

    return parse_line


def sniff(head: bytes, path: str) -> bool:
    """Never: CSV is chosen by name, any text file would pass for it."""
    return False


def parse(src: Source) -> Iterator[Batch]:
    """Batches of events from a CSV file with a header row."""
    jsonl.check_map(src.field_map)
    return parse_lines(src, NAME, _line_parser(src))
