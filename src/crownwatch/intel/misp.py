"""MISP events and feeds into STIX 2.1 (plain dicts), and back into a MISP event for export.

``event_to_stix`` turns one MISP event (``{"Event": {...}}`` as MISP 2.4 exports it) into a
``report``, an ``identity`` for the creator org, an ``indicator`` per ``to_ids`` attribute,
an ``observed-data`` (with its SCOs) per other attribute, ``vulnerability`` objects, and
stubs for the intrusion-sets / ATT&CK objects its galaxy tags name (name or ATT&CK id
only, for the knowledge base to resolve): each indicator ``indicates`` them, and the
event's intrusion-sets ``uses`` its techniques and software. A bad attribute is rejected
with its reason and the rest converts. Attributes that are context rather than observables
(``text``, ``comment``, or a ``user-agent`` / ``ja3`` / ``port`` with ``to_ids`` off) become
``note`` objects on the report; ``link`` attributes become external references of the report.

Custom patterns: JA3 fingerprints are ``[x-ja3:value = '<md5>']`` (the form the knowledge
base indexes), JA3S ``[x-ja3s:value = '…']`` and JARM ``[x-jarm:value = '…']``.

``read_feed`` reads a MISP feed folder (``manifest.json`` and ``<uuid>.json``);
``stix_to_event`` exports indicators with simple patterns, vulnerabilities, TLP markings
and intrusion-set / ATT&CK names back into a MISP event.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from crownwatch.errors import ParseError, UsageError
from crownwatch.intel.galaxy import STUB_TIME, actor_id, stix_id
from crownwatch.intel.stixobj import NAMESPACE, TLP_BY_ID, TLP_IDS, TLP_ORDER, external_id

log = logging.getLogger(__name__)

MAX_VALUE = 64 * 1024
MAX_NAME = 1024
MAX_EVENT_BYTES = 256 << 20
DEFAULT_CONFIDENCE = 50
_TLP_NAMES = {"white": "clear", **{name: name for name in TLP_IDS}}
# MISP taxonomy confidence-level (its numerical values).
CONFIDENCE = {
    "completely-confident": 100,
    "usually-confident": 75,
    "fairly-confident": 50,
    "rarely-confident": 25,
    "unconfident": 0,
    "confidence-cannot-be-evaluated": 50,
}
# Galaxy types whose values are "Name - ATT&CK id", and the STIX type they name.
_ATTACK_GALAXIES = {
    "mitre-attack-pattern": "attack-pattern",
    "mitre-enterprise-attack-attack-pattern": "attack-pattern",
    "mitre-intrusion-set": "intrusion-set",
    "mitre-enterprise-attack-intrusion-set": "intrusion-set",
    "mitre-malware": "malware",
    "mitre-enterprise-attack-malware": "malware",
    "mitre-tool": "tool",
    "mitre-enterprise-attack-tool": "tool",
}
_EXPORT_GALAXY = {
    "attack-pattern": "mitre-attack-pattern",
    "malware": "mitre-malware",
    "tool": "mitre-tool",
}
_ATTACK_URL = {"attack-pattern": "techniques", "intrusion-set": "groups"}
_HASHES = {
    "md5": ("MD5", 32),
    "sha1": ("SHA-1", 40),
    "sha224": ("SHA-224", 56),
    "sha256": ("SHA-256", 64),
    "sha384": ("SHA-384", 96),
    "sha512": ("SHA-512", 128),
    "ssdeep": ("SSDEEP", 0),
    "tlsh": ("TLSH", 0),
}


def _quote_path(name: str) -> str:
    """A hash name as a pattern path step: MD5 bare, 'SHA-256' quoted."""
    return name if name.isalnum() else f"'{name}'"


_NT_DST = ("network-traffic:dst_ref.value", "network-traffic:dst_port")
# MISP type → (the STIX object paths its "|"-separated parts go to, default MISP category).
# The first type with given paths is the one exported back (ip-dst before ip-src…).
TYPES: dict[str, tuple[tuple[str, ...], str]] = {
    "ip-dst": (("{ip}:value",), "Network activity"),
    "ip-src": (("{ip}:value",), "Network activity"),
    "ip-dst|port": (_NT_DST, "Network activity"),
    "hostname|port": (_NT_DST, "Network activity"),
    "ip-src|port": (
        ("network-traffic:src_ref.value", "network-traffic:src_port"),
        "Network activity",
    ),
    "domain": (("domain-name:value",), "Network activity"),
    "hostname": (("domain-name:value",), "Network activity"),
    "domain|ip": (
        ("domain-name:value", "domain-name:resolves_to_refs[*].value"),
        "Network activity",
    ),
    "url": (("url:value",), "Network activity"),
    "email-src": (("email-addr:value",), "Payload delivery"),
    "email-dst": (("email-addr:value",), "Payload delivery"),
    "email": (("email-addr:value",), "Payload delivery"),
    "email-subject": (("email-message:subject",), "Payload delivery"),
    "filename": (("file:name",), "Payload delivery"),
    **{
        kind: ((f"file:hashes.{_quote_path(name)}",), "Payload delivery")
        for kind, (name, _) in _HASHES.items()
    },
    **{
        f"filename|{kind}": (("file:name", f"file:hashes.{_quote_path(name)}"), "Payload delivery")
        for kind, (name, _) in _HASHES.items()
    },
    "imphash": (("file:extensions.'windows-pebinary-ext'.imphash",), "Payload delivery"),
    "user-agent": (
        ("network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",),
        "Network activity",
    ),
    "ja3-fingerprint-md5": (("x-ja3:value",), "Network activity"),
    "ja3s-fingerprint-md5": (("x-ja3s:value",), "Network activity"),
    "jarm-fingerprint": (("x-jarm:value",), "Network activity"),
    "mutex": (("mutex:name",), "Artifacts dropped"),
    "regkey": (("windows-registry-key:key",), "Persistence mechanism"),
    "regkey|value": (
        ("windows-registry-key:key", "windows-registry-key:values[*].data"),
        "Persistence mechanism",
    ),
    "AS": (("autonomous-system:number",), "Network activity"),
    "mac-address": (("mac-addr:value",), "Network activity"),
    "x509-fingerprint-sha1": (("x509-certificate:hashes.'SHA-1'",), "Network activity"),
    "x509-fingerprint-md5": (("x509-certificate:hashes.MD5",), "Network activity"),
    "x509-fingerprint-sha256": (("x509-certificate:hashes.'SHA-256'",), "Network activity"),
    "port": (("network-traffic:dst_port",), "Network activity"),
}
_INT_PATHS = frozenset(
    (
        "network-traffic:dst_port",
        "network-traffic:src_port",
        "autonomous-system:number",
    )
)
_CONTEXT = frozenset(("text", "comment", "other"))
# STIX wants registry keys with the full hive name.
_HIVES = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKCU": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKU": "HKEY_USERS",
    "HKCC": "HKEY_CURRENT_CONFIG",
}
_SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")  # STIX 2.1, section 2.9
_SCO_ID_PROPS = {
    "file": ("hashes", "name", "parent_directory_ref", "extensions"),
    "network-traffic": ("start", "end", "src_ref", "dst_ref", "src_port", "dst_port", "protocols"),
    "email-message": ("from_ref", "subject", "body"),
    "windows-registry-key": ("key", "values"),
    "x509-certificate": ("hashes", "serial_number"),
    "autonomous-system": ("number",),
    "mutex": ("name",),
}
# Pattern paths whose SCO is one object with one property.
_SIMPLE_SCO = {
    "domain-name:value": ("domain-name", "value"),
    "url:value": ("url", "value"),
    "email-addr:value": ("email-addr", "value"),
    "mutex:name": ("mutex", "name"),
    "windows-registry-key:key": ("windows-registry-key", "key"),
    "mac-addr:value": ("mac-addr", "value"),
}
_GALAXY_TAG = re.compile(r'misp-galaxy:([a-z0-9-]+)="(.*)"', re.DOTALL)
_ATTACK_VALUE = re.compile(r"(.*?)\s+-\s+([TGSCM]\d{4}(?:\.\d{3})?)")
_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_PATH = r"[a-z0-9][a-z0-9-]*:(?:[A-Za-z0-9_-]+|'(?:[^'\\]|\\.)*'|\[(?:\d+|\*)\]|\.)+"
_COMPARISON = rf"({_PATH})\s*=\s*('(?:[^'\\]|\\.)*'|\d+)"
_SIMPLE = re.compile(rf"\[\s*{_COMPARISON}(?:\s+AND\s+{_COMPARISON})*\s*\]")
_ONE = re.compile(_COMPARISON)


class _Event:
    """What every object of one event shares."""

    def __init__(self, event: dict[str, Any], default_tlp: str) -> None:
        self.uuid = str(event["uuid"]).lower()
        self.report_id = stix_id("report", "misp-event:" + self.uuid)
        self.created = _date(event.get("date")) or _epoch(event.get("timestamp")) or STUB_TIME
        self.modified = max(_epoch(event.get("timestamp")) or self.created, self.created)
        tags = _tags(event)
        self.tlp = _tlp(tags) or default_tlp
        self.confidence = _confidence(tags, DEFAULT_CONFIDENCE)
        self.targets = _targets(tags)
        self.labels = sorted({t for t in tags if _plain(t)})
        self.org: dict[str, Any] | None = _org(event.get("Orgc"))
        self.objects: dict[str, dict[str, Any]] = {}
        self.links: list[dict[str, str]] = []
        self.seen: set[str] = set()  # attribute uuids

    def put(self, obj: dict[str, Any]) -> None:
        self.objects.setdefault(obj["id"], obj)

    def common(self, tlp: str, confidence: int) -> dict[str, Any]:
        out: dict[str, Any] = {"object_marking_refs": [TLP_IDS[tlp]], "confidence": confidence}
        if self.org:
            out["created_by_ref"] = self.org["id"]
        return out


def event_to_stix(
    event: dict[str, Any], default_tlp: str = "amber"
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """STIX 2.1 objects for a MISP event, and the (what, reason) of each part rejected."""
    if default_tlp.lower() not in _TLP_NAMES:
        raise UsageError(f"unknown TLP {default_tlp!r}; use one of {', '.join(TLP_IDS)}")
    body = event.get("Event", event) if isinstance(event, dict) else None
    if not isinstance(body, dict):
        return [], [("event", "not a MISP event (no Event object)")]
    if not isinstance(body.get("uuid"), str) or not _UUID.fullmatch(body["uuid"]):
        return [], [("event", f"missing or bad event uuid {body.get('uuid')!r:.60}")]
    ev = _Event(body, _TLP_NAMES[default_tlp.lower()])
    where = f"event {ev.uuid}"
    rejected: list[tuple[str, str]] = []
    if ev.org:
        ev.put(ev.org)
    for target in ev.targets:
        ev.put(target)
    _uses(ev)
    for label, attribute in _attributes(body, rejected):
        try:
            _attribute(ev, attribute)
        except ParseError as exc:
            rejected.append((label, exc.reason))
    refs = [ident for ident in ev.objects if ident != ev.report_id]
    if not refs:
        return [], [*rejected, (where, "nothing in the event could be converted")]
    ev.put(_report(ev, body, refs))
    return list(ev.objects.values()), rejected


def _attributes(
    body: dict[str, Any], rejected: list[tuple[str, str]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, attribute) for the event's attributes and its objects' attributes."""
    sources: list[tuple[str, Any]] = [("event", body.get("Attribute"))]
    objects = body.get("Object")
    for number, obj in enumerate(objects if isinstance(objects, list) else []):
        if not isinstance(obj, dict):
            rejected.append((f"object #{number}", "not a JSON object"))
            continue
        sources.append((f"object {str(obj.get('uuid', f'#{number}'))[:40]}", obj.get("Attribute")))
    for where, attributes in sources:
        if attributes is None:
            continue
        if not isinstance(attributes, list):
            rejected.append((where, "Attribute is not a list"))
            continue
        for number, attribute in enumerate(attributes):
            ident = attribute.get("uuid") if isinstance(attribute, dict) else None
            label = (
                f"attribute {ident}" if isinstance(ident, str) else f"{where} attribute #{number}"
            )
            if not isinstance(attribute, dict):
                rejected.append((label[:120], "not a JSON object"))
            elif not _flag(attribute.get("deleted")):
                yield label[:120], attribute


