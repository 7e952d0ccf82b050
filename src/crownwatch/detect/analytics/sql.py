"""SQL building blocks the analytics share: time windows, internal addresses, crown jewels,
quiet hours, and turning an aggregated result row into an :class:`Alert`.

Everything runs in DuckDB over the ``events`` view; Python only sees aggregated rows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from crownwatch.detect.alerts import ENTITY_KINDS, MAX_ENTITY_VALUES, Alert
from crownwatch.detect.analytics.context import Context

TS = '"@timestamp"'

#: Folders where attackers stage data (lower-case substrings of a path).
STAGING_DIRS = (
    "\\users\\public\\",
    "\\programdata\\",
    "\\windows\\temp\\",
    "\\appdata\\local\\temp\\",
    "\\$recycle.bin\\",
    "\\recycler\\",
    "\\perflogs\\",
    "/tmp/",
    "/var/tmp/",
    "/dev/shm/",
)


def ts_literal(value: datetime) -> str:
    """A TIMESTAMPTZ literal (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat()}'"


def in_window(ctx: Context, column: str = TS) -> str:
    """Predicate: the event lies in [ctx.start, ctx.end)."""
    parts = ["TRUE"]
    if ctx.start is not None:
        parts.append(f"{column} >= {ts_literal(ctx.start)}")
    if ctx.end is not None:
        parts.append(f"{column} < {ts_literal(ctx.end)}")
    return " AND ".join(parts)


def before_end(ctx: Context, column: str = TS) -> str:
    """Predicate: the event lies before ctx.end (what baselines may read)."""
    return f"{column} < {ts_literal(ctx.end)}" if ctx.end is not None else "TRUE"


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def str_list(values: Iterable[str]) -> str:
    """A SQL list literal of strings (``['a', 'b']``)."""
    return "[" + ", ".join(quote(v) for v in values) + "]::VARCHAR[]"


