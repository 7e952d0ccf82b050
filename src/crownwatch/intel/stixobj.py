"""Checking and normalising one STIX object (a plain dict): the bulk path, no ``stix2`` objects.

``normalise`` returns a STIX 2.1 object (2.0 objects are upgraded) or raises
``Rejected`` with the reason; ``row`` turns it into the columns the store keeps.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson

from crownwatch.errors import CrownwatchError
from crownwatch.intel.patterns import PatternError, observables

MAX_OBJECT_BYTES = 1 << 20
_TYPE = re.compile(r"[a-z][a-z0-9-]{0,248}[a-z0-9]")
_ID = re.compile(
    r"([a-z][a-z0-9-]{0,248}[a-z0-9])--[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
)
_CATALOGUES = frozenset(("mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"))
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z")

#: STIX cyber-observable types: no created/modified, identified by their values.
SCO_TYPES = frozenset(
    (
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    )
)
#: STIX 2.0 ``labels`` became these ``*_types`` properties in 2.1.
_LABELS_TO = {
    "indicator": "indicator_types",
    "malware": "malware_types",
    "tool": "tool_types",
    "report": "report_types",
    "threat-actor": "threat_actor_types",
}

#: crownwatch's namespace for the ids of the STIX objects it makes (uuid5 of a stable key).
NAMESPACE = uuid.UUID("7d4e3a52-5f0e-4c8b-9a55-6a1f4f1c0c77")
#: The TLP 2.0 marking definitions, by level.
TLP_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP_BY_ID = {
    **{ident: level for level, ident in TLP_IDS.items()},
    # TLP 1.0, as STIX 2.1 defines them
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
}
TLP_ORDER = ("clear", "green", "amber", "amber+strict", "red")


class Rejected(CrownwatchError):
    """One object that cannot be kept, with the reason."""


def normalise(obj: Any) -> dict[str, Any]:
    """A checked STIX 2.1 object, or ``Rejected``."""
    if not isinstance(obj, dict):
        raise Rejected(f"not a JSON object but {type(obj).__name__}")
    kind, ident = obj.get("type"), obj.get("id")
    if not isinstance(kind, str) or not _TYPE.fullmatch(kind):
        raise Rejected(f"bad or missing type {kind!r:.60}")
    if kind == "bundle":
        raise Rejected("a bundle inside a bundle")
    match = _ID.fullmatch(ident) if isinstance(ident, str) else None
    if match is None or match.group(1) != kind:
        raise Rejected(f"bad id {ident!r:.80} for type {kind}")
    out = dict(obj)
    if "spec_version" not in out:
        _upgrade_20(out)
    elif out["spec_version"] not in ("2.1", "2.0"):
        raise Rejected(f"unsupported spec_version {out['spec_version']!r:.20}")
    elif out["spec_version"] == "2.0":
        _upgrade_20(out)
    if kind not in SCO_TYPES:
        for prop in ("created", "modified") if kind != "marking-definition" else ("created",):
            value = out.get(prop)
            if not isinstance(value, str) or not _TIME.fullmatch(value):
                raise Rejected(f"{kind} {ident}: missing or bad {prop} {value!r:.40}")
    if kind == "indicator":
        _indicator(out)
    elif kind == "relationship":
        for prop in ("relationship_type", "source_ref", "target_ref"):
            if not isinstance(out.get(prop), str):
                raise Rejected(f"relationship {ident}: missing {prop}")
    elif kind == "sighting" and not isinstance(out.get("sighting_of_ref"), str):
        raise Rejected(f"sighting {ident}: missing sighting_of_ref")
    confidence = out.get("confidence")
    if confidence is not None and (
        not isinstance(confidence, int)
        or isinstance(confidence, bool)
        or not 0 <= confidence <= 100
    ):
        raise Rejected(f"{ident}: confidence must be an integer 0-100, not {confidence!r:.20}")
    return out


def _upgrade_20(obj: dict[str, Any]) -> None:
    """STIX 2.0 → 2.1 in place: spec_version, labels → *_types, pattern_type, valid_from."""
    obj["spec_version"] = "2.1"
    target = _LABELS_TO.get(obj["type"])
    if target and "labels" in obj and target not in obj:
        obj[target] = obj.pop("labels")
    if obj["type"] == "malware" and "is_family" not in obj:
        obj["is_family"] = True


def _indicator(obj: dict[str, Any]) -> None:
    pattern = obj.get("pattern")
    if not isinstance(pattern, str) or not pattern.strip():
        raise Rejected(f"indicator {obj['id']}: missing pattern")
    if len(pattern) > 64 * 1024:
        raise Rejected(f"indicator {obj['id']}: pattern longer than 64 KiB")
    obj.setdefault("pattern_type", "stix")
    obj.setdefault("valid_from", obj.get("created"))


def external_id(obj: dict[str, Any]) -> str | None:
    """The ATT&CK (or other catalogue) id: G0096, T1566.001, S0002, C0017, M1036."""
    for ref in obj.get("external_references") or ():
        if isinstance(ref, dict) and ref.get("source_name") in _CATALOGUES:
            ext = ref.get("external_id")
            if isinstance(ext, str):
                return ext
    return None


def name_key(name: str) -> str:
    """A name for lookups: lower case, letters and digits only ("APT 41" == "apt41")."""
    return re.sub(r"[^0-9a-z]+", "", name.casefold())


def tlp(obj: dict[str, Any], default: str | None) -> str | None:
    """The strictest TLP among the object's markings, else the default."""
    found = [TLP_BY_ID[m] for m in obj.get("object_marking_refs") or () if m in TLP_BY_ID]
    if not found:
        return default
    return max(found, key=TLP_ORDER.index)


