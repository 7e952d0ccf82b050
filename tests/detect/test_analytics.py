"""Behaviour analytics over small hand-built lakes: each fires on its attack, not on the
benign look-alike next to it."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from crownwatch.config import AnalyticsSettings, load
from crownwatch.detect.analytics import (
    ANALYTICS,
    Context,
    access,
    beaconing,
    dns,
    exfil,
    lateral,
    run_all,
    staging,
)
from crownwatch.schema import SCHEMA

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
_ids = itertools.count()


def ev(hours: float, dataset: str, **cols: Any) -> dict[str, Any]:
    """One event ``hours`` after T0; ``fields`` may be a dict."""
    row = {"@timestamp": T0 + timedelta(hours=hours), "dataset": dataset, **cols}
    row.setdefault("event.dataset", dataset)
    row["event.id"] = f"e{next(_ids)}"
    if isinstance(row.get("fields"), dict):
        row["fields"] = json.dumps(row["fields"])
    return row


def lake(rows: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with an ``events`` table shaped like the lake's view."""
    cols = {n: [r.get(n) for r in rows] for n in SCHEMA.names}
    table = pa.table(cols, schema=SCHEMA).append_column(
        "dataset", pa.array([r["dataset"] for r in rows], pa.string())
    )
    con = duckdb.connect()
    con.register("raw", table)
    con.execute('CREATE TABLE events AS SELECT *, CAST("@timestamp" AS DATE) AS day FROM raw')
    return con


def ids(alerts: list[Any]) -> set[str]:
    return {e for a in alerts for e in a.events}


def conn(
    hours: float,
    src: str,
    dst: str,
    out: int = 500,
    inb: int = 500,
    port: int = 443,
    uid: str | None = None,
) -> dict[str, Any]:
    return ev(
        hours,
        "zeek.conn",
        **{
            "source.ip": src,
            "destination.ip": dst,
            "destination.port": port,
            "source.bytes": out,
            "destination.bytes": inb,
        },
        fields={"uid": uid or f"C{next(_ids)}"},
    )


JEWELS = frozenset({"fs-rnd-01", "fs-rnd-01.corp.example", "10.10.1.21"})


# --- beaconing -------------------------------------------------------------------------


def test_beacon_to_rare_destination_fires_but_popular_polling_does_not() -> None:
    rnd = random.Random(1)
    rows = []
    t = 1.0
    while t < 9:  # a beacon every ~300 s with 5% jitter
        rows.append(conn(t, "10.0.0.5", "203.0.113.9"))
        t += 300 * rnd.uniform(0.95, 1.05) / 3600
    for host in range(30):  # everybody polls the update service just as regularly
        t = 1.0 + host / 100
        while t < 9:
            rows.append(conn(t, f"10.0.1.{host}", "198.51.100.7"))
            t += 300 / 3600
    t = 1.0
    while t < 9:  # a rare destination contacted at random times
        rows.append(conn(t, "10.0.0.6", "203.0.113.50"))
        t += rnd.expovariate(1 / 300) / 3600 + 1 / 3600
    alerts = beaconing.run(lake(rows), Context())
    assert [a.details["destinations"] for a in alerts] == [["203.0.113.9"]]
    assert alerts[0].rule == "beaconing.periodic"
    assert 280 < alerts[0].details["period_seconds"] < 320
    assert "T1071.001" in alerts[0].techniques


def test_beacon_rotating_over_several_addresses_fires() -> None:
    rnd = random.Random(2)
    rows, t = [], 1.0
    pool = [f"198.18.{i}.1" for i in range(5)]
    while t < 10:
        rows.append(conn(t, "10.0.0.7", rnd.choice(pool), port=2222))
        t += 300 * rnd.uniform(0.85, 1.15) / 3600
    alerts = beaconing.run(lake(rows), Context())
    assert len(alerts) == 1 and alerts[0].details["rotating"] is True


# --- exfiltration ----------------------------------------------------------------------


def test_large_upload_fires_against_own_baseline_only() -> None:
    rows = []
    for h in range(72):
        rows.append(conn(h + 0.1, "10.0.0.5", "198.51.100.7", out=200_000))
        # a host that always uploads a lot (a backup to the cloud) is its own normal
        rows.append(conn(h + 0.2, "10.0.0.9", "198.51.100.8", out=400_000_000))
    big = conn(50.5, "10.0.0.5", "203.0.113.9", out=300_000_000, uid="Cbig")
    ssl = ev(
        50.5,
        "zeek.ssl",
        **{
            "source.ip": "10.0.0.5",
            "destination.ip": "203.0.113.9",
            "tls.server.name": "cdn.example.net",
        },
        fields={"uid": "Cbig"},
    )
    alerts = exfil.run(lake([*rows, big, ssl]), Context())
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.rule == "exfil.large-transfer"
    assert {big["event.id"], ssl["event.id"]} <= set(alert.events)
    assert alert.details["ratio"] > 100 and alert.details["new_destination"]
    assert "cdn.example.net" in alert.explanation


