"""MISP galaxy threat actors as STIX 2.1: intrusion-sets, their countries and sectors, ATT&CK links.

The galaxy data comes from ``pymispgalaxies`` (clusters ``threat-actor``, ``sector``,
``country``), offline. ``actors(attack_objects)`` returns plain dicts: one intrusion-set
per galaxy actor, ``location`` (country) and ``identity`` (sector class) objects, the
``originates-from`` / ``targets`` relationships, and the links to ATT&CK groups.

Linking never merges two groups. A galaxy actor links to the ATT&CK group its primary
name names (name or alias, compared with ``stixobj.name_key``); only when the primary
name names no group do its synonyms count. A name that names two ATT&CK groups links
nothing and gets a ``note``. When several galaxy actors reach the same ATT&CK group, the
one whose primary name is the group's name (else, alone, one of its aliases) keeps the
link and the others get a note. Every link is explained by a note.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pymispgalaxies.api import Cluster, ClusterValue

from crownwatch.intel.stixobj import NAMESPACE, external_id, name_key

#: The galaxies carry no dates; a fixed stamp keeps the output reproducible (pass the
#: import time to version it). It is newer than ``STUB_TIME``, so a galaxy object
#: supersedes a name-only stub with the same id.
TIMESTAMP = "2000-01-01T00:00:00.000Z"
SOURCE = "misp-galaxy"
#: created/modified of name-only stubs (e.g. from MISP tags): older than any real object.
STUB_TIME = "1970-01-01T00:00:00.000Z"
MAX_TEXT = 8192
MAX_URL = 2048

# Country names the galaxy's threat actors use that the country cluster spells otherwise.
_COUNTRY_ALIASES = {
    "unitedstates": "US",
    "usa": "US",
    "russianfederation": "RU",
    "iranislamicrepublicof": "IR",
    "korearepublicof": "KR",
    "republicofkorea": "KR",
    "koreademocraticpeoplesrepublicof": "KP",
    "democraticpeoplesrepublicofkorea": "KP",
    "peoplesrepublicofchina": "CN",
    "czechrepublic": "CZ",
    "palestine": "PS",
    "thephilippines": "PH",
    "greatbritain": "GB",
    "uk": "GB",
    "uae": "AE",
    "macau": "MO",
    "lebonon": "LB",
}
# Sector names (CFR categories mostly) the sector cluster spells otherwise.
_SECTOR_ALIASES = {
    "informationtechnology": "IT",
    "telecomms": "Telecoms",
    "universities": "Academia - University",
    "university": "Academia - University",
    "petroleum": "Oil",
    "medical": "Health",
    "gaming": "Game",
    "aviation": "Civil Aviation",
    "logistics": "Logistic",
    "defenseindustrialbase": "Defense",
    "defensecontractor": "Defense",
    "financialservices": "Finance",
    "transportationsystems": "Transport",
    "rail": "Railway",
    "journalists": "Journalist",
    "scientificresearch": "Research - Innovation",
    "semiconductorindustry": "Semi-conductors",
    "governmentagenciesandservices": "Government, Administration",
    "governmentinstitutions": "Government, Administration",
}


def stix_id(kind: str, key: str) -> str:
    """A deterministic STIX id: ``kind--uuid5(NAMESPACE, key)``."""
    return f"{kind}--{uuid.uuid5(NAMESPACE, key)}"


def actor_id(name: str) -> str:
    """The intrusion-set id of a threat actor named ``name`` (the same for MISP tag stubs)."""
    return stix_id("intrusion-set", "name:" + (name_key(name) or name.strip()))


@dataclass(frozen=True)
class _Group:
    """An ATT&CK intrusion-set: its STIX id, ATT&CK id, name and the keys of all its names."""

    id: str
    attack_id: str
    name: str
    name_key: str


@dataclass
class _Actor:
    """A galaxy actor's identity for linking."""

    id: str
    uuid: str
    name: str
    synonyms: list[str]


