"""Network activity: Sysmon 3/22 on the Windows side, Zeek conn/dns/ssl/http/files/
smb_files rows sharing one uid, and SMB sessions with their Security events on the server."""

from __future__ import annotations

import hashlib

from crownwatch.scenario import company as co
from crownwatch.scenario.activity import (
    MS,
    Acct,
    Ctx,
    Proc,
    Truth,
    eph_port,
    hashes,
    host_ip,
    host_state,
    uid,
)
from crownwatch.scenario.formats import SECOND
from crownwatch.scenario.formats import zeek_escape as esc
from crownwatch.scenario.formats import zeek_time as zt
from crownwatch.scenario.windows import (
    domain_user,
    logoff,
    logon,
    share_access,
    sysmon,
    system_proc,
)

DNS_SERVERS = ("10.10.0.10", "10.10.0.11")


def conn_id(cid: str, src: str, sport: int, dst: str, dport: int) -> tuple[str, ...]:
    """The uid and the four ``id`` columns that start a Zeek row."""
    return cid, src, str(sport), dst, str(dport)


def _local(ip: str) -> str:
    return "T" if ip.startswith("10.") else "F"


def conn(
    ctx: Ctx,
    ts: int,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    *,
    proto: str = "tcp",
    service: str = "-",
    duration: float = 0.1,
    ob: int = 0,
    rb: int = 0,
    state: str = "SF",
    cid: str | None = None,
    exact: bool = False,
    truth: Truth = None,
) -> str:
    """A Zeek conn row; returns its uid. ``exact``: ``ts`` is already the sensor's time."""
    if not exact:
        ts += ctx.rng.randrange(MS)
    cid = cid or uid(ctx)
    if proto == "icmp":
        opk, rpk, history, hdr, state = 1, 1, "-", 28, "OTH"
    elif proto == "udp":
        opk, rpk = max(1, ob // 1200), (max(1, rb // 1200) if rb else 0)
        history, hdr = ("Dd" if rb else "D"), 28
    elif state == "S0":
        opk, rpk, history, hdr = 2, 0, "S", 40
    elif state == "REJ":
        opk, rpk, history, hdr = 1, 1, "Sr", 40
    else:
        opk, rpk = ob // 1380 + 3, rb // 1380 + 2
        history, hdr = "ShADadFf", 40
    dur = "-" if state in ("S0", "REJ") else f"{duration:.6f}"
    row = (
        zt(ts),
        *conn_id(cid, src, sport, dst, dport),
        proto,
        service,
        dur,
        str(ob) if dur != "-" else "-",
        str(rb) if dur != "-" else "-",
        state,
        _local(src),
        _local(dst),
        "0",
        history,
        str(opk),
        str(ob + opk * hdr),
        str(rpk),
        str(rb + rpk * hdr),
        "-",
    )
    ctx.sink.emit(ts, "zeek/conn", row, truth=truth)
    return cid


def sysmon_net(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    proc: Proc,
    sport: int,
    dst: str,
    dport: int,
    name: str = "-",
    proto: str = "tcp",
    truth: Truth = None,
) -> None:
    """Sysmon event 3 for an outbound connection."""
    data = {
        "Image": proc["image"],
        "User": domain_user(proc["user"]),
        "Protocol": proto,
        "Initiated": "true",
        "SourceIsIpv6": "false",
        "SourceIp": host_ip(ctx, host),
        "SourceHostname": host["fqdn"],
        "SourcePort": str(sport),
        "SourcePortName": "-",
        "DestinationIsIpv6": "false",
        "DestinationIp": dst,
        "DestinationHostname": name,
        "DestinationPort": str(dport),
        "DestinationPortName": _PORT_NAMES.get(dport, "-"),
    }
    sysmon(ctx, ts, host, 3, proc, data, truth)


_PORT_NAMES = {
    80: "http",
    443: "https",
    445: "microsoft-ds",
    22: "ssh",
    3389: "ms-wbt-server",
    53: "domain",
    88: "kerberos",
    389: "ldap",
}


def resolve(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    proc: Proc | None,
    name: str,
    *,
    truth: Truth = None,
    cached: bool = True,
) -> str:
    """The address of ``name``; asks DNS (Sysmon 22, Zeek dns + conn) unless cached.

    Returns "" for a name that does not exist (NXDOMAIN).
    """
    ip, cname = ctx.dns.get(name, ("", ""))
    st = host_state(ctx, host)
    cache: dict[str, int] = st["dns"]
    if cached and cache.get(name, 0) > ts:
        return ip
    internal = name.endswith("." + co.DOMAIN)
    ttl = 1200 if internal else 300
    cache[name] = ts + ttl * SECOND
    rng = ctx.rng
    src = host_ip(ctx, host)
    server = DNS_SERVERS[int(src.rsplit(".", 1)[1]) & 1]
    if host["role"] == "domain_controller":
        server = "127.0.0.1"
    if proc is not None and host["family"] == "windows":
        if not ip:
            status, results = "9003", "-"
        elif cname:
            status, results = "0", f"type:  5 {cname};::ffff:{ip};"
        else:
            status, results = "0", f"::ffff:{ip};"
        data = {
            "QueryName": name,
            "QueryStatus": status,
            "QueryResults": results,
            "Image": proc["image"],
            "User": domain_user(proc["user"]),
        }
        sysmon(ctx, ts, host, 22, proc, data, truth)
    if server == "127.0.0.1":
        return ip
    sport = rng.randint(49152, 65535)
    rtt = rng.uniform(0.0004, 0.002) if internal else rng.uniform(0.008, 0.06)
    if ip:
        answers = f"{cname},{ip}" if cname else ip
        ttls = ",".join(f"{ttl}.000000" for _ in answers.split(","))
        rcode, rname = "0", "NOERROR"
    else:
        answers, ttls, rcode, rname = "-", "-", "3", "NXDOMAIN"
    cid = uid(ctx)
    t = ts + rng.randrange(100, 1100)
    row = (
        zt(t),
        *conn_id(cid, src, sport, server, 53),
        "udp",
        str(rng.randrange(65536)),
        f"{rtt:.6f}",
        name,
        "1",
        "C_INTERNET",
        "1",
        "A",
        rcode,
        rname,
        "F",
        "F",
        "T",
        "T",
        "0",
        answers,
        ttls,
        "F",
    )
    ctx.sink.emit(t, "zeek/dns", row, truth=truth)
    qlen = len(name) + 30
    conn(
        ctx,
        t,
        src,
        sport,
        server,
        53,
        proto="udp",
        service="dns",
        duration=rtt,
        ob=qlen,
        rb=qlen + (16 * len(answers.split(",")) if ip else 0),
        cid=cid,
        exact=True,
        truth=truth,
    )
    return ip


#: TLS profiles: version, cipher, curve, history, certificate, validation.
Tls = tuple[str, str, str, str, bool, str]
TLS13: Tls = ("TLSv13", "TLS_AES_128_GCM_SHA256", "x25519", "CsiI", False, "-")

TLS12_INTERNAL: Tls = (
    "TLSv12",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "secp384r1",
    "CsxknGIi",
    True,
    "unable to get local issuer certificate",
)

TLS12_PUBLIC: Tls = (
    "TLSv12",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "x25519",
    "CsxknGIi",
    True,
    "ok",
)


def ssl(
    ctx: Ctx,
    ts: int,
    cid: str,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    sni: str,
    profile: Tls = TLS13,
    resumed: bool = False,
    truth: Truth = None,
) -> None:
    """A Zeek ssl row."""
    ts += ctx.rng.randrange(MS)
    version, cipher, curve, history, cert, validation = profile
    fps = hashlib.sha256(("cert:" + sni).encode()).hexdigest() if cert and not resumed else "-"
    row = (
        zt(ts),
        *conn_id(cid, src, sport, dst, dport),
        version,
        cipher,
        curve,
        sni or "-",
        "T" if resumed else "F",
        "-",
        "h2" if version == "TLSv13" else "-",
        "T",
        "CsiI" if resumed else history,
        fps if cert else "(empty)",
        "(empty)",
        "T" if cert and not resumed and sni else "-",
        validation if cert and not resumed else "-",
    )
    ctx.sink.emit(ts, "zeek/ssl", row, truth=truth)


def flow(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    proc: Proc | None,
    dst: str,
    dport: int,
    *,
    name: str = "",
    service: str = "ssl",
    ob: int = 1200,
    rb: int = 6000,
    duration: float = 1.0,
    tls: Tls = TLS13,
    resumed: bool = False,
    truth: Truth = None,
    dns_truth: Truth = None,
    ssl_truth: Truth = None,
) -> tuple[str, int, int]:
    """An outbound TCP connection with its DNS lookup, Sysmon 3, conn and ssl rows.

    ``dst`` may be "" to resolve ``name``. Returns (uid, source port, connect time).
    """
    if name and not dst:
        dst = resolve(ctx, ts, host, proc, name, truth=dns_truth or truth)
        ts += ctx.rng.randint(20, 90) * MS
    sport = eph_port(ctx, host)
    src = host_ip(ctx, host)
    if proc is not None and host["family"] == "windows":
        label = name or _reverse(ctx, dst)
        sysmon_net(ctx, ts, host, proc, sport, dst, dport, label, truth=truth)
    cid = conn(
        ctx,
        ts,
        src,
        sport,
        dst,
        dport,
        service=service,
        duration=duration,
        ob=ob,
        rb=rb,
        truth=truth,
    )
    if service == "ssl":
        ssl(
            ctx,
            ts + ctx.rng.randint(5, 60) * MS,
            cid,
            src,
            sport,
            dst,
            dport,
            name,
            tls,
            resumed=resumed,
            truth=ssl_truth or truth,
        )
    return cid, sport, ts


def https(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    proc: Proc | None,
    name: str,
    ob: tuple[int, int],
    rb: tuple[int, int],
    secs: tuple[float, float],
    tls: Tls = TLS13,
) -> tuple[str, int, int]:
    """``flow`` to ``name`` on port 443, bytes and seconds drawn from the ranges given."""
    rng = ctx.rng
    return flow(
        ctx,
        ts,
        host,
        proc,
        "",
        443,
        name=name,
        ob=rng.randint(*ob),
        rb=rng.randint(*rb),
        duration=rng.uniform(*secs),
        tls=tls,
    )


def _reverse(ctx: Ctx, ip: str) -> str:
    host = ctx.company["by_ip"].get(ip)
    return str(host["fqdn"]) if host else "-"


def http(
    ctx: Ctx,
    ts: int,
    cid: str,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    *,
    method: str,
    host: str,
    uri: str,
    agent: str,
    status: int = 200,
    req: int = 0,
    resp: int = 0,
    mime: str = "",
    filename: str = "",
    file_hashes: tuple[str, str, str] | None = None,
    truth: Truth = None,
) -> None:
    """A Zeek http row and, when a file came back, its files row."""
    ts += ctx.rng.randrange(MS)
    fuid = uid(ctx, "F") if mime else ""
    reason = {
        200: "OK",
        204: "No Content",
        206: "Partial Content",
        304: "Not Modified",
        404: "Not Found",
    }.get(status, "OK")
    row = (
        zt(ts),
        *conn_id(cid, src, sport, dst, dport),
        "1",
        method,
        host,
        esc(uri),
        "-",
        "1.1",
        agent,
        "-",
        str(req),
        str(resp),
        str(status),
        reason,
        "-",
        "-",
        "(empty)",
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
        fuid or "-",
        filename or "-",
        mime or "-",
    )
    ctx.sink.emit(ts, "zeek/http", row, truth=truth)
    if mime:
        files(
            ctx,
            ts + 50 * MS,
            fuid,
            cid,
            src,
            sport,
            dst,
            dport,
            source="HTTP",
            mime=mime,
            filename=filename,
            size=resp,
            local_orig=False,
            file_hashes=file_hashes,
            truth=truth,
        )


def fetch(
    ctx: Ctx,
    ts: int,
    host: co.Host,
    proc: Proc,
    name: str,
    uri: str,
    agent: str,
    *,
    ob: int,
    rb: int,
    duration: float,
    resp: int,
    delay: int = 30 * MS,
    mime: str = "",
    filename: str = "",
) -> None:
    """A plain-HTTP GET of ``uri`` from ``name``: ``flow`` and its http (and files) rows."""
    cid, sport, t = flow(
        ctx, ts, host, proc, "", 80, name=name, service="http", ob=ob, rb=rb, duration=duration
    )
    http(
        ctx,
        t + delay,
        cid,
        host_ip(ctx, host),
        sport,
        ctx.dns[name][0],
        80,
        method="GET",
        host=name,
        uri=uri,
        agent=agent,
        resp=resp,
        mime=mime,
        filename=filename,
        file_hashes=hashes(filename) if filename else None,
    )


def files(
    ctx: Ctx,
    ts: int,
    fuid: str,
    cid: str,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    *,
    source: str,
    mime: str,
    filename: str,
    size: int,
    local_orig: bool,
    file_hashes: tuple[str, str, str] | None = None,
    is_orig: bool = False,
    truth: Truth = None,
) -> None:
    """A Zeek files row (HTTP or SMB transfer)."""
    ts += ctx.rng.randrange(MS)
    md5, sha1, sha256 = file_hashes or hashes(f"{filename}:{size}")
    analyzers = "MD5,PE,SHA1,SHA256" if mime == "application/x-dosexec" else "MD5,SHA1,SHA256"
    row = (
        zt(ts),
        fuid,
        *conn_id(cid, src, sport, dst, dport),
        source,
        "0",
        analyzers,
        mime,
        esc(filename) or "-",
        f"{max(0.001, size / 40_000_000):.6f}",
        "T" if local_orig else "F",
        "T" if is_orig else "F",
        str(size),
        str(size),
        "0",
        "0",
        "F",
        "-",
        md5,
        sha1,
        sha256,
        "-",
        "-",
        "-",
    )
    ctx.sink.emit(ts, "zeek/files", row, truth=truth)


def smb_files(
    ctx: Ctx,
    ts: int,
    cid: str,
    src: str,
    sport: int,
    dst: str,
    action: str,
    share: str,
    name: str,
    size: int,
    truth: Truth = None,
) -> str:
    """A Zeek smb_files row; returns its fuid."""
    ts += ctx.rng.randrange(MS)
    fuid = uid(ctx, "F")
    mtime = zt(ts - ctx.rng.randint(3600, 400 * 86400) * SECOND)
    row = (
        zt(ts),
        *conn_id(cid, src, sport, dst, 445),
        fuid,
        action,
        esc(share),
        esc(name),
        str(size),
        "-",
        mtime,
        zt(ts),
        mtime,
        mtime,
    )
    ctx.sink.emit(ts, "zeek/smb_files", row, truth=truth)
    return fuid


def smb_session(
    ctx: Ctx,
    ts: int,
    client: co.Host,
    server: co.Host,
    acct: Acct,
    share: str,
    local: str,
    items: list[tuple[str, int]],
    *,
    action: str = "SMB::FILE_OPEN",
    admin: bool = False,
    gap: tuple[int, int] = (300, 4000),
    proc: Proc | None = None,
    kerberos: bool = True,
    mime: str = "",
    file_hashes: tuple[str, str, str] | None = None,
    truth: Truth = None,
) -> int:
    """An SMB session to one share: 4624/5140/5145/4634 on the server, Sysmon 3 from the
    client's System process, Zeek conn and one smb_files row per file. Returns the end time.
    """
    rng = ctx.rng
    src, dst = host_ip(ctx, client), server["ip"]
    sport = eph_port(ctx, client)
    cid = uid(ctx)
    if client["family"] == "windows":
        sysmon_net(
            ctx,
            ts,
            client,
            proc or system_proc(ctx, client, "system"),
            sport,
            dst,
            445,
            server["fqdn"],
            truth=truth,
        )
    t = ts + rng.randint(5, 40) * MS
    lid = logon(
        ctx,
        t,
        server,
        acct,
        3,
        ip=src,
        port=sport,
        source=client["hostname"],
        kerberos=kerberos,
        privileged=admin,
        truth=truth,
    )
    session = acct | {"logon_id": lid}
    share_access(ctx, t + 3 * MS, server, session, src, sport, share, local, truth=truth)
    unc = f"\\\\{server['hostname']}\\{share}"
    moved = 0
    for relative, size in items:
        t += rng.randint(*gap) * MS
        fuid = smb_files(ctx, t, cid, src, sport, dst, action, unc, relative, size, truth=truth)
        if mime:
            files(
                ctx,
                t + 40 * MS,
                fuid,
                cid,
                src,
                sport,
                dst,
                445,
                source="SMB",
                mime=mime,
                filename=relative.rsplit("\\", 1)[-1],
                size=size,
                local_orig=True,
                is_orig=action == "SMB::FILE_WRITE",
                file_hashes=file_hashes,
                truth=truth,
            )
        mask = "0x120089" if action != "SMB::FILE_WRITE" else "0x100116"
        share_access(
            ctx, t + 2 * MS, server, session, src, sport, share, local, relative, mask, truth=truth
        )
        moved += size
    end = t + rng.randint(500, 5000) * MS
    reads = action != "SMB::FILE_WRITE"
    conn(
        ctx,
        ts,
        src,
        sport,
        dst,
        445,
        service="gssapi,smb" if kerberos else "ntlm,smb",
        duration=(end - ts) / SECOND,
        ob=(2000 + len(items) * 600) if reads else moved + 4000,
        rb=moved + 3000 if reads else 2000 + len(items) * 400,
        cid=cid,
        truth=truth,
    )
    logoff(ctx, end, server, session, lid, 3, truth)
    return end
