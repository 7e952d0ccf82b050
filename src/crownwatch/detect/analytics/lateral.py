"""Credential access and lateral movement.

``lateral.lsass-access``: a process opening lsass.exe with an access mask that can read its
memory (Sysmon 10, masks in the settings) that is not an allowed image, or a command line
that dumps it (comsvcs.dll MiniDump, procdump on lsass, sekurlsa).
``lateral.new-logons``: an account with history logs on from an origin it never used before
(Windows 4624 network/remote-interactive logons by source address, 4648 explicit credentials
by the host they were typed on, sshd accepted logins), onto at least
``lateral_min_new_hosts`` hosts in a day, or onto one in the organisation's quiet hours.
Only admin-grade logons count: remote interactive (RDP, SSH), another user's explicit
credentials, or any logon of a privileged account (one that received special privileges,
4672); a user's ordinary network logons to domain controllers and file shares do not.
"First seen" only counts once the lake holds ``learn_days`` of history.
"""

from __future__ import annotations

import duckdb

from crownwatch.detect.alerts import Alert
from crownwatch.detect.analytics import sql
from crownwatch.detect.analytics.context import Context

NAME = "lateral"
TECHNIQUES = ("T1003.001", "T1021", "T1078")

_CMD = "lower(coalesce(\"process.command_line\", ''))"
_DUMP_CMD = (
    f"((contains({_CMD}, 'comsvcs') AND contains({_CMD}, 'minidump'))"
    f" OR (regexp_matches({_CMD}, '\\bprocdump(64)?(\\.exe)?\\b') AND contains({_CMD}, 'lsass'))"
    f" OR contains({_CMD}, 'sekurlsa::'))"
)