def _attribute(ev: _Event, attribute: dict[str, Any]) -> None:
    """Convert one attribute into ``ev.objects``; ``ParseError`` with the reason if bad."""
    ident, kind, value = attribute.get("uuid"), attribute.get("type"), attribute.get("value")
    if not isinstance(ident, str) or not _UUID.fullmatch(ident):
        raise ParseError(f"missing or bad attribute uuid {ident!r:.60}")
    if not isinstance(kind, str):
        raise ParseError("missing attribute type")
    if not isinstance(value, str) or not value.strip():
        raise ParseError(f"{kind}: missing value")
    if len(value) > MAX_VALUE:
        raise ParseError(f"{kind}: value longer than {MAX_VALUE} characters")
    value = value.strip()
    ident = ident.lower()
    if ident in ev.seen:
        raise ParseError("duplicate attribute uuid")
    ev.seen.add(ident)
    tags = _tags(attribute)
    tlp = _tlp(tags) or ev.tlp
    confidence = _confidence(tags, ev.confidence)
    created = max(_epoch(attribute.get("timestamp")) or ev.modified, ev.created)
    base = {"created": created, "modified": created, **ev.common(tlp, confidence)}
    misp = {
        "x_misp_uuid": ident,
        "x_misp_type": kind,
        "x_misp_category": str(attribute.get("category") or TYPES.get(kind, ((), "Other"))[1]),
    }
    comment = attribute.get("comment")
    if isinstance(comment, str) and comment.strip():
        misp["x_misp_comment"] = comment.strip()[:MAX_VALUE]
    if kind == "link":
        ev.links.append({"source_name": "misp-link", "url": value})
        return
    if kind == "vulnerability":
        ev.put(_vulnerability(value))
        return
    if kind in _CONTEXT:
        ev.put(_note(ev, ident, kind, value, base))
        return
    if kind not in TYPES:
        raise ParseError(f"unknown MISP attribute type {kind!r:.80}")
    parts = _parts(kind, value)
    if _flag(attribute.get("to_ids")):
        indicator = _indicator(ident, kind, parts, value, attribute, base, misp)
        ev.put(indicator)
        for target in [*ev.targets, *_targets(tags)]:
            ev.put(target)
            ev.put(_relationship("indicates", indicator["id"], target["id"], base))
        return
    scos = _observables(kind, parts)
    if not scos:
        ev.put(_note(ev, ident, kind, value, base))
        return
    for sco in scos:
        ev.put(sco)
    first = _seen(attribute.get("first_seen")) or created
    last = max(_seen(attribute.get("last_seen")) or first, first)
    ev.put(
        {
            "type": "observed-data",
            "spec_version": "2.1",
            "id": stix_id("observed-data", "misp-attribute:" + ident),
            **base,
            "first_observed": first,
            "last_observed": last,
            "number_observed": 1,
            "object_refs": [sco["id"] for sco in scos],
            **misp,
        }
    )


