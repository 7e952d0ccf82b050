"""Alerts to incidents: a graph of alerts joined by the entities they share, in time.

Two alerts belong to the same incident when they name the same host, user, file, hash,
domain, URL or address within ``gap`` of each other. Entities that say nothing about an
intruder do not join alerts: built-in accounts, and hubs — addresses, domains and hashes that
many machines of the organisation touch (the DNS server, cmd.exe's hash, a CDN), measured in
the lake. An address that is a known host's own is that host. The connected components are
the incidents; because external infrastructure joins alerts, incidents that share
infrastructure are one incident.

Each incident's alerts are ordered in time and placed on the ATT&CK tactics (how far the
intruder got), and the incident is scored with named terms: severity, spread across hosts,
stages reached, crown jewels touched.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import xxhash

from crownwatch.detect.alerts import SEVERITIES

#: ATT&CK Enterprise tactics in kill-chain order.
TACTICS = (
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
)

#: Weight of one alert of each severity in the incident's score.
WEIGHTS = {"informational": 0.0, "low": 1.0, "medium": 3.0, "high": 6.0, "critical": 10.0}

#: Accounts that are on every machine: they join nothing.
BUILTIN_USERS = frozenset(
    {"system", "local service", "network service", "anonymous logon", "-", "", "root"}
)

#: Entity kinds that join alerts; process paths never do (every machine runs cmd.exe).
LINKING = ("host", "user", "ip", "domain", "url", "hash", "file")
#: Kinds whose hubs are measured in the lake.
MEASURED = ("ip", "domain", "hash")


@dataclass(frozen=True)
class Settings:
    """How alerts join into incidents and how incidents are scored."""

    gap: timedelta = timedelta(hours=72)
    #: An address, domain or hash seen with more distinct peers than this is a hub.
    max_peers: int = 3


@dataclass
class Context:
    """What the grouping knows besides the alerts."""

    settings: Settings = field(default_factory=Settings)
    #: address -> host name (short, lower case): from the inventory and the lake.
    host_of_ip: Mapping[str, str] = field(default_factory=dict)
    #: (kind, value) -> distinct peers seen with it in the lake (absent: unknown, not a hub).
    peers: Mapping[tuple[str, str], int] = field(default_factory=dict)
    #: technique id -> its tactics.
    tactics_of: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: lower-case names, addresses and shares of the crown jewels -> the asset's name.
    crown_jewels: Mapping[str, str] = field(default_factory=dict)


def short_host(name: str) -> str:
    """A host name as incidents compare them: lower case, without the domain."""
    return name.strip().lower().split(".", 1)[0] if name else ""


def links(alert: Mapping[str, Any], ctx: Context) -> set[tuple[str, str]]:
    """The (kind, value) entities by which this alert joins others."""
    found: set[tuple[str, str]] = set()
    entities: Mapping[str, Iterable[str]] = alert.get("entities", {})
    for kind in LINKING:
        for raw in entities.get(kind, ()):
            value = str(raw).strip()
            if kind in ("domain", "hash"):
                value = value.lower()
            if kind in MEASURED and ctx.peers.get((kind, value), 0) > ctx.settings.max_peers:
                continue  # a hub: the DNS server, cmd.exe, a CDN
            if kind == "host":
                value = short_host(value)
            elif kind == "user":
                value = value.lower().rsplit("\\", 1)[-1]
                if value in BUILTIN_USERS or value.endswith("$"):
                    continue
            if kind == "ip" and value in ctx.host_of_ip:
                found.add(("host", ctx.host_of_ip[value]))  # a host's own address
            elif value:
                found.add((kind, value))
    return found


def group(alerts: list[dict[str, Any]], ctx: Context) -> list[list[dict[str, Any]]]:
    """Alerts in connected components: shared entities within the gap of each other."""
    parent = list(range(len(alerts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_entity: dict[tuple[str, str], list[int]] = {}
    for at, alert in enumerate(alerts):
        for entity in links(alert, ctx):
            by_entity.setdefault(entity, []).append(at)
    gap = ctx.settings.gap
    for members in by_entity.values():
        members.sort(key=lambda i: alerts[i]["first"])
        reach = alerts[members[0]]["last"]
        for before, after in itertools.pairwise(members):
            if alerts[after]["first"] <= reach + gap:
                parent[root(after)] = root(before)
                reach = max(reach, alerts[after]["last"])
            else:  # too long after: this entity starts a new chain
                reach = alerts[after]["last"]
    components: dict[int, list[dict[str, Any]]] = {}
    for at, alert in enumerate(alerts):
        components.setdefault(root(at), []).append(alert)
    return list(components.values())


def build(alerts: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    """Incidents from stored alerts (``store.alerts.listing`` dicts), best score first.

    Informational alerts are context, not evidence: they join no incident."""
    evidence = [a for a in alerts if a["severity"] != "informational"]
    incidents = [describe(members, ctx) for members in group(evidence, ctx)]
    incidents.sort(key=lambda i: (-i["score"], i["first"]))
    return incidents


def describe(members: list[dict[str, Any]], ctx: Context) -> dict[str, Any]:
    """One incident: its timeline, entities, tactics reached and scored terms."""
    members = sorted(members, key=lambda a: (a["first"], a["title"]))
    entities: dict[str, set[str]] = {}
    for alert in members:
        for kind, values in alert.get("entities", {}).items():
            entities.setdefault(kind, set()).update(str(v) for v in values)
    hosts = sorted({short_host(h) for h in entities.get("host", ())} - {""})
    techniques = sorted({t for a in members for t in a.get("techniques", ())})
    tactics = _tactics(techniques, ctx)
    jewels = sorted(_crown_jewels(entities, ctx))
    terms = score_terms(members, hosts, tactics, jewels)
    score = round(sum(t["points"] for t in terms), 1)
    first_alert = min(members, key=lambda a: (a["first"], a["id"]))
    worst = max(members, key=lambda a: SEVERITIES.index(a["severity"]))
    return {
        "id": "INC-" + xxhash.xxh3_64_hexdigest(first_alert["id"].encode())[:10].upper(),
        "title": _title(worst, hosts, tactics),
        "score": score,
        "severity": _severity(score),
        "first": members[0]["first"],
        "last": max(a["last"] for a in members),
        "hosts": hosts,
        "users": sorted(entities.get("user", ())),
        "entities": {k: sorted(v)[:100] for k, v in sorted(entities.items())},
        "techniques": techniques,
        "tactics": tactics,
        "crown_jewels": jewels,
        "terms": terms,
        "alerts": [a["id"] for a in members],
        "timeline": [
            {
                "id": a["id"],
                "time": a["first"],
                "severity": a["severity"],
                "kind": a["kind"],
                "title": a["title"],
                "tactics": _tactics(a.get("techniques", ()), ctx),
                "techniques": list(a.get("techniques", ())),
                "explanation": a["explanation"],
            }
            for a in members
        ],
    }


def score_terms(
    members: list[dict[str, Any]], hosts: list[str], tactics: list[str], jewels: list[str]
) -> list[dict[str, Any]]:
    """The terms of an incident's score, each with its points and why."""
    weight = sum(WEIGHTS.get(a["severity"], 1.0) for a in members)
    return [
        {
            "term": "severity",
            "points": round(10 * math.log2(1 + weight), 1),
            "why": f"{len(members)} alerts worth {weight:g} (low 1, medium 3, high 6, critical 10)",
        },
        {
            "term": "spread",
            "points": 5.0 * max(len(hosts) - 1, 0),
            "why": f"{len(hosts)} hosts",
        },
        {
            "term": "stages",
            "points": 4.0 * len(tactics),
            "why": f"{len(tactics)} ATT&CK tactics reached"
            + (f", up to {tactics[-1]}" if tactics else ""),
        },
        {
            "term": "crown jewels",
            "points": 15.0 * len(jewels),
            "why": f"{len(jewels)} crown-jewel assets touched"
            + (f": {', '.join(jewels[:5])}" if jewels else ""),
        },
    ]