def run(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    sql.setup(con, ctx)
    return _lsass(con, ctx) + _new_logons(con, ctx)


def _lsass(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    st = ctx.settings
    masks = sql.str_list(m.lower() for m in st.lsass_access_masks)
    allowed = sql.str_list(i.lower() for i in st.lsass_allowed_images)
    source_image = "lower(coalesce(json_extract_string(fields, '$.SourceImage'), ''))"
    found = sql.rows(
        con,
        f"""
        WITH hits AS (
            SELECT "event.id" AS id, {sql.TS} AS ts, "host.name" AS host, "user.name" AS usr,
                   coalesce(nullif({source_image}, ''), lower("process.executable")) AS image,
                   lower(json_extract_string(fields, '$.GrantedAccess')) AS mask
            FROM events
            WHERE {sql.in_window(ctx)} AND (
              ("event.dataset" = 'windows.sysmon' AND "event.code" = '10'
               AND ends_with(lower(json_extract_string(fields, '$.TargetImage')), '\\lsass.exe')
               AND list_contains({masks}, lower(json_extract_string(fields, '$.GrantedAccess')))
               AND NOT list_contains({allowed}, regexp_extract({source_image}, '[^\\\\]*$')))
              OR {_DUMP_CMD})
        )
        SELECT host, date_trunc('day', ts) AS day, min(ts) AS first, max(ts) AS last,
               count(*) AS n, list(id ORDER BY ts) AS events, list(DISTINCT usr) AS users,
               list(DISTINCT image) FILTER (WHERE image IS NOT NULL) AS images,
               list(DISTINCT mask) FILTER (WHERE mask IS NOT NULL) AS masks
        FROM hits GROUP BY ALL ORDER BY first
        """,
    )
    return [
        sql.make_alert(
            rule=f"{NAME}.lsass-access",
            title="LSASS memory read (credential dumping)",
            severity="critical",
            row=row,
            explanation=(
                f"{_image_names(row['images'])} read lsass.exe memory on "
                f"{sql.short_host(row['host'])}"
                + (f" (access {', '.join(row['masks'])})" if row["masks"] else "")
                + f", {row['n']} events."
            ),
            techniques=("T1003.001",),
            ents={"host": [row["host"]], "user": row["users"], "process": row["images"]},
            details={"images": row["images"], "masks": row["masks"]},
            max_events=st.max_events,
        )
        for row in found
    ]


def _image_names(images: list[str] | None) -> str:
    """'rundll32.exe, procdump.exe' from full paths."""
    names = sorted({i.replace("/", "\\").rsplit("\\", 1)[-1] for i in images or []})
    return ", ".join(names) or "a process"


def _new_logons(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    st = ctx.settings
    logon_type = "json_extract_string(fields, '$.LogonType')"
    found = sql.rows(
        con,
        f"""
        WITH logons AS (
            SELECT "event.id" AS id, {sql.TS} AS ts, lower("user.name") AS account,
                   lower(split_part("host.name", '.', 1)) AS target, "source.ip" AS origin,
                   {logon_type} = '10' AS strong
            FROM events
            WHERE {sql.before_end(ctx)} AND "event.dataset" = 'windows.security'
              AND "event.code" = '4624' AND {logon_type} IN ('3', '10')
              AND "source.ip" IS NOT NULL AND "source.ip" NOT IN ('-', '::1', '127.0.0.1')
            UNION ALL
            SELECT "event.id", {sql.TS}, lower(json_extract_string(fields, '$.TargetUserName')),
                   lower(split_part(json_extract_string(fields, '$.TargetServerName'), '.', 1)),
                   lower(split_part("host.name", '.', 1)),
                   lower(coalesce(json_extract_string(fields, '$.SubjectUserName'), ''))
                     <> lower(json_extract_string(fields, '$.TargetUserName'))
            FROM events
            WHERE {sql.before_end(ctx)} AND "event.dataset" = 'windows.security'
              AND "event.code" = '4648'
              AND lower(coalesce(json_extract_string(fields, '$.TargetServerName'), 'localhost'))
                  NOT IN ('localhost', '-', '')
            UNION ALL
            SELECT "event.id", {sql.TS}, lower("user.name"),
                   lower(split_part("host.name", '.', 1)), "source.ip", TRUE
            FROM events
            WHERE {sql.before_end(ctx)} AND "event.action" = 'ssh_login'
              AND "event.outcome" = 'success' AND "source.ip" IS NOT NULL
        ),
        valid AS (
            SELECT * FROM logons
            WHERE account IS NOT NULL AND account NOT IN ('', '-', 'anonymous logon')
              AND NOT ends_with(account, '$') AND target IS NOT NULL AND target <> ''
        ),
        privileged AS (
            SELECT DISTINCT lower("user.name") AS account FROM events
            WHERE {sql.before_end(ctx)} AND "event.dataset" = 'windows.security'
              AND "event.code" = '4672'
        ),
        account_first AS (SELECT account, min(ts) AS since FROM valid GROUP BY account),
        pair_first AS (SELECT account, origin, min(ts) AS since FROM valid GROUP BY ALL),
        target_first AS (SELECT account, target, min(ts) AS since FROM valid GROUP BY ALL),
        fresh AS (
            SELECT v.*, {sql.is_quiet("v.ts")} AS quiet, t.since = v.ts AS new_target
            FROM valid v
            JOIN pair_first p USING (account, origin)
            JOIN account_first a USING (account)
            JOIN target_first t USING (account, target)
            WHERE {sql.in_window(ctx, "v.ts")} AND {sql.learned_after(ctx, "p.since")}
              AND v.ts < p.since + INTERVAL 1 DAY
              AND p.since >= a.since + INTERVAL 1 DAY
              AND (v.strong OR v.account IN (SELECT account FROM privileged))
        )
        SELECT account, date_trunc('day', ts) AS day, min(ts) AS first, max(ts) AS last,
               count(*) AS n, list(id ORDER BY ts) AS events, list(DISTINCT origin) AS origins,
               list(DISTINCT target) AS targets, count(DISTINCT target) AS hosts,
               list(DISTINCT target) FILTER (WHERE new_target) AS new_targets,
               bool_or(quiet) AS quiet, bool_or({sql.crown_host("target")}) AS crown
        FROM fresh GROUP BY ALL
        HAVING count(DISTINCT target) >= {int(st.lateral_min_new_hosts)} OR bool_or(quiet)
        ORDER BY first
        """,
    )
    alerts = []
    for row in found:
        targets = sorted(row["targets"])
        new_targets = sorted(row["new_targets"] or [])
        alerts.append(
            sql.make_alert(
                rule=f"{NAME}.new-logons",
                title="Account used from a new origin onto other hosts",
                severity="high" if (row["quiet"] or row["crown"]) else "medium",
                row=row,
                explanation=(
                    f"{row['account']} logged on from {', '.join(sorted(row['origins']))}, where "
                    f"it had never been used, to {len(targets)} hosts ({', '.join(targets[:5])})"
                    f" in {sql.human_span(row['first'], row['last'])}"
                    + (f", {len(new_targets)} of them new to it" if new_targets else "")
                    + (", in quiet hours" if row["quiet"] else "")
                    + (", including a crown jewel" if row["crown"] else "")
                    + "."
                ),
                techniques=("T1078", "T1021"),
                ents={"user": [row["account"]], "host": targets, "ip": row["origins"]},
                details={
                    "account": row["account"],
                    "origins": sorted(row["origins"]),
                    "targets": targets,
                    "new_targets": new_targets,
                    "quiet_hours": bool(row["quiet"]),
                    "crown_jewel": bool(row["crown"]),
                },
                max_events=st.max_events,
            )
        )
    return alerts
