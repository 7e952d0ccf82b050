"""Linux and appliance lines: sshd/sudo/CRON in auth.log, the VPN concentrator's vpn.log."""

from __future__ import annotations

import hashlib

from crownwatch.scenario import company as co
from crownwatch.scenario.activity import MS, Ctx, Proc, Truth, eph_port, host_ip, host_state
from crownwatch.scenario.formats import SECOND
from crownwatch.scenario.formats import zeek_time as zt
from crownwatch.scenario.network import conn, conn_id, sysmon_net


def auth_line(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    program: str,
    pid: int,
    message: str,
    user: str | None = None,
    truth: Truth = None,
) -> None:
    """One auth.log line (RFC 3164 body without the timestamp)."""
    name = host["hostname"]
    ts -= ts % SECOND
    ctx.sink.emit(ts, "syslog/auth", f"{name} {program}[{pid}]: {message}", name, user, truth)


def sshd_pid(ctx: Ctx, host: co.Host) -> int:
    st = host_state(ctx, host)
    st["sshd"] += ctx.rng.randint(3, 400)
    if st["sshd"] > 99000:
        st["sshd"] = 1200
    return int(st["sshd"])


SSH_CLIENTS = {
    "windows": "SSH-2.0-OpenSSH_for_Windows_9.5",
    "linux": "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
}

SSH_SERVERS = {
    "Ubuntu 22.04 LTS": "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
    "Red Hat Enterprise Linux 9": "SSH-2.0-OpenSSH_8.7",
}


def ssh_session(
    ctx: Ctx,
    ts: int,
    client: co.Host,
    proc: Proc | None,
    server: co.Host,
    login: str,
    uid_n: int,
    *,
    method: str = "publickey",
    key: str = "",
    duration: float = 30.0,
    ob: int = 4000,
    rb: int = 9000,
    commands: tuple[str, ...] = (),
    interactive: bool = True,
    truth: Truth = None,
    sudo_truth: Truth = None,
) -> int:
    """An ssh login: Sysmon 3 on a Windows client, Zeek conn+ssh, sshd lines in auth.log.

    ``commands`` are run with sudo (sudo lines). Returns the end time.
    """
    rng = ctx.rng
    src, dst = host_ip(ctx, client), server["ip"]
    sport = eph_port(ctx, client)
    if proc is not None and client["family"] == "windows":
        sysmon_net(ctx, ts, client, proc, sport, dst, 22, server["fqdn"], truth=truth)
    end = ts + int(duration * SECOND)
    cid = conn(
        ctx, ts, src, sport, dst, 22, service="ssh", duration=duration, ob=ob, rb=rb, truth=truth
    )
    fp = hashlib.md5(("hostkey:" + server["hostname"]).encode()).hexdigest()
    row = (
        zt(ts + 120 * MS + rng.randrange(MS)),
        *conn_id(cid, src, sport, dst, 22),
        "2",
        "T",
        "1",
        "-",
        SSH_CLIENTS[client["family"] if client["family"] in SSH_CLIENTS else "linux"],
        SSH_SERVERS.get(server["os"], "SSH-2.0-OpenSSH_8.9p1"),
        "chacha20-poly1305@openssh.com",
        "umac-64-etm@openssh.com",
        "none",
        "sntrup761x25519-sha512@openssh.com",
        "ssh-ed25519",
        ":".join(fp[i : i + 2] for i in range(0, 32, 2)),
        "-",
        "-",
        "-",
        "-",
        "-",
    )
    ctx.sink.emit(int(row[0].replace(".", "")), "zeek/ssh", row, truth=truth)
    pid = sshd_pid(ctx, server)
    t = ts + rng.randint(150, 400) * MS
    if method == "publickey":
        fpk = key or hashlib.sha256(("key:" + login).encode()).hexdigest()[:43]
        how = f"publickey for {login} from {src} port {sport} ssh2: ED25519 SHA256:{fpk}"
    else:
        how = f"password for {login} from {src} port {sport} ssh2"
    user = f"{login}(uid={uid_n})"
    opened = f"pam_unix(sshd:session): session opened for user {user} by (uid=0)"
    for delay, message in ((0, f"Accepted {how}"), (20 * MS, opened)):
        auth_line(ctx, t + delay, server, "sshd", pid, message, login, truth)
    if interactive:
        session = rng.randint(100, 9000)
        message = f"New session {session} of user {login}."
        auth_line(ctx, t + 40 * MS, server, "systemd-logind", 812, message, login, truth)
    step = max(1, int(duration * SECOND) // (len(commands) + 2))
    for n, command in enumerate(commands, start=1):
        when = t + n * step
        spid = rng.randint(2000, 90000)
        tty = rng.randint(0, 3)
        for delay, message in (
            (0, f"{login} : TTY=pts/{tty} ; PWD=/home/{login} ; USER=root ; COMMAND={command}"),
            (5 * MS, f"pam_unix(sudo:session): session opened for user root(uid=0) by {user}"),
            (900 * MS, "pam_unix(sudo:session): session closed for user root"),
        ):
            auth_line(ctx, when + delay, server, "sudo", spid, message, login, sudo_truth or truth)
    for delay, message in (
        (0, f"Received disconnect from {src} port {sport}:11: disconnected by user"),
        (2 * MS, f"pam_unix(sshd:session): session closed for user {login}"),
    ):
        auth_line(ctx, end + delay, server, "sshd", pid, message, login, truth)
    return end


def ssh_failed(
    ctx: Ctx, ts: int, client: co.Host, server: co.Host, login: str, truth: Truth = None
) -> None:
    """A mistyped password: one sshd 'Failed password' line."""
    pid = sshd_pid(ctx, server)
    port = eph_port(ctx, client)
    auth_line(
        ctx,
        ts,
        server,
        "sshd",
        pid,
        f"Failed password for {login} from {host_ip(ctx, client)} port {port} ssh2",
        login,
        truth,
    )


def vpn_line(ctx: Ctx, ts: int, message: str, user: str | None, truth: Truth = None) -> None:
    """One Cisco ASA line in vpn.log."""
    ts -= ts % SECOND
    ctx.sink.emit(ts, "syslog/vpn", f"vpn01 {message}", "vpn01", user, truth)