def test_cloud_upload_fires_for_listed_service() -> None:
    up = conn(3, "10.0.0.5", "162.125.1.1", out=50_000_000, uid="Cup")
    ssl = ev(
        3,
        "zeek.ssl",
        **{
            "source.ip": "10.0.0.5",
            "destination.ip": "162.125.1.1",
            "tls.server.name": "content.dropboxusercontent.com",
        },
        fields={"uid": "Cup"},
    )
    small = conn(4, "10.0.0.6", "162.125.1.1", out=5_000, uid="Csmall")
    ssl2 = ev(
        4,
        "zeek.ssl",
        **{
            "source.ip": "10.0.0.6",
            "destination.ip": "162.125.1.1",
            "tls.server.name": "www.dropbox.com",
        },
        fields={"uid": "Csmall"},
    )
    alerts = [
        a
        for a in exfil.run(lake([up, ssl, small, ssl2]), Context())
        if a.rule == "exfil.cloud-upload"
    ]
    assert len(alerts) == 1 and alerts[0].details["source"] == "10.0.0.5"


# --- access to crown jewels ------------------------------------------------------------


def test_bulk_pull_from_crown_jewel_fires_but_nightly_backup_does_not() -> None:
    rows = []
    for day in range(5):
        for peer in range(8):
            for hour in (9, 11, 14):
                rows.append(
                    conn(
                        day * 24 + hour + peer / 60,
                        f"10.0.2.{peer}",
                        "10.10.1.21",
                        inb=60_000_000,
                        port=445,
                    )
                )
        rows.append(conn(day * 24 + 1, "10.0.3.10", "10.10.1.21", inb=2_000_000_000, port=445))
    theft = conn(4 * 24 + 2, "10.0.2.0", "10.10.1.21", inb=5_000_000_000, port=445, uid="Cx")
    audit = ev(
        4 * 24 + 2,
        "windows.security",
        **{
            "event.code": "5145",
            "host.name": "FS-RND-01.corp.example",
            "user.name": "jdoe",
            "source.ip": "10.0.2.0",
            "file.path": "\\\\*\\RnD\\a.docx",
        },
    )
    alerts = access.run(lake([*rows, theft, audit]), Context(crown_jewels=JEWELS))
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.rule == "access.bulk-volume" and alert.details["source"] == "10.0.2.0"
    assert {theft["event.id"], audit["event.id"]} <= set(alert.events)
    assert "jdoe" in alert.entities["user"]
    assert alert.details["quiet_hours"] is False  # no user activity at all: nothing is quiet


def test_access_needs_crown_jewels() -> None:
    rows = [conn(2, "10.0.2.0", "10.10.1.21", inb=5_000_000_000, port=445)]
    assert access.run(lake(rows), Context()) == []


# --- staging ---------------------------------------------------------------------------


def _proc(hours: float, cmd: str, host: str = "WS-1.corp.example", **fields: Any) -> dict:
    return ev(
        hours,
        "windows.sysmon",
        **{"event.code": "1", "host.name": host, "user.name": "jdoe", "process.command_line": cmd},
        fields=fields or {},
    )


def test_archiver_into_staging_folder_fires_but_extraction_does_not() -> None:
    bad = _proc(
        1,
        r"C:\Users\Public\x.exe a -hpSecret -v400m C:\Users\Public\o.rar C:\data\*",
        OriginalFileName="Rar.exe",
        Description="Command line RAR",
    )
    fine = _proc(2, r'"C:\Program Files\7-Zip\7z.exe" x C:\Users\jdoe\Downloads\tools.zip')
    fine2 = _proc(3, r'"C:\Program Files\7-Zip\7z.exe" a C:\Users\jdoe\Documents\notes.7z notes')
    files = [
        ev(
            1.1 + i / 100,
            "windows.sysmon",
            **{
                "event.code": "11",
                "host.name": "WS-1",
                "file.path": rf"C:\Users\Public\o.part{i}.rar",
            },
        )
        for i in range(1, 4)
    ]
    alerts = staging.run(lake([bad, fine, fine2, *files]), Context())
    rules = sorted(a.rule for a in alerts)
    assert rules == ["staging.archive-command", "staging.archive-files"]
    assert ids(alerts) == {bad["event.id"], *(f["event.id"] for f in files)}
    command = next(a for a in alerts if a.rule == "staging.archive-command")
    assert command.details["password_or_volumes"] is True


