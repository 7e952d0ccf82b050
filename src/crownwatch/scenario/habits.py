"""What people do at work, by profile: mail, web, Teams, documents on shares, the ELN,
the PLM, git over ssh and https, ssh to Linux servers, admin PowerShell and RDP."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

from crownwatch.scenario import activity, linux, network, windows
from crownwatch.scenario import company as co
from crownwatch.scenario.activity import MS, Ctx, Proc
from crownwatch.scenario.formats import DAY_US, HOUR, SECOND
from crownwatch.scenario.network import Tls

Activity = Callable[[Ctx, dict[str, Any], dict[str, Any], int], None]

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36"
)

SITES: dict[str, tuple[str, ...]] = {
    "common": ("www.google.com", "www.bing.com", "www.office.com", "helixtd.sharepoint.com",
               "www.linkedin.com", "en.wikipedia.org", "www.bbc.com", "www.dw.com"),
    "rnd": ("pubmed.ncbi.nlm.nih.gov", "www.ncbi.nlm.nih.gov", "www.sigmaaldrich.com",
            "www.thermofisher.com", "www.uniprot.org", "www.rcsb.org", "scifinder-n.cas.org",
            "www.nature.com", "www.sciencedirect.com", "clinicaltrials.gov", "www.ebi.ac.uk"),
    "eng": ("www.ptc.com", "www.solidworks.com", "www.digikey.com", "www.mouser.com",
            "www.iso.org", "www.fda.gov", "www.iec.ch"),
    "dev": ("github.com", "api.github.com", "objects.githubusercontent.com", "pypi.org",
            "files.pythonhosted.org", "stackoverflow.com", "docs.python.org",
            "registry.npmjs.org", "learn.microsoft.com", "hub.docker.com"),
    "it": ("learn.microsoft.com", "portal.azure.com", "admin.microsoft.com", "www.cisco.com",
           "community.spiceworks.com", "www.reddit.com", "msrc.microsoft.com"),
    "office": ("wd3.myworkday.com", "www.ema.europa.eu", "www.fda.gov", "www.ecb.europa.eu",
               "app.docusign.com", "www.reuters.com", "www.sap.com"),
    "sales": ("helixtd.my.salesforce.com", "zoom.us", "www.hubspot.com", "app.docusign.com"),
    "exec": ("www.reuters.com", "www.bloomberg.com", "www.ft.com", "helixtd.my.salesforce.com",
             "app.docusign.com"),
}  # fmt: skip

APPS: dict[str, str] = {
    "outlook": "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
    "excel": "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE",
    "word": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
    "powerpoint": "C:\\Program Files\\Microsoft Office\\root\\Office16\\POWERPNT.EXE",
    "chrome": "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
    "edge": "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
    "teams": "C:\\Program Files\\WindowsApps\\MSTeams_24243.1309.3132.617_x64__8wekyb3d8bbwe"
    "\\ms-teams.exe",
    "onedrive": "C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe",
    "code": "C:\\Users\\{user}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe",
    "terminal": "C:\\Program Files\\WindowsApps\\Microsoft.WindowsTerminal_1.21.2701.0_x64__"
    "8wekyb3d8bbwe\\WindowsTerminal.exe",
    "chemdraw": "C:\\Program Files\\Revvity\\ChemOffice\\ChemDraw\\ChemDraw.exe",
    "prism": "C:\\Program Files\\GraphPad\\Prism 10\\prism.exe",
    "solidworks": "C:\\Program Files\\SOLIDWORKS Corp\\SOLIDWORKS\\SLDWORKS.exe",
}

POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"

#: Activities per working hour, by profile.
RATES: dict[str, dict[str, float]] = {
    "rnd": {"web": 2.0, "mail": 1.0, "teams": 0.5, "doc": 0.5, "rnd_share": 1.0, "eln": 1.0,
            "lab_app": 0.25, "intranet": 0.2},
    "eng": {"web": 2.0, "mail": 1.0, "teams": 0.6, "doc": 0.4, "plm": 1.0, "rnd_share": 0.2,
            "intranet": 0.2},
    "dev": {"web": 2.2, "mail": 0.8, "teams": 0.6, "git_ssh": 0.8, "git_https": 0.3,
            "code": 0.6, "ssh": 0.3, "intranet": 0.2},
    "it": {"web": 1.8, "mail": 1.0, "teams": 0.6, "admin_ps": 0.5, "rdp": 0.2, "ssh": 0.5,
           "intranet": 0.2},
    "office": {"web": 2.0, "mail": 1.4, "teams": 0.7, "doc": 0.8, "share": 0.7,
               "intranet": 0.3},
    "sales": {"web": 2.4, "mail": 1.6, "teams": 1.0, "doc": 0.5, "share": 0.3},
    "exec": {"web": 1.8, "mail": 2.0, "teams": 1.0, "doc": 0.6, "share": 0.2},
}  # fmt: skip

_DOC_EXT = {"excel": "xlsx", "word": "docx", "powerpoint": "pptx"}

_DEPT_DOCS = (
    "budget_FY27",
    "forecast_Q4",
    "contract_review",
    "headcount_plan",
    "pipeline",
    "audit_findings",
    "board_update",
    "travel_expenses",
    "supplier_list",
)

#: File servers: name -> (share, local path).
SHARES = {"FS-RND-01": ("RnD", "D:\\Shares\\RnD"), "FS01": ("Departments", "D:\\Departments")}

_ADMIN_SCRIPTS = (
    "Get-ADUser -Filter 'Enabled -eq $false' -Properties LastLogonDate | "
    "Select-Object Name,LastLogonDate",
    "Get-ADComputer -Filter * -SearchBase 'OU=Workstations,DC=helix,DC=corp' | Measure-Object",
    "Get-WindowsUpdate -ComputerName WSUS01 | Where-Object {$_.Status -eq 'Failed'}",
    "Get-ChildItem -Path \\\\FS01\\Departments -Recurse -ErrorAction SilentlyContinue | "
    "Measure-Object -Property Length -Sum",
    "Get-Service -ComputerName DC01,DC02 -Name NTDS,DNS,Netlogon | Format-Table -AutoSize",
    "Search-ADAccount -LockedOut | Unlock-ADAccount -WhatIf",
)

_SUDO = (
    "/usr/bin/systemctl status gitlab-runsvdir",
    "/usr/bin/apt list --upgradable",
    "/usr/bin/journalctl -u gitlab-runner --since today",
    "/usr/bin/df -h",
    "/usr/bin/systemctl restart nginx",
)


def app(ctx: Ctx, sess: dict[str, Any], ts: int, key: str, cmd: str | None = None) -> Proc:
    """The user's running instance of an application, started (Sysmon 1) when needed."""
    proc: Proc | None = sess["apps"].get(key)
    if proc is not None and cmd is None:
        return proc
    user = sess["user"]["username"]
    image = APPS[key].replace("{user}", user)
    parent = sess["explorer"]
    if key == "onedrive":
        cmd = f'"{image}" /background'
    line = cmd or f'"{image}" '
    proc = windows.start(
        ctx, ts, sess["host"], image, line, parent, sess["acct"], cwd=f"C:\\Users\\{user}\\"
    )
    if cmd is None or key == "onedrive":
        sess["apps"][key] = proc
    return proc


