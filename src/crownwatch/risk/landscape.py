"""The threat landscape: the groups that target the organisation, the techniques they use,
and which of those the installed detection covers — with the gaps, as a Navigator layer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crownwatch.intel import export, kb
from crownwatch.store import Store

COVERED, GAP = "#31a354", "#de2d26"


def landscape(
    store: Store, sectors: Iterable[str], country: str | None, covered: Iterable[str]
) -> dict[str, Any]:
    """Groups known to target the sectors (and country, if given), their techniques, and
    which the detection covers (a technique is covered when it or its parent is)."""
    detected = set(covered)
    groups: dict[str, dict[str, Any]] = {}
    for sector in sectors:
        for group in kb.actors_targeting(store, sector=sector, country=country or None):
            # the galaxy's actor, or the ATT&CK group it is linked to (with its techniques)
            ref = group.get("x_crownwatch_attack_ref")
            target = (kb.get(store, ref) if ref else None) or group
            groups.setdefault(target["id"], target)
    techniques: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for group in groups.values():
        profile = kb.profile(store, group)
        used = sorted(
            {
                e["id"]
                for entries in profile["techniques"].values()
                for e in entries
                if str(e["id"]).startswith("T")
            }
        )
        for ident in used:
            entry = techniques.setdefault(
                ident,
                {"groups": [], "covered": ident in detected or ident.split(".")[0] in detected},
            )
            entry["groups"].append(str(group.get("name")))
        rows.append(
            {
                "id": profile["attack_id"] or "",
                "name": group.get("name"),
                "country": profile["country"],
                "techniques": len(used),
                "covered": sum(1 for t in used if techniques[t]["covered"]),
            }
        )
    rows.sort(key=lambda g: (-int(g["techniques"]), str(g["name"])))
    gaps = sorted(
        (t for t, e in techniques.items() if not e["covered"]),
        key=lambda t: (-len(techniques[t]["groups"]), t),
    )
    return {
        "sectors": list(sectors),
        "country": country,
        "groups": rows,
        "techniques": techniques,
        "covered": sum(1 for e in techniques.values() if e["covered"]),
        "gaps": gaps,
    }


def layer(found: dict[str, Any]) -> dict[str, Any]:
    """The landscape as an ATT&CK Navigator layer: score = how many of the groups use the
    technique; green when detection covers it, red when it is a gap."""
    entries = {
        ident: {
            "score": len(entry["groups"]),
            "color": COVERED if entry["covered"] else GAP,
            "comment": ("covered; " if entry["covered"] else "GAP; ")
            + "used by "
            + ", ".join(sorted(entry["groups"])[:20]),
        }
        for ident, entry in found["techniques"].items()
    }
    where = ", ".join(found["sectors"]) + (f" / {found['country']}" if found["country"] else "")
    return export.navigator_layer(
        f"Threat landscape: {where}"[:200],
        entries,
        description=f"{len(found['groups'])} groups; {found['covered']} of "
        f"{len(found['techniques'])} of their techniques covered by detection",
        legend={"covered by detection": COVERED, "gap": GAP},
    )