def test_database_dump_to_tmp_on_linux_fires() -> None:
    dump = ev(
        1,
        "system.auth",
        **{
            "host.name": "db01",
            "user.name": "admin",
            "process.command_line": "/usr/bin/mysqldump --all-databases -r /tmp/.c/all.sql",
        },
    )
    ok = ev(
        2,
        "system.auth",
        **{"host.name": "db01", "user.name": "admin", "process.command_line": "/usr/bin/df -h"},
    )
    alerts = staging.run(lake([dump, ok]), Context(crown_jewels=frozenset({"db01"})))
    assert ids(alerts) == {dump["event.id"]} and alerts[0].severity == "high"


# --- dns -------------------------------------------------------------------------------


def _dns(hours: float, name: str, client: str = "10.0.0.5", rcode: str = "NOERROR") -> dict:
    return ev(
        hours,
        "zeek.dns",
        **{
            "source.ip": client,
            "destination.ip": "10.0.0.53",
            "dns.question.name": name,
            "dns.response_code": rcode,
        },
    )


def test_nxdomain_burst_fires_but_occasional_typos_do_not() -> None:
    rnd = random.Random(3)
    letters = "abcdefghijklmnopqrstuvwxyz"
    rows = [
        _dns(
            30 + i / 60, "".join(rnd.choice(letters) for _ in range(12)) + ".com", rcode="NXDOMAIN"
        )
        for i in range(40)
    ]
    rows += [
        _dns(h, f"typo{h}.example.com", client="10.0.0.6", rcode="NXDOMAIN") for h in range(48)
    ]
    alerts = dns.run(lake(rows), Context())
    assert [a.rule for a in alerts] == ["dns.nxdomain-burst"]
    assert alerts[0].details["client"] == "10.0.0.5" and alerts[0].count == 40


def test_tunnel_fires_for_random_subdomains_of_a_rare_domain_only() -> None:
    rnd = random.Random(4)
    rows = [
        _dns(5 + i / 600, f"{rnd.getrandbits(160):040x}.t.evil-example.net") for i in range(150)
    ]
    # a CDN with many short, ordinary names used by many clients
    rows += [
        _dns(5 + i / 600, f"img{i}.cdn-example.com", client=f"10.0.1.{i % 20}") for i in range(150)
    ]
    alerts = dns.run(lake(rows), Context())
    assert [a.details.get("domain") for a in alerts] == ["evil-example.net"]
    assert alerts[0].details["median_length"] >= 40


# --- lateral ---------------------------------------------------------------------------


def _sec(
    hours: float, code: str, host: str, user: str, src: str | None = None, **fields: Any
) -> dict:
    return ev(
        hours,
        "windows.security",
        **{"event.code": code, "host.name": host, "user.name": user, "source.ip": src},
        fields=fields,
    )


def test_lsass_read_fires_but_antivirus_does_not() -> None:
    def access10(hours: float, image: str) -> dict:
        return ev(
            hours,
            "windows.sysmon",
            **{"event.code": "10", "host.name": "WS-1"},
            fields={
                "SourceImage": image,
                "TargetImage": r"C:\Windows\System32\lsass.exe",
                "GrantedAccess": "0x1FFFFF",
            },
        )

    bad = access10(1, r"C:\Windows\System32\rundll32.exe")
    av = access10(2, r"C:\ProgramData\Microsoft\Windows Defender\MsMpEng.exe")
    alerts = lateral.run(lake([bad, av]), Context())
    assert [a.rule for a in alerts] == ["lateral.lsass-access"]
    assert ids(alerts) == {bad["event.id"]}


def test_admin_from_new_origin_fires_but_users_ordinary_logons_do_not() -> None:
    rows = []
    for day in range(4):  # history: the admin works from its own workstation at noon
        h = day * 24 + 12
        rows += [
            _sec(h, "4672", "SRV1", "adm-x"),
            _sec(h, "4624", "SRV1", "adm-x", "10.0.0.30", LogonType="10"),
            _sec(h, "4624", "DC1", "jdoe", "10.0.0.40", LogonType="3"),
        ]
    # the admin's account from a workstation it never used, onto two servers
    theft = [
        _sec(4 * 24 + 12, "4624", "SRV2", "adm-x", "10.0.0.17", LogonType="3"),
        _sec(4 * 24 + 13, "4624", "SRV1", "adm-x", "10.0.0.17", LogonType="10"),
    ]
    # a user on a new VPN address doing ordinary network logons
    roam = [
        _sec(4 * 24 + 12, "4624", "DC1", "jdoe", "10.9.0.77", LogonType="3"),
        _sec(4 * 24 + 12.5, "4624", "FS1", "jdoe", "10.9.0.77", LogonType="3"),
    ]
    alerts = lateral.run(lake([*rows, *theft, *roam]), Context())
    assert [a.rule for a in alerts] == ["lateral.new-logons"]
    assert ids(alerts) == {e["event.id"] for e in theft}
    assert alerts[0].details["origins"] == ["10.0.0.17"]


