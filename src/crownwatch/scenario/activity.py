"""Shared state and ids of the scenario's building blocks.

A process start is a Sysmon 1 event (``windows``); a connection is a Sysmon 3 event
on the Windows host that made it, a Zeek conn row and, by protocol, dns/ssl/http/
files/smb_files rows with the same uid (``network``); an ssh login leaves sshd lines
in the server's auth.log (``linux``). Benign activity and both intrusions are written
with these, so they look alike. This module holds what they share: the context with
the RNG, the sink and per-host state, the task scheduler, accounts and ids.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crownwatch.scenario import company as co
from crownwatch.scenario.formats import Sink

Proc = dict[str, Any]
Acct = dict[str, str]
Truth = dict[str, str] | None
MS = 1000

SYSTEM: Acct = {
    "name": "SYSTEM",
    "domain": "NT AUTHORITY",
    "sid": "S-1-5-18",
    "logon_id": "0x3e7",
    "logon_guid": "{00000000-0000-0000-0000-000000000000}",
    "session": "0",
}

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass
class Ctx:
    """Everything the builders share: the RNG, the sink, the company, per-host state."""

    rng: random.Random
    sink: Sink
    company: co.Company
    dns: dict[str, tuple[str, str]] = field(default_factory=dict)
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: list[tuple[int, int, Callable[[int], None]]] = field(default_factory=list)
    task_seq: int = 0


def at(ctx: Ctx, ts: int, task: Callable[[int], None]) -> None:
    """Run ``task(ts)`` when the generator reaches the hour holding ``ts``."""
    ctx.task_seq += 1
    heapq.heappush(ctx.tasks, (ts, ctx.task_seq, task))


def run_tasks(ctx: Ctx, until: int) -> None:
    """Run every scheduled task due before ``until`` (tasks may schedule more)."""
    while ctx.tasks and ctx.tasks[0][0] < until:
        ts, _, task = heapq.heappop(ctx.tasks)
        task(ts)


def host_state(ctx: Ctx, host: co.Host) -> dict[str, Any]:
    """Mutable state of one host: next pid, long-running processes, DNS cache, address."""
    name = host["hostname"]
    st = ctx.state.get(name)
    if st is None:
        st = {
            "pid": ctx.rng.randrange(2000, 9000, 4),
            "procs": {},
            "dns": {},
            "ip": host["ip"],
            "sshd": ctx.rng.randrange(1000, 30000),
        }
        ctx.state[name] = st
    return st


def host_ip(ctx: Ctx, host: co.Host) -> str:
    return str(host_state(ctx, host)["ip"])


def guid(ctx: Ctx) -> str:
    h = f"{ctx.rng.getrandbits(128):032x}"
    return f"{{{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}}}"


def uid(ctx: Ctx, prefix: str = "C") -> str:
    """A Zeek-style connection (C…) or file (F…) id."""
    n = ctx.rng.getrandbits(100)
    chars = []
    for _ in range(17):
        n, r = divmod(n, 62)
        chars.append(_B62[r])
    return prefix + "".join(chars)


def eph_port(ctx: Ctx, host: co.Host | None = None) -> int:
    if host is not None and host["family"] == "linux":
        return ctx.rng.randint(32768, 60999)
    return ctx.rng.randint(49152, 65535)


def new_pid(ctx: Ctx, host: co.Host) -> int:
    st = host_state(ctx, host)
    st["pid"] += ctx.rng.randrange(4, 200, 4)
    if st["pid"] > 60000:
        st["pid"] = 1000 + ctx.rng.randrange(0, 400, 4)
    return int(st["pid"])


def logon_id(ctx: Ctx) -> str:
    return hex(ctx.rng.randrange(0x100000, 0x7FFFFFF))


def account(user: co.User, admin: bool = False) -> Acct:
    """A domain account as the logs name it (the user's admin account when ``admin``)."""
    name = user["admin_account"] if admin else user["username"]
    rid = user["rid"] + (5000 if admin else 0)
    return {"name": name, "domain": co.NETBIOS, "sid": co.user_sid(rid)}


def hashes(image: str) -> tuple[str, str, str]:
    """Stable md5, sha1, sha256 of a benign image, derived from its path."""
    seed = ("helix-scenario:" + image.lower()).encode()
    return (
        hashlib.md5(seed).hexdigest(),
        hashlib.sha1(seed).hexdigest(),
        hashlib.sha256(seed).hexdigest(),
    )
