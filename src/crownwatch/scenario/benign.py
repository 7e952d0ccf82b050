"""Normal activity: who works when, logons and logoffs, and the hour-by-hour driver.

Generated one hour at a time: every event of an activity that starts in the hour is
at or after its start, so the sink can write the hour once the next one begins. What
people do while logged on is in ``habits``; what machines do on their own, in
``machines``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from crownwatch.scenario import activity, linux, network, windows
from crownwatch.scenario import company as co
from crownwatch.scenario.activity import MS, Ctx
from crownwatch.scenario.formats import DAY_US, HOUR, SECOND
from crownwatch.scenario.habits import SITES, app, online, work
from crownwatch.scenario.machines import background, servers

#: Public names users and machines reach: name -> (address, CNAME or "").
PUBLIC: dict[str, tuple[str, str]] = {
    "outlook.office365.com": ("52.97.211.34", "outlook.ha.office365.com"),
    "login.microsoftonline.com": ("20.190.159.4", "login.mso.msidentity.com"),
    "teams.microsoft.com": ("52.113.194.132", "teams-office-com.s-0005.dc-msedge.net"),
    "helixtd.sharepoint.com": ("13.107.136.10", "dual-spo-0005.spo-msedge.net"),
    "helixtd-my.sharepoint.com": ("13.107.138.10", "dual-spo-0006.spo-msedge.net"),
    "www.office.com": ("13.107.6.156", ""),
    "www.msftconnecttest.com": ("13.107.4.52", ""),
    "definitionupdates.microsoft.com": ("23.55.161.33", ""),
    "msedge.api.cdp.microsoft.com": ("20.42.65.88", ""),
    "update.googleapis.com": ("142.250.74.67", ""),
    "dl.google.com": ("142.250.74.110", ""),
    "sws.update.microsoft.com": ("20.72.235.82", ""),
    "download.windowsupdate.com": ("23.32.238.201", ""),
    "www.google.com": ("142.250.74.36", ""),
    "www.bing.com": ("13.107.21.200", ""),
    "www.linkedin.com": ("13.107.42.14", ""),
    "github.com": ("140.82.121.4", ""),
    "api.github.com": ("140.82.121.6", ""),
    "objects.githubusercontent.com": ("185.199.108.133", ""),
    "pypi.org": ("151.101.0.223", ""),
    "files.pythonhosted.org": ("151.101.64.223", ""),
}

_CDN_BLOCKS = ("104.18", "151.101", "23.54", "172.67", "13.224", "199.232", "34.120")

_RND_KINDS = (
    "assay_results",
    "plate_map",
    "HPLC_run",
    "formulation_batch",
    "PK_summary",
    "study_report",
    "SOP",
    "stability_data",
    "dose_response",
    "qPCR_run",
)

_RND_EXT = ("xlsx", "xlsx", "csv", "docx", "pdf", "xlsx", "docx", "cdx", "pzfx")


def setup(ctx: Ctx) -> dict[str, Any]:
    """Name resolution, share contents and per-user details the activity draws on."""
    rng = ctx.rng
    for host in ctx.company["hosts"]:
        ctx.dns[host["fqdn"]] = (host["ip"], "")
    for alias, name in co.ALIASES.items():
        ctx.dns[alias] = (ctx.company["host"][name]["ip"], "")
    ctx.dns.update(PUBLIC)
    for sites in SITES.values():
        for site in sites:
            ctx.dns.setdefault(site, (_public_ip(site), ""))
    rnd_files = {
        project: [
            (
                f"{project}\\{rng.choice(_RND_KINDS)}_{n:04d}.{rng.choice(_RND_EXT)}",
                rng.randint(20_000, 30_000_000),
            )
            for n in range(rng.randint(150, 400))
        ]
        for project in co.PROJECTS
    }
    for user in ctx.company["users"]:
        user["browser"] = "edge" if rng.random() < 0.3 else "chrome"
        user["home_ip"] = f"{rng.choice((84, 91, 87, 62, 78))}.{rng.randint(1, 254)}." + (
            f"{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        )
        user["vpn_ip"] = f"10.30.{rng.randint(0, 15)}.{rng.randint(2, 254)}"
    world: dict[str, Any] = {"plans": {}, "rnd_files": rnd_files}
    return world


def _public_ip(name: str) -> str:
    h = hashlib.sha256(name.encode()).digest()
    return f"{_CDN_BLOCKS[h[0] % len(_CDN_BLOCKS)]}.{h[1]}.{1 + h[2] % 254}"


def plan_day(ctx: Ctx, day_start: int, weekday: int) -> dict[str, list[dict[str, Any]]]:
    """Each user's sessions of one day: start, end, working from home (over VPN)."""
    rng = ctx.rng
    plans: dict[str, list[dict[str, Any]]] = {}
    for user in ctx.company["users"]:
        sessions: list[dict[str, Any]] = []
        working = weekday < 5 and (user["pinned"] or rng.random() < 0.95)
        if working:
            begin = user["start"] - co.TZ_HOURS + rng.gauss(0, 0.35)
            length = user["hours"] + rng.gauss(0, 0.5)
            wfh = not user["pinned"] and rng.random() < user["wfh"]
            sessions.append(_session(day_start, begin, length, wfh))
            if not user["pinned"] and rng.random() < 0.06:
                evening = rng.uniform(18, 20.5) - co.TZ_HOURS
                sessions.append(_session(day_start, evening, rng.uniform(0.3, 1.2), True))
        elif weekday >= 5 and not user["pinned"] and rng.random() < 0.05:
            begin = rng.uniform(9, 17) - co.TZ_HOURS
            sessions.append(_session(day_start, begin, rng.uniform(0.5, 2.5), True))
        plans[user["username"]] = sessions
    return plans


