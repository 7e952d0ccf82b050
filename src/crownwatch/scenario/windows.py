"""Windows events as Winlogbeat JSON: Sysmon, Security, System and PowerShell records."""

from __future__ import annotations

from typing import Any

from crownwatch.scenario import company as co
from crownwatch.scenario.activity import (
    MS,
    SYSTEM,
    Acct,
    Ctx,
    Proc,
    Truth,
    guid,
    hashes,
    host_state,
    logon_id,
    new_pid,
)
from crownwatch.scenario.formats import CHANNELS, iso_ms, sysmon_time

_MS = "Microsoft Corporation"
_WIN = "Microsoft® Windows® Operating System"
_OS = "10.0.22621.4317 (WinBuild.160101.0800)"

#: Windows' own programs: image -> (Description, OriginalFileName).
_SYSTEM: dict[str, tuple[str, str]] = {
    "C:\\Windows\\System32\\userinit.exe": ("Userinit Logon Application", "USERINIT.EXE"),
    "C:\\Windows\\explorer.exe": ("Windows Explorer", "EXPLORER.EXE"),
    "C:\\Windows\\System32\\cmd.exe": ("Windows Command Processor", "Cmd.Exe"),
    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe":
        ("Windows PowerShell", "PowerShell.EXE"),
    "C:\\Windows\\System32\\svchost.exe": ("Host Process for Windows Services", "svchost.exe"),
    "C:\\Windows\\System32\\taskhostw.exe": ("Host Process for Windows Tasks", "taskhostw.exe"),
    "C:\\Windows\\System32\\rundll32.exe": ("Windows host process (Rundll32)", "RUNDLL32.EXE"),
    "C:\\Windows\\System32\\schtasks.exe": ("Task Scheduler Configuration Tool", "schtasks.exe"),
    "C:\\Windows\\System32\\net.exe": ("Net Command", "net.exe"),
    "C:\\Windows\\System32\\net1.exe": ("Net Command", "net1.exe"),
    "C:\\Windows\\System32\\nltest.exe": ("Microsoft® Logon Server Test Utility", "nltestrk.exe"),
    "C:\\Windows\\System32\\systeminfo.exe": ("Displays system information", "sysinfo.exe"),
    "C:\\Windows\\System32\\whoami.exe":
        ("whoami - displays logged on user information", "whoami.exe"),
    "C:\\Windows\\System32\\ipconfig.exe": ("IP Configuration Utility", "ipconfig.exe"),
    "C:\\Windows\\System32\\PING.EXE": ("TCP/IP Ping Command", "ping.exe"),
    "C:\\Windows\\hh.exe": ("Microsoft® HTML Help Executable", "HH.exe"),
    "C:\\Windows\\System32\\wevtutil.exe": ("Eventing Command Line Utility", "wevtutil.exe"),
    "C:\\Windows\\System32\\Robocopy.exe": ("Microsoft Robocopy", "robocopy.exe"),
    "C:\\Windows\\System32\\mstsc.exe": ("Remote Desktop Connection", "mstsc.exe"),
    "C:\\Windows\\System32\\mmc.exe": ("Microsoft Management Console", "mmc.exe"),
    "C:\\Windows\\System32\\wscript.exe": ("Microsoft ® Windows Based Script Host", "wscript.exe"),
    "C:\\Windows\\System32\\curl.exe": ("curl executable", "curl.exe"),
    "C:\\Windows\\SysWOW64\\wermgr.exe": ("Windows Problem Reporting", "WerMgr"),
    "C:\\Windows\\System32\\OpenSSH\\ssh.exe": ("OpenSSH SSH client", "ssh.exe"),
    "C:\\Windows\\System32\\rdpclip.exe": ("RDP Clipboard Monitor", "rdpclip.exe"),
    "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe": ("WMI Provider Host", "Wmiprvse.exe"),
    "C:\\Windows\\System32\\SearchProtocolHost.exe":
        ("Microsoft Windows Search Protocol Host", "SearchProtocolHost.exe"),
    "C:\\Windows\\System32\\backgroundTaskHost.exe":
        ("Background Task Host", "backgroundTaskHost.exe"),
    "C:\\Windows\\System32\\wuauclt.exe": ("Windows Update", "wuauclt.exe"),
    "C:\\Windows\\System32\\MoUsoCoreWorker.exe":
        ("MoUSO Core Worker Process", "MoUsoCoreWorker.exe"),
    "C:\\Windows\\System32\\ARP.EXE": ("TCP/IP Arp Command", "arp.exe"),
    "C:\\Windows\\System32\\ROUTE.EXE": ("TCP/IP Route Command", "route.exe"),
}  # fmt: skip