def _parts(kind: str, value: str) -> list[str]:
    """The value split into the parts the type's paths take, each checked."""
    paths = TYPES[kind][0]
    if len(paths) == 1:
        parts = [value]
    elif kind == "regkey|value":
        parts = list(value.partition("|")[::2])
    else:
        parts = list(value.rpartition("|")[::2])
    if len(parts) != len(paths) or not all(p.strip() for p in parts):
        raise ParseError(f"{kind}: value {value[:80]!r} is not {len(paths)} parts joined by |")
    parts = [p.strip() for p in parts]
    if kind.startswith("regkey"):
        hive, sep, rest = parts[0].partition("\\")
        parts[0] = _HIVES.get(hive.upper(), hive) + sep + rest
    elif kind == "AS":
        parts[0] = parts[0].upper().removeprefix("AS")
    for path, part in zip(paths, parts, strict=True):
        _check(kind, path, part)
    return parts


def _check(kind: str, path: str, part: str) -> None:
    if path in _INT_PATHS:
        if not part.isdigit() or (path.endswith("port") and int(part) > 65535):
            raise ParseError(f"{kind}: {part[:40]!r} is not a valid number here")
    elif (
        path == "{ip}:value" or kind.startswith("ip-") or path.endswith("resolves_to_refs[*].value")
    ):
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ParseError(f"{kind}: {part[:80]!r} is not an IP address") from None
    elif path.startswith("file:hashes.") or path.startswith("x509-certificate:hashes."):
        length = _HASHES.get(kind.rpartition("|")[2].removeprefix("x509-fingerprint-"), ("", 0))[1]
        if length and (len(part) != length or not _is_hex(part)):
            raise ParseError(f"{kind}: {part[:80]!r} is not a valid {length // 2 * 8}-bit hash")
    elif path == "domain-name:value" or (kind == "hostname|port" and "dst_ref" in path):
        if len(part) > 253 or any(c.isspace() for c in part) or "/" in part:
            raise ParseError(f"{kind}: {part[:80]!r} is not a host name")
    elif path == "email-addr:value" and ("@" not in part or any(c.isspace() for c in part)):
        raise ParseError(f"{kind}: {part[:80]!r} is not an e-mail address")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _pattern(kind: str, parts: list[str]) -> str:
    comparisons = []
    for path, part in zip(TYPES[kind][0], parts, strict=True):
        if path == "{ip}:value":
            path = ("ipv6-addr" if ":" in part else "ipv4-addr") + ":value"
        if path in _INT_PATHS:
            literal = str(int(part))
        else:
            literal = "'" + part.replace("\\", "\\\\").replace("'", "\\'") + "'"
        comparisons.append(f"{path} = {literal}")
    return "[" + " AND ".join(comparisons) + "]"