def _session(day_start: int, begin_h: float, length_h: float, wfh: bool) -> dict[str, Any]:
    start = day_start + int(begin_h * HOUR)
    return {"start": start, "end": start + int(max(0.3, length_h) * HOUR), "wfh": wfh}


def hour(ctx: Ctx, world: dict[str, Any], t0: int, rate: float) -> None:
    """Every benign activity that starts in the hour beginning at ``t0``."""
    t1 = t0 + HOUR
    if t0 % DAY_US == 0:
        weekday = (t0 // DAY_US + 3) % 7  # 1970-01-01 was a Thursday
        world["plans"] = plan_day(ctx, t0, weekday)
    utc_hour = (t0 % DAY_US) // HOUR
    for user in ctx.company["users"]:
        name = user["username"]
        for plan in world["plans"].get(name, ()):
            if t0 <= plan["start"] < t1:
                login(ctx, user, plan)
            lo, hi = max(t0, plan["start"]), min(t1, plan["end"])
            if lo < hi and name in ctx.sessions:
                work(ctx, world, user, lo, hi, rate)
            if t0 <= plan["end"] < t1 and not user.get("stays"):
                logout(ctx, user, plan["end"])
        sess = ctx.sessions.get(name)
        if sess is not None:
            background(ctx, sess, t0, rate)
    servers(ctx, t0, utc_hour, rate)


def login(ctx: Ctx, user: co.User, plan: dict[str, Any]) -> None:
    """Logon of a user at their workstation: VPN, 4624, DC ticket, shell and startup apps."""
    if user["username"] in ctx.sessions:
        return
    rng = ctx.rng
    ws = ctx.company["host"][user["workstation"]]
    st = activity.host_state(ctx, ws)
    ts = plan["start"]
    name = user["username"]
    if plan["wfh"]:
        st["ip"] = user["vpn_ip"]
        auth = f"AAA user authentication Successful : server = 10.10.0.10 : user = {name}"
        address = f"IPv4 Address <{user['vpn_ip']}> IPv6 address <::> assigned to session"
        for delay, message in (
            (0, f"%ASA-6-113004: {auth}"),
            (400 * MS, f"%ASA-6-113039: {_vpn_user(user)} AnyConnect parent session started."),
            (900 * MS, f"%ASA-6-722051: {_vpn_user(user)} {address}"),
        ):
            linux.vpn_line(ctx, ts + delay, message, name)
        ts += rng.randint(20, 90) * SECOND
    else:
        st["ip"] = ws["ip"]
    acct = activity.account(user)
    kind = 11 if plan["wfh"] else 2
    if rng.random() < 0.04:
        windows.logon_failed(ctx, ts, ws, name, kind)
        ts += rng.randint(4, 15) * SECOND
    lid = windows.logon(ctx, ts, ws, acct, kind)
    acct = acct | {"logon_id": lid, "logon_guid": activity.guid(ctx), "session": "1"}
    dc = ctx.company["host"]["DC01" if rng.random() < 0.6 else "DC02"]
    t = ts + rng.randint(200, 900) * MS
    sport = activity.eph_port(ctx)
    network.conn(
        ctx, t, st["ip"], sport, dc["ip"], 88, service="krb_tcp", duration=0.01, ob=1650, rb=1580
    )
    dlid = windows.logon(ctx, t + 30 * MS, dc, activity.account(user), 3, ip=st["ip"], port=sport)
    windows.logoff(ctx, t + rng.randint(2, 8) * SECOND, dc, activity.account(user), dlid, 3)
    winlogon = windows.system_proc(ctx, ws, "winlogon")
    t += rng.randint(1, 3) * SECOND
    userinit = windows.start(
        ctx,
        t,
        ws,
        "C:\\Windows\\System32\\userinit.exe",
        "C:\\Windows\\system32\\userinit.exe",
        winlogon,
        acct,
    )
    explorer = windows.start(
        ctx,
        t + 600 * MS,
        ws,
        "C:\\Windows\\explorer.exe",
        "C:\\Windows\\Explorer.EXE",
        userinit,
        acct,
        cwd="C:\\Windows\\system32\\",
    )
    sess: dict[str, Any] = {
        "user": user,
        "host": ws,
        "acct": acct,
        "lid": lid,
        "kind": kind,
        "explorer": explorer,
        "apps": {},
        "wfh": plan["wfh"],
        "start": plan["start"],
        "days": set(),
    }
    ctx.sessions[name] = sess
    nla = windows.system_proc(ctx, ws, "dcom") | {
        "cmd": "C:\\Windows\\system32\\svchost.exe -k LocalService -p -s NlaSvc"
    }
    t += 2 * SECOND
    network.fetch(
        ctx,
        t,
        ws,
        nla,
        "www.msftconnecttest.com",
        "/connecttest.txt",
        "Microsoft NCSI",
        ob=180,
        rb=210,
        duration=0.05,
        resp=22,
        delay=20 * MS,
    )
    for key in ("onedrive", "teams", "outlook"):
        t += rng.randint(3, 40) * SECOND
        app(ctx, sess, t, key)
    online(ctx, sess, t + 5 * SECOND, "mail")


def logout(ctx: Ctx, user: co.User, ts: int) -> None:
    sess = ctx.sessions.pop(user["username"], None)
    if sess is None:
        return
    ws = sess["host"]
    windows.logoff(ctx, ts, ws, sess["acct"], sess["lid"], sess["kind"])
    st = activity.host_state(ctx, ws)
    if sess["wfh"]:
        name, home = user["username"], user["home_ip"]
        secs = (ts - sess["start"]) // SECOND
        closing = f"%ASA-4-722037: {_vpn_user(user)} SVC closing connection: User Requested."
        linux.vpn_line(ctx, ts + 2 * SECOND, closing, name)
        h, m, s = secs // 3600, secs % 3600 // 60, secs % 60
        linux.vpn_line(
            ctx,
            ts + 2100 * MS,
            f"%ASA-4-113019: Group = {co.VPN_GROUP}, Username = "
            f"{name}, IP = {home}, Session disconnected. Session Type: SSL, Duration: "
            f"{h}h:{m:02d}m:{s:02d}s, Bytes xmt: {ctx.rng.randint(10**7, 10**9)}, "
            f"Bytes rcv: {ctx.rng.randint(10**6, 10**8)}, Reason: User Requested",
            name,
        )
    st["ip"] = ws["ip"]


def _vpn_user(user: co.User) -> str:
    return f"Group <{co.VPN_GROUP}> User <{user['username']}> IP <{user['home_ip']}>"
