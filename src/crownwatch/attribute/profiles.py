"""Intrusion-set profiles for attribution, built once from the knowledge base's STIX objects.

``extract`` reads STIX objects into *facts*: a group uses a feature (an ATT&CK technique id
such as T1003.001, or a software id such as S0154), with the sources (cited reports) behind
every link that makes it true. A group's facts come from its own ``uses`` relationships,
from campaigns ``attributed-to`` it, and (weaker) from the techniques of the software it
uses. ``assemble`` turns facts into the weights the engine scores with; it can leave out
every fact whose only support is a given set of reports (the benchmark's leakage control).

Groups are intrusion-sets that use something or that an indicator indicates; objects of
other sources with the same primary name as an ATT&CK group (a vendor's "APT41") join it,
and the MISP galaxy actor linked to a group gives it country, sectors and victims.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crownwatch.intel.stixobj import external_id, name_key

log = logging.getLogger(__name__)

#: How much one fact counts, by how it is known. Direct use counts once per citing report
#: (at most ``MAX_SUPPORT``); use by an attributed campaign once; a technique of software the
#: group uses counts ``SOFTWARE_TECHNIQUE`` (the software may do it, the group was not seen).
MAX_SUPPORT = 3
CAMPAIGN = 1.0
SOFTWARE_TECHNIQUE = 0.3
#: A sub-technique also counts for its parent technique with this share of its weight.
PARENT_SHARE = 0.5

_USED = ("attack-pattern", "malware", "tool")
_YEAR = re.compile(r"\((\d{4})[,)]")
_CITATION = re.compile(r"\(Citation: ([^)]{1,300})\)")


@dataclass(frozen=True)
class Fact:
    """A group uses a feature; ``support`` holds the sources behind each link of the chain."""

    group: str
    feature: str
    kind: str  # "uses" | "campaign" | "software"
    support: tuple[frozenset[str], ...]
    via: str = ""  # the campaign (or software) it came through


@dataclass
class Group:
    """What the engine shows of an intrusion set besides its weights."""

    key: str  # STIX id of the canonical intrusion-set
    attack_id: str | None
    name: str
    stix_ids: list[str]
    aliases: list[str] = field(default_factory=list)
    country: str | None = None
    sectors: list[str] = field(default_factory=list)
    victims: list[str] = field(default_factory=list)
    first_seen: int | None = None  # years, from the cited reports and campaigns
    last_seen: int | None = None


@dataclass
class Knowledge:
    """Facts and the names around them, before weighting."""

    groups: dict[str, Group]
    facts: list[Fact]
    names: dict[str, str]  # feature id -> name
    software_ids: dict[str, str]  # name key / STIX id / ATT&CK id -> software feature id
    indicator_groups: dict[str, set[str]]  # indicator STIX id -> group keys
    indicator_software: dict[str, set[str]]  # indicator STIX id -> software feature ids


@dataclass
class Profiles:
    """Weights per group and feature, background frequencies and the look-ups the engine needs."""

    knowledge: Knowledge
    weights: dict[str, dict[str, float]]  # group -> feature -> weight
    totals: dict[str, float]  # group -> sum of its weights
    background: dict[str, float]  # feature -> share of all weight (smoothed)
    unseen: float  # background share of a feature no group has
    postings: dict[str, list[tuple[str, float]]]  # feature -> [(group, weight)]
    users: dict[str, set[str]]  # feature -> groups that have it
    reports: dict[str, int]  # group -> distinct sources behind its facts
    seconds: float = 0.0

    @property
    def groups(self) -> dict[str, Group]:
        return self.knowledge.groups


def parent(feature: str) -> str | None:
    """T1003 for T1003.001; None for anything else."""
    if feature.startswith("T") and "." in feature:
        return feature.split(".", 1)[0]
    return None


def _live(obj: dict[str, Any] | None) -> bool:
    return obj is not None and not obj.get("revoked") and not obj.get("x_mitre_deprecated")


def _sources(rel: dict[str, Any]) -> frozenset[str]:
    """The reports a relationship cites: its external references, else its (Citation: …)."""
    names = {
        str(ref["source_name"])[:300]
        for ref in rel.get("external_references") or ()
        if isinstance(ref, dict) and ref.get("source_name")
    }
    if not names and isinstance(rel.get("description"), str):
        names = set(_CITATION.findall(rel["description"]))
    return frozenset(names)


def _years(rel: dict[str, Any]) -> list[int]:
    found = []
    for ref in rel.get("external_references") or ():
        if isinstance(ref, dict) and isinstance(ref.get("description"), str):
            m = _YEAR.search(ref["description"])
            if m and 1990 <= int(m.group(1)) <= 2100:
                found.append(int(m.group(1)))
    return found


def feature_id(obj: dict[str, Any]) -> str:
    """The ATT&CK id of a technique or software, else its STIX id."""
    return external_id(obj) or str(obj["id"])


def _feature(obj: dict[str, Any], software_ids: dict[str, str]) -> str:
    """A software's feature is the catalogue's id when its name names catalogued software."""
    if obj["type"] != "attack-pattern" and not external_id(obj):
        return software_ids.get(name_key(str(obj.get("name") or "")), str(obj["id"]))
    return feature_id(obj)


def extract(objects: Iterable[dict[str, Any]]) -> Knowledge:
    """Facts, groups and names from STIX objects (any order; revoked/deprecated left out)."""
    byid: dict[str, dict[str, Any]] = {}
    rels: list[dict[str, Any]] = []
    for obj in objects:
        if obj.get("type") == "relationship":
            if _live(obj):
                rels.append(obj)
        elif isinstance(obj.get("id"), str):
            byid[obj["id"]] = obj
    groups, key_of = _groups(byid)
    names: dict[str, str] = {}
    software_ids: dict[str, str] = {}
    catalogue_first = sorted(byid.values(), key=lambda o: external_id(o) is None)
    for obj in catalogue_first:
        if obj.get("type") in _USED and _live(obj):
            fid = feature_id(obj)
            names[fid] = str(obj.get("name") or fid)[:200]
            if obj["type"] != "attack-pattern":
                for alias in (obj.get("name"), *(obj.get("x_mitre_aliases") or ())):
                    if isinstance(alias, str) and name_key(alias):
                        software_ids.setdefault(name_key(alias), fid)
                software_ids[obj["id"]] = fid
                software_ids[fid.casefold()] = fid
    software_techniques: dict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)
    campaign_groups: dict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)
    indicator_groups: dict[str, set[str]] = defaultdict(set)
    indicator_software: dict[str, set[str]] = defaultdict(set)
    pending_indicators: list[tuple[str, str]] = []
    for rel in rels:
        src, dst = byid.get(rel["source_ref"]), byid.get(rel["target_ref"])
        if not (_live(src) and _live(dst)):
            continue
        assert src is not None and dst is not None
        kind = rel.get("relationship_type")
        if (
            kind == "uses"
            and src["type"] in ("malware", "tool")
            and dst["type"] == "attack-pattern"
        ):
            software_techniques[src["id"]].append((feature_id(dst), _sources(rel)))
        elif kind == "attributed-to" and src["type"] == "campaign" and dst["id"] in key_of:
            campaign_groups[src["id"]].append((key_of[dst["id"]], _sources(rel)))
        elif kind == "indicates" and src["type"] == "indicator":
            pending_indicators.append((src["id"], dst["id"]))
    facts: list[Fact] = []
    seen_years: dict[str, list[int]] = defaultdict(list)
    for rel in rels:
        if rel.get("relationship_type") != "uses":
            continue
        src, dst = byid.get(rel["source_ref"]), byid.get(rel["target_ref"])
        if not (_live(src) and _live(dst)) or dst is None or dst["type"] not in _USED:
            continue
        assert src is not None
        fid, support = _feature(dst, software_ids), _sources(rel)
        owners: list[tuple[str, tuple[frozenset[str], ...], str, str]]
        if src["id"] in key_of:
            owners = [(key_of[src["id"]], (support,), "uses", "")]
            seen_years[key_of[src["id"]]].extend(_years(rel))
        elif src["type"] == "campaign":
            owners = [
                (g, (support, s), "campaign", str(src["id"])) for g, s in campaign_groups[src["id"]]
            ]
        else:
            continue
        for group, links, kind, via in owners:
            facts.append(Fact(group, fid, kind, links, via))
            for technique, s in software_techniques.get(dst["id"], ()):
                facts.append(Fact(group, technique, "software", (*links, s), via or fid))
    for cid, attributed in campaign_groups.items():
        campaign = byid[cid]
        for group, _ in attributed:
            for prop in ("first_seen", "last_seen"):
                value = campaign.get(prop)
                if isinstance(value, str) and value[:4].isdigit():
                    seen_years[group].append(int(value[:4]))
    for indicator, target in pending_indicators:
        if target in key_of:
            indicator_groups[indicator].add(key_of[target])
        elif target in campaign_groups:
            indicator_groups[indicator].update(g for g, _ in campaign_groups[target])
        elif target in software_ids:
            indicator_software[indicator].add(software_ids[target])
    used = {f.group for f in facts} | {g for gs in indicator_groups.values() for g in gs}
    kept = {k: g for k, g in groups.items() if k in used}
    for key, years in seen_years.items():
        if key in kept and years:
            kept[key].first_seen, kept[key].last_seen = min(years), max(years)
    return Knowledge(
        kept, facts, names, software_ids, dict(indicator_groups), dict(indicator_software)
    )


def _groups(byid: dict[str, dict[str, Any]]) -> tuple[dict[str, Group], dict[str, str]]:
    """Canonical groups (ATT&CK's first) and every intrusion-set id -> its group's key."""
    sets = [o for o in byid.values() if o.get("type") == "intrusion-set" and _live(o)]
    sets.sort(key=lambda o: (external_id(o) is None, str(o.get("created", "")), o["id"]))
    groups: dict[str, Group] = {}
    by_name: dict[str, str] = {}
    key_of: dict[str, str] = {}
    galaxy: list[dict[str, Any]] = []
    for obj in sets:
        if obj.get("x_crownwatch_attack_ref"):
            galaxy.append(obj)
            continue
        name = str(obj.get("name") or obj["id"])
        key = by_name.get(name_key(name)) if name_key(name) else None
        if key is None:
            key = obj["id"]
            aliases = [a for a in obj.get("aliases") or () if isinstance(a, str) and a != name]
            groups[key] = Group(key, external_id(obj), name[:200], [key], aliases[:50])
            if name_key(name):
                by_name[name_key(name)] = key
        else:
            groups[key].stix_ids.append(obj["id"])
        key_of[obj["id"]] = key
        _geography(groups[key], obj)
    for obj in galaxy:  # the MISP galaxy actor linked to an ATT&CK group
        target = key_of.get(str(obj["x_crownwatch_attack_ref"]))
        if target is not None:
            _geography(groups[target], obj)
    return groups, key_of


def _geography(group: Group, obj: dict[str, Any]) -> None:
    country = obj.get("x_crownwatch_country")
    if isinstance(country, str) and not group.country:
        group.country = country
    for attr, prop in (
        ("sectors", "x_crownwatch_target_sectors"),
        ("victims", "x_crownwatch_victims"),
    ):
        values = [v for v in obj.get(prop) or () if isinstance(v, str)]
        setattr(group, attr, sorted({*getattr(group, attr), *values}))


def assemble(
    knowledge: Knowledge,
    exclude: frozenset[str] = frozenset(),
    skip_via: frozenset[str] = frozenset(),
) -> Profiles:
    """Weights from facts, leaving out facts whose only support is in ``exclude`` and facts
    that came through the campaigns in ``skip_via``."""
    started = time.perf_counter()
    direct: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    inherited: dict[str, dict[str, float]] = defaultdict(dict)
    sources: dict[str, set[str]] = defaultdict(set)
    for fact in knowledge.facts:
        if fact.via in skip_via and fact.via:
            continue
        if exclude and any(s and s <= exclude for s in fact.support):
            continue
        if fact.kind == "uses":
            left = fact.support[0] - exclude
            direct[fact.group][fact.feature] += min(len(left), MAX_SUPPORT) or 1
            sources[fact.group].update(left)
        elif fact.kind == "campaign":
            direct[fact.group][fact.feature] += CAMPAIGN
            sources[fact.group].add("campaign:" + fact.via)
        else:
            inherited[fact.group][fact.feature] = SOFTWARE_TECHNIQUE
    weights: dict[str, dict[str, float]] = {}
    for key in knowledge.groups:
        row = dict(direct.get(key, {}))
        for feature, weight in inherited.get(key, {}).items():
            row[feature] = row.get(feature, 0.0) + weight
        for feature, weight in list(row.items()):
            up = parent(feature)
            if up:
                row[up] = row.get(up, 0.0) + PARENT_SHARE * weight
        weights[key] = row
    totals = {k: sum(row.values()) for k, row in weights.items()}
    mass: dict[str, float] = defaultdict(float)
    postings: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for key, row in weights.items():
        for feature, weight in row.items():
            mass[feature] += weight
            postings[feature].append((key, weight))
    total = sum(mass.values())
    smooth = 0.1
    denominator = total + smooth * max(len(mass), 1)
    background = {f: (m + smooth) / denominator for f, m in mass.items()}
    users = {f: {g for g, _ in posts} for f, posts in postings.items()}
    return Profiles(
        knowledge,
        weights,
        totals,
        background,
        smooth / denominator,
        dict(postings),
        users,
        {k: len(sources.get(k, ())) for k in knowledge.groups},
        time.perf_counter() - started,
    )


def from_objects(objects: Iterable[dict[str, Any]]) -> Profiles:
    """Profiles of every group in these STIX objects."""
    started = time.perf_counter()
    profiles = assemble(extract(objects))
    profiles.seconds = time.perf_counter() - started
    return profiles


_CACHE: dict[tuple[int, str], tuple[tuple[Any, ...], Profiles]] = {}
_TYPES = ("intrusion-set", "attack-pattern", "malware", "tool", "campaign", "relationship")


def load(store: Any) -> Profiles:
    """The profiles of a knowledge base, built once and rebuilt only when it changes."""
    from sqlalchemy import func, select

    from crownwatch.intel import kb
    from crownwatch.store.models import StixObject

    with store.engine.connect() as conn:
        stamp = tuple(
            conn.execute(
                select(func.count(), func.max(StixObject.added_at)).where(StixObject.current)
            ).one()
        )
    cache_key = (id(store.engine), str(store.engine.url))
    cached = _CACHE.get(cache_key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    started = time.perf_counter()
    objects = kb.objects(store, _TYPES)
    # indicators only matter when they indicate something: read the relationships' ends
    wanted = {
        o["source_ref"]
        for o in objects
        if o.get("type") == "relationship" and o.get("relationship_type") == "indicates"
    }
    if wanted:
        objects.extend(o for o in kb.objects(store, ["indicator"]) if o["id"] in wanted)
    profiles = from_objects(objects)
    profiles.seconds = time.perf_counter() - started
    log.info("attribution profiles: %d groups in %.2f s", len(profiles.groups), profiles.seconds)
    _CACHE.clear()
    _CACHE[cache_key] = (stamp, profiles)
    return profiles