#: image -> (FileVersion, Description, Product, Company, OriginalFileName)
IMAGES: dict[str, tuple[str, str, str, str, str]] = {
    **{image: (_OS, desc, _WIN, _MS, name) for image, (desc, name) in _SYSTEM.items()},
    "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE":
        ("16.0.17928.20156", "Microsoft Outlook", "Microsoft Outlook", _MS, "Outlook.exe"),
    "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE":
        ("16.0.17928.20156", "Microsoft Excel", "Microsoft Office", _MS, "Excel.exe"),
    "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE":
        ("16.0.17928.20156", "Microsoft Word", "Microsoft Office", _MS, "WinWord.exe"),
    "C:\\Program Files\\Microsoft Office\\root\\Office16\\POWERPNT.EXE":
        ("16.0.17928.20156", "Microsoft PowerPoint", "Microsoft Office", _MS, "POWERPNT.EXE"),
    "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe":
        ("129.0.6668.90", "Google Chrome", "Google Chrome", "Google LLC", "chrome.exe"),
    "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe":
        ("129.0.2792.79", "Microsoft Edge", "Microsoft Edge", _MS, "msedge.exe"),
    "C:\\Program Files\\WindowsApps\\MSTeams_24243.1309.3132.617_x64__8wekyb3d8bbwe"
    "\\ms-teams.exe":
        ("24243.1309.3132.617", "Microsoft Teams", "Microsoft Teams", _MS, "ms-teams.exe"),
    "C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe":
        ("24.181.0908.0001", "Microsoft OneDrive", "Microsoft OneDrive", _MS, "OneDrive.exe"),
    "C:\\Users\\{user}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe":
        ("1.94.0", "Visual Studio Code", "Visual Studio Code", _MS, "electron.exe"),
    "C:\\Program Files\\Git\\cmd\\git.exe":
        ("2.46.2.1", "Git for Windows", "Git", "The Git Development Community", "git.exe"),
    "C:\\Program Files\\Git\\mingw64\\libexec\\git-core\\git-remote-https.exe":
        ("2.46.2.1", "Git for Windows", "Git", "The Git Development Community",
         "git-remote-https.exe"),
    "C:\\Program Files\\Python312\\python.exe":
        ("3.12.6", "Python", "Python", "Python Software Foundation", "python.exe"),
    "C:\\Program Files\\WindowsApps\\Microsoft.WindowsTerminal_1.21.2701.0_x64__8wekyb3d8bbwe"
    "\\WindowsTerminal.exe":
        ("1.21.2701.0", "Windows Terminal", "Windows Terminal", _MS, "WindowsTerminal.exe"),
    "C:\\Program Files\\PowerShell\\7\\pwsh.exe":
        ("7.4.5.500", "pwsh", "PowerShell", _MS, "pwsh.dll"),
    "C:\\Program Files\\Revvity\\ChemOffice\\ChemDraw\\ChemDraw.exe":
        ("23.1.1.3", "ChemDraw", "ChemOffice", "Revvity Signals Software", "ChemDraw.exe"),
    "C:\\Program Files\\GraphPad\\Prism 10\\prism.exe":
        ("10.3.1.509", "GraphPad Prism", "GraphPad Prism", "GraphPad Software", "prism.exe"),
    "C:\\Program Files\\SOLIDWORKS Corp\\SOLIDWORKS\\SLDWORKS.exe":
        ("32.4.0.0090", "SOLIDWORKS", "SOLIDWORKS", "Dassault Systemes SolidWorks Corp",
         "SLDWORKS.exe"),
    "C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe":
        ("1.3.36.412", "Google Installer", "Google Update", "Google LLC", "GoogleUpdate.exe"),
    "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\MpCmdRun.exe":
        ("4.18.24090.11", "Microsoft Malware Protection Command Line Utility", _WIN, _MS,
         "MpCmdRun.exe"),
    "C:\\Program Files\\Veeam\\Endpoint Backup\\Veeam.EndPoint.Service.exe":
        ("6.1.2.134", "Veeam Agent for Microsoft Windows", "Veeam Agent",
         "Veeam Software Group GmbH", "Veeam.EndPoint.Service.exe"),
}  # fmt: skip
_NONE = ("-", "-", "-", "-", "-")


