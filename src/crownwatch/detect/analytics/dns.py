"""DNS tunnelling and generated domains.

``dns.nxdomain-burst``: a client whose queries fail (NXDOMAIN) for at least
``dns_nxdomain_min`` distinct names within an hour, ``dns_nxdomain_ratio`` times its own
usual hourly count (90th percentile of its other hours): malware walking a list of generated
domains (DGA) until one answers.
``dns.tunnel``: a client querying at least ``dns_tunnel_min_names`` distinct names under one
registered domain within an hour whose left part is long or random (median length or
Shannon entropy per character over the thresholds), for a domain few internal clients use.
The registered domain is approximated as the last two labels (three under two-letter
country codes with a short second level, ``co.uk``).
"""

from __future__ import annotations

import duckdb

from crownwatch.detect.alerts import Alert
from crownwatch.detect.analytics import sql
from crownwatch.detect.analytics.context import Context

NAME = "dns"
TECHNIQUES = ("T1071.004", "T1568.002")

_NAME = "lower(rtrim(\"dns.question.name\", '.'))"
_CLIENT = 'coalesce("source.ip", "host.name")'


def _regdom(name: str) -> str:
    """SQL: the registered domain of a name column (a suffix-list-free approximation)."""
    labels = f"str_split({name}, '.')"
    return (
        f"CASE WHEN len({labels}) >= 3 AND length({labels}[-1]) = 2 "
        f"AND length({labels}[-2]) <= 3 THEN array_to_string({labels}[-3:], '.') "
        f"ELSE array_to_string({labels}[-2:], '.') END"
    )


def _entropy(text: str) -> str:
    """SQL: Shannon entropy (bits per character) of a string column."""
    chars = f"str_split({text}, '')"
    return (
        f"list_sum(list_transform(list_distinct({chars}), lambda c: "
        f"-(len(list_filter({chars}, lambda x: x = c)) / length({text})) * "
        f"log2(len(list_filter({chars}, lambda x: x = c)) / length({text}))))"
    )


