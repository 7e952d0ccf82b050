"""Threat reports into knowledge: a STIX 2.1 bundle from a PDF, HTML, Markdown or text report.

``extract(data, filename, knowledge)`` turns the report into text (``textify``), finds
its indicators (``iocs``), the ATT&CK ids and the technique, group and software names
it mentions (``names``), and the sentences that describe a technique (``techniques``),
and returns a bundle: a ``report`` whose ``object_refs`` hold the indicators, the CVEs
(as ``vulnerability`` objects) and the known objects named, ``indicates`` relationships
from each indicator to the group when exactly one group is named (and ``uses`` from
that group to the techniques and software), the ``identity`` of this extractor, and
on the report ``x_crownwatch_evidence`` (how each known object was found, in which
sentence) and ``x_crownwatch_dropped`` (indicators left out, with the reason).

Ids are uuid5 of the report's SHA-256 and the object's content, so extracting the
same bytes twice gives the same bundle when ``published`` is given.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from crownwatch.intel import iocs, names, techniques, textify
from crownwatch.intel.knowledge import Knowledge
from crownwatch.intel.knowledge import build as build_knowledge
from crownwatch.intel.stixobj import TLP_IDS, TLP_ORDER

__all__ = ["Knowledge", "build_knowledge", "extract"]

from crownwatch.intel.stixobj import NAMESPACE

IDENTITY = f"identity--{uuid.uuid5(NAMESPACE, 'identity:crownwatch-report-extraction')}"
IDENTITY_OBJECT = {
    "type": "identity",
    "spec_version": "2.1",
    "id": IDENTITY,
    "created": "2000-01-01T00:00:00.000Z",
    "modified": "2000-01-01T00:00:00.000Z",
    "name": "crownwatch report extraction",
    "identity_class": "system",
}
#: Confidence of a ``uses`` relationship by how the technique or software was found.
METHOD_CONFIDENCE = {"id": 90, "name": 70}
METHOD_RANK = {"id": 0, "name": 1, "sentence": 2}
MAX_NAME = 250
MAX_DESCRIPTION = 2000
MAX_EVIDENCE_TEXT = 500
_TLP = re.compile(r"\bTLP\s*[:\-]?\s*(CLEAR|WHITE|GREEN|AMBER\s*\+\s*STRICT|AMBER|RED)\b", re.I)
_REPORT_TYPES = frozenset(
    ("attack-pattern", "indicator", "intrusion-set", "malware", "tool", "vulnerability")
)


def extract(
    data: bytes,
    filename: str,
    knowledge: Knowledge,
    *,
    published: datetime | None = None,
    warninglist: Callable[[str, str], bool] | None = None,
) -> dict[str, Any]:
    """The STIX 2.1 bundle of a threat report; ``ParseError`` if it cannot be read.

    ``warninglist(kind, value) -> bool`` (kinds: ipv4-addr, ipv6-addr, domain-name, url,
    email-addr, md5, sha1, sha256) replaces the built-in allowlist of ``iocs``.
    """
    text = textify.to_text(data, filename)
    digest = hashlib.sha256(data).hexdigest()
    when = _timestamp(published or datetime.now(UTC))
    parts = textify.segments(text)
    found, dropped = iocs.find(text, warninglist)
    evidence = _evidence(text, parts, knowledge)
    stamp = functools.partial(_common, digest=digest, when=when, marking=_tlp(text))
    starts = [p.start for p in parts]
    objects = [_observable(f, _context(parts, starts, f.start), stamp, when) for f in found]
    relationships = _relationships(objects, evidence, stamp)
    report = {
        **stamp("report", "report"),
        "name": _name(parts, filename),
        "published": when,
        "report_types": _report_types(objects, evidence),
        "object_refs": [o["id"] for o in (*objects, *relationships)] + list(evidence) or [IDENTITY],
        "external_references": [
            {
                "source_name": "crownwatch-extract",
                "description": f"extracted from {filename[:MAX_NAME] or 'a report'}",
                "hashes": {"SHA-256": digest},
            }
        ],
    }
    optional = {
        "description": _description(parts),
        "x_crownwatch_evidence": list(evidence.values()),
        "x_crownwatch_dropped": dropped,
    }
    report.update((k, v) for k, v in optional.items() if v)
    return {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid5(NAMESPACE, f'{digest}|bundle')}",
        "objects": [IDENTITY_OBJECT, report, *objects, *relationships],
    }


def _common(kind: str, key: str, *, digest: str, when: str, marking: str | None) -> dict[str, Any]:
    """The properties every object made from one report shares; the id is uuid5(report|key)."""
    obj: dict[str, Any] = {
        "type": kind,
        "spec_version": "2.1",
        "id": f"{kind}--{uuid.uuid5(NAMESPACE, f'{digest}|{key}')}",
        "created": when,
        "modified": when,
        "created_by_ref": IDENTITY,
    }
    if marking:
        obj["object_marking_refs"] = [TLP_IDS[marking]]
    return obj


def _observable(
    found: iocs.Found, context: str, stamp: Callable[[str, str], dict[str, Any]], when: str
) -> dict[str, Any]:
    """A ``vulnerability`` for a CVE id, else an ``indicator`` with its STIX pattern."""
    if found.kind == "cve":
        return {
            **stamp("vulnerability", found.value),
            "name": found.value,
            "description": context,
            "confidence": found.confidence,
            "external_references": [{"source_name": "cve", "external_id": found.value}],
        }
    pattern = iocs.pattern(found.kind, found.value)
    return {
        **stamp("indicator", pattern),
        "name": f"{found.kind}: {found.value}"[:MAX_NAME],
        "description": context,
        "indicator_types": ["malicious-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": when,
        "confidence": found.confidence,
    }


def _relationships(
    objects: list[dict[str, Any]],
    evidence: dict[str, dict[str, Any]],
    stamp: Callable[[str, str], dict[str, Any]],
) -> list[dict[str, Any]]:
    """With exactly one group named: indicator ``indicates`` it, it ``uses`` the rest."""
    groups = [ref for ref, e in evidence.items() if e["type"] == "intrusion-set"]
    if len(groups) != 1:
        return []
    group = groups[0]
    pairs: list[tuple[str, str, str, int | None]] = [
        ("indicates", o["id"], group, None) for o in objects if o["type"] == "indicator"
    ]
    pairs += [("uses", group, ref, _confidence(e)) for ref, e in evidence.items() if ref != group]
    out = []
    for kind, source, target, confidence in pairs:
        rel = {
            **stamp("relationship", f"{kind}|{source}|{target}"),
            "relationship_type": kind,
            "source_ref": source,
            "target_ref": target,
        }
        if confidence is not None:
            rel["confidence"] = confidence
        out.append(rel)
    return out


def _context(parts: list[textify.Segment], starts: list[int], start: int) -> str:
    """The sentence (or heading) at offset ``start``, bounded; ``starts``: the parts' starts."""
    i = bisect_right(starts, start) - 1
    return parts[i].text[:MAX_EVIDENCE_TEXT] if i >= 0 else ""