def _ip4_ranges(cidrs: Iterable[str]) -> tuple[list[tuple[int, int]], list[str]]:
    v4: list[tuple[int, int]] = []
    v6: list[str] = []
    for text in cidrs:
        net = ipaddress.ip_network(text.strip(), strict=False)
        if isinstance(net, ipaddress.IPv4Network):
            v4.append((int(net.network_address), int(net.broadcast_address)))
        elif net.prefixlen == 128:
            v6.append(f"lower(ip) = {quote(net.network_address.compressed)}")
        else:
            # compare the leading hextets as written (zero-padded), enough for the usual
            # /7, /10, /16../64 ranges; an address written with '::' before them will not match
            full = net.network_address.exploded.split(":")
            groups = -(-net.prefixlen // 16)
            tests = []
            for i in range(groups):
                bits = min(16, net.prefixlen - 16 * i)
                lo = int(full[i], 16)
                hi = lo | ((1 << (16 - bits)) - 1)
                hextet = f"split_part(lower(ip), ':', {i + 1})"
                tests.append(
                    f"(CASE WHEN regexp_full_match({hextet}, '[0-9a-f]{{1,4}}') THEN "
                    f"lpad({hextet}, 4, '0') BETWEEN '{lo:04x}' AND '{hi:04x}' ELSE FALSE END)"
                )
            v6.append("(" + " AND ".join(tests) + ")")
    return v4, v6


def setup(con: duckdb.DuckDBPyConnection, ctx: Context) -> None:
    """Define the temporary macros and tables the analytics use on this connection.

    ``cw_ip4(ip)`` (the IPv4 address as an integer, NULL otherwise), ``cw_internal(ip)``
    (whether an address is the organisation's own), ``cw_crown`` (the crown jewels, one
    lower-case name, IP or share a row) and ``cw_quiet`` (hours of the week that are quiet).

    Each analytic calls it, so that one runs on its own; for the same context on the same
    connection it is done once (``cw_setup`` keeps which context it was done for).
    """
    key = repr(ctx)
    done = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'cw_setup' AND temporary"
    ).fetchone()
    if done and done[0]:
        row = con.execute("SELECT ctx FROM cw_setup").fetchone()
        if row and row[0] == key:
            return
    v4, v6 = _ip4_ranges(ctx.settings.internal_cidrs)
    con.execute(
        "CREATE OR REPLACE TEMP MACRO cw_ip4(ip) AS CASE WHEN "
        "regexp_full_match(ip, '\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}') THEN "
        "(split_part(ip, '.', 1)::BIGINT << 24) + (split_part(ip, '.', 2)::BIGINT << 16) + "
        "(split_part(ip, '.', 3)::BIGINT << 8) + split_part(ip, '.', 4)::BIGINT END"
    )
    tests = [f"cw_ip4(ip) BETWEEN {lo} AND {hi}" for lo, hi in v4] + v6
    body = " OR ".join(tests) if tests else "FALSE"
    con.execute(f"CREATE OR REPLACE TEMP MACRO cw_internal(ip) AS coalesce({body}, FALSE)")
    names = sorted({j.strip().lower() for j in ctx.crown_jewels if j.strip()})
    con.register("cw_crown_arrow", pa.table({"v": pa.array(names, pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE cw_crown AS SELECT v FROM cw_crown_arrow")
    con.unregister("cw_crown_arrow")
    _quiet_hours(con, ctx)
    con.execute("CREATE OR REPLACE TEMP TABLE cw_setup AS SELECT $ctx AS ctx", {"ctx": key})


def _quiet_hours(con: duckdb.DuckDBPyConnection, ctx: Context) -> None:
    """cw_quiet(weekend, hour, users, quiet): the organisation's rhythm, learned.

    An hour of day (weekdays and weekends apart) is quiet when the distinct users active in it,
    per day, are fewer than ``quiet_fraction`` of the 90th percentile over all hours.
    """
    frac = float(ctx.settings.quiet_fraction)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE cw_quiet AS
        WITH active AS (
            SELECT date_trunc('hour', {TS}) AS h, count(DISTINCT lower("user.name")) AS users
            FROM events
            WHERE {before_end(ctx)} AND "user.name" IS NOT NULL AND "user.name" NOT IN ('', '-')
              AND NOT ends_with("user.name", '$')
              AND lower("user.name") NOT IN ('system', 'local service', 'network service', 'root')
            GROUP BY 1
        ), hours AS (
            SELECT isodow(h) >= 6 AS weekend, hour(h) AS hour, avg(users) AS users
            FROM active GROUP BY 1, 2
        ), grid AS (
            SELECT w AS weekend, hr AS hour, coalesce(hours.users, 0) AS users
            FROM (SELECT unnest([false, true]) AS w) CROSS JOIN (SELECT range AS hr FROM range(24))
            LEFT JOIN hours ON hours.weekend = w AND hours.hour = hr
        )
        SELECT weekend, hour, users,
               users < {frac} * (SELECT quantile_cont(users, 0.9) FROM grid WHERE NOT weekend)
                 AS quiet
        FROM grid
        """
    )


def is_quiet(column: str = TS) -> str:
    """Predicate: the timestamp falls in a quiet hour (needs :func:`setup`)."""
    return (
        f"coalesce((SELECT quiet FROM cw_quiet q WHERE q.weekend = (isodow({column}) >= 6) "
        f"AND q.hour = hour({column})), FALSE)"
    )


def crown_host(column: str) -> str:
    """Predicate: a host name (short or FQDN) or IP column names a crown jewel."""
    return (
        f"(lower({column}) IN (SELECT v FROM cw_crown) OR "
        f"lower(split_part({column}, '.', 1)) IN (SELECT v FROM cw_crown))"
    )


def in_staging_dir(column: str) -> str:
    """Predicate: a path or command line mentions a staging folder."""
    return "(" + " OR ".join(f"contains(lower({column}), {quote(d)})" for d in STAGING_DIRS) + ")"


def learned_after(ctx: Context, column: str = TS) -> str:
    """Predicate: the lake already held ``learn_days`` of history at this time."""
    days = float(ctx.settings.learn_days)
    return (
        f"{column} >= (SELECT min({TS}) FROM events) + to_microseconds("
        f"CAST({days} * 86400e6 AS BIGINT))"
    )


def lookback(ctx: Context, hours: float, column: str = TS) -> str:
    """Predicate: the event lies in [start - hours, end): the window plus some history."""
    parts = [before_end(ctx, column)]
    if ctx.start is not None:
        parts.append(
            f"{column} >= {ts_literal(ctx.start)} - to_microseconds({int(hours * 3600e6)})"
        )
    return " AND ".join(parts)


def sample_events(con: duckdb.DuckDBPyConnection, where: str, limit: int) -> tuple[list[str], int]:
    """Event ids matching ``where`` (at most ``limit``, spread over datasets) and their count."""
    result = con.execute(
        f"""
        WITH m AS (SELECT "event.id" AS id, dataset, {TS} AS ts FROM events WHERE {where}),
        r AS (SELECT id, ts, row_number() OVER (PARTITION BY dataset ORDER BY ts) AS rn FROM m)
        SELECT coalesce(list(id ORDER BY rn, ts)[:{int(limit)}], []), count(*) FROM r
        """
    ).fetchone()
    if result is None:
        return [], 0
    return [str(i) for i in result[0] if i], int(result[1])


def flows(ctx: Context) -> str:
    """SQL of network flows (Zeek conn; Sysmon 3 when the lake has no Zeek conn) before end.

    Columns: id, ts, s (source IP), d (destination IP), p (port), out_bytes, in_bytes, uid.
    """
    return f"""
        SELECT "event.id" AS id, {TS} AS ts, "source.ip" AS s, "destination.ip" AS d,
               "destination.port" AS p, coalesce("source.bytes", 0) AS out_bytes,
               coalesce("destination.bytes", 0) AS in_bytes,
               json_extract_string(fields, '$.uid') AS uid
        FROM events
        WHERE {before_end(ctx)} AND "source.ip" IS NOT NULL AND "destination.ip" IS NOT NULL
          AND (dataset = 'zeek.conn' OR ("event.dataset" = 'windows.sysmon'
               AND "event.code" = '3'
               AND NOT EXISTS (SELECT 1 FROM events WHERE dataset = 'zeek.conn')))
    """


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """The result of a query as dicts (for small, aggregated results only)."""
    result = con.execute(sql)
    names = [d[0] for d in result.description or ()]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]


def entities(values: Mapping[str, Iterable[Any] | None]) -> dict[str, tuple[str, ...]]:
    """Entity kind -> sorted, bounded values, dropping empties and unknown kinds."""
    out: dict[str, tuple[str, ...]] = {}
    for kind, found in values.items():
        if kind not in ENTITY_KINDS or not found:
            continue
        clean = sorted({str(v) for v in found if v not in (None, "", "-")})
        if clean:
            out[kind] = tuple(clean[:MAX_ENTITY_VALUES])
    return out


def make_alert(
    *,
    rule: str,
    title: str,
    severity: str,
    row: Mapping[str, Any],
    explanation: str,
    techniques: Sequence[str],
    ents: Mapping[str, Iterable[Any] | None],
    details: Mapping[str, Any],
    max_events: int,
) -> Alert:
    """An analytic alert from an aggregated row with ``first``, ``last``, ``events``, ``n``."""
    events = tuple(dict.fromkeys(str(e) for e in (row.get("events") or ()) if e))
    return Alert(
        kind="analytic",
        rule=rule,
        title=title,
        severity=severity,
        first=row["first"],
        last=row["last"],
        explanation=explanation,
        techniques=tuple(techniques),
        entities=entities(ents),
        events=events[:max_events],
        count=int(row.get("n") or len(events)),
        details={k: _plain(v) for k, v in details.items()},
    )


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def human_bytes(n: float | int | None) -> str:
    """1.2 GB, 35 MB, 640 B."""
    value = float(n or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def human_span(first: datetime, last: datetime) -> str:
    """'40 min', '3.5 h', '2.0 days'."""
    seconds = max(0.0, (last - first).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def short_host(name: str | None) -> str:
    """WS-0017 from WS-0017.corp.example."""
    text = name or "?"
    if text.replace(".", "").isdigit() or ":" in text:
        return text  # an IP address stays whole
    return text.split(".", 1)[0]
