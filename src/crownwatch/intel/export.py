"""Exports as plain dicts ready for JSON: STIX 2.1 bundles and ATT&CK Navigator layers."""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from crownwatch.intel import markings, stixobj
from crownwatch.intel.stixobj import NAMESPACE

#: The Navigator layer format this writes (layer format 4.5, ATT&CK 18, Navigator 5.1).
LAYER_VERSIONS = {"attack": "18", "navigator": "5.1.0", "layer": "4.5"}
DOMAINS = ("enterprise-attack", "mobile-attack", "ics-attack")
GRADIENT = ["#ffffff", "#ff6666"]  # lowest score white, highest red
USED_COLOR = "#66b1ff"  # the colour ATT&CK's own group layers use
MAX_TEXT = 4_000
_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")
_TACTIC = re.compile(r"[a-z][a-z-]{0,63}")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


# -- STIX ------------------------------------------------------------------------------------


def stix_bundle(objects: list[dict[str, Any]], bundle_id_seed: str) -> dict[str, Any]:
    """A STIX 2.1 bundle of the objects, with the TLP marking definitions they reference.

    STIX 2.0 objects are upgraded (``spec_version``, ``labels`` → ``*_types``); the same
    version of an object twice is kept once; a TLP marking definition is always written
    as published. An object that is not valid STIX raises ``stixobj.Rejected``: an export
    never leaves an object out silently. The bundle id is ``uuid5`` of the seed.
    """
    kept: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    wanted: dict[str, None] = {}
    for obj in objects:
        norm = stixobj.normalise(obj)
        if norm["id"] in markings.DEFINITIONS:
            wanted[norm["id"]] = None
            continue
        key = (norm["id"], str(norm.get("modified") or norm.get("created") or ""))
        if key in seen:
            continue
        seen.add(key)
        kept.append(norm)
        wanted.update(dict.fromkeys(_marking_refs(norm)))
    tlp = [d for d in (markings.definition(ref) for ref in wanted) if d is not None]
    return {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid5(NAMESPACE, bundle_id_seed)}",
        "objects": [*tlp, *kept],
    }


def validate(bundle: dict[str, Any]) -> list[str]:
    """The STIX 2.1 validator's errors for a bundle (warnings are not errors); [] when valid."""
    from stix2validator import (  # type: ignore[import-untyped]
        ValidationError,
        ValidationOptions,
        validate_instance,
    )

    try:
        result = validate_instance(bundle, ValidationOptions(strict=False))
    except ValidationError as exc:
        return [str(exc)]
    return [str(error) for error in result.errors]


def _marking_refs(obj: dict[str, Any]) -> list[str]:
    refs = [r for r in obj.get("object_marking_refs") or () if isinstance(r, str)]
    for granular in obj.get("granular_markings") or ():
        if isinstance(granular, dict) and isinstance(granular.get("marking_ref"), str):
            refs.append(granular["marking_ref"])
    return refs


# -- ATT&CK Navigator --------------------------------------------------------------------------


def navigator_layer(
    name: str,
    techniques: dict[str, dict[str, Any]],
    description: str = "",
    domain: str = "enterprise-attack",
    legend: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An ATT&CK Navigator layer (format 4.5).

    ``techniques`` maps an ATT&CK id to its annotation: ``score`` (a number; unscored when
    absent), ``comment``, and optionally ``color`` (``#rrggbb``), ``tactic`` (a tactic's
    short name, e.g. ``initial-access``; all its tactics when absent) and ``enabled``.
    ``legend`` maps labels to colours; by default it names the gradient's two ends.
    Raises ``ValueError`` for an id, tactic, colour, score or domain the Navigator would
    not read.
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; use one of {', '.join(DOMAINS)}")
    entries = [_technique(ident, spec) for ident, spec in sorted(techniques.items())]
    scores = [entry["score"] for entry in entries if "score" in entry]
    low, high = min([0, *scores]), max([1, *scores])
    if legend is None:
        legend = {f"score {low:g}": GRADIENT[0], f"score {high:g}": GRADIENT[-1]}
    for label, color in legend.items():
        if not _COLOR.fullmatch(color):
            raise ValueError(f"legend {label!r:.40}: colour {color!r:.20} is not #rrggbb")
    return {
        "name": name[:200],
        "versions": dict(LAYER_VERSIONS),
        "domain": domain,
        "description": description[:MAX_TEXT],
        "sorting": 3,
        "layout": {
            "layout": "side",
            "aggregateFunction": "max",
            "showID": True,
            "showName": True,
            "showAggregateScores": False,
            "countUnscored": False,
            "expandedSubtechniques": "annotated",
        },
        "hideDisabled": False,
        "techniques": entries,
        "gradient": {"colors": list(GRADIENT), "minValue": low, "maxValue": high},
        "legendItems": [{"label": k[:200], "color": v} for k, v in legend.items()],
        "showTacticRowBackground": False,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
        "metadata": [],
        "links": [],
    }


def group_layer(profile: dict[str, Any]) -> dict[str, Any]:
    """The techniques a group (or software, or campaign) uses, from ``kb.profile``'s dict."""
    name = str(profile.get("name") or profile["id"])[:150]
    title = f"{name} ({profile['attack_id']})" if profile.get("attack_id") else name
    used: dict[str, dict[str, Any]] = {}
    for entries in (profile.get("techniques") or {}).values():
        for entry in entries:
            ident = entry.get("id")
            if isinstance(ident, str) and _TECHNIQUE.fullmatch(ident) and ident not in used:
                used[ident] = {
                    "score": 1,
                    "color": USED_COLOR,
                    "comment": f"{entry.get('name', '')}: used by {title}",
                }
    layer = navigator_layer(
        f"{title} techniques",
        used,
        description=f"ATT&CK techniques {title} is known to use, from the knowledge base.",
        legend={f"used by {title}": USED_COLOR},
    )
    layer["metadata"] = [{"name": "stix_id", "value": str(profile["id"])}]
    return layer


def observed_layer(counts: dict[str, int], name: str = "Observed techniques") -> dict[str, Any]:
    """Techniques seen in our own detections, scored by how many times."""
    techniques = {
        ident.upper(): {"score": n, "comment": f"seen {n} time{'s' if n != 1 else ''}"}
        for ident, n in counts.items()
        if n > 0
    }
    return navigator_layer(
        name, techniques, description="ATT&CK techniques seen in detections, scored by count."
    )


def _technique(ident: str, spec: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(ident, str) or not _TECHNIQUE.fullmatch(ident):
        raise ValueError(f"{ident!r:.40} is not an ATT&CK technique id (T1234 or T1234.001)")
    entry: dict[str, Any] = {
        "techniqueID": ident,
        "comment": str(spec.get("comment", ""))[:MAX_TEXT],
        "enabled": bool(spec.get("enabled", True)),
        "metadata": [],
        "links": [],
        "showSubtechniques": False,
    }
    score = spec.get("score")
    if score is not None:
        number = isinstance(score, int | float) and not isinstance(score, bool)
        if not number or not math.isfinite(score):
            raise ValueError(f"{ident}: score {score!r:.20} is not a number")
        entry["score"] = score
    tactic = spec.get("tactic")
    if tactic is not None:
        if not isinstance(tactic, str) or not _TACTIC.fullmatch(tactic):
            raise ValueError(f"{ident}: tactic {tactic!r:.40} is not a tactic short name")
        entry["tactic"] = tactic
    color = spec.get("color")
    if color is not None:
        if not isinstance(color, str) or not _COLOR.fullmatch(color):
            raise ValueError(f"{ident}: colour {color!r:.20} is not #rrggbb")
        entry["color"] = color
    return entry
