"""Bulk or unusual access to crown jewels (file shares, PLM, source code, lab systems).

``access.bulk-volume``: per source host, crown-jewel asset and hour, the bytes pulled from
the asset (Zeek conn ``destination.bytes``, any protocol: SMB, git over HTTPS or SSH,
database). The hour alerts when it is at least ``access_min_bytes``, ``access_own_ratio``
times the source's own usual volume to that asset (the median of the same hour of day on
other days, or its 90th percentile over other hours, whichever is larger: nightly backups
and build jobs stay quiet), and ``access_peer_ratio`` times the peers' usual volume (the
median over the other sources of their 90th percentile). The accounts seen on the asset
from that source (Windows 4624/5140/5145, sshd) and the files read (Zeek smb_files,
Windows 5145) are named; off-hours access raises the severity. Nothing alerts before the
lake holds ``learn_days`` of history (there is no baseline to compare with yet).
"""

from __future__ import annotations

from typing import Any

import duckdb

from crownwatch.detect.alerts import Alert
from crownwatch.detect.analytics import sql
from crownwatch.detect.analytics.context import Context

NAME = "access"
TECHNIQUES = ("T1039", "T1213", "T1005")

#: Flows of at least this many bytes are named in the alert's events.
_BIG_FLOW = 1_000_000


