"""Exfiltration: unusually large uploads to the outside, and uploads to cloud storage.

``exfil.large-transfer``: per internal host, external destination and hour, the bytes sent
(Zeek conn ``source.bytes``) are compared with the host's own usual hourly outbound volume to
all external destinations (its 95th percentile over its other active hours); an hour that
is at least ``exfil_min_bytes`` and ``exfil_ratio`` times that baseline alerts, once the
lake holds ``learn_days`` of history.
``exfil.cloud-upload``: a host sending at least ``exfil_cloud_min_bytes`` in a day to cloud
storage, file-sharing or paste sites (TLS server name or HTTP host in the settings' list).
"""

from __future__ import annotations

from typing import Any

import duckdb

from crownwatch.detect.alerts import Alert
from crownwatch.detect.analytics import sql
from crownwatch.detect.analytics.context import Context

NAME = "exfil"
TECHNIQUES = ("T1041", "T1048", "T1567")

#: A single flow of at least this many bytes is named in the alert's events.
_BIG_FLOW = 1_000_000
#: At most this many flows are listed per alert.
_MAX_FLOWS = 50


def run(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    sql.setup(con, ctx)
    return _large(con, ctx) + _cloud(con, ctx)


def _flow_events(
    con: duckdb.DuckDBPyConnection, ctx: Context, flows: list[Any], source: str, dest: str
) -> tuple[list[str], int]:
    """The events of the big flows: conn/ssl/http rows by uid, Sysmon 3 rows by time."""
    uids = [str(u) for u, _ in flows if u]
    ranges = " OR ".join(
        f"({sql.TS} BETWEEN {sql.ts_literal(t)} - INTERVAL 2 SECOND "
        f"AND {sql.ts_literal(t)} + INTERVAL 2 SECOND)"
        for _, t in flows
    )
    where = (
        f"{sql.before_end(ctx)} AND ((json_extract_string(fields, '$.uid') IN "
        f"(SELECT unnest({sql.str_list(uids)}))) OR (\"event.code\" = '3' AND "
        f'"event.dataset" = \'windows.sysmon\' AND "source.ip" = {sql.quote(source)} AND '
        f'"destination.ip" = {sql.quote(dest)} AND ({ranges or "FALSE"})))'
    )
    return sql.sample_events(con, where, ctx.settings.max_events)


def _large(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    st = ctx.settings
    found = sql.rows(
        con,
        f"""
        WITH f AS ({sql.flows(ctx)}),
        ext AS (SELECT * FROM f WHERE cw_internal(s) AND NOT cw_internal(d)),
        host_hours AS (
            SELECT s, date_trunc('hour', ts) AS h, sum(out_bytes) AS b FROM ext GROUP BY ALL
        ),
        pair AS (
            SELECT s, d, date_trunc('hour', ts) AS h, sum(out_bytes) AS b, count(*) AS n,
                   min(ts) AS first, max(ts) AS last,
                   list((uid, ts) ORDER BY out_bytes DESC)
                     FILTER (WHERE out_bytes >= {_BIG_FLOW})[:{_MAX_FLOWS}] AS big
            FROM ext WHERE {sql.in_window(ctx, "ts")} AND {sql.learned_after(ctx, "ts")}
            GROUP BY ALL HAVING sum(out_bytes) >= {int(st.exfil_min_bytes)}
        ),
        scored AS (
            SELECT p.s, p.d, p.h, p.b, p.n, p.first, p.last, p.big,
                   coalesce(quantile_cont(hh.b, 0.95), 0) AS base,
                   count(hh.b) AS base_hours
            FROM pair p LEFT JOIN host_hours hh ON hh.s = p.s AND hh.h <> p.h
            GROUP BY ALL
        ),
        hits AS (
            SELECT * FROM scored WHERE b >= {float(st.exfil_ratio)} * base
        ),
        seen AS (
            SELECT h.s, h.d, h.h, min(e.ts) AS first_contact
            FROM hits h LEFT JOIN ext e ON e.s = h.s AND e.d = h.d GROUP BY ALL
        )
        SELECT s, d, date_trunc('day', h) AS day, sum(b) AS b, sum(n) AS n,
               min(first) AS first, max(last) AS last, max(base) AS base,
               min(base_hours) AS base_hours, flatten(list(big)) AS big,
               min(first_contact) AS first_contact, count(*) AS hours
        FROM hits JOIN seen USING (s, d, h)
        GROUP BY ALL ORDER BY first
        """,
    )
    alerts = []
    for row in found:
        source, dest = str(row["s"]), str(row["d"])
        flows = [
            (b[0] if isinstance(b, tuple) else b["uid"], b[1] if isinstance(b, tuple) else b["ts"])
            for b in (row["big"] or [])
        ][:_MAX_FLOWS]
        events, _ = _flow_events(con, ctx, flows, source, dest)
        meta = _names(con, ctx, source, dest)
        base = float(row["base"] or 0)
        ratio = float(row["b"]) / base if base else None
        new_dest = (row["first_contact"] is None) or (
            (row["first"] - row["first_contact"]).total_seconds() < 3600
        )
        versus = (
            f"{ratio:.0f}× its usual hourly outbound volume ({sql.human_bytes(base)})"
            if ratio
            else "with no outbound history to compare"
        )
        to = f"{dest} ({meta['sni'][0]})" if meta["sni"] else dest
        explanation = (
            f"{meta['who']} sent {sql.human_bytes(row['b'])} to {to} in "
            f"{sql.human_span(row['first'], row['last'])}, {versus}"
            + ("; a destination it had not used before." if new_dest else ".")
        )
        alerts.append(
            sql.make_alert(
                rule=f"{NAME}.large-transfer",
                title="Unusually large upload to an external destination",
                severity="high" if (ratio is None or ratio >= 100 or new_dest) else "medium",
                row={**row, "events": events},
                explanation=explanation,
                techniques=("T1041", "T1048"),
                ents={"host": meta["hosts"], "ip": [source, dest], "domain": meta["sni"]},
                details={
                    "source": source,
                    "destination": dest,
                    "bytes_out": int(row["b"]),
                    "baseline_hourly_p95": base,
                    "baseline_hours": int(row["base_hours"] or 0),
                    "ratio": ratio,
                    "hours": int(row["hours"]),
                    "new_destination": new_dest,
                },
                max_events=st.max_events,
            )
        )
    return alerts


def _names(con: duckdb.DuckDBPyConnection, ctx: Context, source: str, dest: str) -> dict[str, Any]:
    """The host name of ``source`` and the TLS/HTTP names of ``dest``, as the lake knows them."""
    row = sql.rows(
        con,
        f"""
        SELECT list(DISTINCT coalesce("tls.server.name", "url.domain"))
                 FILTER (WHERE "destination.ip" = {sql.quote(dest)}
                         AND coalesce("tls.server.name", "url.domain", '') <> '') AS sni,
               list(DISTINCT "host.name") FILTER (WHERE "host.name" <> '') AS hosts
        FROM events
        WHERE {sql.before_end(ctx)} AND "source.ip" = {sql.quote(source)}
          AND (dataset IN ('zeek.ssl', 'zeek.http') OR "event.code" = '3')
        """,
    )[0]
    hosts = sorted(row["hosts"] or [])
    sni = sorted(row["sni"] or [])[:5]
    who = f"{sql.short_host(hosts[0])} ({source})" if hosts else source
    return {"hosts": hosts, "sni": sni, "who": who}


def _cloud(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    st = ctx.settings
    if not st.exfil_cloud_domains:
        return []
    domains = sql.str_list(d.lower().strip(".") for d in st.exfil_cloud_domains)
    found = sql.rows(
        con,
        f"""
        WITH named AS (
            SELECT json_extract_string(fields, '$.uid') AS uid,
                   lower(coalesce("tls.server.name", "url.domain")) AS name
            FROM events
            WHERE {sql.in_window(ctx)} AND dataset IN ('zeek.ssl', 'zeek.http')
              AND coalesce("tls.server.name", "url.domain", '') <> ''
        ),
        cloud AS (
            SELECT DISTINCT uid, name FROM named, (SELECT unnest({domains}) AS dom)
            WHERE name = dom OR ends_with(name, '.' || dom)
        ),
        f AS ({sql.flows(ctx)})
        SELECT f.s, date_trunc('day', f.ts) AS day, sum(f.out_bytes) AS b, count(*) AS n,
               min(f.ts) AS first, max(f.ts) AS last, list(DISTINCT cloud.name) AS names,
               list(DISTINCT f.d) AS dests, list(f.uid)[:{_MAX_FLOWS}] AS uids
        FROM f JOIN cloud USING (uid)
        WHERE {sql.in_window(ctx, "f.ts")} AND cw_internal(f.s)
        GROUP BY ALL HAVING sum(f.out_bytes) >= {int(st.exfil_cloud_min_bytes)}
        ORDER BY first
        """,
    )
    alerts = []
    for row in found:
        source = str(row["s"])
        uids = [str(u) for u in row["uids"] or [] if u]
        events, _ = sql.sample_events(
            con,
            f"{sql.in_window(ctx)} AND json_extract_string(fields, '$.uid') IN "
            f"(SELECT unnest({sql.str_list(uids)}))",
            st.max_events,
        )
        names = sorted(row["names"] or [])
        alerts.append(
            sql.make_alert(
                rule=f"{NAME}.cloud-upload",
                title="Large upload to cloud storage or a paste site",
                severity="high",
                row={**row, "events": events},
                explanation=(
                    f"{source} uploaded {sql.human_bytes(row['b'])} to {', '.join(names[:3])} "
                    f"in {sql.human_span(row['first'], row['last'])} ({row['n']} connections)."
                ),
                techniques=("T1567",),
                ents={"ip": [source, *row["dests"]], "domain": names},
                details={"source": source, "bytes_out": int(row["b"]), "services": names},
                max_events=st.max_events,
            )
        )
    return alerts
