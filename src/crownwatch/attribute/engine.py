"""Evidence -> ranked intrusion-set hypotheses, each with a probability, an ICD 203 confidence
and the evidence for and against it.

Score: a query-likelihood model with Dirichlet smoothing. Each group is a distribution over
features (techniques and software, weighted by how many reports support them); an observed
feature adds ``log((w_gf + mu*b_f) / ((N_g + mu) * b_f))``, where ``b_f`` is the feature's
share of all groups' weight. A feature few groups use has a small ``b_f`` and counts far more
than one every group uses (T1059); software counts ``software_weight`` times a technique.
Logits are ``score / temperature`` plus bounded terms for matched indicators, targeted
sectors and country, and staleness; a fixed logit stands for "a group the knowledge base
does not hold", so the groups' probabilities sum to less than 1. The temperature and that
logit are fitted by ``bench/attribution.py`` on ATT&CK with leakage control.

Confidence (ICD 203): ``high`` needs strong evidence that is independent of technique
similarity — a matched indicator linked to the group, or software only this group is known
to use — and a probability of at least ``HIGH``; ``moderate`` needs ``MODERATE``; the rest is
``low``. Technique similarity alone is never ``high``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crownwatch.attribute.profiles import Profiles, parent
from crownwatch.intel.stixobj import name_key

MAX_ITEMS = 1000
HIGH = 0.6
MODERATE = 0.3
_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")

#: ICD 203 expressions of likelihood, by upper bound of probability.
LIKELIHOOD = (
    (0.05, "almost no chance"),
    (0.20, "very unlikely"),
    (0.45, "unlikely"),
    (0.55, "roughly even chance"),
    (0.80, "likely"),
    (0.95, "very likely"),
    (1.01, "almost certain"),
)


@dataclass(frozen=True)
class Params:
    """The model's knobs; temperature and unknown_logit are fitted by bench/attribution.py."""

    mu: float = 1000.0
    software_weight: float = 2.0
    parent_weight: float = 0.5
    temperature: float = 0.875  # fitted by bench/attribution.py (ATT&CK 18.1, all folds)
    unknown_logit: float = -8.0  # ditto; at the grid's floor: ATT&CK holds every true group
    indicator_logit: float = 4.0  # per matched indicator linked to the group (two at most)
    sector_logit: float = 0.5
    country_logit: float = 0.5
    stale_years: int = 5  # a group last seen this long before the incident loses stale_logit
    stale_logit: float = 0.5


PARAMS = Params()


@dataclass
class Evidence:
    """What an incident shows: ATT&CK technique ids, software (ids or names), ids of matched
    indicators, the organisation's sectors and country, and when it happened."""

    techniques: list[str] = field(default_factory=list)
    software: list[str] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)
    country: str | None = None
    when: datetime | None = None


@dataclass
class Result:
    """Ranked hypotheses, the probability left for an unknown group, inputs not recognised."""

    hypotheses: list[dict[str, Any]]
    unattributed: float
    unknown: list[str]


def features(
    profiles: Profiles, evidence: Evidence, params: Params = PARAMS
) -> tuple[dict[str, float], list[str]]:
    """The query: feature -> weight (known features only), and the inputs not recognised."""
    query: dict[str, float] = {}
    unknown: list[str] = []
    for raw in evidence.techniques[:MAX_ITEMS]:
        tid = raw.strip().upper()[:16]
        if not _TECHNIQUE.fullmatch(tid):
            unknown.append(raw[:64])
            continue
        query[tid] = 1.0
    software_ids = profiles.knowledge.software_ids
    for raw in evidence.software[:MAX_ITEMS]:
        text = raw.strip()[:200]
        sid = software_ids.get(text.casefold()) or software_ids.get(name_key(text))
        if sid is None:
            unknown.append(text[:64])
        else:
            query[sid] = 0.0
    for indicator in evidence.indicators[:MAX_ITEMS]:
        for sid in profiles.knowledge.indicator_software.get(indicator, ()):
            query[sid] = 0.0
    out: dict[str, float] = {}
    for feature, weight in query.items():
        if feature not in profiles.background:
            if weight:  # a technique no group is known to use says nothing about who
                unknown.append(feature)
            continue
        out[feature] = weight or params.software_weight
        up = parent(feature)
        if up and up not in query and up in profiles.background:
            out[up] = max(out.get(up, 0.0), params.parent_weight)
    return out, unknown


