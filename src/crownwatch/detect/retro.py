"""Retro-hunts: the knowledge base's indicators against the events the lake already holds.

DuckDB reads only the indicator columns of the events in the time window, once for their
distinct values; those are matched the way live detection matches them
(``indicators.matching_values``: normalised, domains with their parents), and only the
events holding a matching value are read back, with the columns an alert shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from crownwatch.detect import engine, indicators
from crownwatch.detect.alerts import Alert
from crownwatch.detect.engine import Detector
from crownwatch.lake.query import arrow

_TS = '"@timestamp"'


def hunt(
    con: duckdb.DuckDBPyConnection,
    detector: Detector,
    since: datetime,
    until: datetime | None = None,
) -> list[Alert]:
    """Alerts (marked retrospective) for every live indicator value in events of the window."""
    matcher = detector.matcher
    if matcher is None:
        return []
    columns = set(arrow(con, "SELECT * FROM events LIMIT 0").schema.names)
    window = f"{_TS} >= $since" + (f" AND {_TS} < $until" if until else "")
    params: dict[str, Any] = {"since": since, **({"until": until} if until else {})}
    hits: list[indicators.Hit] = []
    for kind, values in matcher.arrays.items():
        for field in indicators.FIELDS_BY_KIND[kind]:
            if field not in columns:
                continue
            hits.extend(_field_hits(con, kind, field, values, matcher, window, params))
    if not hits:
        return []
    rows = _event_rows(con, sorted({h.event_id for h in hits}))
    hits = indicators.confirmed(hits, rows, matcher)  # compound indicators: their checks
    detector.hits.extend(hits)
    return [
        engine.indicator_alert(h, rows[h.event_id], detector) for h in hits if h.event_id in rows
    ]


def _field_hits(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    field: str,
    values: pa.Array,
    matcher: indicators.Matcher,
    window: str,
    params: dict[str, Any],
) -> list[indicators.Hit]:
    column = f'"{field}"'
    distinct = arrow(
        con,
        f"SELECT DISTINCT CAST({column} AS VARCHAR) AS v FROM events "
        f"WHERE {window} AND {column} IS NOT NULL",
        params,
    )
    if not distinct.num_rows:
        return []
    found = indicators.matching_values(kind, [distinct.column("v").combine_chunks()], values)
    if not found:
        return []
    wanted = pa.table({"v": pa.array(list(found), pa.string())})
    con.register("_wanted", wanted)
    try:
        rows = con.execute(
            f'SELECT "event.id", {_TS}, "host.name", CAST({column} AS VARCHAR) FROM events '
            f"WHERE {window} AND CAST({column} AS VARCHAR) IN (SELECT v FROM _wanted)",
            params,
        ).fetchall()
    finally:
        con.unregister("_wanted")
    hits = []
    for event, when, host, value in rows:
        for key in found[value]:
            for ident in matcher.ids[(kind, key)]:
                hits.append(indicators.Hit(ident, kind, key, field, event, when, host))
    return hits


def _event_rows(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The columns an alert shows, for the given events."""
    con.register("_ids", pa.table({"id": pa.array(ids, pa.string())}))
    try:
        table = arrow(
            con,
            'SELECT * EXCLUDE ("fields", "event.original") FROM events '
            'WHERE "event.id" IN (SELECT id FROM _ids)',
        )
    finally:
        con.unregister("_ids")
    return {row["event.id"]: row for row in table.to_pylist()}
