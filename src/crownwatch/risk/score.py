"""Risk-based ranking, explained: every alert adds risk to the assets and users it names.

In the manner of risk-based alerting, an alert's points (by severity) go to each of its risk
objects — hosts and users — multiplied by what the object is worth (crown jewel,
criticality, the value of the intellectual property it holds), by the threat behind the
alert (an incident attributed to a state group that targets the organisation weighs more
than commodity malware, scaled by the attribution's confidence) and by how recent it is
(half-life decay). An object becomes notable when its risk crosses the threshold or when
many tactics and kinds of detector pile up on it. Every score lists its terms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crownwatch.correlate.incidents import BUILTIN_USERS, short_host

#: Points an alert of each severity adds before the multipliers.
POINTS = {"informational": 0.0, "low": 10.0, "medium": 25.0, "high": 50.0, "critical": 80.0}


@dataclass(frozen=True)
class Settings:
    """How risk adds up and when an object becomes notable."""

    half_life_days: float = 14.0
    notable_score: float = 150.0
    notable_tactics: int = 3
    notable_kinds: int = 2
    crown_jewel_factor: float = 2.0


@dataclass(frozen=True)
class Threat:
    """What is known of the actor behind an incident, as a factor on its alerts' risk."""

    factor: float
    why: str


@dataclass
class _Object:
    kind: str
    name: str
    asset: Mapping[str, Any] | None
    score: float = 0.0
    by_alert: dict[str, float] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    tactics: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    threats: dict[str, str] = field(default_factory=dict)