def actors(
    attack_objects: list[dict[str, Any]], timestamp: str = TIMESTAMP
) -> list[dict[str, Any]]:
    """STIX objects for the MISP galaxy threat actors, linked to the ATT&CK groups given."""
    iso_of, country_name = _countries()
    sector_of = _sectors()
    out: dict[str, dict[str, Any]] = {}
    found: list[_Actor] = []
    for value in Cluster("threat-actor").cluster_values.values():
        actor = _actor(value, timestamp, out)
        out[actor["id"]] = actor
        found.append(_Actor(actor["id"], str(value.uuid), actor["name"], actor.get("aliases", [])))
        _geography(value, actor, iso_of, country_name, sector_of, timestamp, out)
    objects, linked = _links(found, _groups(attack_objects), timestamp)
    for ident, group in linked.items():
        out[ident]["x_crownwatch_attack_ref"] = group.id
        out[ident]["x_crownwatch_attack_id"] = group.attack_id
    out.update((obj["id"], obj) for obj in objects)
    return list(out.values())


def _actor(value: ClusterValue, timestamp: str, seen: dict[str, Any]) -> dict[str, Any]:
    meta = value.meta
    name = value.value.strip()
    ident = actor_id(name)
    if ident in seen:  # two galaxy names with the same key: keep both
        ident = stix_id("intrusion-set", "misp-galaxy:" + str(value.uuid))
    obj: dict[str, Any] = {
        "type": "intrusion-set",
        "spec_version": "2.1",
        "id": ident,
        "created": timestamp,
        "modified": timestamp,
        "name": name,
    }
    synonyms = sorted({s.strip() for s in (meta.synonyms if meta else ()) if s.strip()} - {name})
    if synonyms:
        obj["aliases"] = synonyms
    description = (value.description or "").strip()
    if description:
        obj["description"] = description[:MAX_TEXT]
    refs: list[dict[str, str]] = [{"source_name": "misp-galaxy", "external_id": str(value.uuid)}]
    for url in sorted(meta.refs if meta else ()):
        if isinstance(url, str) and 0 < len(url) <= MAX_URL:
            refs.append({"source_name": urlsplit(url).hostname or "reference", "url": url})
    obj["external_references"] = refs
    obj["x_misp_galaxy_uuid"] = str(value.uuid)
    return obj


def _geography(
    value: ClusterValue,
    actor: dict[str, Any],
    iso_of: dict[str, str],
    country_name: dict[str, str],
    sector_of: dict[str, str],
    timestamp: str,
    out: dict[str, dict[str, Any]],
) -> None:
    """Country, sponsor, sectors and victims of one actor: properties, objects, relationships."""
    meta = value.meta
    if meta is None:
        return
    extra = meta.additional_properties
    sponsor = extra.get("cfr-suspected-state-sponsor")
    sponsor_iso = iso_of.get(name_key(sponsor)) if isinstance(sponsor, str) else None
    country = meta.country if isinstance(meta.country, str) else ""
    iso = country.upper() if country.upper() in country_name else iso_of.get(name_key(country))
    iso = iso or sponsor_iso
    if iso:
        actor["x_crownwatch_country"] = iso
        loc = _location(iso, country_name[iso])
        out.setdefault(loc["id"], loc)
        rel = _relationship("originates-from", actor["id"], loc["id"], timestamp)
        out[rel["id"]] = rel
    if isinstance(sponsor, str) and sponsor.strip() and name_key(sponsor) != "unknown":
        actor["x_crownwatch_state_sponsor"] = (
            country_name[sponsor_iso] if sponsor_iso else sponsor.strip()[:200]
        )
    sectors = sorted(
        {
            _sector(s, sector_of)
            for prop in ("cfr-target-category", "targeted-sector")
            for s in _strings(extra.get(prop))
        }
        - {""}
    )
    if sectors:
        actor["x_crownwatch_target_sectors"] = sectors
    for sector in sectors:
        ident = _sector_identity(sector)
        out.setdefault(ident["id"], ident)
        rel = _relationship("targets", actor["id"], ident["id"], timestamp)
        out[rel["id"]] = rel
    victims: set[str] = set()
    others: set[str] = set()
    for victim in _strings(extra.get("cfr-suspected-victims")):
        victim_iso = iso_of.get(name_key(victim))
        if victim_iso is None:
            others.add(victim.strip()[:200])
            continue
        victims.add(country_name[victim_iso])
        loc = _location(victim_iso, country_name[victim_iso])
        out.setdefault(loc["id"], loc)
        rel = _relationship("targets", actor["id"], loc["id"], timestamp)
        out[rel["id"]] = rel
    if victims:
        actor["x_crownwatch_victims"] = sorted(victims)
    if others - {""}:
        actor["x_crownwatch_victims_other"] = sorted(others - {""})


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _countries() -> tuple[dict[str, str], dict[str, str]]:
    """(name key → ISO alpha-2, ISO alpha-2 → country name) from the country cluster."""
    iso_of: dict[str, str] = {}
    names: dict[str, str] = {}
    for value in Cluster("country").cluster_values.values():
        extra = value.meta.additional_properties if value.meta else {}
        iso = extra.get("ISO")
        if not isinstance(iso, str) or len(iso) != 2:
            continue
        names[iso] = value.description or value.value
        for key in (value.value, value.description or "", iso, extra.get("ISO3") or ""):
            if name_key(key):
                iso_of.setdefault(name_key(key), iso)
    for key, iso in _COUNTRY_ALIASES.items():
        iso_of.setdefault(key, iso)
    return iso_of, names


