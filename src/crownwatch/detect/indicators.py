"""Indicator matching: the knowledge base's live values against the columns of an event batch.

Per kind, the distinct values of its columns are normalised the way the knowledge base
normalises indicator values (``intel.patterns.normalise_value``), domains together with their
parent domains, and looked up with one ``pyarrow.compute.is_in``; only the rows holding a
matching value reach Python.

Compound indicators (``detect.stix_eval``: AND, ports, NOT…) are found the same way, through
their indexed values, and each candidate hit is then confirmed by the indicator's check on
its event's row; only those candidate rows are read into Python.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from crownwatch.detect.stix_eval import Check

_IP = ("source.ip", "destination.ip", "host.ip")

#: indicator kind -> the event columns its values are looked for in.
FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "ipv4-addr": _IP,
    "ipv6-addr": _IP,
    "domain-name": (
        "dns.question.name",
        "url.domain",
        "tls.server.name",
        "destination.domain",
        "source.domain",
    ),
    "url": ("url.full",),
    "md5": ("file.hash.md5", "process.hash.md5"),
    "sha1": ("file.hash.sha1", "process.hash.sha1"),
    "sha256": ("file.hash.sha256", "process.hash.sha256"),
    "user-agent": ("user_agent.original",),
    "ja3": ("tls.client.ja3",),
    "email-addr": (),
    "file-name": ("file.name",),
}

_LOWER = frozenset({"domain-name", "email-addr", "md5", "sha1", "sha256", "ja3"})
#: A DNS name has at most 127 labels: deeper parents of a longer value are not looked up.
MAX_LABELS = 127


class Hit(NamedTuple):
    """One indicator value found in one column of one event."""

    indicator_id: str
    kind: str
    value: str  # the indicator's value (a parent domain of the event's value for domains)
    field: str
    event_id: str
    timestamp: datetime | None
    host: str | None


@dataclass(frozen=True)
class Matcher:
    """The live indicator values, one Arrow array per kind, and the indicators behind each;
    ``checks``: the compound indicators' checks, which confirm their candidate hits."""

    arrays: dict[str, pa.Array]
    ids: dict[tuple[str, str], list[str]]
    checks: dict[str, Check] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        values: dict[tuple[str, str], list[str]],
        checks: dict[str, Check] | None = None,
    ) -> Matcher:
        """From ``kb.live_index(...)``: ``values``, (kind, normalised value) -> indicator ids,
        and ``compound``, indicator id -> check."""
        by_kind: dict[str, list[str]] = {}
        for kind, value in values:
            if FIELDS_BY_KIND.get(kind):
                by_kind.setdefault(kind, []).append(value)
        arrays = {kind: pa.array(found, pa.string()) for kind, found in by_kind.items()}
        ids = {key: ids for key, ids in values.items() if key[0] in arrays}
        return cls(arrays, ids, dict(checks or {}))


def match(batch: pa.RecordBatch, matcher: Matcher) -> list[Hit]:
    """Every (indicator, column, event) where a live indicator value occurs in the batch."""
    hits: list[Hit] = []
    candidates: list[tuple[Hit, int]] = []  # hits of compound indicators, and their rows
    for kind, indicator_values in matcher.arrays.items():
        columns = {f: _strings(batch, f) for f in FIELDS_BY_KIND[kind]}
        present = {f: c for f, c in columns.items() if c is not None}
        if not present:
            continue
        found = matching_values(kind, list(present.values()), indicator_values)
        for name, column in present.items():
            hits.extend(_rows(batch, kind, name, column, found, matcher, candidates))
    if candidates:
        hits.extend(_confirmed(batch, candidates, matcher.checks))
    return hits


def confirmed(hits: list[Hit], rows: dict[str, dict[str, Any]], matcher: Matcher) -> list[Hit]:
    """The hits that stand: a compound indicator's only where its check holds on the event's
    row (``rows``: event id -> row); a hit whose row is missing is dropped."""
    if not matcher.checks:
        return hits
    checks = matcher.checks
    return [
        hit
        for hit in hits
        if (check := checks.get(hit.indicator_id)) is None
        or (hit.event_id in rows and check(rows[hit.event_id]))
    ]


def _confirmed(
    batch: pa.RecordBatch, candidates: list[tuple[Hit, int]], checks: dict[str, Check]
) -> list[Hit]:
    """The candidate hits whose indicator's check holds on their row."""
    rows = sorted({row for _, row in candidates})
    wanted = set().union(*(checks[hit.indicator_id].columns for hit, _ in candidates))
    present = [c for c in wanted if batch.schema.get_field_index(c) >= 0]
    table = batch.select(present).take(pa.array(rows, pa.int64())).to_pylist()
    by_row = dict(zip(rows, table, strict=True))
    verdicts: dict[tuple[str, int], bool] = {}
    kept = []
    for hit, row in candidates:
        key = (hit.indicator_id, row)
        if key not in verdicts:
            verdicts[key] = checks[hit.indicator_id](by_row[row])
        if verdicts[key]:
            kept.append(hit)
    return kept


def sightings(hits: list[Hit]) -> list[tuple[str, datetime, int]]:
    """Per indicator: the time of its latest hit and how many distinct events it hit.

    The shape ``kb.record_sightings`` takes. Hits without a timestamp are counted, but an
    indicator none of whose hits has one is left out (it has no time to be seen at).
    """
    events: dict[str, set[str]] = {}
    last: dict[str, datetime] = {}
    for hit in hits:
        events.setdefault(hit.indicator_id, set()).add(hit.event_id)
        if hit.timestamp is not None:
            seen = last.get(hit.indicator_id)
            last[hit.indicator_id] = hit.timestamp if seen is None else max(seen, hit.timestamp)
    return [(ident, last[ident], len(events[ident])) for ident in sorted(last)]