def _tactics(techniques: Iterable[str], ctx: Context) -> list[str]:
    found: set[str] = set()
    for technique in techniques:
        found.update(
            ctx.tactics_of.get(technique) or ctx.tactics_of.get(technique.split(".")[0], ())
        )
    return [t for t in TACTICS if t in found]


def _crown_jewels(entities: Mapping[str, set[str]], ctx: Context) -> set[str]:
    """The crown-jewel assets (by name) that the entities name: host, address or share."""
    found: set[str] = set()
    for kind in ("host", "ip", "file", "domain"):
        for value in entities.get(kind, ()):
            lowered = value.lower()
            for candidate in (lowered, short_host(lowered)):
                if candidate in ctx.crown_jewels:
                    found.add(short_host(ctx.crown_jewels[candidate]))
            if kind == "file":  # a file on a crown jewel's share: \\plm01\vault\…
                found.update(
                    short_host(name)
                    for share, name in ctx.crown_jewels.items()
                    if share.startswith("\\\\") and lowered.startswith(share)
                )
    return found


def _severity(score: float) -> str:
    for floor, name in ((100, "critical"), (60, "high"), (30, "medium"), (10, "low")):
        if score >= floor:
            return name
    return "informational"


def _title(worst: Mapping[str, Any], hosts: list[str], tactics: list[str]) -> str:
    where = hosts[0] if len(hosts) == 1 else f"{len(hosts)} hosts" if hosts else "the network"
    stage = f", reached {tactics[-1]}" if tactics else ""
    return f"{worst['title']} on {where}{stage}"
