"""An incident as a STIX 2.1 bundle for sharing, TLP-marked.

The bundle holds: crownwatch's identity; the incident (STIX ``incident``) with its score,
hosts and time span; the ATT&CK techniques seen (the knowledge base's own objects, so that
a receiver's ATT&CK resolves them) with ``uses`` relationships; the indicators that matched,
each with a ``sighting`` (count, first and last time); and the most likely group with an
``attributed-to`` relationship whose confidence follows the attribution's words.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from crownwatch.intel import export, stixobj
from crownwatch.intel.stixobj import NAMESPACE, TLP_IDS

#: ICD 203 words -> STIX confidence (the STIX 2.1 "admiralty"-free scale's midpoints).
CONFIDENCE = {"high": 85, "moderate": 50, "low": 15}


def _id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, '|'.join((kind, *parts)))}"


def _ts(value: Any) -> str:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def incident_bundle(
    incident: Mapping[str, Any],
    alerts: Sequence[Mapping[str, Any]],
    techniques: Mapping[str, Mapping[str, Any]],
    indicators: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Mapping[str, Any]],
    tlp: str = "amber",
) -> dict[str, Any]:
    """The bundle of one incident. ``techniques``: ATT&CK id -> attack-pattern object;
    ``indicators``: STIX id -> indicator; ``groups``: STIX id -> intrusion set."""
    marking = [TLP_IDS[tlp]]
    now = _ts(datetime.now(UTC))
    me = _id("identity", "crownwatch")
    identity = {
        "type": "identity",
        "spec_version": "2.1",
        "id": me,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "crownwatch",
        "identity_class": "system",
    }
    common = {"spec_version": "2.1", "created": now, "modified": now, "created_by_ref": me}
    marked = {**common, "object_marking_refs": marking}
    ident = _id("incident", incident["id"])
    lines = [
        f"Score {incident['score']} ({incident['severity']}); hosts: "
        f"{', '.join(incident['hosts']) or '-'}; tactics reached: "
        f"{', '.join(incident['tactics']) or '-'}; crown jewels: "
        f"{', '.join(incident['crown_jewels']) or '-'}.",
        *(f"{t['term']}: {t['points']} ({t['why']})" for t in incident["terms"]),
    ]
    objects: list[dict[str, Any]] = [
        identity,
        {
            "type": "incident",
            "id": ident,
            **marked,
            "name": f"{incident['id']}: {incident['title']}"[:500],
            "description": "\n".join(lines),
            "external_references": [{"source_name": "crownwatch", "external_id": incident["id"]}],
        },
    ]
    for technique in incident["techniques"]:
        pattern = techniques.get(technique)
        if pattern is None:
            continue
        objects.append(stixobj.normalise(dict(pattern)))
        objects.append(_relationship("uses", ident, pattern["id"], marked))
    by_id = {a["id"]: a for a in alerts}
    for indicator_id, seen in _sightings(incident, by_id).items():
        indicator = indicators.get(indicator_id)
        if indicator is None:
            continue
        objects.append(stixobj.normalise(dict(indicator)))
        objects.append(
            {
                "type": "sighting",
                "id": _id("sighting", incident["id"], indicator_id),
                **marked,
                "sighting_of_ref": indicator_id,
                "count": seen["count"],
                "first_seen": _ts(seen["first"]),
                "last_seen": _ts(seen["last"]),
                "where_sighted_refs": [me],
            }
        )
    top = (incident.get("attribution") or [None])[0]
    if top and top.get("stix_id") in groups:
        objects.append(stixobj.normalise(dict(groups[top["stix_id"]])))
        rel = _relationship("attributed-to", ident, top["stix_id"], marked)
        rel["confidence"] = CONFIDENCE.get(top.get("confidence", ""), 15)
        rel["description"] = (
            f"Most likely actor, probability {top['probability']:.2f}, "
            f"{top.get('confidence', 'low')} confidence (ICD 203)."
        )
        objects.append(rel)
    return export.stix_bundle(objects, f"incident|{incident['id']}|{now}")


def _relationship(kind: str, source: str, target: str, marked: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "relationship",
        "id": _id("relationship", kind, source, target),
        **marked,
        "relationship_type": kind,
        "source_ref": source,
        "target_ref": target,
    }


def _sightings(
    incident: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for ident in incident["alerts"]:
        alert = by_id.get(ident)
        if not alert or alert["kind"] != "indicator":
            continue
        entry = found.setdefault(
            alert["rule"], {"count": 0, "first": alert["first"], "last": alert["last"]}
        )
        entry["count"] += int(alert.get("count") or 1)
        entry["first"] = min(entry["first"], alert["first"])
        entry["last"] = max(entry["last"], alert["last"])
    return found