def _indicator(
    ident: str,
    kind: str,
    parts: list[str],
    value: str,
    attribute: dict[str, Any],
    base: dict[str, Any],
    misp: dict[str, Any],
) -> dict[str, Any]:
    valid_from = _seen(attribute.get("first_seen")) or base["created"]
    out = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id("indicator", "misp-attribute:" + ident),
        **base,
        "name": f"{kind}: {value}"[:MAX_NAME],
        "indicator_types": ["malicious-activity"],
        "pattern": _pattern(kind, parts),
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": valid_from,
        **{k: v for k, v in misp.items() if k != "x_misp_comment"},
    }
    until = _seen(attribute.get("last_seen"))
    if until and until > valid_from:
        out["valid_until"] = until
    if "x_misp_comment" in misp:
        out["description"] = misp["x_misp_comment"]
    return out


def _observables(kind: str, parts: list[str]) -> list[dict[str, Any]]:
    """The SCOs of an attribute (the main one first), or [] when it has no SCO form."""
    paths = TYPES[kind][0]
    first, *rest = parts
    if paths[0] == "{ip}:value":
        return [_ip(first)]
    if kind == "domain|ip":
        address = _ip(rest[0])
        return [_sco("domain-name", value=first, resolves_to_refs=[address["id"]]), address]
    if paths == _NT_DST or kind == "ip-src|port":
        end = _ip(first) if kind != "hostname|port" else _sco("domain-name", value=first)
        side = "src" if kind == "ip-src|port" else "dst"
        protocols = ["ipv6" if end["type"] == "ipv6-addr" else "ipv4"]
        flow = _sco(
            "network-traffic",
            **{f"{side}_ref": end["id"], f"{side}_port": int(rest[0]), "protocols": protocols},
        )
        return [flow, end]
    if kind == "filename":
        return [_sco("file", name=first)]
    hashed = kind.removeprefix("filename|")
    if hashed in _HASHES:
        props: dict[str, Any] = {"hashes": {_HASHES[hashed][0]: parts[-1]}}
        if rest:
            props["name"] = first
        return [_sco("file", **props)]
    object_type = paths[0].partition(":")[0]
    if object_type == "x509-certificate":
        algorithm = paths[0].rpartition(".")[2].strip("'")
        return [_sco("x509-certificate", hashes={algorithm: first})]
    if paths[0] in _SIMPLE_SCO:
        sco_type, key = _SIMPLE_SCO[paths[0]]
        props = {key: first}
        if kind == "regkey|value":
            props["values"] = [{"data": rest[0]}]
        return [_sco(sco_type, **props)]
    if kind == "email-subject":
        return [_sco("email-message", is_multipart=False, subject=first)]
    if kind == "AS":
        return [_sco("autonomous-system", number=int(first))]
    return []