def run(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    sql.setup(con, ctx)
    st = ctx.settings
    found = sql.rows(
        con,
        f"""
        WITH f AS ({sql.flows(ctx)}),
        cj AS (SELECT * FROM f WHERE d IN (SELECT v FROM cw_crown) AND s <> d),
        hours AS (
            SELECT s, d, date_trunc('hour', ts) AS h, sum(in_bytes) AS b, count(*) AS n,
                   min(ts) AS first, max(ts) AS last,
                   list(uid) FILTER (WHERE in_bytes >= {_BIG_FLOW}) AS uids
            FROM cj GROUP BY ALL
        ),
        cand AS (
            SELECT * FROM hours
            WHERE b >= {int(st.access_min_bytes)} AND {sql.in_window(ctx, "first")}
              AND {sql.learned_after(ctx, "first")}
        ),
        own AS (
            SELECT c.s, c.d, c.h,
                   coalesce(median(o.b) FILTER (WHERE hour(o.h) = hour(c.h)), 0) AS hod,
                   coalesce(quantile_cont(o.b, 0.9), 0) AS p90, count(o.b) AS own_hours
            FROM cand c LEFT JOIN hours o ON o.s = c.s AND o.d = c.d AND o.h <> c.h
            GROUP BY ALL
        ),
        peer_src AS (SELECT d, s, quantile_cont(b, 0.9) AS p90 FROM hours GROUP BY ALL),
        peer AS (
            SELECT c.s, c.d, c.h, coalesce(median(p.p90), 0) AS peer, count(p.s) AS peers
            FROM cand c LEFT JOIN peer_src p ON p.d = c.d AND p.s <> c.s GROUP BY ALL
        ),
        hits AS (
            SELECT c.*, greatest(o.hod, o.p90) AS own, o.own_hours, p.peer, p.peers
            FROM cand c JOIN own o USING (s, d, h) JOIN peer p USING (s, d, h)
            WHERE c.b >= {float(st.access_own_ratio)} * greatest(o.hod, o.p90)
              AND c.b >= {float(st.access_peer_ratio)} * p.peer
        )
        SELECT s, d, date_trunc('day', h) AS day, sum(b) AS b, min(first) AS first,
               max(last) AS last, max(own) AS own, max(peer) AS peer, min(own_hours) AS own_hours,
               min(peers) AS peers, flatten(list(uids)) AS uids,
               bool_or({sql.is_quiet("first")}) AS quiet
        FROM hits GROUP BY ALL ORDER BY first
        """,
    )
    alerts = []
    for row in found:
        alerts.append(_alert(con, ctx, row))
    return alerts


def _alert(con: duckdb.DuckDBPyConnection, ctx: Context, row: dict[str, Any]) -> Alert:
    st = ctx.settings
    source, dest = str(row["s"]), str(row["d"])
    uids = [str(u) for u in (row["uids"] or []) if u][:200]
    span = (
        f"{sql.TS} BETWEEN {sql.ts_literal(row['first'])} - INTERVAL 1 MINUTE "
        f"AND {sql.ts_literal(row['last'])} + INTERVAL 10 MINUTE"
    )
    # flows and what rode on them (ssl, smb_files, files by uid); the asset's own audit of
    # that source (4624/5140/5145 on the crown jewel); the source's Sysmon 3 to the asset
    where = (
        f"{sql.before_end(ctx)} AND {span} AND ("
        f"json_extract_string(fields, '$.uid') IN (SELECT unnest({sql.str_list(uids)}))"
        f' OR ("source.ip" = {sql.quote(source)} AND "event.code" IN '
        f"('4624', '5140', '5145') AND \"event.dataset\" = 'windows.security')"
        f' OR ("source.ip" = {sql.quote(source)} AND "destination.ip" = {sql.quote(dest)}'
        f" AND \"event.code\" = '3' AND \"event.dataset\" = 'windows.sysmon'))"
    )
    events, count = sql.sample_events(con, where, st.max_events)
    meta = sql.rows(
        con,
        f"""
        SELECT list(DISTINCT "user.name") FILTER (WHERE "user.name" NOT IN ('', '-')
                 AND "event.dataset" = 'windows.security') AS users,
               list(DISTINCT "host.name") FILTER (WHERE "event.dataset" = 'windows.security')
                 AS assets,
               list(DISTINCT "host.name") FILTER (WHERE "event.code" = '3') AS sources,
               count(DISTINCT "file.path") FILTER (WHERE dataset = 'zeek.smb_files'
                 OR "event.code" = '5145') AS files,
               list(DISTINCT "tls.server.name") FILTER (WHERE "tls.server.name" <> '') AS sni
        FROM events WHERE {where}
        """,
    )[0]
    users = sorted(meta["users"] or [])
    asset = sql.short_host((meta["assets"] or meta["sni"] or [dest])[0])
    who = sql.short_host((meta["sources"] or [source])[0])
    own, peer = float(row["own"] or 0), float(row["peer"] or 0)
    figures = []
    if own >= _BIG_FLOW:
        figures.append(f"{float(row['b']) / own:.0f}× its own usual hourly volume")
    else:
        figures.append(f"while it usually pulls under {sql.human_bytes(_BIG_FLOW)} an hour")
    if peer:
        figures.append(f"{float(row['b']) / peer:.0f}× its peers'")
    explanation = (
        f"{who} ({source}{', ' + ', '.join(users[:3]) if users else ''}) pulled "
        f"{sql.human_bytes(row['b'])} from crown jewel {asset} ({dest}) in "
        f"{sql.human_span(row['first'], row['last'])}"
        + (f", {meta['files']} files" if meta["files"] else "")
        + f", {' and '.join(figures)}"
        + (", in the organisation's quiet hours." if row["quiet"] else ".")
    )
    return sql.make_alert(
        rule=f"{NAME}.bulk-volume",
        title="Bulk data pulled from a crown-jewel asset",
        severity="high" if row["quiet"] or not own else "medium",
        row={**row, "events": events, "n": count},
        explanation=explanation,
        techniques=TECHNIQUES,
        ents={
            "host": [*(meta["sources"] or []), *(meta["assets"] or [])],
            "user": users,
            "ip": [source, dest],
            "domain": meta["sni"],
        },
        details={
            "source": source,
            "asset": dest,
            "bytes": int(row["b"]),
            "own_baseline": own,
            "own_hours": int(row["own_hours"] or 0),
            "peer_baseline": peer,
            "peers": int(row["peers"] or 0),
            "files": int(meta["files"] or 0),
            "quiet_hours": bool(row["quiet"]),
        },
        max_events=st.max_events,
    )
