"""Plain lists and CSV files of indicators into STIX indicators.

One indicator per line (or per CSV cell), its type detected and defanged forms
(``hxxp``, ``[.]``, ``(dot)``…) accepted through ``iocs.find``. A line with nothing
recognisable is rejected with its number and the reason; so is a value the
false-positive rules drop (a private address, a well-known domain).
"""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

from crownwatch.intel import iocs
from crownwatch.intel.stixobj import NAMESPACE

MAX_LINE = 8192
TEXT_SUFFIXES = frozenset((".csv", ".txt", ".list", ".ioc", ".iocs", ".tsv"))
STAMP = "2000-01-01T00:00:00.000Z"


def is_list(path: Path, head: bytes) -> bool:
    """A text list or CSV: by its name, and by not looking like JSON."""
    return path.suffix.lower() in TEXT_SUFFIXES and not head.lstrip().startswith((b"{", b"["))


def indicators(
    path: Path, confidence: int | None = None
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """STIX indicators for the values in a list or CSV, and the (line, reason) rejected."""
    text = path.read_bytes().decode("utf-8", "replace")
    objects: dict[str, dict[str, Any]] = {}
    rejected: list[tuple[str, str]] = []
    rows = (
        csv.reader(io.StringIO(text))
        if path.suffix.lower() == ".csv"
        else ([line] for line in text.splitlines())
    )
    try:
        for number, cells in enumerate(rows, 1):
            line = ",".join(cells).strip()
            if not line or line.startswith("#") or (number == 1 and _header(cells)):
                continue
            if len(line) > MAX_LINE:
                rejected.append((f"line {number}", f"longer than {MAX_LINE} characters"))
                continue
            found, dropped = iocs.find(line)
            if not found:
                reason = dropped[0]["reason"] if dropped else "no indicator recognised"
                rejected.append((f"line {number}", f"{reason}: {line[:80]!r}"))
                continue
            for hit in found:
                obj = _indicator(hit.kind, hit.value, confidence or hit.confidence)
                objects.setdefault(obj["id"], obj)
    except csv.Error as exc:
        rejected.append((str(path.name), f"CSV breaks off: {exc}"))
    return list(objects.values()), rejected


def _header(cells: list[str]) -> bool:
    names = {c.strip().lower() for c in cells}
    return bool(names & {"value", "indicator", "ioc", "type", "ip", "domain", "url", "hash"})


def _indicator(kind: str, value: str, confidence: int) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(NAMESPACE, f'list|{kind}|{value}')}",
        "created": STAMP,
        "modified": STAMP,
        "name": value[:200],
        "pattern": iocs.pattern(kind, value),
        "pattern_type": "stix",
        "valid_from": STAMP,
        "indicator_types": ["malicious-activity"],
        "confidence": max(0, min(100, confidence)),
    }