def _ip(value: str) -> dict[str, Any]:
    return _sco("ipv6-addr" if ":" in value else "ipv4-addr", value=value)


def _sco(kind: str, **props: Any) -> dict[str, Any]:
    """An SCO with its STIX 2.1 deterministic id (uuid5 over its id-contributing properties)."""
    contributing = {k: props[k] for k in _SCO_ID_PROPS.get(kind, ("value",)) if k in props}
    text = json.dumps(contributing, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": f"{kind}--{uuid.uuid5(_SCO_NAMESPACE, text)}",
        **props,
    }


def _note(ev: _Event, ident: str, kind: str, value: str, base: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "note",
        "spec_version": "2.1",
        "id": stix_id("note", "misp-attribute:" + ident),
        **base,
        "abstract": f"MISP {kind}",
        "content": value,
        "object_refs": [ev.report_id],
        "x_misp_uuid": ident,
        "x_misp_type": kind,
    }


def _vulnerability(value: str) -> dict[str, Any]:
    """A vulnerability named by its CVE id (shared by every event that names it)."""
    cve = _CVE.fullmatch(value)
    name = value.upper() if cve else value[:MAX_NAME]
    out: dict[str, Any] = {
        "type": "vulnerability",
        "spec_version": "2.1",
        "id": stix_id("vulnerability", "name:" + name.lower()),
        "created": STUB_TIME,
        "modified": STUB_TIME,
        "name": name,
    }
    if cve:
        out["external_references"] = [{"source_name": "cve", "external_id": name}]
    return out


def _relationship(kind: str, source: str, target: str, base: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": stix_id("relationship", f"{kind}:{source}:{target}"),
        **base,
        "relationship_type": kind,
        "source_ref": source,
        "target_ref": target,
    }


def _uses(ev: _Event) -> None:
    """Intrusion-sets tagged on the event ``uses`` the techniques and software tagged with them."""
    # inferred here from the tags, so not attributed to the event's creator
    base = {"created": ev.modified, "modified": ev.modified, **ev.common(ev.tlp, ev.confidence)}
    base.pop("created_by_ref", None)
    for actor in (t for t in ev.targets if t["type"] == "intrusion-set"):
        for used in (t for t in ev.targets if t["type"] in ("attack-pattern", "malware", "tool")):
            ev.put(_relationship("uses", actor["id"], used["id"], base))