def _evidence(
    text: str, parts: list[textify.Segment], knowledge: Knowledge
) -> dict[str, dict[str, Any]]:
    """Known object id -> how it was found (best method first seen) and in which sentence."""
    out: dict[str, dict[str, Any]] = {}
    starts = [p.start for p in parts]

    def note(ref: str, method: str, sentence: str, score: float | None = None) -> None:
        old = out.get(ref)
        if old is not None and METHOD_RANK[old["method"]] <= METHOD_RANK[method]:
            return
        known = knowledge.techniques.get(ref) or knowledge.named[ref]
        entry: dict[str, Any] = {
            "ref": ref,
            "type": ref.partition("--")[0],
            "external_id": known.external_id,
            "name": known.name,
            "method": method,
            "sentence": sentence[:MAX_EVIDENCE_TEXT],
        }
        if score is not None:
            entry["score"] = score
        out[ref] = entry

    for m in names.mentions(text, knowledge):
        note(m.ref, m.method, _context(parts, starts, m.start) or m.matched)
    model = techniques.classifier(knowledge)
    for part in parts:
        if not part.heading:
            hit = techniques.best(model, part.text)
            if hit:
                note(hit[0], "sentence", part.text, hit[1])
    return out


def _confidence(evidence: dict[str, Any]) -> int:
    if evidence["method"] == "sentence":
        return min(100, round(float(evidence["score"]) * 100))
    return METHOD_CONFIDENCE[evidence["method"]]


def _report_types(objects: list[dict[str, Any]], evidence: dict[str, dict[str, Any]]) -> list[str]:
    """``threat-report`` and the report-type-ov values for what the report holds."""
    kinds = {o["type"] for o in objects} | {e["type"] for e in evidence.values()}
    return ["threat-report", *sorted(kinds & _REPORT_TYPES)]


def _name(parts: list[textify.Segment], filename: str) -> str:
    for part in parts:
        if part.text:
            return part.text[:MAX_NAME]
    return filename[:MAX_NAME] or "Untitled report"


def _description(parts: list[textify.Segment]) -> str:
    """The first paragraph: the sentences of the first block that has any."""
    block = next((p.block for p in parts if not p.heading), None)
    text = " ".join(p.text for p in parts if p.block == block and not p.heading)
    return text[:MAX_DESCRIPTION]


def _tlp(text: str) -> str | None:
    """The strictest TLP the report states (TLP:WHITE is TLP:CLEAR), or None."""
    found = {
        re.sub(r"\s+", "", m.group(1).lower()).replace("white", "clear")
        for m in _TLP.finditer(text)
    }
    return max(found, key=TLP_ORDER.index) if found else None


def _timestamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