def scores(
    profiles: Profiles, query: dict[str, float], params: Params = PARAMS
) -> dict[str, float]:
    """Log-likelihood ratio of each group against the background, over the query's features."""
    total = sum(query.values())
    mu = params.mu
    out = {g: total * math.log(mu / (n + mu)) for g, n in profiles.totals.items()}
    for feature, weight in query.items():
        share = mu * profiles.background[feature]
        for group, w in profiles.postings.get(feature, ()):
            out[group] += weight * math.log((w + share) / share)
    return out


def _contribution(profiles: Profiles, group: str, feature: str, params: Params) -> float:
    share = params.mu * profiles.background[feature]
    return math.log((profiles.weights[group].get(feature, 0.0) + share) / share)


def _bonuses(profiles: Profiles, evidence: Evidence, params: Params) -> dict[str, dict[str, float]]:
    """Per group, the logit terms other than behaviour: indicators, victimology, recency."""
    out: dict[str, dict[str, float]] = {}
    counted: dict[str, int] = {}
    for indicator in dict.fromkeys(evidence.indicators[:MAX_ITEMS]):
        for key in profiles.knowledge.indicator_groups.get(indicator, ()):
            if counted.get(key, 0) < 2:
                counted[key] = counted.get(key, 0) + 1
                out.setdefault(key, {})[f"indicator:{indicator}"] = params.indicator_logit
    sectors = {name_key(s) for s in evidence.sectors[:50]} - {""}
    country = name_key(evidence.country or "")
    for key, group in profiles.groups.items():
        if sectors & {name_key(s) for s in group.sectors}:
            out.setdefault(key, {})["sector"] = params.sector_logit
        if country and country in {name_key(v) for v in group.victims}:
            out.setdefault(key, {})["country"] = params.country_logit
        last = group.last_seen
        if evidence.when is not None and last is not None:
            stale = evidence.when.year - last > params.stale_years
            if stale:
                out.setdefault(key, {})["stale"] = -params.stale_logit
    return out


def probabilities(z: dict[str, float], params: Params = PARAMS) -> tuple[dict[str, float], float]:
    """Softmax over the groups and "a group not in the knowledge base"."""
    top = max([params.unknown_logit, *z.values()])
    exp = {g: math.exp(v - top) for g, v in z.items()}
    null = math.exp(params.unknown_logit - top)
    norm = null + sum(exp.values())
    return {g: e / norm for g, e in exp.items()}, null / norm


def likelihood(probability: float) -> str:
    """The ICD 203 expression of likelihood for a probability."""
    return next(word for bound, word in LIKELIHOOD if probability < bound)


def strong_evidence(
    profiles: Profiles, group: str, query: dict[str, float], evidence: Evidence
) -> list[str]:
    """Evidence independent of technique similarity: matched indicators linked to the group,
    and observed software that only this group is known to use."""
    found = [
        f"indicator {i}"
        for i in dict.fromkeys(evidence.indicators[:MAX_ITEMS])
        if group in profiles.knowledge.indicator_groups.get(i, ())
    ]
    found += [
        f"software {f} used by no other known group"
        for f in query
        if not f.startswith("T") and profiles.users.get(f) == {group}
    ]
    return found


def confidence(probability: float, strong: list[str]) -> str:
    """ICD 203 confidence: 'high' only with strong independent evidence."""
    if strong and probability >= HIGH:
        return "high"
    if probability >= MODERATE:
        return "moderate"
    return "low"


def attribute(
    profiles: Profiles, evidence: Evidence, top: int = 10, params: Params = PARAMS
) -> Result:
    """Rank the knowledge base's groups for this evidence, best first."""
    query, unknown = features(profiles, evidence, params)
    raw = scores(profiles, query, params)
    bonus = _bonuses(profiles, evidence, params)
    z = {g: s / params.temperature + sum(bonus.get(g, {}).values()) for g, s in raw.items()}
    probs, null = probabilities(z, params)
    ranked = sorted(probs, key=lambda g: (-probs[g], profiles.groups[g].name))[: max(top, 0)]
    hypotheses = []
    for key in ranked:
        group = profiles.groups[key]
        strong = strong_evidence(profiles, key, query, evidence)
        hypotheses.append(
            {
                "id": group.attack_id or key,
                "name": group.name,
                "stix_id": key,
                "probability": round(probs[key], 4),
                "likelihood": likelihood(probs[key]),
                "confidence": confidence(probs[key], strong),
                "score": round(raw[key], 3),
                "evidence": {
                    "for": _worded(_for(profiles, key, query, bonus.get(key, {}), strong, params)),
                    "against": _worded(_against(profiles, key, query, bonus.get(key, {}), params)),
                },
            }
        )
    return Result(hypotheses, round(null, 4), unknown)