def _report(ev: _Event, body: dict[str, Any], refs: list[str]) -> dict[str, Any]:
    info = body.get("info")
    name = " ".join(info.split())[:MAX_NAME] if isinstance(info, str) and info.strip() else ""
    published = ev.created
    if _flag(body.get("published")):
        published = _epoch(body.get("publish_timestamp")) or ev.modified
    report: dict[str, Any] = {
        "type": "report",
        "spec_version": "2.1",
        "id": ev.report_id,
        "created": ev.created,
        "modified": ev.modified,
        "name": name or f"MISP event {ev.uuid}",
        "published": published,
        "report_types": ["threat-report"],
        "object_refs": refs,
        **ev.common(ev.tlp, ev.confidence),
        "external_references": [
            {"source_name": "misp", "external_id": ev.uuid},
            *ev.links,
        ],
        "x_misp_uuid": ev.uuid,
    }
    if ev.labels:
        report["labels"] = ev.labels
    return report


def _org(orgc: Any) -> dict[str, Any] | None:
    if not isinstance(orgc, dict) or not isinstance(orgc.get("name"), str):
        return None
    name = orgc["name"].strip()[:MAX_NAME]
    key = str(orgc.get("uuid") or "").lower()
    if not name:
        return None
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": stix_id("identity", "misp-org:" + (key if _UUID.fullmatch(key) else name.lower())),
        "created": STUB_TIME,
        "modified": STUB_TIME,
        "name": name,
        "identity_class": "organization",
        **({"x_misp_uuid": key} if _UUID.fullmatch(key) else {}),
    }


# -- tags ----------------------------------------------------------------------------------


def _tags(holder: dict[str, Any]) -> list[str]:
    """Tag names of an event or attribute, including its galaxy clusters' tags."""
    names: list[str] = []
    for tag in _list(holder.get("Tag")):
        name = tag.get("name") if isinstance(tag, dict) else None
        if isinstance(name, str) and 0 < len(name) <= MAX_NAME:
            names.append(name.strip())
    for galaxy in _list(holder.get("Galaxy")):
        for cluster in _list(galaxy.get("GalaxyCluster") if isinstance(galaxy, dict) else None):
            if not isinstance(cluster, dict):
                continue
            name = cluster.get("tag_name")
            if not isinstance(name, str) and isinstance(cluster.get("value"), str):
                name = f'misp-galaxy:{cluster.get("type")}="{cluster["value"]}"'
            if isinstance(name, str) and 0 < len(name) <= MAX_NAME:
                names.append(name.strip())
    return list(dict.fromkeys(names))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _tlp(tags: list[str]) -> str | None:
    """The strictest TLP among the tags."""
    found = [
        _TLP_NAMES[t[4:].lower()]
        for t in tags
        if t[:4].lower() == "tlp:" and t[4:].lower() in _TLP_NAMES
    ]
    return max(found, key=TLP_ORDER.index) if found else None


def _confidence(tags: list[str], default: int) -> int:
    for tag in tags:
        namespace, _, value = tag.partition(":")
        if namespace == "confidence-level":
            level = value.rpartition("=")[2].strip('"')
            if level in CONFIDENCE:
                return CONFIDENCE[level]
    return default


def _plain(tag: str) -> bool:
    """A tag kept as a report label (not TLP, confidence or a galaxy)."""
    lower = tag.lower()
    return not lower.startswith(("tlp:", "confidence-level:", "misp-galaxy:"))


def _targets(tags: list[str]) -> list[dict[str, Any]]:
    """Stubs for the intrusion-sets and ATT&CK objects named by galaxy tags."""
    out: dict[str, dict[str, Any]] = {}
    for tag in tags:
        match = _GALAXY_TAG.fullmatch(tag)
        if not match:
            continue
        galaxy, value = match.group(1), match.group(2).strip()
        if galaxy == "threat-actor" and value:
            stub = _stub("intrusion-set", actor_id(value), value)
        elif galaxy in _ATTACK_GALAXIES and (attack := _ATTACK_VALUE.fullmatch(value)):
            stub = _attack_stub(_ATTACK_GALAXIES[galaxy], attack.group(1), attack.group(2))
        else:
            continue
        out.setdefault(stub["id"], stub)
    return list(out.values())


def _stub(kind: str, ident: str, name: str) -> dict[str, Any]:
    stub: dict[str, Any] = {
        "type": kind,
        "spec_version": "2.1",
        "id": ident,
        "created": STUB_TIME,
        "modified": STUB_TIME,
        "name": name[:MAX_NAME],
    }
    if kind == "malware":
        stub["is_family"] = True
    return stub