def run(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    sql.setup(con, ctx)
    return _nxdomain(con, ctx) + _tunnel(con, ctx)


def _nxdomain(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    st = ctx.settings
    found = sql.rows(
        con,
        f"""
        WITH nx AS (
            SELECT "event.id" AS id, {sql.TS} AS ts, {_CLIENT} AS client, {_NAME} AS name
            FROM events
            WHERE {sql.before_end(ctx)} AND "dns.question.name" IS NOT NULL
              AND upper("dns.response_code") = 'NXDOMAIN'
        ),
        hours AS (
            SELECT client, date_trunc('hour', ts) AS h, count(DISTINCT name) AS names
            FROM nx GROUP BY ALL
        ),
        cand AS (
            SELECT * FROM hours
            WHERE names >= {int(st.dns_nxdomain_min)} AND {sql.in_window(ctx, "h")}
        ),
        scored AS (
            SELECT c.client, c.h, c.names, coalesce(quantile_cont(o.names, 0.9), 0) AS base
            FROM cand c LEFT JOIN hours o ON o.client = c.client AND o.h <> c.h GROUP BY ALL
        ),
        hits AS (
            SELECT client, date_trunc('day', h) AS day, max(names) AS peak, max(base) AS base
            FROM scored WHERE names >= {float(st.dns_nxdomain_ratio)} * base GROUP BY ALL
        )
        SELECT hits.client, hits.day, any_value(peak) AS peak, any_value(base) AS base,
               count(*) AS n, count(DISTINCT nx.name) AS names, min(nx.ts) AS first,
               max(nx.ts) AS last, list(nx.id ORDER BY nx.ts) AS events,
               list(DISTINCT nx.name)[:10] AS sample,
               list(DISTINCT {_regdom("nx.name")})[:50] AS domains
        FROM hits JOIN nx ON nx.client = hits.client AND date_trunc('day', nx.ts) = hits.day
        WHERE {sql.in_window(ctx, "nx.ts")}
        GROUP BY ALL ORDER BY first
        """,
    )
    alerts = []
    for row in found:
        alerts.append(
            sql.make_alert(
                rule=f"{NAME}.nxdomain-burst",
                title="Burst of failing DNS lookups (generated domains)",
                severity="high",
                row=row,
                explanation=(
                    f"{row['client']} looked up {row['names']} names that do not exist in "
                    f"{sql.human_span(row['first'], row['last'])}, up to {row['peak']} in one hour "
                    f"(usually {float(row['base']):.0f}), such as "
                    f"{', '.join(sorted(row['sample'])[:3])}."
                ),
                techniques=("T1568.002",),
                ents={"ip": [row["client"]], "domain": row["domains"]},
                details={
                    "client": row["client"],
                    "distinct_names": int(row["names"]),
                    "peak_per_hour": int(row["peak"]),
                    "baseline_per_hour": float(row["base"]),
                    "sample": sorted(row["sample"]),
                },
                max_events=st.max_events,
            )
        )
    return alerts


def _tunnel(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    st = ctx.settings
    found = sql.rows(
        con,
        f"""
        WITH q AS (
            SELECT "event.id" AS id, {sql.TS} AS ts, {_CLIENT} AS client, {_NAME} AS name,
                   {_regdom(_NAME)} AS dom
            FROM events
            WHERE {sql.before_end(ctx)} AND "dns.question.name" IS NOT NULL
              AND "dns.question.name" <> ''
        ),
        pop AS (SELECT dom, count(DISTINCT client) AS clients FROM q GROUP BY dom),
        sub AS (
            SELECT q.*, left(name, greatest(length(name) - length(dom) - 1, 0)) AS part
            FROM q JOIN pop USING (dom)
            WHERE clients <= {int(st.dns_tunnel_max_clients)} AND {sql.in_window(ctx, "q.ts")}
        ),
        hours AS (
            SELECT client, dom, date_trunc('hour', ts) AS h, count(DISTINCT name) AS names
            FROM sub GROUP BY ALL HAVING count(DISTINCT name) >= {int(st.dns_tunnel_min_names)}
        ),
        parts AS (
            SELECT DISTINCT s.client, s.dom, s.part FROM sub s
            JOIN hours USING (client, dom) WHERE s.part <> ''
        ),
        shape AS (
            SELECT client, dom, median(length(part)) AS len,
                   median({_entropy("replace(part, '.', '')")}) AS entropy
            FROM parts GROUP BY ALL
        )
        SELECT s.client, s.dom, any_value(shape.len) AS len, any_value(shape.entropy) AS entropy,
               count(*) AS n, count(DISTINCT s.name) AS names, min(s.ts) AS first,
               max(s.ts) AS last, list(s.id ORDER BY s.ts) AS events,
               list(DISTINCT s.name)[:5] AS sample
        FROM sub s JOIN shape USING (client, dom)
        WHERE shape.len >= {int(st.dns_tunnel_min_label_length)}
           OR shape.entropy >= {float(st.dns_tunnel_min_entropy)}
        GROUP BY ALL ORDER BY first
        """,
    )
    alerts = []
    for row in found:
        alerts.append(
            sql.make_alert(
                rule=f"{NAME}.tunnel",
                title="Many long or random subdomains of one rare domain (DNS tunnel)",
                severity="high",
                row=row,
                explanation=(
                    f"{row['client']} queried {row['names']} distinct names under {row['dom']} in "
                    f"{sql.human_span(row['first'], row['last'])}; median subdomain "
                    f"{float(row['len']):.0f} characters, {float(row['entropy']):.1f} bits per "
                    "character."
                ),
                techniques=("T1071.004",),
                ents={"ip": [row["client"]], "domain": [row["dom"]]},
                details={
                    "client": row["client"],
                    "domain": row["dom"],
                    "distinct_names": int(row["names"]),
                    "median_length": float(row["len"]),
                    "median_entropy": float(row["entropy"]),
                    "sample": sorted(row["sample"]),
                },
                max_events=st.max_events,
            )
        )
    return alerts