def _hash_field(md5: str, sha1: str, sha256: str) -> str:
    return f"SHA1={sha1.upper()},MD5={md5.upper()},SHA256={sha256.upper()}"


def win(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    channel: str,
    event_id: int,
    data: dict[str, str],
    *,
    provider: str | None = None,
    user: str | None = None,
    truth: Truth = None,
    user_data: bool = False,
) -> None:
    """One Winlogbeat-style Windows event (record_id is filled in when written)."""
    ts -= ts % MS
    chan, default = CHANNELS[channel]
    prov = provider or default
    winlog: dict[str, Any] = {
        "channel": chan,
        "event_id": event_id,
        "provider_name": prov,
        "computer_name": host["fqdn"],
        "record_id": 0,
        ("user_data" if user_data else "event_data"): data,
    }
    payload = {
        "@timestamp": iso_ms(ts),
        "event": {"code": str(event_id), "provider": prov, "kind": "event"},
        "host": {"name": host["fqdn"]},
        "winlog": winlog,
    }
    ctx.sink.emit(ts, "windows/" + channel, payload, host["fqdn"], user, truth)


def sysmon(
    ctx: Ctx, ts: int, host: co.Host, event_id: int, proc: Proc, data: dict[str, str], truth: Truth
) -> None:
    """A Sysmon event of ``proc``: rule, time and process fields, then ``data``."""
    head = {
        "RuleName": "-",
        "UtcTime": sysmon_time(ts),
        "ProcessGuid": proc["guid"],
        "ProcessId": str(proc["pid"]),
    }
    win(ctx, ts, host, "sysmon", event_id, head | data, user=proc["user"]["name"], truth=truth)


def domain_user(acct: Acct) -> str:
    """``DOMAIN\\name``, as Sysmon writes users."""
    return f"{acct['domain']}\\{acct['name']}"


def system_proc(ctx: Ctx, host: co.Host, key: str) -> Proc:
    """A long-running system process (started before the scenario, so never logged)."""
    procs = host_state(ctx, host)["procs"]
    proc = procs.get(key)
    if proc is None:
        image, cmd = {
            "services": (
                "C:\\Windows\\System32\\services.exe",
                "C:\\Windows\\system32\\services.exe",
            ),
            "lsass": ("C:\\Windows\\System32\\lsass.exe", "C:\\Windows\\system32\\lsass.exe"),
            "winlogon": ("C:\\Windows\\System32\\winlogon.exe", "winlogon.exe"),
            "system": ("System", "-"),
            "schedule": (
                "C:\\Windows\\System32\\svchost.exe",
                "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
            ),
            "wuauserv": (
                "C:\\Windows\\System32\\svchost.exe",
                "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s wuauserv",
            ),
            "dcom": (
                "C:\\Windows\\System32\\svchost.exe",
                "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p",
            ),
            "msmpeng": (
                "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0"
                "\\MsMpEng.exe",
                '"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform'
                '\\4.18.24090.11-0\\MsMpEng.exe"',
            ),
            "veeam": (
                "C:\\Program Files\\Veeam\\Endpoint Backup\\Veeam.EndPoint.Service.exe",
                '"C:\\Program Files\\Veeam\\Endpoint Backup\\Veeam.EndPoint.Service.exe"',
            ),
            "termsvc": (
                "C:\\Windows\\System32\\svchost.exe",
                "C:\\Windows\\System32\\svchost.exe -k NetworkService -s TermService",
            ),
        }[key]
        pid = 4 if key == "system" else ctx.rng.randrange(500, 1600, 4)
        proc = {
            "guid": guid(ctx),
            "pid": pid,
            "image": image,
            "cmd": cmd,
            "user": SYSTEM,
            "integrity": "System",
            "cwd": "C:\\Windows\\system32\\",
        }
        procs[key] = proc
    return dict(proc)