def _attack_stub(kind: str, name: str, attack: str) -> dict[str, Any]:
    """A stub named by its ATT&CK id (intrusion-sets by name, to meet the galaxy's)."""
    ident = actor_id(name) if kind == "intrusion-set" else stix_id(kind, "mitre-attack:" + attack)
    stub = _stub(kind, ident, name.strip())
    ref = {"source_name": "mitre-attack", "external_id": attack}
    folder = _ATTACK_URL.get(kind, "software" if kind in ("malware", "tool") else "")
    if folder:
        ref["url"] = f"https://attack.mitre.org/{folder}/{attack.replace('.', '/')}"
    stub["external_references"] = [ref]
    return stub


# -- values --------------------------------------------------------------------------------


def _flag(value: Any) -> bool:
    return (
        value is True or value == 1 or (isinstance(value, str) and value.lower() in ("1", "true"))
    )


def _stamp(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _epoch(value: Any) -> str | None:
    """RFC 3339 for a MISP epoch-seconds timestamp ("1710240000"), else None."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    if seconds <= 0 or seconds > 253402300799:
        return None
    return _stamp(datetime.fromtimestamp(seconds, UTC))


def _date(value: Any) -> str | None:
    """RFC 3339 (midnight UTC) for a MISP date ("2024-03-12"), else None."""
    if not isinstance(value, str):
        return None
    try:
        return _stamp(datetime.strptime(value.strip()[:10], "%Y-%m-%d").replace(tzinfo=UTC))
    except ValueError:
        return None


def _seen(value: Any) -> str | None:
    """RFC 3339 for a MISP first_seen/last_seen ("2024-03-01T10:00:00.000000+00:00")."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return _stamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


# -- feeds ---------------------------------------------------------------------------------


def read_feed(
    folder: Path, rejected: list[tuple[str, str]] | None = None
) -> Iterator[dict[str, Any]]:
    """The events (``{"Event": …}``) of a MISP feed folder, in manifest order.

    A broken or missing event file is logged and added to ``rejected`` (file, reason),
    and the next event is read. Without a readable manifest every ``<uuid>.json`` is read.
    ``hashes.csv`` (MD5s of the values, for MISP's own look-ups) is not needed here.
    """

    def report(what: str, reason: str) -> None:
        log.warning("MISP feed %s: %s: %s", folder, what, reason)
        if rejected is not None:
            rejected.append((what, reason))

    try:
        manifest = _json_file(folder / "manifest.json")
        if not isinstance(manifest, dict):
            raise ParseError("manifest.json is not a JSON object")
        names = list(manifest)
    except ParseError as exc:
        report("manifest.json", exc.reason)
        names = sorted(p.stem for p in folder.glob("*.json") if p.name != "manifest.json")
    for name in names:
        if not _UUID.fullmatch(name):
            report(f"{name[:80]}", "not an event uuid")
            continue
        try:
            doc = _json_file(folder / f"{name}.json")
        except ParseError as exc:
            report(f"{name}.json", exc.reason)
            continue
        body = doc.get("Event") if isinstance(doc, dict) else None
        if not isinstance(body, dict):
            report(f"{name}.json", "no Event object")
            continue
        yield doc


def _json_file(path: Path) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_EVENT_BYTES:
            raise ParseError(f"larger than {MAX_EVENT_BYTES} bytes")
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ParseError(f"cannot read: {exc.strerror or exc}") from exc
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from exc


# -- export --------------------------------------------------------------------------------


def stix_to_event(objects: list[dict[str, Any]], info: str) -> dict[str, Any]:
    """A MISP event (``{"Event": …}``) for STIX objects.

    Indicators whose pattern is one observation of ``=`` comparisons joined by AND, in
    one of the forms ``TYPES`` lists, become attributes with ``to_ids``; vulnerabilities
    become ``vulnerability`` attributes; TLP markings become ``tlp:`` tags (the report's,
    else the strictest, on the event; an attribute's own when it differs); intrusion-sets
    and ATT&CK techniques and software become galaxy tags. Other indicators are skipped
    (logged).
    """
    objs = [o for o in objects if isinstance(o, dict) and isinstance(o.get("id"), str)]
    by_id = {o["id"]: o for o in objs}
    report = next((o for o in objs if o.get("type") == "report"), None)
    tlps = [t for o in objs if (t := _object_tlp(o))]
    event_tlp = (_object_tlp(report) if report else None) or (
        max(tlps, key=TLP_ORDER.index) if tlps else None
    )
    attributes = []
    for obj in objs:
        attribute = _export(obj)
        if attribute is None:
            continue
        own = _object_tlp(obj)
        if own and own != event_tlp:
            attribute["Tag"] = [{"name": f"tlp:{own}"}]
        attributes.append(attribute)
    tags = [{"name": f"tlp:{event_tlp}"}] if event_tlp else []
    galaxy_tags = {_galaxy_tag(o) for o in objs} - {None}
    tags += [{"name": t} for t in sorted(t for t in galaxy_tags if t)]
    stamps = [d for o in objs if (d := _parse_stamp(str(o.get("modified") or o.get("created"))))]
    latest = max(stamps, default=None) or datetime.now(UTC)
    when = _parse_stamp(str(report.get("created"))) if report else None
    key = report.get("x_misp_uuid") if report else None
    event: dict[str, Any] = {
        "uuid": str(key)
        if isinstance(key, str) and _UUID.fullmatch(key)
        else str(uuid.uuid5(NAMESPACE, "misp-export:" + (report["id"] if report else info))),
        "info": info,
        "date": (when or latest).strftime("%Y-%m-%d"),
        "timestamp": str(int(latest.timestamp())),
        "published": False,
        "analysis": "2",
        "threat_level_id": "2",
        "distribution": "0",
        "Attribute": attributes,
        "Tag": tags,
    }
    creator = by_id.get(str(report.get("created_by_ref"))) if report else None
    if creator and isinstance(creator.get("name"), str):
        event["Orgc"] = {
            "name": creator["name"],
            **({"uuid": creator["x_misp_uuid"]} if "x_misp_uuid" in creator else {}),
        }
    return {"Event": event}


def _object_tlp(obj: dict[str, Any] | None) -> str | None:
    found = [TLP_BY_ID[m] for m in (obj or {}).get("object_marking_refs") or () if m in TLP_BY_ID]
    return max(found, key=TLP_ORDER.index) if found else None


def _galaxy_tag(obj: dict[str, Any]) -> str | None:
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return None
    if obj.get("type") == "intrusion-set":
        return f'misp-galaxy:threat-actor="{name}"'
    attack = external_id(obj)
    galaxy = _EXPORT_GALAXY.get(str(obj.get("type")))
    return f'misp-galaxy:{galaxy}="{name} - {attack}"' if galaxy and attack else None


def _export(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The MISP attribute for an indicator or vulnerability, or None."""
    kind = obj.get("type")
    if kind == "vulnerability" and isinstance(obj.get("name"), str):
        mtype, value, to_ids = "vulnerability", obj["name"], False
    elif kind == "indicator" and obj.get("pattern_type", "stix") == "stix":
        found = _unpattern(str(obj.get("pattern", "")), obj.get("x_misp_type"))
        if found is None:
            log.info("indicator %s: pattern not simple enough for MISP, skipped", obj["id"])
            return None
        (mtype, value), to_ids = found, True
    else:
        return None
    ident = obj.get("x_misp_uuid")
    modified = _parse_stamp(str(obj.get("modified") or obj.get("created")))
    attribute: dict[str, Any] = {
        "uuid": ident
        if isinstance(ident, str) and _UUID.fullmatch(ident)
        else obj["id"].partition("--")[2],
        "type": mtype,
        "category": str(
            obj.get("x_misp_category") or TYPES.get(mtype, ((), "External analysis"))[1]
        ),
        "value": value,
        "to_ids": to_ids,
        "comment": str(obj.get("description") or obj.get("x_misp_comment") or "")[:MAX_VALUE],
    }
    if modified:
        attribute["timestamp"] = str(int(modified.timestamp()))
    return attribute


def _unpattern(pattern: str, hint: Any) -> tuple[str, str] | None:
    """(MISP type, value) for a simple pattern in one of the ``TYPES`` forms, else None."""
    if len(pattern) > MAX_VALUE or not _SIMPLE.fullmatch(pattern.strip()):
        return None
    values: dict[str, str] = {}
    for match in _ONE.finditer(pattern):
        path, literal = match.groups()
        object_type, _, prop = path.partition(":")
        if object_type in ("ipv4-addr", "ipv6-addr") and prop == "value":
            path = "{ip}:value"
        if path in values:
            return None
        values[path] = re.sub(r"\\(.)", r"\1", literal[1:-1]) if literal[0] == "'" else literal
    candidates = [t for t, (paths, _) in TYPES.items() if set(paths) == set(values)]
    if not candidates:
        return None
    mtype = hint if hint in candidates else candidates[0]
    if mtype in ("ip-dst|port", "hostname|port"):
        host = values[TYPES[mtype][0][0]]
        mtype = "ip-dst|port" if _is_ip(host) else "hostname|port"
    return mtype, "|".join(values[p] for p in TYPES[mtype][0])


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _parse_stamp(text: str) -> datetime | None:
    """A STIX timestamp as an aware datetime, or None."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
