"""Archive staging: data gathered and packed before it leaves.

``staging.archive-command``: an archiver creating an archive (rar/7z ``a``, ``tar c``, zip,
Compress-Archive, makecab, also renamed copies known by their PE metadata) with a staging
folder on its command line (Users\\Public, ProgramData, Temp, the recycle bin, PerfLogs,
/tmp, /dev/shm) or with password / multi-volume switches; bulk copies (robocopy, xcopy,
``cp -r``, rsync) and database dumps into a staging folder. Sysmon 1 and sudo command lines.
``staging.archive-files``: archive files created in staging folders (Sysmon 11), several in
a day or split into volumes, and big archives moved over the network (Zeek files/smb_files).
Both are worse on a crown-jewel host.
"""

from __future__ import annotations

import duckdb

from crownwatch.detect.alerts import Alert
from crownwatch.detect.analytics import sql
from crownwatch.detect.analytics.context import Context

NAME = "staging"
TECHNIQUES = ("T1560.001", "T1074.001")

_CMD = 'lower("process.command_line")'
_ARCHIVER = (
    f"(regexp_matches({_CMD}, '(^|[\\\\/\\s\"])(win)?(rar|7z|7za|7zr|7zg)(\\.exe)?\"?\\s+a\\s')"
    f" OR regexp_matches({_CMD}, '(^|[\\\\/\\s\"])(bsd)?tar(\\.exe)?\\s+-?[a-z]*c[a-z]*\\s')"
    f" OR regexp_matches({_CMD}, '(^|[\\\\/\\s\"])zip(\\.exe)?\\s+-[a-z]*r')"
    f" OR contains({_CMD}, 'compress-archive') OR regexp_matches({_CMD}, '\\bmakecab')"
    " OR (regexp_matches(lower(coalesce(json_extract_string(fields, '$.OriginalFileName'), '')"
    " || ' ' || coalesce(json_extract_string(fields, '$.Description'), '')), "
    "'\\brar\\b|7-zip|7z\\.exe|winrar')"
    f" AND regexp_matches({_CMD}, '\\s(a|u|m)\\s')))"
)
#: Switches that password-protect or split an archive (rar -hp/-p, 7z -p, -v volumes).
_SECRET = f"regexp_matches({_CMD}, '\\s-(hp|p)\\S+|\\s-v\\d+[kmg]?\\b')"
_COPY = (
    f"(regexp_matches({_CMD}, '\\b(robocopy|xcopy)(\\.exe)?\\b.*\\s/(e|s|mir)\\b')"
    f" OR regexp_matches({_CMD}, '(^|[\\\\/\\s])(cp\\s+-[a-z]*r|rsync\\s+-[a-z]*a)'))"
)
_DUMP = (
    f"regexp_matches({_CMD}, '\\b(mysqldump|mariadb-dump|pg_dump|pg_dumpall|mongodump|expdp"
    "|sqlcmd|ntdsutil)\\b')"
)
_ARCHIVE_EXT = "'\\.(rar|7z|zip|cab|tar|tgz|gz|bz2|xz|zst)$|\\.(7z|zip)\\.\\d{3}$|\\.[rz]\\d{2}$'"
_VOLUME = "'\\.part\\d+\\.rar$|\\.(7z|zip)\\.\\d{3}$|\\.[rz]\\d{2}$'"


