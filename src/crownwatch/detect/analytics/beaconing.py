"""C2 beaconing: a host calling a rare external destination at regular intervals.

For each internal host, connections to *rare* external destinations (at most
``beacon_max_sources`` internal hosts ever talk to them) are grouped into channels: one per
destination, and one for all of the host's rare destinations together (malware that rotates
through a list of C2 addresses, like Qakbot). A channel beacons when it has many connections
over hours at a steady rhythm: the jitter, median absolute deviation of the inter-arrival
times over their median (a robust coefficient of variation), is small. Popular destinations
(update servers, SaaS) are never rare, so their regular polling does not alert.
"""

from __future__ import annotations

import duckdb

from crownwatch.detect.alerts import Alert
from crownwatch.detect.analytics import sql
from crownwatch.detect.analytics.context import Context

NAME = "beaconing"
TECHNIQUES = ("T1071.001", "T1573")

#: Connections closer together than this (seconds) are one contact (parallel sockets).
_SAME_CONTACT = 1.0
#: The per-destination channels are judged on the window plus this much history (hours).
_LOOKBACK_HOURS = 24.0


def run(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    sql.setup(con, ctx)
    st = ctx.settings
    found = sql.rows(
        con,
        f"""
        WITH f AS ({sql.flows(ctx)}),
        ext AS (SELECT * FROM f WHERE cw_internal(s) AND NOT cw_internal(d)),
        pop AS (SELECT d, count(DISTINCT s) AS nsrc FROM ext GROUP BY d),
        rare AS (
            SELECT ext.* FROM ext JOIN pop USING (d)
            WHERE nsrc <= {int(st.beacon_max_sources)}
              AND {sql.lookback(ctx, _LOOKBACK_HOURS, "ts")}
        ),
        ch AS (
            SELECT s, d AS channel, d, ts FROM rare
            UNION ALL SELECT s, '*' AS channel, d, ts FROM rare
        ),
        gaps AS (
            SELECT s, channel, d, ts,
                   epoch(ts) - epoch(lag(ts) OVER (PARTITION BY s, channel ORDER BY ts)) AS dt
            FROM ch
        ),
        med AS (
            SELECT s, channel, median(dt) FILTER (WHERE dt > {_SAME_CONTACT}) AS period,
                   count(*) AS n, min(ts) AS first, max(ts) AS last,
                   count(*) FILTER (WHERE {sql.in_window(ctx, "ts")}) AS in_window,
                   list(DISTINCT d) AS dests
            FROM gaps GROUP BY s, channel
        ),
        stats AS (
            SELECT g.s, g.channel, any_value(m.period) AS period, any_value(m.n) AS n,
                   any_value(m.first) AS first, any_value(m.last) AS last,
                   any_value(m.in_window) AS in_window, any_value(m.dests) AS dests,
                   median(abs(g.dt - m.period)) FILTER (WHERE g.dt > {_SAME_CONTACT}) AS mad
            FROM gaps g JOIN med m USING (s, channel)
            GROUP BY g.s, g.channel
        )
        SELECT s, channel, period, n, first, last, dests, mad / period AS jitter,
               epoch(last) - epoch(first) AS span
        FROM stats
        WHERE in_window > 0 AND n >= {int(st.beacon_min_connections)}
          AND epoch(last) - epoch(first) >= {float(st.beacon_min_hours) * 3600}
          AND period >= {float(st.beacon_min_interval)}
          AND mad / period <= {float(st.beacon_max_jitter)}
        ORDER BY s, channel = '*', jitter
        """,
    )
    alerts: list[Alert] = []
    done: set[str] = set()
    for row in found:
        source = str(row["s"])
        if row["channel"] == "*" and source in done:
            continue  # a single destination already explains this host's beaconing
        done.add(source)
        dests = sorted(str(d) for d in row["dests"] or ())
        where = (
            f'{sql.in_window(ctx)} AND "source.ip" = {sql.quote(source)} '
            f'AND "destination.ip" IN (SELECT unnest({sql.str_list(dests)}))'
        )
        events, count = sql.sample_events(con, where, st.max_events)
        names = sql.rows(
            con,
            f"""SELECT list(DISTINCT "tls.server.name") FILTER (WHERE "tls.server.name" <> '')
                   AS sni, list(DISTINCT "host.name") FILTER (WHERE "host.name" <> '') AS hosts
                FROM events WHERE {where}""",
        )[0]
        period = float(row["period"])
        shown = ", ".join(dests[:3]) + (f" and {len(dests) - 3} more" if len(dests) > 3 else "")
        who = sql.short_host((names["hosts"] or [source])[0])
        explanation = (
            f"{who} ({source}) contacted {shown} {row['n']} times over "
            f"{sql.human_span(row['first'], row['last'])}, every {period:.0f} s with "
            f"{float(row['jitter']) * 100:.0f}% jitter; at most {st.beacon_max_sources} "
            "internal hosts ever talk to it."
        )
        alerts.append(
            sql.make_alert(
                rule=f"{NAME}.periodic",
                title="Periodic connections to a rare external destination (C2 beaconing)",
                severity="high",
                row={**row, "events": events, "n": count},
                explanation=explanation,
                techniques=TECHNIQUES,
                ents={
                    "host": names["hosts"],
                    "ip": [source, *dests],
                    "domain": names["sni"],
                },
                details={
                    "source": source,
                    "destinations": dests,
                    "connections": int(row["n"]),
                    "period_seconds": period,
                    "jitter": float(row["jitter"]),
                    "span_hours": float(row["span"]) / 3600,
                    "rotating": row["channel"] == "*",
                },
                max_events=st.max_events,
            )
        )
    return alerts