def _sectors() -> dict[str, str]:
    """Name key → canonical sector name, from the sector cluster and its synonyms."""
    index: dict[str, str] = {}
    for value in Cluster("sector").cluster_values.values():
        for name in [value.value, *(sorted(value.meta.synonyms) if value.meta else [])]:
            index.setdefault(name_key(name), value.value)
    for key, canonical in _SECTOR_ALIASES.items():
        index.setdefault(key, canonical)
    return index


def _sector(name: str, index: dict[str, str]) -> str:
    """The sector cluster's name for a sector, else the first spelling seen (remembered)."""
    key = name_key(name)
    found = index.get(key) or index.get(key.removesuffix("s")) or index.get(key + "s")
    if found is None and key:
        found = " ".join(name.split())[:200]
        index[key] = index[key.removesuffix("s")] = found
    return found or ""


def _location(iso: str, name: str) -> dict[str, Any]:
    return {
        "type": "location",
        "spec_version": "2.1",
        "id": stix_id("location", "country:" + iso),
        "created": STUB_TIME,
        "modified": STUB_TIME,
        "name": name,
        "country": iso,
    }


def _sector_identity(sector: str) -> dict[str, Any]:
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": stix_id("identity", "sector:" + name_key(sector)),
        "created": STUB_TIME,
        "modified": STUB_TIME,
        "name": sector,
        "identity_class": "class",
    }


def _relationship(
    kind: str, source: str, target: str, timestamp: str, description: str = ""
) -> dict[str, Any]:
    rel: dict[str, Any] = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": stix_id("relationship", f"{kind}:{source}:{target}"),
        "created": timestamp,
        "modified": timestamp,
        "relationship_type": kind,
        "source_ref": source,
        "target_ref": target,
    }
    if description:
        rel["description"] = description
    return rel


def _note(key: str, abstract: str, content: str, refs: list[str], ts: str) -> dict[str, Any]:
    return {
        "type": "note",
        "spec_version": "2.1",
        "id": stix_id("note", key),
        "created": ts,
        "modified": ts,
        "abstract": abstract,
        "content": content,
        "object_refs": refs,
    }


# -- linking to ATT&CK -------------------------------------------------------------------


def _groups(objects: list[dict[str, Any]]) -> dict[str, list[_Group]]:
    """Name key → the live ATT&CK groups with that name or alias."""
    index: dict[str, list[_Group]] = {}
    for obj in objects:
        if obj.get("type") != "intrusion-set" or obj.get("revoked"):
            continue
        if obj.get("x_mitre_deprecated"):
            continue
        attack = external_id(obj)
        name = obj.get("name")
        if not attack or not isinstance(name, str):
            continue
        group = _Group(obj["id"], attack, name, name_key(name))
        names = [name, *(a for a in obj.get("aliases") or () if isinstance(a, str))]
        for key in {name_key(n) for n in names} - {""}:
            index.setdefault(key, []).append(group)
    return index


def _label(groups: list[_Group]) -> str:
    return " and ".join(f"{g.attack_id} ({g.name})" for g in sorted(groups, key=_by_attack_id))


def _by_attack_id(group: _Group) -> str:
    return group.attack_id