def start(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    image: str,
    cmd: str,
    parent: Proc,
    acct: Acct,
    *,
    integrity: str = "Medium",
    cwd: str | None = None,
    truth: Truth = None,
    file_hashes: tuple[str, str, str] | None = None,
    meta: tuple[str, str, str, str, str] | None = None,
) -> Proc:
    """A process start: Sysmon event 1. Returns the new process."""
    proc: Proc = {
        "guid": guid(ctx),
        "pid": new_pid(ctx, host),
        "image": image,
        "cmd": cmd,
        "user": acct,
        "integrity": integrity,
        "cwd": cwd or parent.get("cwd") or "C:\\Windows\\system32\\",
    }
    key = image if "\\Users\\" not in image else _generic(image)
    info = meta or IMAGES.get(key, _NONE)
    md5, sha1, sha256 = file_hashes or hashes(key)
    data = {
        "Image": image,
        "FileVersion": info[0],
        "Description": info[1],
        "Product": info[2],
        "Company": info[3],
        "OriginalFileName": info[4],
        "CommandLine": cmd,
        "CurrentDirectory": proc["cwd"],
        "User": domain_user(acct),
        "LogonGuid": acct.get("logon_guid", "-"),
        "LogonId": acct.get("logon_id", "-"),
        "TerminalSessionId": acct.get("session", "1"),
        "IntegrityLevel": integrity,
        "Hashes": _hash_field(md5, sha1, sha256),
        "ParentProcessGuid": parent["guid"],
        "ParentProcessId": str(parent["pid"]),
        "ParentImage": parent["image"],
        "ParentCommandLine": parent["cmd"],
        "ParentUser": domain_user(parent["user"]),
    }
    sysmon(ctx, ts, host, 1, proc, data, truth)
    return proc


def system_start(ctx: Ctx, ts: int, host: co.Host, image: str, cmd: str, parent: str) -> Proc:
    """A process started as SYSTEM by the system process ``parent`` (a ``system_proc`` key)."""
    proc = system_proc(ctx, host, parent)
    return start(ctx, ts, host, image, cmd, proc, SYSTEM, integrity="System")


def _generic(image: str) -> str:
    parts = image.split("\\")
    if len(parts) > 2 and parts[1] == "Users":
        parts[2] = "{user}"
    return "\\".join(parts)


def file_created(
    ctx: Ctx, ts: int, host: co.Host, proc: Proc, path: str, truth: Truth = None
) -> None:
    """Sysmon event 11."""
    data = {
        "Image": proc["image"],
        "TargetFilename": path,
        "CreationUtcTime": sysmon_time(ts),
        "User": domain_user(proc["user"]),
    }
    sysmon(ctx, ts, host, 11, proc, data, truth)


def process_access(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    source: Proc,
    target: Proc,
    access: str,
    trace: str,
    truth: Truth = None,
) -> None:
    """Sysmon event 10."""
    data = {
        "RuleName": "-",
        "UtcTime": sysmon_time(ts),
        "SourceProcessGUID": source["guid"],
        "SourceProcessId": str(source["pid"]),
        "SourceThreadId": str(ctx.rng.randrange(1000, 20000, 4)),
        "SourceImage": source["image"],
        "TargetProcessGUID": target["guid"],
        "TargetProcessId": str(target["pid"]),
        "TargetImage": target["image"],
        "GrantedAccess": access,
        "CallTrace": trace,
        "SourceUser": domain_user(source["user"]),
        "TargetUser": domain_user(target["user"]),
    }
    win(ctx, ts, host, "sysmon", 10, data, user=source["user"]["name"], truth=truth)


