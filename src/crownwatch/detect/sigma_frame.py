"""The columns Sigma rules read, taken from a batch of events once and shared by all rules.

A rule names the source's own fields (``Image``, ``CommandLine``); they live in the
``fields`` JSON column, which is parsed once per batch into string columns for the
names the loaded rules use (names match case-insensitively). A name that is not in
an event falls back to an alias (Security 4688 names for Sysmon ones) or to the ECS
column of that name. Lower-cased and numeric forms are computed on first use.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from crownwatch.schema import FIELDS, coerce_int

#: Sigma (Sysmon) name -> the names the same value has in other Windows events.
ALIASES: dict[str, tuple[str, ...]] = {
    "Image": ("NewProcessName", "ProcessName"),  # Security 4688; 4663 (file_access)
    "ParentImage": ("ParentProcessName",),
    "TargetFilename": ("ObjectName",),  # Security 4663 (file_access)
    "Signature": ("Threat Name",),  # Defender 1116/1117 (antivirus)
    "Filename": ("Path",),
}

#: The column keyword rules (values without a field) search: the raw record.
ORIGINAL = "event.original"


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def parse_fields(texts: pa.Array, names: Iterable[str]) -> dict[str, pa.Array]:
    """The named fields of every row of a ``fields`` JSON column, as string columns.

    The result is keyed by the lower-cased name; a source name with spaces also
    answers to the name without them, as Sigma writes it.
    """
    wanted: set[str] = set()
    for name in names:
        wanted.add(name.lower())
        wanted.update(alias.lower() for alias in ALIASES.get(name, ()))
    columns: dict[str, list[str | None]] = {n: [None] * len(texts) for n in wanted}
    for row, text in enumerate(texts.to_pylist()):
        if not text:
            continue
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue  # the builder wrote it, so this is not expected; the row has no fields
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            column = columns.get(key.lower())
            if column is None and " " in key:  # Defender's "Threat Name" is ThreatName
                column = columns.get(key.replace(" ", "").lower())
            if column is not None:
                column[row] = _text(value)
    return {n: pa.array(v, pa.string()) for n, v in columns.items()}


class Frame:
    """Columns by Sigma field name over some rows of a batch; derived forms cached.

    ``take`` gives a frame over a subset of rows whose columns are cut from this
    frame's on first use, so narrowing costs only the columns a rule goes on to read.
    """

    def __init__(self, batch: pa.RecordBatch, fields: dict[str, pa.Array]) -> None:
        self.batch = batch
        self.fields = fields
        self.length = batch.num_rows
        self.parent: Frame | None = None
        self.indices: pa.Array | None = None
        self._raw: dict[str, pa.Array] = {}
        self._lower: dict[str, pa.Array] = {}
        self._number: dict[str, pa.Array] = {}

    def take(self, indices: pa.Array) -> Frame:
        """The same columns over the rows at ``indices``."""
        sub = Frame(self.batch, self.fields)
        sub.parent, sub.indices, sub.length = self, indices, len(indices)
        return sub

    def raw(self, name: str) -> pa.Array:
        """The field's values as text, null where an event has no such field."""
        if name not in self._raw:
            if self.parent is None:
                self._raw[name] = self._resolve(name)
            else:
                self._raw[name] = self.parent.raw(name).take(self.indices)
        return self._raw[name]

    def lower(self, name: str) -> pa.Array:
        if name not in self._lower:
            if self.parent is None:
                self._lower[name] = pc.utf8_lower(self.raw(name))
            else:
                self._lower[name] = self.parent.lower(name).take(self.indices)
        return self._lower[name]

    def number(self, name: str) -> pa.Array:
        """The field's values as integers (decimal or 0x hex), null where not a number."""
        if name not in self._number:
            values = [coerce_int(v) for v in self.raw(name).to_pylist()]
            self._number[name] = pa.array(values, pa.int64())
        return self._number[name]

    def _resolve(self, name: str) -> pa.Array:
        if name == ORIGINAL:
            return self.batch.column(ORIGINAL)
        column = self.fields.get(name.lower())
        if column is None:
            column = pa.nulls(self.length, pa.string())
        for alias in ALIASES.get(name, ()):
            if alias.lower() in self.fields and column.null_count:
                column = pc.coalesce(column, self.fields[alias.lower()])
        if name in FIELDS and column.null_count:
            ecs = self.batch.column(name)
            column = pc.coalesce(column, ecs if ecs.type == pa.string() else ecs.cast(pa.string()))
        return column