def run(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    sql.setup(con, ctx)
    return _commands(con, ctx) + _files(con, ctx)


def _commands(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    st = ctx.settings
    staging = sql.in_staging_dir('"process.command_line"')
    found = sql.rows(
        con,
        f"""
        WITH c AS (
            SELECT "event.id" AS id, {sql.TS} AS ts, "host.name" AS host, "user.name" AS usr,
                   "process.command_line" AS cmd,
                   CASE WHEN {_ARCHIVER} THEN 'archive' WHEN {_COPY} THEN 'copy'
                        ELSE 'dump' END AS what,
                   {_SECRET} AS secret
            FROM events
            WHERE {sql.in_window(ctx)} AND "process.command_line" IS NOT NULL
              AND "host.name" IS NOT NULL
              AND (({_ARCHIVER} AND ({staging} OR {_SECRET}))
                   OR ({_COPY} AND {staging}) OR ({_DUMP} AND {staging}))
        )
        SELECT host, date_trunc('day', ts) AS day, min(ts) AS first, max(ts) AS last,
               count(*) AS n, list(id ORDER BY ts) AS events, list(DISTINCT usr) AS users,
               list(DISTINCT what) AS kinds, bool_or(secret) AS secret,
               list(DISTINCT left(cmd, 300))[:5] AS cmds, {sql.crown_host("host")} AS crown
        FROM c GROUP BY ALL ORDER BY first
        """,
    )
    alerts = []
    for row in found:
        kinds = sorted(row["kinds"])
        where = " and ".join(
            {"archive": "archived", "copy": "bulk-copied", "dump": "dumped database"}[k]
            for k in kinds
        )
        extra = []
        if row["secret"]:
            extra.append("with a password or split into volumes")
        if row["crown"]:
            extra.append("on a crown-jewel host")
        explanation = (
            f"{', '.join(u for u in row['users'] if u) or 'someone'} {where} data into a staging "
            f"folder on {sql.short_host(row['host'])} ({row['n']} commands"
            + (", " + ", ".join(extra) if extra else "")
            + f"): {row['cmds'][0][:160]}"
        )
        alerts.append(
            sql.make_alert(
                rule=f"{NAME}.archive-command",
                title="Data archived or copied into a staging folder",
                severity="high" if (row["secret"] or row["crown"]) else "medium",
                row=row,
                explanation=explanation,
                techniques=TECHNIQUES,
                ents={"host": [row["host"]], "user": row["users"]},
                details={
                    "commands": row["cmds"],
                    "kinds": kinds,
                    "password_or_volumes": bool(row["secret"]),
                    "crown_jewel": bool(row["crown"]),
                },
                max_events=st.max_events,
            )
        )
    return alerts


def _files(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    st = ctx.settings
    path = 'lower("file.path")'
    found = sql.rows(
        con,
        f"""
        WITH a AS (
            SELECT "event.id" AS id, {sql.TS} AS ts,
                   coalesce("host.name", "source.ip") AS who, "host.name" AS host,
                   "user.name" AS usr, "source.ip" AS src, "destination.ip" AS dst,
                   "file.path" AS path, "file.size" AS size, dataset,
                   regexp_matches({path}, {_VOLUME}) AS volume
            FROM events
            WHERE {sql.in_window(ctx)} AND "file.path" IS NOT NULL
              AND regexp_matches({path}, {_ARCHIVE_EXT})
              AND (
                ("event.dataset" = 'windows.sysmon' AND "event.code" = '11'
                 AND {sql.in_staging_dir('"file.path"')})
                OR (dataset IN ('zeek.files', 'zeek.smb_files')
                    AND coalesce("file.size", 0) >= {int(st.staging_big_archive_bytes)}))
        )
        SELECT who, date_trunc('day', ts) AS day, min(ts) AS first, max(ts) AS last,
               count(*) AS n, count(DISTINCT path) AS files, sum(coalesce(size, 0)) AS bytes,
               bool_or(volume) AS volume, list(id ORDER BY ts) AS events,
               list(DISTINCT path)[:10] AS paths, list(DISTINCT host) AS hosts,
               list(DISTINCT usr) AS users, list(DISTINCT src) AS srcs, list(DISTINCT dst) AS dsts,
               bool_or(dataset LIKE 'zeek.%') AS network,
               bool_or({sql.crown_host("host")} OR {sql.crown_host("dst")}) AS crown
        FROM a GROUP BY ALL
        HAVING count(DISTINCT path) >= {int(st.staging_min_archive_files)} OR bool_or(volume)
            OR bool_or(dataset LIKE 'zeek.%')
        ORDER BY first
        """,
    )
    alerts = []
    for row in found:
        size = f", {sql.human_bytes(row['bytes'])}" if row["bytes"] else ""
        how = "moved over the network" if row["network"] else "written to a staging folder"
        explanation = (
            f"{row['files']} archive files{size} {how} on {sql.short_host(row['who'])} within "
            f"{sql.human_span(row['first'], row['last'])}"
            + (", split into volumes" if row["volume"] else "")
            + (", involving a crown jewel" if row["crown"] else "")
            + f": {row['paths'][0][:160]}"
        )
        alerts.append(
            sql.make_alert(
                rule=f"{NAME}.archive-files",
                title="Archives staged for exfiltration",
                severity="high" if (row["volume"] or row["crown"]) else "medium",
                row=row,
                explanation=explanation,
                techniques=TECHNIQUES,
                ents={
                    "host": row["hosts"],
                    "user": row["users"],
                    "ip": [*(row["srcs"] or []), *(row["dsts"] or [])],
                    "file": row["paths"],
                },
                details={
                    "files": int(row["files"]),
                    "bytes": int(row["bytes"] or 0),
                    "volumes": bool(row["volume"]),
                    "crown_jewel": bool(row["crown"]),
                    "paths": row["paths"],
                },
                max_events=st.max_events,
            )
        )
    return alerts