def _caller(host: co.Host, interactive: bool) -> dict[str, str]:
    """The Subject fields of a logon event: the machine for interactive logons, else none."""
    if interactive:
        machine = {"sid": "S-1-5-18", "name": f"{host['hostname']}$", "domain": co.NETBIOS}
        return subject(machine)
    return subject({"sid": "S-1-0-0", "name": "-", "domain": "-", "logon_id": "0x0"})


def _source(ctx: Ctx, host: co.Host, interactive: bool, ip: str, port: int) -> dict[str, str]:
    """The process and network fields of a logon event."""
    return {
        "ProcessId": hex(system_proc(ctx, host, "winlogon")["pid"]) if interactive else "0x0",
        "ProcessName": "C:\\Windows\\System32\\svchost.exe" if interactive else "-",
        "IpAddress": ip,
        "IpPort": str(port),
    }


def logon(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    acct: Acct,
    logon_type: int,
    *,
    ip: str = "-",
    port: int = 0,
    source: str = "-",
    kerberos: bool = True,
    privileged: bool = False,
    truth: Truth = None,
) -> str:
    """4624 (and 4672 for privileged accounts); returns the new logon id."""
    lid = logon_id(ctx)
    interactive = logon_type in (2, 10, 11)
    package = "Kerberos" if kerberos else "NTLM"
    process = "Kerberos" if kerberos else "NtLmSsp "
    data = (
        _caller(host, interactive)
        | {
            "TargetUserSid": acct["sid"],
            "TargetUserName": acct["name"],
            "TargetDomainName": acct["domain"],
            "TargetLogonId": lid,
            "LogonType": str(logon_type),
            "LogonProcessName": "User32 " if interactive else process,
            "AuthenticationPackageName": "Negotiate" if interactive else package,
            "WorkstationName": host["hostname"] if interactive else ("-" if kerberos else source),
            "LogonGuid": guid(ctx) if kerberos else "{00000000-0000-0000-0000-000000000000}",
            "TransmittedServices": "-",
            "LmPackageName": "-" if kerberos or interactive else "NTLM V2",
            "KeyLength": "0" if kerberos or interactive else "128",
        }
        | _source(ctx, host, interactive, ip, port)
        | {
            "ImpersonationLevel": "%%1833",
            "RestrictedAdminMode": "%%1843" if logon_type == 10 else "-",
            "TargetOutboundUserName": "-",
            "TargetOutboundDomainName": "-",
            "VirtualAccount": "%%1843",
            "TargetLinkedLogonId": "0x0",
            "ElevatedToken": "%%1842" if privileged or not interactive else "%%1843",
        }
    )
    win(ctx, ts, host, "security", 4624, data, user=acct["name"], truth=truth)
    if privileged:
        privileges = (
            "SeSecurityPrivilege\n\t\t\tSeBackupPrivilege\n\t\t\t"
            "SeRestorePrivilege\n\t\t\tSeTakeOwnershipPrivilege\n\t\t\tSeDebugPrivilege\n\t\t\t"
            "SeSystemEnvironmentPrivilege\n\t\t\tSeLoadDriverPrivilege\n\t\t\t"
            "SeImpersonatePrivilege\n\t\t\tSeDelegateSessionUserImpersonatePrivilege\n\t\t\t"
            "SeEnableDelegationPrivilege"
        )
        data = subject(acct | {"logon_id": lid}) | {"PrivilegeList": privileges}
        win(ctx, ts, host, "security", 4672, data, user=acct["name"], truth=truth)
    return lid