# --- registry, settings ----------------------------------------------------------------


def test_registry_and_a_failing_analytic_does_not_stop_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert set(ANALYTICS) == {"staging", "access", "exfil", "beaconing", "dns", "lateral"}
    for module in ANALYTICS.values():
        assert module.TECHNIQUES and all(t.startswith("T") for t in module.TECHNIQUES)

    class Broken:
        NAME = "broken"
        TECHNIQUES = ("T0000",)

        @staticmethod
        def run(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Any]:
            raise RuntimeError("boom")

    monkeypatch.setitem(ANALYTICS, "broken", Broken)  # type: ignore[arg-type]
    av = ev(
        1,
        "windows.sysmon",
        **{"event.code": "10", "host.name": "WS-1"},
        fields={
            "SourceImage": r"C:\x\dump.exe",
            "TargetImage": r"C:\W\lsass.exe",
            "GrantedAccess": "0x1010",
        },
    )
    alerts = run_all(lake([av]), Context())
    assert [a.rule for a in alerts] == ["lateral.lsass-access"]


def test_window_limits_alerts_to_start_end() -> None:
    bad = ev(
        1,
        "windows.sysmon",
        **{"event.code": "10", "host.name": "WS-1"},
        fields={
            "SourceImage": r"C:\x\d.exe",
            "TargetImage": r"C:\W\lsass.exe",
            "GrantedAccess": "0x1010",
        },
    )
    con = lake([bad])
    later = Context(start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=3))
    assert lateral.run(con, later) == []
    assert len(lateral.run(con, Context(start=T0, end=T0 + timedelta(hours=2)))) == 1


def test_internal_ranges_come_from_settings() -> None:
    rows = [conn(1 + i * 300 / 3600, "10.0.0.5", "203.0.113.9") for i in range(40)]
    assert len(beaconing.run(lake(rows), Context())) == 1
    # the organisation's own public range: no longer an external destination
    own = AnalyticsSettings(internal_cidrs=("10.0.0.0/8", "203.0.113.0/24", "fe80::/10"))
    assert beaconing.run(lake(rows), Context(settings=own)) == []
    assert beaconing.run(lake(rows), Context(settings=replace(own, internal_cidrs=()))) == []


def test_analytics_settings_load_from_toml(tmp_path: Path) -> None:
    (tmp_path / "crownwatch.toml").write_text(
        '[analytics]\nexfil_ratio = 50\nexfil_cloud_domains = ["example.org"]\n'
    )
    settings = load(home=tmp_path, environ={})
    assert settings.analytics.exfil_ratio == 50.0
    assert settings.analytics.exfil_cloud_domains == ("example.org",)
    assert settings.analytics.beacon_max_sources == AnalyticsSettings().beacon_max_sources


def test_internal_address_test_covers_v4_and_v6() -> None:
    from crownwatch.detect.analytics import sql

    con = lake([conn(1, "10.0.0.5", "203.0.113.9")])
    sql.setup(con, Context())
    probe = [
        "10.1.2.3",
        "172.31.0.1",
        "172.32.0.1",
        "8.8.8.8",
        "::1",
        "fe80::1",
        "fd12:3456::1",
        "2001:db8::1",
        "not-an-ip",
        None,
    ]
    got = con.execute(
        "SELECT list(cw_internal(ip) ORDER BY i) FROM "
        "(SELECT unnest(?) AS ip, generate_subscripts(?, 1) AS i)",
        [probe, probe],
    ).fetchone()
    assert got is not None
    assert got[0] == [True, True, False, False, True, True, True, False, False, False]


def test_beacon_judged_in_a_window_with_its_lookback() -> None:
    rows = [conn(1 + i * 300 / 3600, "10.0.0.5", "203.0.113.9") for i in range(200)]
    window = Context(start=T0 + timedelta(hours=10), end=T0 + timedelta(hours=12))
    alerts = beaconing.run(lake(rows), window)
    assert len(alerts) == 1
    assert alerts[0].count == 24  # only the window's events are named; history only judges
    assert alerts[0].details["connections"] > 24


def test_no_volume_alerts_before_the_lake_has_learned() -> None:
    rows = [
        conn(5, "10.0.2.0", "10.10.1.21", inb=5_000_000_000, port=445),
        conn(6, "10.0.2.0", "203.0.113.9", out=900_000_000),
    ]
    con = lake(rows)
    assert access.run(con, Context(crown_jewels=JEWELS)) == []
    assert [a for a in exfil.run(con, Context()) if a.rule == "exfil.large-transfer"] == []
