"""What machines do on their own: scheduled tasks, update checks, cron, CI polling,
and the nightly jobs (backups at 01:00, firmware builds at 02:00, WSUS sync at 03:00)."""

from __future__ import annotations

import hashlib
from typing import Any

from crownwatch.scenario import activity, linux, network, windows
from crownwatch.scenario import company as co
from crownwatch.scenario.activity import MS, Ctx
from crownwatch.scenario.formats import DAY_US, HOUR, SECOND


def background(ctx: Ctx, sess: dict[str, Any], t0: int, rate: float) -> None:
    """A logged-on workstation's own activity: tasks, updates, Defender signatures."""
    rng = ctx.rng
    ws = sess["host"]
    ts = t0 + rng.randint(0, HOUR - 1)
    if rng.random() < 0.3 * rate:
        image, cmd, parent = rng.choice(
            (
                (
                    "C:\\Windows\\System32\\taskhostw.exe",
                    "taskhostw.exe -RegisterDevice -Settings",
                    "schedule",
                ),
                (
                    "C:\\Windows\\System32\\backgroundTaskHost.exe",
                    '"C:\\Windows\\system32\\backgroundTaskHost.exe" '
                    "-ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca",
                    "dcom",
                ),
                (
                    "C:\\Windows\\System32\\SearchProtocolHost.exe",
                    '"C:\\Windows\\system32\\SearchProtocolHost.exe" '
                    "Global\\UsGthrFltPipeMssGthrPipe1_",
                    "dcom",
                ),
            )
        )
        windows.system_start(ctx, ts, ws, image, cmd, parent)
    day = t0 // DAY_US
    if day in sess["days"]:
        return
    sess["days"].add(day)
    updates(ctx, ws, t0 + rng.randint(5, 50) * 60 * SECOND)


