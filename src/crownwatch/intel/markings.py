"""TLP 2.0 markings on STIX objects: which applies, inheriting a default, who may receive what.

The five TLP 2.0 marking definitions are the ones OASIS publishes
(cti-stix-common-objects, ``extension-definition-specifications/tlp-2.0``): a ``name`` such
as ``TLP:AMBER+STRICT`` and a property extension
``extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d`` whose ``tlp_2_0`` holds the
level; they have no ``definition_type`` or ``definition`` (STIX 2.1 requires those only of
marking definitions without extensions). The four TLP 1.0 definitions that STIX 2.1 itself
predefines (``definition_type`` ``tlp``) are read as clear/green/amber/red.

Who may receive what (``may_share``), following FIRST's TLP 2.0 definitions; the audience is
who receives the object directly, and the marking travels with it to tell them how far
they may pass it on:

============  =====================================================================
audience      may receive
============  =====================================================================
public        CLEAR only (GREEN must not go "via publicly accessible channels")
community     CLEAR, GREEN (AMBER is limited to the organisation and its clients)
organization  CLEAR, GREEN, AMBER (the organisation's own people and systems)
============  =====================================================================

AMBER+STRICT goes to ``organization`` (and, when the caller allows it, ``community``)
only when allowed, RED never leaves the knowledge base, and an object with no TLP at
all goes to ``organization`` only.
"""

from __future__ import annotations

from typing import Any

from crownwatch.intel.stixobj import TLP_BY_ID, TLP_IDS, TLP_ORDER

TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

#: TLP 2.0 level → its marking-definition id.
ID_BY_TLP = TLP_IDS
_TLP1 = {
    "white": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "amber": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}

#: Every TLP marking definition (2.0 and the STIX 2.1 predefined 1.0 ones), by id.
DEFINITIONS: dict[str, dict[str, Any]] = {
    **{
        ident: {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": ident,
            "created": "2022-10-01T00:00:00.000Z",
            "name": f"TLP:{level.upper()}",
            "extensions": {
                TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}
            },
        }
        for level, ident in ID_BY_TLP.items()
    },
    **{
        ident: {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": ident,
            "created": "2017-01-20T00:00:00.000Z",
            "definition_type": "tlp",
            "name": f"TLP:{level.upper()}",
            "definition": {"tlp": level},
        }
        for level, ident in _TLP1.items()
    },
}

#: Audience → the TLP levels it may receive (AMBER+STRICT is added when allowed).
AUDIENCES: dict[str, frozenset[str]] = {
    "public": frozenset(("clear",)),
    "community": frozenset(("clear", "green")),  # TLP 2.0: AMBER stays in the organisation
    "organization": frozenset(("clear", "green", "amber")),
}
_CONTAINERS = frozenset(("report", "grouping"))


def definition(ref: str) -> dict[str, Any] | None:
    """A copy of the TLP marking definition with this id, or None when it is not a TLP one."""
    found = DEFINITIONS.get(ref)
    if found is None:
        return None
    out = dict(found)
    if "extensions" in out:
        out["extensions"] = {k: dict(v) for k, v in out["extensions"].items()}
    else:
        out["definition"] = dict(out["definition"])
    return out


def tlp_of(obj: dict[str, Any], inherited: str | None = None) -> str | None:
    """The strictest TLP on the object, its parts included; ``inherited`` when it has none."""
    refs: list[Any] = _refs(obj)
    for granular in obj.get("granular_markings") or ():
        if isinstance(granular, dict):
            refs.append(granular.get("marking_ref"))
    return _strictest(refs) or inherited


def inherit(objects: list[dict[str, Any]], default: str) -> list[dict[str, Any]]:
    """The objects, each with an object-level TLP marking.

    An object without one takes the strictest TLP of the reports (and groupings) that list
    it in ``object_refs``, else ``default``. Marking definitions are left alone; the input
    dicts are not changed (changed objects are copies).
    """
    if default not in ID_BY_TLP:
        raise ValueError(f"unknown TLP {default!r}; use one of {', '.join(TLP_ORDER)}")
    from_containers: dict[str, str] = {}
    for obj in objects:
        if obj.get("type") not in _CONTAINERS:
            continue
        level = _strictest(_refs(obj)) or default
        for ref in obj.get("object_refs") or ():
            if isinstance(ref, str):
                known = from_containers.get(ref, level)
                from_containers[ref] = max(level, known, key=TLP_ORDER.index)
    out: list[dict[str, Any]] = []
    for obj in objects:
        if obj.get("type") == "marking-definition" or _strictest(_refs(obj)):
            out.append(obj)
            continue
        level = from_containers.get(str(obj.get("id")), default)
        copy = dict(obj)
        copy["object_marking_refs"] = [*_refs(obj), ID_BY_TLP[level]]
        out.append(copy)
    return out


def may_share(obj_tlp: str | None, audience: str, allow_amber_strict: bool = False) -> bool:
    """Whether an object marked ``obj_tlp`` may go to ``audience`` (see the module's table)."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}; use one of {', '.join(AUDIENCES)}")
    if obj_tlp is None:
        return audience == "organization"
    if obj_tlp not in TLP_ORDER:
        raise ValueError(f"unknown TLP {obj_tlp!r}; use one of {', '.join(TLP_ORDER)}")
    if obj_tlp == "amber+strict":
        return allow_amber_strict and audience != "public"
    return obj_tlp in AUDIENCES[audience]


def _refs(obj: dict[str, Any]) -> list[str]:
    refs = obj.get("object_marking_refs")
    return [r for r in refs if isinstance(r, str)] if isinstance(refs, list) else []


def _strictest(refs: list[Any]) -> str | None:
    """The strictest TLP level these marking ids name; None when none is a TLP marking."""
    found = [TLP_BY_ID[r] for r in refs if isinstance(r, str) and r in TLP_BY_ID]
    return max(found, key=TLP_ORDER.index) if found else None
