"""What a report says, gathered from the store: incidents, attribution, risks, mitigations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from crownwatch import __version__
from crownwatch.intel import attack

#: Mitigations listed per report, most techniques covered first.
MAX_MITIGATIONS = 12


def collect(
    incidents: Sequence[Mapping[str, Any]],
    alerts: Sequence[Mapping[str, Any]],
    risks: Sequence[Mapping[str, Any]],
    lake: Mapping[str, Any],
    organisation: str = "",
    landscape: Mapping[str, Any] | None = None,
    tactics_of: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The report's content as plain data (the HTML, PDF and tests read the same dict)."""
    tactics_of = (
        tactics_of if tactics_of is not None else attack.tactics_by_technique(attack.patterns())
    )
    by_id = {a["id"]: a for a in alerts}
    techniques: Counter[str] = Counter()
    for incident in incidents:
        for ident in incident["alerts"]:
            techniques.update(by_id.get(ident, {}).get("techniques", ()))
    top = incidents[0] if incidents else None
    return {
        "title": f"crownwatch report{f' — {organisation}' if organisation else ''}",
        "organisation": organisation,
        "made": datetime.now(UTC),
        "version": __version__,
        "lake": dict(lake),
        "alerts": len(alerts),
        "incidents": list(incidents),
        "top": top,
        "hypothesis": (top.get("attribution") or [None])[0] if top else None,
        "risks": list(risks),
        "jewels_at_risk": [r for r in risks if r["crown_jewel"] and r["notable"]],
        "techniques": dict(techniques.most_common()),
        "tactics_of": {
            t: list(tactics_of.get(t) or tactics_of.get(t.split(".")[0]) or []) for t in techniques
        },
        "mitigations": mitigations(top["techniques"] if top else []),
        "landscape": dict(landscape) if landscape else None,
    }


def mitigations(techniques: Sequence[str]) -> list[dict[str, Any]]:
    """ATT&CK courses of action for the techniques seen, those covering most first."""
    found: dict[str, dict[str, Any]] = {}
    for technique in techniques:
        for m in attack.mitigations(technique):
            entry = found.setdefault(m["id"], {**m, "techniques": []})
            if technique not in entry["techniques"]:
                entry["techniques"].append(technique)
    ranked = sorted(found.values(), key=lambda m: (-len(m["techniques"]), m["id"]))
    return ranked[:MAX_MITIGATIONS]