def updates(ctx: Ctx, host: co.Host, ts: int) -> None:
    """The daily update checks of a Windows machine: WSUS, Defender, Google Update."""
    rng = ctx.rng
    wsus = ctx.company["host"]["WSUS01"]
    wu = windows.system_proc(ctx, host, "wuauserv")
    _service_state(ctx, ts, host, "Windows Update", "running", "wuauserv")
    src = activity.host_ip(ctx, host)
    cid, port, t = network.flow(
        ctx,
        ts,
        host,
        wu,
        "",
        8530,
        name="wsus.helix.corp",
        service="http",
        ob=rng.randint(3_000, 9_000),
        rb=rng.randint(20_000, 90_000),
        duration=rng.uniform(0.5, 4),
    )
    network.http(
        ctx,
        t + 40 * MS,
        cid,
        src,
        port,
        wsus["ip"],
        8530,
        method="POST",
        host="wsus.helix.corp:8530",
        uri="/ClientWebService/client.asmx",
        agent="Windows-Update-Agent/1213.2408.22012.0 Client-Protocol/2.71",
        req=rng.randint(2_000, 6_000),
        resp=rng.randint(10_000, 80_000),
    )
    if rng.random() < 0.25:
        kb = rng.choice(("5044284", "5043076", "5044033", "890830"))
        size = rng.randint(2_000_000, 90_000_000)
        name = f"windows11.0-kb{kb}-x64_{hashlib.sha1(kb.encode()).hexdigest()[:40]}.cab"
        network.http(
            ctx,
            t + 2 * SECOND,
            cid,
            src,
            port,
            wsus["ip"],
            8530,
            method="GET",
            host="wsus.helix.corp:8530",
            uri=f"/Content/{kb[-2:]}/{name}",
            agent="Microsoft BITS/7.8",
            resp=size,
            mime="application/vnd.ms-cab-compressed",
            filename=name,
            file_hashes=activity.hashes(name),
        )
    _service_state(ctx, t + 600 * SECOND, host, "Windows Update", "stopped", "wuauserv")
    if host["role"] == "workstation" and rng.random() < 0.03:
        windows.win(
            ctx,
            t + 700 * SECOND,
            host,
            "system",
            7045,
            {
                "ServiceName": "Google Updater Service (GoogleUpdaterService129.0.6668.101)",
                "ImagePath": '"C:\\Program Files (x86)\\Google\\GoogleUpdater\\129.0.6668.101'
                '\\updater.exe" --system --windows-service --service=update',
                "ServiceType": "user mode service",
                "StartType": "auto start",
                "AccountName": "LocalSystem",
            },
        )
    mp = windows.system_start(
        ctx,
        ts + rng.randint(60, 900) * SECOND,
        host,
        "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\MpCmdRun.exe",
        '"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform'
        '\\4.18.24090.11-0\\MpCmdRun.exe" SignaturesUpdateService -ScheduleJob '
        "-UnmanagedUpdate",
        "msmpeng",
    )
    network.https(
        ctx,
        ts + 1000 * SECOND,
        host,
        mp,
        "definitionupdates.microsoft.com",
        (1_000, 4_000),
        (100_000, 12_000_000),
        (1, 20),
    )
    if host["role"] != "workstation":
        return
    gu = windows.system_start(
        ctx,
        ts + 1500 * SECOND,
        host,
        "C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe",
        '"C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe" /ua /installsource scheduler',
        "schedule",
    )
    network.https(
        ctx,
        ts + 1502 * SECOND,
        host,
        gu,
        "update.googleapis.com",
        (1_500, 3_000),
        (1_000, 5_000),
        (0.2, 2),
    )
    if rng.random() < 0.1:
        name = "129.0.6668.101_129.0.6668.90_chrome_updater.exe"
        network.fetch(
            ctx,
            ts + 1510 * SECOND,
            host,
            gu,
            "dl.google.com",
            f"/release2/chrome/acyg3t5w7kcbyv5ekgwjfjr6vuxq_129.0.6668.101/{name}",
            "Google Update/1.3.36.412;winhttp",
            ob=900,
            rb=9_800_000,
            duration=4.0,
            resp=9_800_000,
            mime="application/x-dosexec",
            filename=name,
        )


def _service_state(ctx: Ctx, ts: int, host: co.Host, name: str, state: str, key: str) -> None:
    """7036: a service entered the running or stopped state."""
    binary = (key.encode("utf-16-le") + b"\0\0").hex().upper()
    windows.win(ctx, ts, host, "system", 7036, {"param1": name, "param2": state, "Binary": binary})


def servers(ctx: Ctx, t0: int, utc_hour: int, rate: float) -> None:
    """Server activity of the hour: services, cron, CI polling, and the nightly jobs."""
    rng = ctx.rng
    company = ctx.company
    for host in company["hosts"]:
        if host["role"] in ("workstation", "vpn_concentrator"):
            continue
        if host["family"] == "linux":
            pid = rng.randint(2000, 90000)
            t = t0 + 17 * 60 * SECOND + rng.randint(0, 900) * MS
            linux.auth_line(
                ctx,
                t,
                host,
                "CRON",
                pid,
                "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
                "root",
            )
            linux.auth_line(
                ctx,
                t + rng.randint(200, 3000) * MS,
                host,
                "CRON",
                pid,
                "pam_unix(cron:session): session closed for user root",
                "root",
            )
        elif rng.random() < 0.6 * rate:
            ts = t0 + rng.randint(0, HOUR - 1)
            windows.system_start(
                ctx,
                ts,
                host,
                "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe",
                "C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding",
                "dcom",
            )
        if host["family"] == "windows" and utc_hour == 4:
            updates(ctx, host, t0 + rng.randint(0, 1800) * SECOND)
    for quarter in range(4):
        ts = t0 + quarter * 900 * SECOND + rng.randint(0, 20_000) * MS
        _ci_fetch(ctx, ts, (900, 1500), (600, 1400), (0.05, 0.4))
    if utc_hour == 1:
        backups(ctx, t0)
    elif utc_hour == 2:
        nightly_builds(ctx, t0)
    elif utc_hour == 3:
        wsus_sync(ctx, t0)