def rank(
    alerts: Iterable[Mapping[str, Any]],
    incidents: Iterable[Mapping[str, Any]],
    assets: Iterable[Mapping[str, Any]],
    now: datetime,
    threats: Mapping[str, Threat] | None = None,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """Risk objects, crown jewels first, each by its score, with the terms of its score."""
    settings = settings or Settings()
    known: Mapping[str, Threat] = threats or {}
    by_name, by_ip = _asset_index(assets)
    incident_of: dict[str, Mapping[str, Any]] = {}
    for each in incidents:
        for ident in each.get("alerts", ()):
            incident_of[ident] = each
    objects: dict[tuple[str, str], _Object] = {}
    for alert in alerts:
        points = POINTS.get(alert["severity"], 0.0)
        if not points:
            continue
        age = max((now - alert["last"]).total_seconds() / 86400, 0.0)
        decay = 0.5 ** (age / settings.half_life_days)
        incident = incident_of.get(alert["id"])
        threat = known.get(incident["id"]) if incident else None
        tactics = incident_tactics(incident, alert) if incident else set()
        for kind, name in _risk_objects(alert, by_ip):
            obj = objects.setdefault(
                (kind, name), _Object(kind, name, by_name.get(name) if kind == "host" else None)
            )
            worth = asset_factor(obj.asset, settings)[0]
            add = points * decay * worth * (threat.factor if threat else 1.0)
            obj.score += add
            obj.by_alert[alert["id"]] = obj.by_alert.get(alert["id"], 0.0) + add
            obj.titles[alert["id"]] = alert["title"]
            obj.tactics.update(tactics)
            obj.kinds.add(alert["kind"])
            if threat and incident:
                obj.threats[incident["id"]] = threat.why
    ranked = [_describe(obj, settings) for obj in objects.values()]
    ranked.sort(key=lambda r: (not r["crown_jewel"], -r["score"], r["name"]))
    return ranked


def asset_factor(asset: Mapping[str, Any] | None, settings: Settings) -> tuple[float, str]:
    """What an asset is worth as a factor on risk, and why."""
    if asset is None:
        return 1.0, "not in the inventory"
    jewel = settings.crown_jewel_factor if asset.get("crown_jewel") else 1.0
    criticality = _number(asset.get("criticality"), 3.0)
    value = _number(asset.get("ip_value_usd") or asset.get("value_usd"), 0.0)
    worth = 1.0 + math.log10(1.0 + value / 1e6) / 2
    factor = jewel * (criticality / 3.0) * worth
    parts = [
        "crown jewel ×" + f"{jewel:g}" if jewel != 1.0 else "",
        f"criticality {criticality:g}/5 ×{criticality / 3.0:.2f}",
        f"IP worth {_money(value)} ×{worth:.2f}" if value else "",
    ]
    return factor, ", ".join(p for p in parts if p)


def incident_tactics(incident: Mapping[str, Any], alert: Mapping[str, Any]) -> set[str]:
    """The tactics the alert stands for, read from its incident's timeline."""
    for entry in incident.get("timeline", ()):
        if entry.get("id") == alert["id"]:
            return set(entry.get("tactics", ()))
    return set()


def _describe(obj: _Object, settings: Settings) -> dict[str, Any]:
    factor, why = asset_factor(obj.asset, settings)
    notable = []
    if obj.score >= settings.notable_score:
        notable.append(f"risk {obj.score:.0f} ≥ {settings.notable_score:g}")
    if len(obj.tactics) >= settings.notable_tactics:
        notable.append(f"{len(obj.tactics)} tactics")
    if len(obj.kinds) >= settings.notable_kinds:
        notable.append(f"{len(obj.kinds)} kinds of detector ({', '.join(sorted(obj.kinds))})")
    top = sorted(obj.by_alert.items(), key=lambda kv: -kv[1])
    terms = [
        {"term": "asset", "factor": round(factor, 2), "why": why},
        *(
            {"term": "threat", "incident": ident, "why": text}
            for ident, text in sorted(obj.threats.items())
        ),
        *(
            {"term": "alert", "alert": ident, "title": obj.titles[ident], "points": round(p, 1)}
            for ident, p in top[:8]
        ),
    ]
    if len(top) > 8:
        rest = sum(p for _, p in top[8:])
        terms.append({"term": "alerts", "count": len(top) - 8, "points": round(rest, 1)})
    asset = obj.asset or {}
    return {
        "kind": obj.kind,
        "name": obj.name,
        "score": round(obj.score, 1),
        "crown_jewel": bool(asset.get("crown_jewel")),
        "owner": asset.get("owner"),
        "business_unit": asset.get("business_unit"),
        "alerts": len(obj.by_alert),
        "tactics": sorted(obj.tactics),
        "detectors": sorted(obj.kinds),
        "notable": bool(notable),
        "notable_because": notable,
        "terms": terms,
    }


def _asset_index(
    assets: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, Mapping[str, Any]], dict[str, str]]:
    by_name: dict[str, Mapping[str, Any]] = {}
    by_ip: dict[str, str] = {}
    for asset in assets:
        name = short_host(str(asset.get("hostname") or asset.get("fqdn") or ""))
        if not name:
            continue
        by_name[name] = asset
        if asset.get("ip") and "/" not in str(asset["ip"]):
            by_ip[str(asset["ip"])] = name
    return by_name, by_ip


def _risk_objects(alert: Mapping[str, Any], by_ip: Mapping[str, str]) -> set[tuple[str, str]]:
    entities: Mapping[str, Iterable[str]] = alert.get("entities", {})
    found = {("host", short_host(str(h))) for h in entities.get("host", ())}
    found |= {("host", by_ip[str(ip)]) for ip in entities.get("ip", ()) if str(ip) in by_ip}
    for user in entities.get("user", ()):
        name = str(user).lower().rsplit("\\", 1)[-1]
        if name not in BUILTIN_USERS and not name.endswith("$"):
            found.add(("user", name))
    return {(k, n) for k, n in found if n}


def _money(value: float) -> str:
    return f"${value / 1e6:,.0f}M" if value >= 1e6 else f"${value / 1e3:,.0f}K"


def _number(value: Any, default: float) -> float:
    try:
        return float(str(value).replace(",", ""))
    except (TypeError, ValueError):
        return default