def aliases(obj: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for prop in ("aliases", "x_mitre_aliases"):
        value = obj.get(prop)
        if isinstance(value, list):
            names.extend(v for v in value if isinstance(v, str))
    return names


def indexed_values(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """The (kind, value) pairs an indicator's STIX pattern names; ``Rejected`` if it is bad."""
    if obj["type"] != "indicator" or obj.get("pattern_type", "stix") != "stix":
        return []
    try:
        return sorted(set(observables(obj["pattern"])))
    except PatternError as exc:
        raise Rejected(f"indicator {obj['id']}: bad pattern: {exc}") from exc


def row(obj: dict[str, Any], source: str, default_tlp: str | None) -> dict[str, Any]:
    """The columns the store keeps for one normalised object."""
    text = orjson.dumps(obj)
    if len(text) > MAX_OBJECT_BYTES:
        raise Rejected(f"{obj['id']}: object larger than {MAX_OBJECT_BYTES} bytes")
    name = obj.get("name") if isinstance(obj.get("name"), str) else None
    if name is None and obj["type"] in (
        "ipv4-addr",
        "ipv6-addr",
        "domain-name",
        "url",
        "email-addr",
    ):
        name = str(obj.get("value", "")) or None
    return {
        "id": obj["id"],
        "modified": str(obj.get("modified") or obj.get("created") or ""),
        "type": obj["type"],
        "spec_version": obj.get("spec_version", "2.1"),
        "created": str(obj.get("created") or ""),
        "name": name[:500] if name else None,
        "name_key": name_key(name)[:200] if name else None,
        "external_id": external_id(obj),
        "revoked": bool(obj.get("revoked", False)),
        "deprecated": bool(obj.get("x_mitre_deprecated", False)),
        "confidence": obj.get("confidence"),
        "tlp": tlp(obj, default_tlp),
        "relationship_type": (
            obj.get("relationship_type") if obj["type"] == "relationship" else None
        ),
        "source_ref": obj.get("source_ref") or obj.get("sighting_of_ref"),
        "target_ref": obj.get("target_ref"),
        "source": source[:200],
        "object": text.decode(),
    }