def _links(
    found: list[_Actor], index: dict[str, list[_Group]], ts: str
) -> tuple[list[dict[str, Any]], dict[str, _Group]]:
    """``related-to`` relationships and notes, and the group each linked actor links to."""
    out: list[dict[str, Any]] = []
    linked: dict[str, _Group] = {}
    # group id -> [(score, actor, the name that matched, other matches)]
    claims: dict[str, list[tuple[int, _Actor, str, str]]] = {}
    groups: dict[str, _Group] = {}
    for actor in found:
        primary = index.get(name_key(actor.name), [])
        if len(primary) > 1:
            out.append(_ambiguous(actor, actor.name, primary, ts))
            continue
        if primary:
            group = primary[0]
            score = 3 if name_key(actor.name) == group.name_key else 2
            others = _other_matches(actor, group, index)
            claims.setdefault(group.id, []).append((score, actor, actor.name, others))
            groups[group.id] = group
            continue
        by_group: dict[str, list[str]] = {}
        for synonym in actor.synonyms:
            for group in index.get(name_key(synonym), []):
                by_group.setdefault(group.id, []).append(synonym)
                groups[group.id] = group
        if len(by_group) > 1:
            names = sorted({s for synonyms in by_group.values() for s in synonyms})
            out.append(_ambiguous(actor, ", ".join(names), [groups[g] for g in by_group], ts))
        elif by_group:
            ((group_id, synonyms),) = by_group.items()
            claims.setdefault(group_id, []).append((1, actor, sorted(synonyms)[0], ""))
    for group_id, claimants in claims.items():
        winner = _resolve(groups[group_id], claimants, ts, out)
        if winner is not None:
            linked[winner.id] = groups[group_id]
    return out, linked


def _other_matches(actor: _Actor, linked: _Group, index: dict[str, list[_Group]]) -> str:
    """Synonyms of a primary-name-linked actor that name other groups (not linked)."""
    others = sorted(
        f"{s} → {g.attack_id} ({g.name})"
        for s in actor.synonyms
        for g in index.get(name_key(s), [])
        if g.id != linked.id
    )
    return "; ".join(dict.fromkeys(others))


def _ambiguous(actor: _Actor, alias: str, groups: list[_Group], ts: str) -> dict[str, Any]:
    ids = " and ".join(g.attack_id for g in sorted(groups, key=_by_attack_id))
    content = (
        f"ambiguous alias {alias} shared by {ids}: MISP galaxy actor {actor.name!r} names "
        f"{_label(groups)}; not linked to ATT&CK automatically, an analyst must decide."
    )
    refs = [actor.id, *sorted(g.id for g in groups)]
    return _note(f"galaxy-attack-link:{actor.uuid}", f"ambiguous alias {alias}", content, refs, ts)


def _resolve(
    group: _Group,
    claimants: list[tuple[int, _Actor, str, str]],
    ts: str,
    out: list[dict[str, Any]],
) -> _Actor | None:
    """Link the one best claimant of an ATT&CK group, note the others (and ties)."""
    best = max(score for score, *_ in claimants)
    winners = [c for c in claimants if c[0] == best]
    winner = winners[0][1] if len(winners) == 1 else None
    how = {3: "its primary name is the ATT&CK name", 2: "its primary name is an ATT&CK alias"}
    for score, actor, matched, others in claimants:
        label = f"{group.attack_id} ({group.name})"
        if actor is winner:
            rel = _relationship(
                "related-to",
                actor.id,
                group.id,
                ts,
                f"MISP galaxy actor {actor.name!r} is ATT&CK {label}: name {matched!r} matches.",
            )
            out.append(rel)
            text = (
                f"MISP galaxy actor {actor.name!r} linked to ATT&CK {label} because "
                f"{how.get(score, 'its synonym is an ATT&CK name or alias')} ({matched!r})."
            )
            if others:
                text += f" Other names also match other groups, not linked: {others}."
            refs = [actor.id, group.id]
            out.append(
                _note(f"galaxy-attack-link:{actor.uuid}", f"linked to {label}", text, refs, ts)
            )
            continue
        rivals = sorted(c[1].name for c in claimants if c[1] is not actor)
        if winner is not None:
            text = (
                f"MISP galaxy actor {actor.name!r} also names ATT&CK {label} (through "
                f"{matched!r}), but {winner.name!r} is linked to it instead; both galaxy actors "
                f"are kept separate."
            )
            refs = [actor.id, group.id, winner.id]
        else:
            text = (
                f"MISP galaxy actors {', '.join(repr(n) for n in sorted([actor.name, *rivals]))} "
                f"all name ATT&CK {label}; none is linked automatically, an analyst must decide."
            )
            refs = [actor.id, group.id, *sorted(c[1].id for c in claimants if c[1] is not actor)]
        abstract = f"shares ATT&CK {group.attack_id} with {', '.join(rivals)}"
        out.append(_note(f"galaxy-attack-link:{actor.uuid}", abstract[:200], text, refs, ts))
    return winner
