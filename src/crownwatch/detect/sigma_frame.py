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
    answers to the name without them, as Sigma writes it. Each JSON text is read
    straight from the column's buffer; which keys fill which column is worked out
    once per kind of event (its keys, in order) and batch.
    """
    wanted: set[str] = set()
    for name in names:
        wanted.add(name.lower())
        wanted.update(alias.lower() for alias in ALIASES.get(name, ()))
    size = len(texts)
    columns: dict[str, list[str | None]] = {}
    #: The keys of an event, in order -> the (key, column) pairs of those that are wanted:
    #: events of one kind have the same keys, so each kind is worked out once.
    plans: dict[tuple[str, ...], list[tuple[str, list[str | None]]]] = {}
    for row, text in enumerate(_texts(texts)):
        if not text:
            continue
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue  # the builder wrote it, so this is not expected; the row has no fields
        if not isinstance(data, dict):
            continue
        keys = tuple(data)
        plan = plans.get(keys)
        if plan is None:
            plan = plans[keys] = _plan(keys, wanted, columns, size)
        for key, column in plan:
            value = data[key]
            column[row] = value if type(value) is str else _text(value)
    return {
        n: pa.array(columns[n], pa.string()) if n in columns else pa.nulls(size, pa.string())
        for n in wanted
    }


def _plan(
    keys: tuple[str, ...], wanted: set[str], columns: dict[str, list[str | None]], size: int
) -> list[tuple[str, list[str | None]]]:
    plan = []
    for key in keys:
        target = _target(key, wanted)
        if target is not None:
            if target not in columns:
                columns[target] = [None] * size
            plan.append((key, columns[target]))
    return plan


def _target(key: str, wanted: set[str]) -> str | None:
    """The wanted name a source key fills (Defender's "Threat Name" is ThreatName)."""
    name = key.lower()
    if name in wanted:
        return name
    if " " in key:
        name = key.replace(" ", "").lower()
        if name in wanted:
            return name
    return None


def _texts(texts: pa.Array) -> Iterable[memoryview | str | None]:
    """The values of a string column, as views of its buffer (None where null)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not pa.types.is_string(texts.type) or texts.buffers()[2] is None:
        yield from texts.to_pylist()
        return
    valid = texts.is_valid().to_pylist() if texts.null_count else None
    offsets = memoryview(texts.buffers()[1]).cast("i")[texts.offset : texts.offset + len(texts) + 1]
    data = memoryview(texts.buffers()[2])
    for row in range(len(texts)):
        if valid is not None and not valid[row]:
            yield None
        else:
            yield data[offsets[row] : offsets[row + 1]]


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
        """The field's values lower-cased: cut from the parent's if it has them, else here."""
        if name not in self._lower:
            if self.parent is not None and name in self.parent._lower:
                self._lower[name] = self.parent._lower[name].take(self.indices)
            else:
                self._lower[name] = pc.utf8_lower(self.raw(name))
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
