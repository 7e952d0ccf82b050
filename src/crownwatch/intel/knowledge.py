"""What report extraction knows: techniques, groups, software and procedure examples.

``build(objects)`` reads plain STIX dicts (ATT&CK's bundle, later the knowledge
base's objects): live attack-patterns, intrusion-sets, malware and tools with their
aliases, the ``uses`` procedure texts that point at techniques (the classifier's
training data), and where revoked objects went (``revoked-by``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crownwatch.intel.stixobj import aliases, external_id

if TYPE_CHECKING:
    from crownwatch.intel.names import Matcher
    from crownwatch.intel.techniques import Model

NAMED_TYPES = ("intrusion-set", "malware", "tool")
MAX_HOPS = 8
_CITATION = re.compile(r"\(Citation:[^)]{0,500}\)")
_LINK = re.compile(r"\[([^\]]{0,200})\]\([^)\s]{0,500}\)")
_TAG = re.compile(r"</?[a-zA-Z][^>]{0,200}>")


@dataclass(frozen=True)
class Technique:
    """A live ATT&CK technique or sub-technique (``description``: its first paragraph)."""

    ref: str
    external_id: str
    name: str
    description: str
    subtechnique: bool


@dataclass(frozen=True)
class Named:
    """A group (intrusion-set) or a piece of software (malware, tool) and its other names."""

    ref: str
    kind: str
    name: str
    external_id: str | None
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Procedure:
    """One procedure example: who (``source``) did technique ``technique``, and how."""

    source: str
    technique: str
    text: str


@dataclass
class Knowledge:
    """The objects extraction matches against, plus its lazily built matcher and model."""

    techniques: dict[str, Technique]
    named: dict[str, Named]
    procedures: list[Procedure]
    #: ATT&CK id (T1059.001, G0096, S0002) -> live STIX id; revoked ids lead to their successor
    by_external: dict[str, str]
    matcher: Matcher | None = field(default=None, repr=False, compare=False)
    model: Model | None = field(default=None, repr=False, compare=False)


def clean(text: str) -> str:
    """ATT&CK prose as plain text: no citations, links reduced to their text, no tags."""
    text = _TAG.sub("", _LINK.sub(r"\1", _CITATION.sub("", text)))
    return " ".join(text.split())


def build(objects: Iterable[dict[str, Any]]) -> Knowledge:
    """A ``Knowledge`` from STIX objects (2.0 or 2.1, as plain dicts)."""
    techniques: dict[str, Technique] = {}
    named: dict[str, Named] = {}
    dead: dict[str, str] = {}  # revoked object id -> its external id
    uses: list[dict[str, Any]] = []
    revoked_by: dict[str, str] = {}
    for obj in objects:
        kind, ref = obj.get("type"), obj.get("id")
        if not isinstance(ref, str):
            continue
        if kind in ("attack-pattern", *NAMED_TYPES) and (
            obj.get("revoked") or obj.get("x_mitre_deprecated")
        ):
            ext = external_id(obj)
            if ext and obj.get("revoked"):
                dead[ref] = ext
        elif kind == "attack-pattern":
            ext = external_id(obj)
            if ext and isinstance(obj.get("name"), str):
                techniques[ref] = Technique(
                    ref,
                    ext,
                    obj["name"],
                    clean(str(obj.get("description") or "").strip().split("\n")[0]),
                    bool(obj.get("x_mitre_is_subtechnique")) or "." in ext,
                )
        elif kind in NAMED_TYPES and isinstance(obj.get("name"), str):
            others = tuple(a for a in aliases(obj) if a != obj["name"])
            named[ref] = Named(ref, str(kind), obj["name"], external_id(obj), others)
        elif kind == "relationship" and not obj.get("revoked"):
            if obj.get("relationship_type") == "uses" and obj.get("description"):
                uses.append(obj)
            elif obj.get("relationship_type") == "revoked-by":
                revoked_by[str(obj.get("source_ref"))] = str(obj.get("target_ref"))
    by_external = {t.external_id: t.ref for t in techniques.values()}
    by_external.update({n.external_id: n.ref for n in named.values() if n.external_id})
    for ref, ext in dead.items():
        successor = _follow(ref, revoked_by)
        if ext not in by_external and (successor in techniques or successor in named):
            by_external[ext] = successor
    procedures = [
        Procedure(str(u.get("source_ref")), u["target_ref"], clean(str(u["description"])))
        for u in uses
        if u.get("target_ref") in techniques
    ]
    return Knowledge(techniques, named, procedures, by_external)


def _follow(ref: str, revoked_by: dict[str, str]) -> str:
    for _ in range(MAX_HOPS):
        if ref not in revoked_by:
            break
        ref = revoked_by[ref]
    return ref