def work(ctx: Ctx, world: dict[str, Any], user: co.User, lo: int, hi: int, rate: float) -> None:
    """The user's activities between ``lo`` and ``hi`` (within one hour)."""
    sess = ctx.sessions[user["username"]]
    local = _local_hour(lo)
    factor = 0.5 if 12 <= local < 13 else (0.35 if local >= 18 or local < 7 else 1.0)
    share = (hi - lo) / HOUR * factor * rate
    rng = ctx.rng
    for kind, per_hour in RATES[user["profile"]].items():
        for _ in range(_poisson(ctx, per_hour * share)):
            ts = rng.randint(lo, hi - 1)
            ACTIVITIES[kind](ctx, world, sess, ts)


def _local_hour(ts: int) -> float:
    return ((ts % DAY_US) / HOUR + co.TZ_HOURS) % 24


def _poisson(ctx: Ctx, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(ctx.rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= ctx.rng.random()
        if p <= limit:
            return k
        k += 1


#: Activities that are one HTTPS connection of an application: activity -> (application,
#: or "browser" for the user's, server, bytes sent, bytes received, seconds, TLS profile).
ONLINE: dict[str, tuple[str, str, tuple[int, int], tuple[int, int], tuple[float, float], Tls]] = {
    "web": ("browser", "", (900, 6000), (8_000, 2_500_000), (0.3, 40), network.TLS13),
    "mail": ("outlook", "outlook.office365.com", (2_000, 60_000), (4_000, 900_000), (1, 120),
             network.TLS13),
    "teams": ("teams", "teams.microsoft.com", (1_000, 300_000), (2_000, 3_000_000), (1, 600),
              network.TLS13),
    "eln": ("browser", "eln.helix.corp", (2_000, 80_000), (20_000, 4_000_000), (2, 300),
            network.TLS12_INTERNAL),
    "plm": ("solidworks", "plm.helix.corp", (5_000, 2_000_000), (200_000, 90_000_000), (3, 400),
            network.TLS12_INTERNAL),
}  # fmt: skip


def online(ctx: Ctx, sess: dict[str, Any], ts: int, kind: str, name: str = "") -> None:
    """An ``ONLINE`` activity: the application (started if needed) and its connection."""
    key, server, ob, rb, secs, tls = ONLINE[kind]
    proc = app(ctx, sess, ts, sess["user"]["browser"] if key == "browser" else key)
    network.https(ctx, ts, sess["host"], proc, name or server, ob, rb, secs, tls)


def _online(kind: str) -> Activity:
    """The ``ACTIVITIES`` entry of an ``ONLINE`` activity."""

    def run(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
        online(ctx, sess, ts, kind)

    return run


def web(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    rng = ctx.rng
    profile = sess["user"]["profile"]
    pool = SITES[profile] if rng.random() < 0.6 else SITES["common"]
    online(ctx, sess, ts, "web", rng.choice(pool))


def doc(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    """Open a document: the Office application starts with it; maybe from a file share."""
    rng = ctx.rng
    user = sess["user"]
    key = rng.choice(("excel", "excel", "word", "powerpoint"))
    if user["profile"] == "rnd":
        files = world["rnd_files"][rng.choice(user["projects"])]
        relative, size = rng.choice(files)
        server = "FS-RND-01"
    else:
        base = rng.choice(_DEPT_DOCS)
        dept = user["department"].split(" ")[0]
        relative = f"{dept}\\{base}_{rng.randint(1, 40):02d}.{_DOC_EXT[key]}"
        size = rng.randint(30_000, 6_000_000)
        server = "FS01"
    path = f"\\\\{server}\\{SHARES[server][0]}\\{relative}"
    app(ctx, sess, ts, key, cmd=f'"{APPS[key]}" "{path}"')
    _open_files(ctx, ts + 300 * MS, sess, server, [(relative, size)])


def _open_files(
    ctx: Ctx,
    ts: int,
    sess: dict[str, Any],
    server: str,
    items: list[tuple[str, int]],
    gap: tuple[int, int] = (300, 4000),
) -> None:
    """The user opens ``items`` on a ``SHARES`` server."""
    share, local = SHARES[server]
    host = ctx.company["host"][server]
    network.smb_session(ctx, ts, sess["host"], host, sess["acct"], share, local, items, gap=gap)


def rnd_share(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    """Browse a project folder on the R&D share and open a few files."""
    rng = ctx.rng
    files = world["rnd_files"][rng.choice(sess["user"]["projects"])]
    items = rng.sample(files, rng.randint(1, 6))
    _open_files(ctx, ts, sess, "FS-RND-01", items, (2000, 40000))


def share(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    rng = ctx.rng
    dept = sess["user"]["department"].split(" ")[0]
    items = [
        (
            f"{dept}\\{rng.choice(_DEPT_DOCS)}_{rng.randint(1, 40):02d}.xlsx",
            rng.randint(30_000, 4_000_000),
        )
        for _ in range(rng.randint(1, 3))
    ]
    _open_files(ctx, ts, sess, "FS01", items, (2000, 30000))


def lab_app(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    app(ctx, sess, ts, ctx.rng.choice(("chemdraw", "prism")))


def _git(ctx: Ctx, sess: dict[str, Any], ts: int, repo: str, line: str) -> Proc:
    """git.exe started from VS Code in the repository's folder."""
    code = app(ctx, sess, ts, "code")
    folder = f"C:\\Users\\{sess['user']['username']}\\src\\{repo.split('/')[-1]}\\"
    git = "C:\\Program Files\\Git\\cmd\\git.exe"
    return windows.start(ctx, ts, sess["host"], git, line, code, sess["acct"], cwd=folder)


def git_ssh(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    """git fetch/pull/push over ssh to the source-code server."""
    rng = ctx.rng
    user = sess["user"]
    repo = rng.choice(user["repos"])
    verb = rng.choice(("pull", "fetch", "push", "pull"))
    git = _git(ctx, sess, ts, repo, f"git {verb} origin")
    pack = "git-receive-pack" if verb == "push" else "git-upload-pack"
    ssh = windows.start(
        ctx,
        ts + 80 * MS,
        sess["host"],
        "C:\\Windows\\System32\\OpenSSH\\ssh.exe",
        f"C:/Windows/System32/OpenSSH/ssh.exe git@git.helix.corp \"{pack} '{repo}.git'\"",
        git,
        sess["acct"],
    )
    git01 = ctx.company["host"]["git01"]
    network.resolve(ctx, ts + 100 * MS, sess["host"], ssh, "git.helix.corp")
    key = hashlib.sha256(("key:" + user["username"]).encode()).hexdigest()[:43]
    linux.ssh_session(
        ctx,
        ts + 150 * MS,
        sess["host"],
        ssh,
        git01,
        "git",
        998,
        key=key,
        duration=rng.uniform(0.8, 6),
        ob=rng.randint(3_000, 400_000),
        rb=rng.randint(3_000, 2_000_000),
        interactive=False,
    )


def git_https(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    rng = ctx.rng
    user = sess["user"]
    repo = rng.choice(user["repos"])
    git = _git(ctx, sess, ts, repo, "git fetch --all")
    remote = windows.start(
        ctx,
        ts + 60 * MS,
        sess["host"],
        "C:\\Program Files\\Git\\mingw64\\libexec\\git-core\\git-remote-https.exe",
        f"git-remote-https origin https://git.helix.corp/{repo}.git",
        git,
        sess["acct"],
    )
    network.https(
        ctx,
        ts + 100 * MS,
        sess["host"],
        remote,
        "git.helix.corp",
        (2_000, 20_000),
        (5_000, 3_000_000),
        (0.5, 8),
        network.TLS12_INTERNAL,
    )


def code(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    """Run tests or install packages from the terminal."""
    rng = ctx.rng
    user = sess["user"]
    term = app(ctx, sess, ts, "terminal")
    shell = sess["apps"].get("pwsh")
    if shell is None:
        shell = windows.start(
            ctx,
            ts,
            sess["host"],
            POWERSHELL,
            f'"{POWERSHELL}" ',
            term,
            sess["acct"],
            cwd=f"C:\\Users\\{user['username']}\\",
        )
        sess["apps"]["pwsh"] = shell
    if rng.random() < 0.3:
        py = windows.start(
            ctx,
            ts + SECOND,
            sess["host"],
            "C:\\Program Files\\Python312\\python.exe",
            "python -m pip install -r requirements.txt",
            shell,
            sess["acct"],
        )
        for delay, name, ob, rb, secs in (
            (2 * SECOND, "pypi.org", 2_000, (20_000, 200_000), (0.2, 3)),
            (4 * SECOND, "files.pythonhosted.org", 3_000, (100_000, 40_000_000), (1, 30)),
        ):
            network.flow(
                ctx,
                ts + delay,
                sess["host"],
                py,
                "",
                443,
                name=name,
                ob=ob,
                rb=rng.randint(*rb),
                duration=rng.uniform(*secs),
            )
    else:
        windows.start(
            ctx,
            ts + SECOND,
            sess["host"],
            "C:\\Program Files\\Python312\\python.exe",
            rng.choice(
                (
                    "python -m pytest tests -q",
                    "python tools\\build_fw.py --check",
                    "python -m mypy src",
                )
            ),
            shell,
            sess["acct"],
        )


def ssh(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    """An engineer's ssh session to a Linux server (with sudo for IT)."""
    rng = ctx.rng
    user = sess["user"]
    names = (
        ("build01", "git01", "eln01", "web01", "bkp01")
        if user["profile"] == "it"
        else ("build01", "build01", "git01")
    )
    server = ctx.company["host"][rng.choice(names)]
    term = app(ctx, sess, ts, "terminal")
    login = user["username"]
    proc = windows.start(
        ctx,
        ts,
        sess["host"],
        "C:\\Windows\\System32\\OpenSSH\\ssh.exe",
        f"ssh {login}@{server['fqdn']}",
        term,
        sess["acct"],
    )
    network.resolve(ctx, ts + 50 * MS, sess["host"], proc, server["fqdn"])
    method = "password" if user["profile"] == "it" and rng.random() < 0.5 else "publickey"
    if method == "password" and rng.random() < 0.1:
        linux.ssh_failed(ctx, ts + 3 * SECOND, sess["host"], server, login)
        ts += 8 * SECOND
    cmds = tuple(rng.sample(_SUDO, rng.randint(1, 2))) if user["profile"] == "it" else ()
    linux.ssh_session(
        ctx,
        ts + 200 * MS,
        sess["host"],
        proc,
        server,
        login,
        user["uid"],
        method=method,
        duration=rng.uniform(30, 1500),
        ob=rng.randint(5_000, 200_000),
        rb=rng.randint(10_000, 2_000_000),
        commands=cmds,
    )


def admin_ps(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    """An administrator's PowerShell with an AD/ops script block (4104)."""
    rng = ctx.rng
    ps = windows.start(
        ctx,
        ts,
        sess["host"],
        POWERSHELL,
        f'"{POWERSHELL}" -NoLogo',
        sess["explorer"],
        sess["acct"],
        cwd=f"C:\\Users\\{sess['user']['username']}\\",
    )
    script = rng.choice(_ADMIN_SCRIPTS)
    windows.script_block(ctx, ts + 2 * SECOND, sess["host"], sess["user"]["username"], script, None)
    dc = ctx.company["host"]["DC01"]
    network.flow(
        ctx,
        ts + 3 * SECOND,
        sess["host"],
        ps,
        dc["ip"],
        9389,
        service="-",
        ob=rng.randint(2_000, 30_000),
        rb=rng.randint(5_000, 400_000),
        duration=rng.uniform(0.2, 5),
    )


def rdp(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    """An administrator's RDP session to a Windows server with their admin account."""
    rng = ctx.rng
    servers = [
        h
        for h in ctx.company["hosts"]
        if h["family"] == "windows" and h["role"] not in ("workstation",)
    ][:8]
    server = rng.choice(servers)
    adm = activity.account(sess["user"], admin=True)
    mstsc = rdp_client(ctx, ts, sess, server, adm)
    rdp_session(
        ctx,
        ts + 5 * SECOND,
        sess["host"],
        mstsc,
        server,
        adm,
        rng.uniform(120, 2400),
        rng.randint(200_000, 5_000_000),
        rng.randint(1_000_000, 60_000_000),
    )


def rdp_client(
    ctx: Ctx, ts: int, sess: dict[str, Any], server: co.Host, adm: activity.Acct
) -> Proc:
    """The user starts mstsc to ``server`` and gives it ``adm``'s credentials (4648)."""
    mstsc = windows.start(
        ctx,
        ts,
        sess["host"],
        "C:\\Windows\\System32\\mstsc.exe",
        f'"C:\\Windows\\system32\\mstsc.exe" /v:{server["fqdn"]}',
        sess["explorer"],
        sess["acct"],
    )
    explicit(ctx, ts + 4 * SECOND, sess["host"], sess["acct"], adm, server, mstsc)
    return mstsc


def explicit(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    acct: activity.Acct,
    target: activity.Acct,
    server: co.Host,
    proc: Proc,
    truth: activity.Truth = None,
) -> None:
    """4648: a logon with explicit credentials (mstsc, runas, net use /user)."""
    windows.win(
        ctx,
        ts,
        host,
        "security",
        4648,
        windows.subject(acct)
        | {
            "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
            "TargetUserName": target["name"],
            "TargetDomainName": target["domain"],
            "TargetLogonGuid": "{00000000-0000-0000-0000-000000000000}",
            "TargetServerName": server["fqdn"],
            "TargetInfo": server["fqdn"],
            "ProcessId": hex(proc["pid"]),
            "ProcessName": proc["image"],
            "IpAddress": "-",
            "IpPort": "-",
        },
        user=acct["name"],
        truth=truth,
    )


def rdp_session(
    ctx: Ctx,
    ts: int,
    client: co.Host,
    proc: Proc,
    server: co.Host,
    adm: activity.Acct,
    length: float,
    ob: int,
    rb: int,
    truth: activity.Truth = None,
) -> activity.Acct:
    """RDP from ``proc`` to ``server``: the connection, then on the server 4624 type 10 with
    4672, the session's rdpclip and the later 4634. Returns the session's account."""
    _, port, t = network.flow(
        ctx,
        ts,
        client,
        proc,
        server["ip"],
        3389,
        service="rdp",
        ob=ob,
        rb=rb,
        duration=length,
        truth=truth,
    )
    ts = t + 2 * SECOND
    ip = activity.host_ip(ctx, client)
    lid = windows.logon(ctx, ts, server, adm, 10, ip=ip, port=port, privileged=True, truth=truth)
    acct = adm | {"logon_id": lid, "logon_guid": activity.guid(ctx), "session": "2"}
    windows.start(
        ctx,
        ts + 3 * SECOND,
        server,
        "C:\\Windows\\System32\\rdpclip.exe",
        "rdpclip",
        windows.system_proc(ctx, server, "termsvc"),
        acct,
        integrity="High",
        truth=truth,
    )
    windows.logoff(ctx, ts + int(length * SECOND), server, acct, lid, 10, truth)
    return acct


def intranet(ctx: Ctx, world: dict[str, Any], sess: dict[str, Any], ts: int) -> None:
    rng = ctx.rng
    proc = app(ctx, sess, ts, sess["user"]["browser"])
    cid, port, t = network.flow(
        ctx,
        ts,
        sess["host"],
        proc,
        "",
        80,
        name="intranet.helix.corp",
        service="http",
        ob=rng.randint(400, 2_000),
        rb=rng.randint(5_000, 400_000),
        duration=rng.uniform(0.05, 2),
    )
    uri = rng.choice(
        (
            "/",
            "/news/2026/10/lab-safety-week",
            "/hr/holidays",
            "/it/helpdesk",
            "/canteen/menu",
            "/news/2026/10/infumax-3-milestone",
            "/directory",
        )
    )
    network.http(
        ctx,
        t + 30 * MS,
        cid,
        activity.host_ip(ctx, sess["host"]),
        port,
        ctx.company["host"]["web01"]["ip"],
        80,
        method="GET",
        host="intranet.helix.corp",
        uri=uri,
        agent=CHROME_UA,
        resp=rng.randint(5_000, 400_000),
    )


ACTIVITIES: dict[str, Activity] = {
    "web": web,
    "doc": doc,
    "rnd_share": rnd_share,
    "share": share,
    "lab_app": lab_app,
    "git_ssh": git_ssh,
    "git_https": git_https,
    "code": code,
    "ssh": ssh,
    "admin_ps": admin_ps,
    "rdp": rdp,
    "intranet": intranet,
    **{kind: _online(kind) for kind in ONLINE if kind != "web"},
}