def _for(
    profiles: Profiles,
    group: str,
    query: dict[str, float],
    bonus: dict[str, float],
    strong: list[str],
    params: Params,
) -> list[dict[str, Any]]:
    weights = profiles.weights[group]
    names = profiles.knowledge.names
    items: list[dict[str, Any]] = []
    for feature, weight in query.items():
        if feature in weights:
            items.append(
                {
                    "kind": "technique" if feature.startswith("T") else "software",
                    "id": feature,
                    "name": names.get(feature, feature),
                    "weight": round(weight * _contribution(profiles, group, feature, params), 3),
                    "groups_using": len(profiles.users.get(feature, ())),
                }
            )
    items.sort(key=lambda i: -i["weight"])
    for term, value in bonus.items():
        if value > 0:
            kind, _, ident = term.partition(":")
            items.append({"kind": kind, "id": ident or None, "logit": value})
    return [*({"kind": "strong", "detail": s} for s in strong), *items]


def _against(
    profiles: Profiles,
    group: str,
    query: dict[str, float],
    bonus: dict[str, float],
    params: Params,
) -> list[dict[str, Any]]:
    weights = profiles.weights[group]
    names = profiles.knowledge.names
    items: list[dict[str, Any]] = []
    missing = [f for f in query if f not in weights and not f.startswith("T")]
    for feature in missing:  # software this group is not known to use
        others = sorted(profiles.users.get(feature, ()))
        items.append(
            {
                "kind": "software-of-others",
                "id": feature,
                "name": names.get(feature, feature),
                "used_by": [profiles.groups[g].attack_id or g for g in others[:5]],
            }
        )
    unexplained = [f for f in query if f.startswith("T") and "." in f and f not in weights]
    unexplained += [f for f in query if f.startswith("T") and "." not in f and f not in weights]
    if unexplained:
        items.append({"kind": "techniques-not-known", "ids": sorted(unexplained)[:50]})
    # the group's signature: techniques several reports support, distinctive, not seen here
    signature = sorted(
        (
            (w * math.log(1.0 / profiles.background[f]), f)
            for f, w in weights.items()
            if w >= 2 and f.startswith("T") and f not in query
        ),
        reverse=True,
    )[:5]
    for _, feature in signature:
        items.append(
            {
                "kind": "signature-not-seen",
                "id": feature,
                "name": names.get(feature, feature),
                "reports": round(weights[feature], 2),
            }
        )
    if "stale" in bonus:
        items.append(
            {
                "kind": "stale",
                "last_seen": profiles.groups[group].last_seen,
                "logit": bonus["stale"],
            }
        )
    return items


def _worded(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each evidence item with ``text``: one sentence an analyst reads."""
    return [{**item, "text": describe(item)} for item in items]


def describe(item: dict[str, Any]) -> str:
    """An evidence item as a sentence."""
    kind = item.get("kind")
    name = f"{item.get('id')} {item.get('name', '')}".strip()
    if kind == "strong":
        return str(item["detail"])
    if kind in ("technique", "software"):
        return f"{kind} {name} (weight {item['weight']}; {item['groups_using']} groups use it)"
    if kind == "software-of-others":
        return f"software {name} is known for other groups: {', '.join(item['used_by'])}"
    if kind == "techniques-not-known":
        return f"techniques not known for this group: {', '.join(item['ids'][:12])}"
    if kind == "signature-not-seen":
        return f"its signature technique {name} was not seen ({item['reports']} reports)"
    if kind == "stale":
        return f"last seen in {item['last_seen']}"
    if "logit" in item:
        ident = f" {item['id']}" if item.get("id") else ""
        return f"{kind}{ident}: {item['logit']:+g} to the logit"
    return str(item)