_BACKUP_GB = {
    "git01": 38,
    "eln01": 14,
    "FS-RND-01": 55,
    "PLM01": 40,
    "FS01": 20,
    "DC01": 6,
    "DC02": 6,
    "build01": 9,
    "web01": 2,
    "WSUS01": 12,
}


def backups(ctx: Ctx, t0: int) -> None:
    """01:00 UTC: bkp01 pulls Linux servers over ssh; Windows servers push with Veeam."""
    rng = ctx.rng
    bkp = ctx.company["host"]["bkp01"]
    ts = t0 + rng.randint(0, 120) * SECOND
    for host in ctx.company["hosts"]:
        if host["role"] in ("workstation", "vpn_concentrator", "backup"):
            continue
        size = int(_BACKUP_GB.get(host["hostname"], 3) * 1e9 * rng.uniform(0.02, 0.06))
        secs = size / 90e6
        if host["family"] == "linux":
            linux.ssh_session(
                ctx,
                ts,
                bkp,
                None,
                host,
                "backup",
                996,
                duration=secs,
                ob=rng.randint(200_000, 900_000),
                rb=size,
                interactive=False,
            )
        else:
            veeam = windows.system_proc(ctx, host, "veeam")
            network.flow(
                ctx,
                ts,
                host,
                veeam,
                bkp["ip"],
                10006,
                service="-",
                ob=size,
                rb=rng.randint(200_000, 2_000_000),
                duration=secs,
            )
        ts += rng.randint(30, 240) * SECOND


def nightly_builds(ctx: Ctx, t0: int) -> None:
    """02:00 UTC: the CI server clones the firmware repositories over https."""
    rng = ctx.rng
    ts = t0 + rng.randint(60, 600) * SECOND
    for _repo in co.REPOS[:3]:
        _ci_fetch(ctx, ts, (3_000, 9_000), (80_000_000, 350_000_000), (20, 90))
        ts += rng.randint(120, 600) * SECOND


def _ci_fetch(
    ctx: Ctx, ts: int, ob: tuple[int, int], rb: tuple[int, int], secs: tuple[float, float]
) -> None:
    """The CI server (build01) fetching from GitLab over https."""
    build = ctx.company["host"]["build01"]
    network.https(ctx, ts, build, None, "git.helix.corp", ob, rb, secs, network.TLS12_INTERNAL)


def wsus_sync(ctx: Ctx, t0: int) -> None:
    """03:00 UTC: WSUS synchronises with Microsoft Update and downloads new content."""
    rng = ctx.rng
    wsus = ctx.company["host"]["WSUS01"]
    svc = windows.system_proc(ctx, wsus, "wuauserv")
    ts = t0 + rng.randint(0, 600) * SECOND
    network.https(
        ctx,
        ts,
        wsus,
        svc,
        "sws.update.microsoft.com",
        (20_000, 80_000),
        (500_000, 8_000_000),
        (5, 60),
    )
    for _ in range(rng.randint(1, 3)):
        ts += rng.randint(30, 300) * SECOND
        kb = str(rng.randint(5040000, 5049999))
        name = f"windows11.0-kb{kb}-x64_{hashlib.sha1(kb.encode()).hexdigest()}.cab"
        size = rng.randint(20_000_000, 600_000_000)
        network.fetch(
            ctx,
            ts,
            wsus,
            svc,
            "download.windowsupdate.com",
            f"/c/msdownload/update/software/secu/2026/10/{name}",
            "Microsoft BITS/7.8",
            ob=2_000,
            rb=size,
            duration=size / 50e6,
            resp=size,
            mime="application/vnd.ms-cab-compressed",
            filename=name,
        )
