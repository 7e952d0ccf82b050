"""MITRE ATT&CK Enterprise, shipped in the package (see data/attack/NOTICE.txt)."""

from __future__ import annotations

import functools
import gzip
import re
from importlib import resources
from typing import Any

import orjson

BUNDLE = "enterprise-attack-18.1.json.gz"
VERSION = "18.1"
SOURCE = f"mitre-attack-enterprise-{VERSION}"


def objects() -> list[dict[str, Any]]:
    """The objects of the bundled ATT&CK Enterprise bundle (STIX 2.0, as MITRE ships it)."""
    data = resources.files("crownwatch.data").joinpath("attack", BUNDLE).read_bytes()
    bundle = orjson.loads(gzip.decompress(data))
    return list(bundle["objects"])


@functools.cache
def _patterns() -> tuple[dict[str, Any], ...]:
    return tuple(o for o in objects() if o.get("type") == "attack-pattern")


def patterns() -> list[dict[str, Any]]:
    """The techniques of the shipped ATT&CK (read once per process)."""
    return list(_patterns())


def attack_id(obj: dict[str, Any]) -> str:
    """The ATT&CK id of an object (T1059.001, G0096, S0002…), or ''."""
    for ref in obj.get("external_references") or []:
        if isinstance(ref, dict) and ref.get("source_name") == "mitre-attack":
            return str(ref.get("external_id") or "")
    return ""


def tactics_by_technique(patterns: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Technique id -> the ATT&CK tactics (kill-chain phases) it serves."""
    found: dict[str, tuple[str, ...]] = {}
    for obj in patterns:
        ident = attack_id(obj)
        phases = [
            str(p.get("phase_name"))
            for p in obj.get("kill_chain_phases") or []
            if isinstance(p, dict) and p.get("kill_chain_name") == "mitre-attack"
        ]
        if ident and phases and not obj.get("revoked") and not obj.get("x_mitre_deprecated"):
            found[ident] = tuple(phases)
    return found


@functools.cache
def _mitigations() -> dict[str, tuple[dict[str, str], ...]]:
    everything = objects()
    by_id = {
        o["id"]: o for o in everything if o.get("type") in ("course-of-action", "attack-pattern")
    }
    found: dict[str, list[dict[str, str]]] = {}
    for rel in everything:
        if rel.get("type") != "relationship" or rel.get("relationship_type") != "mitigates":
            continue
        if rel.get("revoked") or rel.get("x_mitre_deprecated"):
            continue
        action, pattern = by_id.get(rel.get("source_ref", "")), by_id.get(rel.get("target_ref", ""))
        if not action or not pattern or action.get("x_mitre_deprecated"):
            continue
        technique = attack_id(pattern)
        how = str(rel.get("description") or action.get("description") or "")
        found.setdefault(technique, []).append(
            {
                "id": attack_id(action),
                "name": str(action.get("name", "")),
                "how": _first_sentence(how),
            }
        )
    return {k: tuple(sorted(v, key=lambda m: m["id"])) for k, v in found.items()}


def mitigations(technique: str) -> list[dict[str, str]]:
    """ATT&CK's courses of action for a technique (and its parent): id, name, and how."""
    table = _mitigations()
    found = list(table.get(technique, ()))
    if "." in technique:
        found += [m for m in table.get(technique.split(".")[0], ()) if m not in found]
    return found


def _first_sentence(text: str) -> str:
    """The first sentence of an ATT&CK description, without its citations."""
    text = re.sub(r"\(Citation:[^)]*\)", "", text).strip()
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)  # markdown links: their text
    end = re.search(r"(?<=[.!?])\s", text)
    return (text[: end.start()] if end else text)[:400]