def logoff(
    ctx: Ctx, ts: int, host: co.Host, acct: Acct, lid: str, logon_type: int, truth: Truth = None
) -> None:
    """4634."""
    data = {
        "TargetUserSid": acct["sid"],
        "TargetUserName": acct["name"],
        "TargetDomainName": acct["domain"],
        "TargetLogonId": lid,
        "LogonType": str(logon_type),
    }
    win(ctx, ts, host, "security", 4634, data, user=acct["name"], truth=truth)


def logon_failed(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    name: str,
    logon_type: int,
    *,
    ip: str = "-",
    port: int = 0,
    source: str = "-",
    unknown_user: bool = False,
    truth: Truth = None,
) -> None:
    """4625: a bad password (or an unknown user name)."""
    interactive = logon_type in (2, 10, 11)
    data = (
        _caller(host, interactive)
        | {
            "TargetUserSid": "S-1-0-0",
            "TargetUserName": name,
            "TargetDomainName": co.NETBIOS,
            "Status": "0xc000006d",
            "FailureReason": "%%2313",
            "SubStatus": "0xc0000064" if unknown_user else "0xc000006a",
            "LogonType": str(logon_type),
            "LogonProcessName": "User32 " if interactive else "NtLmSsp ",
            "AuthenticationPackageName": "Negotiate" if interactive else "NTLM",
            "WorkstationName": host["hostname"] if interactive else source,
            "TransmittedServices": "-",
            "LmPackageName": "-",
            "KeyLength": "0",
        }
        | _source(ctx, host, interactive, ip, port)
    )
    win(ctx, ts, host, "security", 4625, data, user=name, truth=truth)


def script_block(ctx: Ctx, ts: int, host: co.Host, user: str, text: str, truth: Truth) -> None:
    """PowerShell 4104: a script block was run."""
    data = {
        "MessageNumber": "1",
        "MessageTotal": "1",
        "ScriptBlockText": text,
        "ScriptBlockId": guid(ctx)[1:-1],
        "Path": "",
    }
    win(ctx, ts, host, "powershell", 4104, data, user=user, truth=truth)


def task_created(
    ctx: Ctx, ts: int, host: co.Host, acct: Acct, name: str, xml: str, truth: Truth
) -> None:
    """4698: ``acct`` created the scheduled task ``name``."""
    data = subject(acct) | {"TaskName": name, "TaskContent": xml}
    win(ctx, ts, host, "security", 4698, data, user=acct["name"], truth=truth)


def subject(acct: Acct) -> dict[str, str]:
    return {
        "SubjectUserSid": acct["sid"],
        "SubjectUserName": acct["name"],
        "SubjectDomainName": acct["domain"],
        "SubjectLogonId": acct.get("logon_id", "0x3e7"),
    }


def share_access(
    ctx: Ctx,
    ts: int,
    server: co.Host,
    acct: Acct,
    ip: str,
    port: int,
    share: str,
    local: str,
    relative: str | None = None,
    access: str = "0x120089",
    truth: Truth = None,
) -> None:
    """5140 (a share opened) or, with ``relative``, 5145 (an object in it checked)."""
    data = subject(acct) | {
        "ObjectType": "File",
        "IpAddress": ip,
        "IpPort": str(port),
        "ShareName": f"\\\\*\\{share}",
        "ShareLocalPath": f"\\??\\{local}",
    }
    if relative is None:
        data["AccessMask"] = "0x1"
        data["AccessList"] = "%%4416\n\t\t\t\t"
        win(ctx, ts, server, "security", 5140, data, user=acct["name"], truth=truth)
        return
    data["RelativeTargetName"] = relative
    data["AccessMask"] = access
    data["AccessList"] = (
        "%%4416\n\t\t\t\t%%4419\n\t\t\t\t%%4423\n\t\t\t\t"
        if access == "0x120089"
        else "%%4417\n\t\t\t\t%%4418\n\t\t\t\t"
    )
    data["AccessReason"] = "-"
    win(ctx, ts, server, "security", 5145, data, user=acct["name"], truth=truth)