def _strings(batch: pa.RecordBatch, field: str) -> pa.Array | None:
    """The column as strings, or None when the batch has no value in it."""
    index = batch.schema.get_field_index(field)
    if index < 0:
        return None
    column = batch.column(index)
    if column.null_count == len(column):
        return None
    return column if pa.types.is_string(column.type) else column.cast(pa.string())


def matching_values(
    kind: str, columns: list[pa.Array], indicator_values: pa.Array
) -> dict[str, list[str]]:
    """Distinct raw column values that match -> the indicator values they match."""
    distinct = pc.unique(pa.concat_arrays([pc.unique(c).drop_null() for c in columns]))
    keys = _normalised(kind, distinct)
    valid = pc.is_valid(keys)
    keys, origin = keys.filter(valid), pc.indices_nonzero(valid)
    if kind == "domain-name":
        keys, origin = _with_parents(keys, origin)
    hit = _in(keys, indicator_values)
    raw = distinct.take(origin.filter(hit)).to_pylist()
    found: dict[str, list[str]] = {}
    for value, key in zip(raw, keys.filter(hit).to_pylist(), strict=True):
        found.setdefault(value, []).append(key)
    return found


def _in(keys: pa.Array, values: pa.Array) -> pa.Array:
    """``is_in(keys, values)``, hashing the smaller side.

    Arrow hashes the value set anew on every call: with many more indicator values than
    distinct keys in a batch, probing the indicator values with the keys costs less.
    """
    if len(keys) >= len(values):
        return pc.is_in(keys, value_set=values)
    present = values.filter(pc.is_in(values, value_set=keys))
    return pc.is_in(keys, value_set=present)


def _normalised(kind: str, values: pa.Array) -> pa.Array:
    """Column values in the form indicator values are kept in (see ``normalise_value``)."""
    values = pc.utf8_trim_whitespace(values)
    if kind == "domain-name":
        return pc.utf8_rtrim(pc.utf8_lower(values), characters=".")
    if kind in _LOWER:
        return pc.utf8_lower(values)
    if kind == "ipv6-addr":  # compressed form, per distinct value; IPv4 values cannot match
        return pa.array([_ipv6(v) for v in values.to_pylist()], pa.string())
    return values


def _ipv6(value: str) -> str | None:
    if ":" not in value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value.lower()


def _with_parents(names: pa.Array, origin: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Each name and each of its parent domains, with the position of the name it came from."""
    keys, origins = [names], [origin]
    for _ in range(MAX_LABELS - 1):
        dotted = pc.match_substring(names, ".")
        names = pc.replace_substring_regex(
            names.filter(dotted), r"^[^.]*\.", "", max_replacements=1
        )
        origin = origin.filter(dotted)
        if not len(names):
            break
        keys.append(names)
        origins.append(origin)
    return pa.concat_arrays(keys), pa.concat_arrays(origins)


def _rows(
    batch: pa.RecordBatch,
    kind: str,
    field: str,
    column: pa.Array,
    found: dict[str, list[str]],
    matcher: Matcher,
    candidates: list[tuple[Hit, int]],
) -> list[Hit]:
    """The hits in one column: only its rows holding a matching value go to Python.

    Hits of compound indicators go to ``candidates`` with their row, not to the result.
    """
    if not found:
        return []
    rows = pc.indices_nonzero(pc.is_in(column, value_set=pa.array(list(found), pa.string())))
    if not len(rows):
        return []
    ids = matcher.ids
    if matcher.checks:
        return _split_rows(batch, kind, field, column, rows, found, matcher, candidates)
    hits: list[Hit] = []
    for value, event, when, host in zip(
        column.take(rows).to_pylist(),
        _take(batch, "event.id", rows),
        _take(batch, "@timestamp", rows),
        _take(batch, "host.name", rows),
        strict=True,
    ):
        for key in found[value]:
            for ident in ids[(kind, key)]:
                hits.append(Hit(ident, kind, key, field, event, when, host))
    return hits


def _split_rows(
    batch: pa.RecordBatch,
    kind: str,
    field: str,
    column: pa.Array,
    rows: pa.Array,
    found: dict[str, list[str]],
    matcher: Matcher,
    candidates: list[tuple[Hit, int]],
) -> list[Hit]:
    """``_rows`` when some indicators are compound: their hits become candidates."""
    hits: list[Hit] = []
    for value, event, when, host, row in zip(
        column.take(rows).to_pylist(),
        _take(batch, "event.id", rows),
        _take(batch, "@timestamp", rows),
        _take(batch, "host.name", rows),
        rows.to_pylist(),
        strict=True,
    ):
        for key in found[value]:
            for ident in matcher.ids[(kind, key)]:
                hit = Hit(ident, kind, key, field, event, when, host)
                if ident in matcher.checks:
                    candidates.append((hit, row))
                else:
                    hits.append(hit)
    return hits


def _take(batch: pa.RecordBatch, field: str, rows: pa.Array) -> list[Any]:
    index = batch.schema.get_field_index(field)
    if index < 0:
        return [None] * len(rows)
    return list(batch.column(index).take(rows).to_pylist())
