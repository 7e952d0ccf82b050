"""The knowledge base in the store: bulk STIX import (newest version wins) and look-ups.

Imports work on plain dicts, a chunk of rows at a time, in one transaction: an import
is never left half-written, and importing the same objects again changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, exists, insert, or_, select, update
from sqlalchemy import delete as sql_delete

from crownwatch.errors import ParseError
from crownwatch.intel import stixobj
from crownwatch.store import Store
from crownwatch.store.models import (
    IndicatorSighting,
    IndicatorValue,
    IntelImport,
    IntelRejected,
    StixObject,
)

if TYPE_CHECKING:
    from crownwatch.detect.stix_eval import Check, Verdict

log = logging.getLogger(__name__)

CHUNK = 5_000
_IN = 500  # ids per IN (…) look-up
MAX_REJECT_RAW = 64 * 1024
MAX_REASONS = 50


@dataclass
class ImportReport:
    """What an import did: counts, and the first reasons for rejected objects."""

    id: str
    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def import_objects(
    store: Store,
    objects: Iterable[Any],
    source: str,
    default_tlp: str | None = None,
    default_confidence: int | None = None,
    rejected: Iterable[tuple[str, str]] = (),
) -> ImportReport:
    """Add STIX objects (dicts; 2.0 is upgraded) to the knowledge base in one transaction.

    ``rejected`` are (what, reason) pairs a converter (MISP, CSV…) already turned down:
    they are kept and counted with the objects this import rejects itself.
    """
    report = ImportReport(uuid.uuid4().hex, source[:500])
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(
            insert(IntelImport),
            [
                {
                    "id": report.id,
                    "source": report.source,
                    "started_at": now,
                    "added": 0,
                    "updated": 0,
                    "unchanged": 0,
                    "rejected": 0,
                }
            ],
        )
        for what, reason in rejected:
            _reject(conn, report, what, f"{what}: {reason}")
        for chunk in _chunks(objects, CHUNK):
            _import_chunk(conn, chunk, report, now, default_tlp, default_confidence)
        conn.execute(
            update(IntelImport)
            .where(IntelImport.id == report.id)
            .values(
                finished_at=datetime.now(UTC),
                added=report.added,
                updated=report.updated,
                unchanged=report.unchanged,
                rejected=report.rejected,
            )
        )
    return report


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _reject(conn: Connection, report: ImportReport, obj: Any, reason: str) -> None:
    report.rejected += 1
    if len(report.reasons) < MAX_REASONS:
        report.reasons.append(reason)
    try:
        raw = orjson.dumps(obj, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):
        raw = repr(obj)
    conn.execute(
        insert(IntelRejected),
        [{"import_id": report.id, "reason": reason[:2000], "raw": raw[:MAX_REJECT_RAW]}],
    )


def _import_chunk(
    conn: Connection,
    chunk: list[Any],
    report: ImportReport,
    now: datetime,
    default_tlp: str | None,
    default_confidence: int | None,
) -> None:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    values: dict[str, list[tuple[str, str]]] = {}
    for obj in chunk:
        try:
            norm = stixobj.normalise(obj)
            if default_confidence is not None and "confidence" not in norm:
                norm["confidence"] = default_confidence
            pairs = stixobj.indexed_values(norm)
            row = stixobj.row(norm, report.source, default_tlp)
        except stixobj.Rejected as exc:
            _reject(conn, report, obj, str(exc))
            continue
        key = (row["id"], row["modified"])
        if key in rows:
            report.unchanged += 1
            continue
        row["added_at"] = now
        rows[key] = row
        if pairs and not row["revoked"]:
            values[f"{row['id']}\0{row['modified']}"] = pairs
    if not rows:
        return
    ids = sorted({i for i, _ in rows})
    existing: dict[str, set[str]] = {}
    for start in range(0, len(ids), _IN):
        part = ids[start : start + _IN]
        for ident, modified in conn.execute(
            select(StixObject.id, StixObject.modified).where(StixObject.id.in_(part))
        ):
            existing.setdefault(ident, set()).add(modified)
    newest: dict[str, str] = {}
    for ident, modified in rows:
        newest[ident] = max(newest.get(ident, ""), modified, *existing.get(ident, ()))
    fresh: list[dict[str, Any]] = []
    superseded: list[str] = []
    for (ident, modified), row in rows.items():
        if modified in existing.get(ident, ()):
            report.unchanged += 1
            continue
        if ident in existing:
            report.updated += 1
        else:
            report.added += 1
        row["current"] = modified == newest[ident]
        if row["current"] and ident in existing:
            superseded.append(ident)
        fresh.append(row)
    for ident in superseded:
        conn.execute(
            update(StixObject)
            .where(StixObject.id == ident, StixObject.modified != newest[ident])
            .values(current=False)
        )
    if superseded:
        conn.execute(sql_delete(IndicatorValue).where(IndicatorValue.indicator_id.in_(superseded)))
    if fresh:
        stamp = _stamp(conn, now)
        for r in fresh:
            r["added_at"] = stamp
        _bulk_insert(conn, "stix_objects", _OBJECT_COLUMNS, list(map(_OBJECT_ROW, fresh)))
        index = [
            (kind, value[:2048], r["id"])
            for r in fresh
            if r["current"]
            for kind, value in values.get(f"{r['id']}\0{r['modified']}", ())
        ]
        if index:
            _bulk_insert(conn, "indicator_values", ("kind", "value", "indicator_id"), index)


_OBJECT_COLUMNS = (
    "id",
    "modified",
    "type",
    "spec_version",
    "created",
    "name",
    "name_key",
    "external_id",
    "revoked",
    "deprecated",
    "confidence",
    "tlp",
    "relationship_type",
    "source_ref",
    "target_ref",
    "source",
    "current",
    "added_at",
    "object",
)


_OBJECT_ROW = itemgetter(*_OBJECT_COLUMNS)


def _stamp(conn: Connection, now: datetime) -> Any:
    """``now`` as the driver stores it in a timestamp column (SQLite keeps text)."""
    if conn.dialect.name == "sqlite":
        return now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return now


def _bulk_insert(
    conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Many rows through the driver's executemany: the bulk path, without per-row ORM work."""
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    conn.exec_driver_sql(sql, rows)


# -- look-ups ------------------------------------------------------------------------------


def get(store: Store, ref: str) -> dict[str, Any] | None:
    """The newest version of an object by id."""
    with store.engine.connect() as conn:
        text = conn.execute(
            select(StixObject.object).where(StixObject.id == ref, StixObject.current)
        ).scalar()
    return orjson.loads(text) if text else None


def objects(store: Store, types: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The newest version of every object (of the given types)."""
    query = select(StixObject.object).where(StixObject.current)
    if types is not None:
        query = query.where(StixObject.type.in_(list(types)))
    with store.engine.connect() as conn:
        return [orjson.loads(t) for t in conn.execute(query).scalars()]


def resolve(store: Store, text: str, types: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Objects a user means by ``text``: an id, an ATT&CK id, a name or an alias."""
    text = text.strip()
    key = stixobj.name_key(text)
    wanted = list(types) if types is not None else None
    query = select(StixObject.object).where(
        StixObject.current,
        or_(
            StixObject.id == text,
            StixObject.external_id == text.upper(),
            StixObject.name_key == key,
        ),
    )
    if wanted:
        query = query.where(StixObject.type.in_(wanted))
    with store.engine.connect() as conn:
        found = [orjson.loads(t) for t in conn.execute(query).scalars()]
    if found or not key:
        return _live_first(found)
    kinds = wanted or ["intrusion-set", "threat-actor", "campaign", "malware", "tool"]
    return _live_first(
        [
            o
            for o in objects(store, kinds)
            if key in {stixobj.name_key(a) for a in stixobj.aliases(o)}
        ]
    )


def _live_first(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        found,
        key=lambda o: (
            bool(o.get("revoked")),
            bool(o.get("x_mitre_deprecated")),
            o.get("type", ""),
        ),
    )


def search(store: Store, text: str, limit: int = 50) -> list[dict[str, Any]]:
    """Objects whose name, ATT&CK id or alias contains ``text``."""
    key = stixobj.name_key(text)
    if not key:
        return []
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(StixObject.object)
            .where(
                StixObject.current,
                or_(
                    StixObject.name_key.contains(key, autoescape=True),
                    StixObject.external_id == text.strip().upper(),
                ),
            )
            .limit(limit)
        ).scalars()
        found = [orjson.loads(t) for t in rows]
    seen = {o["id"] for o in found}
    for obj in objects(store, ["intrusion-set", "threat-actor", "malware", "tool", "campaign"]):
        if obj["id"] not in seen and any(key in stixobj.name_key(a) for a in stixobj.aliases(obj)):
            found.append(obj)
    return _live_first(found)[:limit]


def relationships(
    store: Store, ref: str, direction: str = "out", kind: str | None = None
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(relationship, other object) pairs leaving (``out``) or reaching (``in``) ``ref``."""
    own = StixObject.source_ref if direction == "out" else StixObject.target_ref
    query = select(StixObject.object).where(
        StixObject.current, StixObject.type == "relationship", own == ref, ~StixObject.revoked
    )
    if kind:
        query = query.where(StixObject.relationship_type == kind)
    with store.engine.connect() as conn:
        rels = [orjson.loads(t) for t in conn.execute(query).scalars()]
        others = {r["target_ref"] if direction == "out" else r["source_ref"] for r in rels}
        found: dict[str, dict[str, Any]] = {}
        ordered = sorted(others)
        for start in range(0, len(ordered), _IN):
            part = ordered[start : start + _IN]
            for text in conn.execute(
                select(StixObject.object).where(StixObject.current, StixObject.id.in_(part))
            ).scalars():
                obj = orjson.loads(text)
                found[obj["id"]] = obj
    pairs = []
    for rel in rels:
        other = found.get(rel["target_ref"] if direction == "out" else rel["source_ref"])
        if other is not None and not other.get("revoked") and not other.get("x_mitre_deprecated"):
            pairs.append((rel, other))
    return pairs


def profile(store: Store, obj: dict[str, Any]) -> dict[str, Any]:
    """An actor's (or software's, or campaign's) profile, from the relationships around it."""
    out = relationships(store, obj["id"], "out")
    inbound = relationships(store, obj["id"], "in")
    # other sources' objects for the same group: same type and the same primary name (never
    # merely a shared alias, which distinct groups do share)
    same = [
        o
        for o in resolve(store, obj.get("name") or obj["id"], [obj["type"]])
        if o["id"] != obj["id"]
        and obj.get("name")
        and stixobj.name_key(o.get("name") or "") == stixobj.name_key(obj["name"])
        and not o.get("revoked")
    ]
    for other in same:
        out += relationships(store, other["id"], "out")
        inbound += relationships(store, other["id"], "in")
    techniques: dict[str, list[dict[str, str]]] = {}
    for rel, other in out:
        if rel["relationship_type"] == "uses" and other["type"] == "attack-pattern":
            entry = {"id": stixobj.external_id(other) or other["id"], "name": other.get("name", "")}
            for phase in other.get("kill_chain_phases") or [{"phase_name": "unknown"}]:
                techniques.setdefault(phase.get("phase_name", "unknown"), []).append(entry)
    software = [
        {"id": stixobj.external_id(o) or o["id"], "name": o.get("name", ""), "type": o["type"]}
        for r, o in out
        if r["relationship_type"] == "uses" and o["type"] in ("malware", "tool")
    ]
    campaigns = [
        {
            "id": stixobj.external_id(o) or o["id"],
            "name": o.get("name", ""),
            "first_seen": o.get("first_seen"),
            "last_seen": o.get("last_seen"),
        }
        for r, o in inbound
        if r["relationship_type"] == "attributed-to" and o["type"] == "campaign"
    ]
    indicators = [
        {"id": o["id"], "pattern": o.get("pattern"), "valid_until": o.get("valid_until")}
        for r, o in inbound
        if r["relationship_type"] == "indicates" and o["type"] == "indicator"
    ]
    related = [
        {
            "id": o["id"],
            "name": o.get("name", ""),
            "type": o["type"],
            "relationship": r["relationship_type"],
        }
        for r, o in out + inbound
        if r["relationship_type"] in ("related-to", "targets", "originates-from", "attributed-to")
        and o["type"] not in ("campaign",)
    ]
    # what the MISP galaxy knows of this group (country, sponsor, targets), when linked
    galaxy = [o for _, o in out + inbound if o.get("x_crownwatch_attack_ref") == obj["id"]]
    country = obj.get("x_crownwatch_country") or next(
        (g["x_crownwatch_country"] for g in galaxy if g.get("x_crownwatch_country")), None
    )
    sponsor = obj.get("x_crownwatch_state_sponsor") or next(
        (g["x_crownwatch_state_sponsor"] for g in galaxy if g.get("x_crownwatch_state_sponsor")),
        None,
    )
    sectors = sorted({s for g in [obj, *galaxy] for s in g.get("x_crownwatch_target_sectors", [])})
    victims = sorted({v for g in [obj, *galaxy] for v in g.get("x_crownwatch_victims", [])})
    sources = [
        {"name": ref.get("source_name"), "url": ref.get("url")}
        for ref in obj.get("external_references") or []
        if isinstance(ref, dict) and ref.get("url")
    ]
    return {
        "id": obj["id"],
        "attack_id": stixobj.external_id(obj),
        "type": obj["type"],
        "name": obj.get("name"),
        "aliases": [a for a in stixobj.aliases(obj) if a != obj.get("name")],
        "description": obj.get("description", ""),
        "country": country,
        "state_sponsor": sponsor,
        "target_sectors": sectors,
        "victims": victims,
        "techniques": {k: _unique(v) for k, v in sorted(techniques.items())},
        "software": _unique(software),
        "campaigns": _unique(campaigns),
        "indicators": _unique(indicators),
        "related": related,
        "sources": sources,
        "merged_from": [{"id": o["id"], "created_by_ref": o.get("created_by_ref")} for o in same],
        "revoked": bool(obj.get("revoked")),
        "modified": obj.get("modified"),
    }


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per id (several sources may name the same thing), sorted by id."""
    return sorted({item["id"]: item for item in items}.values(), key=lambda item: item["id"])


def groups_using(store: Store, technique: str) -> list[dict[str, Any]]:
    """Intrusion sets that use a technique (an ATT&CK id such as T1566.001, or a STIX id)."""
    found = resolve(store, technique, ["attack-pattern"])
    if not found:
        return []
    return [
        o
        for r, o in relationships(store, found[0]["id"], "in", "uses")
        if o["type"] == "intrusion-set"
    ]


def indicators_of(store: Store, group: dict[str, Any]) -> list[dict[str, Any]]:
    """Indicators that indicate a group (directly)."""
    return [
        o
        for r, o in relationships(store, group["id"], "in", "indicates")
        if o["type"] == "indicator"
    ]


def lookup_values(store: Store) -> dict[tuple[str, str], list[str]]:
    """Every indexed (kind, value) → indicator ids, for matching in memory."""
    index: dict[tuple[str, str], list[str]] = {}
    with store.engine.connect() as conn:
        for kind, value, ident in conn.execute(
            select(IndicatorValue.kind, IndicatorValue.value, IndicatorValue.indicator_id)
        ):
            index.setdefault((kind, value), []).append(ident)
    return index


def counts(store: Store) -> dict[str, int]:
    """How many current objects of each type the knowledge base holds."""
    from sqlalchemy import func

    with store.engine.connect() as conn:
        rows = conn.execute(
            select(StixObject.type, func.count())
            .where(StixObject.current)
            .group_by(StixObject.type)
            .order_by(StixObject.type)
        ).all()
    return {t: int(n) for t, n in rows}


# -- sightings, ageing and the live indicators ---------------------------------------------

#: Index kinds → the decay model's kinds and the warninglists' kinds.
DECAY_KIND = {
    "ipv4-addr": "ipv4-addr",
    "ipv6-addr": "ipv6-addr",
    "domain-name": "domain-name",
    "url": "url",
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
}
WARNING_KIND = {
    "ipv4-addr": "ip",
    "ipv6-addr": "ip",
    "domain-name": "domain",
    "url": "url",
    "md5": "hash",
    "sha1": "hash",
    "sha256": "hash",
    "email-addr": "email",
}


def record_sightings(store: Store, hits: Iterable[tuple[str, datetime, int]]) -> int:
    """Count matches of indicators: (indicator id, when, how many). Returns indicators touched.

    The detection stage calls this when an indicator matches; counts add up and the
    first/last seen times widen, so an indicator's age counts from its last sighting.
    """
    merged: dict[str, list[Any]] = {}
    for ident, when, count in hits:
        entry = merged.setdefault(ident, [0, when, when])
        entry[0] += count
        entry[1], entry[2] = min(entry[1], when), max(entry[2], when)
    if not merged:
        return 0
    with store.engine.begin() as conn:
        known = _sighting_rows(conn, list(merged))
        for ident, (count, first, last) in merged.items():
            if ident in known:
                old_count, old_first, old_last = known[ident]
                conn.execute(
                    update(IndicatorSighting)
                    .where(IndicatorSighting.indicator_id == ident)
                    .values(
                        count=old_count + count,
                        first_seen=min(old_first, first),
                        last_seen=max(old_last, last),
                    )
                )
            else:
                conn.execute(
                    insert(IndicatorSighting),
                    [
                        {
                            "indicator_id": ident,
                            "count": count,
                            "first_seen": first,
                            "last_seen": last,
                        }
                    ],
                )
    return len(merged)


def _sighting_rows(conn: Connection, ids: list[str]) -> dict[str, tuple[int, datetime, datetime]]:
    found: dict[str, tuple[int, datetime, datetime]] = {}
    for start in range(0, len(ids), _IN):
        for ident, count, first, last in conn.execute(
            select(
                IndicatorSighting.indicator_id,
                IndicatorSighting.count,
                IndicatorSighting.first_seen,
                IndicatorSighting.last_seen,
            ).where(IndicatorSighting.indicator_id.in_(ids[start : start + _IN]))
        ):
            found[ident] = (int(count), _aware(first), _aware(last))
    return found


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def sightings(store: Store, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Count and first/last seen of each indicator that has been sighted."""
    with store.engine.connect() as conn:
        rows = _sighting_rows(conn, ids)
    return {i: {"count": c, "first_seen": f, "last_seen": last} for i, (c, f, last) in rows.items()}


def indicator_status(
    store: Store,
    indicator: dict[str, Any],
    now: datetime,
    model: Any = None,
    lists: Any = None,
) -> dict[str, Any]:
    """Why an indicator does or does not match now: decay terms, sightings, warninglists."""
    from crownwatch.intel import decay

    pairs = stixobj.indexed_values(indicator) if indicator["type"] == "indicator" else []
    seen = sightings(store, [indicator["id"]]).get(indicator["id"])
    last = seen["last_seen"] if seen else None
    kind = next((DECAY_KIND[k] for k, _ in pairs if k in DECAY_KIND), "other")
    terms = decay.explain(indicator, kind, now, last, model or decay.Model())
    hits: list[dict[str, Any]] = []
    if lists is not None:
        for k, value in pairs:
            if k in WARNING_KIND:
                hits.extend(h.__dict__ for h in lists.check(value, WARNING_KIND[k]))
    return {
        "id": indicator["id"],
        "values": pairs,
        "decay": terms,
        "sightings": seen,
        "warninglists": hits,
        "matches": bool(terms["live"]) and not hits,
    }


#: Distinct reasons for unsupported patterns counted apart (the rest count as "other"), and
#: the example indicator ids kept for each.
MAX_UNSUPPORTED_REASONS = 32
UNSUPPORTED_EXAMPLES = 3


@dataclass
class LiveIndex:
    """The indicator values detection should match now, and why the others are left out.

    ``compound``: live indicators whose pattern needs a check on the event beyond its values
    (indicator id -> ``detect.stix_eval.Check``); ``unsupported``: live indicators whose
    pattern cannot be evaluated on events, counted per reason (``unsupported_examples``
    names a few of each); they are never matched.
    """

    values: dict[tuple[str, str], list[str]]
    decayed: int = 0
    warninglisted: int = 0
    revoked: int = 0
    compound: dict[str, Check] = field(default_factory=dict)
    unsupported: dict[str, int] = field(default_factory=dict)
    unsupported_examples: dict[str, list[str]] = field(default_factory=dict)

    def leave_out(self, ident: str, reason: str) -> None:
        """Count one live indicator whose pattern detection cannot evaluate."""
        if reason not in self.unsupported and len(self.unsupported) >= MAX_UNSUPPORTED_REASONS:
            reason = "other"
        self.unsupported[reason] = self.unsupported.get(reason, 0) + 1
        examples = self.unsupported_examples.setdefault(reason, [])
        if len(examples) < UNSUPPORTED_EXAMPLES:
            examples.append(ident)


def live_index(store: Store, now: datetime, model: Any = None, lists: Any = None) -> LiveIndex:
    """Every (kind, value) → indicator ids whose indicator is live now.

    Revoked and decayed indicators (score below the model's threshold) stay in the
    knowledge base but are left out; so are values on a warninglist, when lists are given.
    Each live indicator's pattern is classified (``detect.stix_eval.classify``): simple ones
    only give values, compound ones also a check, unsupported ones are left out, counted
    per reason and logged in one warning.
    """
    from crownwatch.intel import decay

    model = model or decay.Model()
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(IndicatorValue.kind, IndicatorValue.value, StixObject.id, StixObject.object)
            .join(StixObject, StixObject.id == IndicatorValue.indicator_id)
            .where(StixObject.current)
        ).all()
        seen = _sighting_rows(conn, sorted({ident for _, _, ident, _ in rows}))
        valueless = conn.execute(
            select(StixObject.id, StixObject.object).where(
                StixObject.current,
                StixObject.type == "indicator",
                ~exists().where(IndicatorValue.indicator_id == StixObject.id),
            )
        ).all()
    index = LiveIndex({})
    verdicts: dict[tuple[str, str], bool] = {}
    shapes: dict[str, Verdict] = {}  # indicator id -> how its pattern is matched
    parsed: dict[str, dict[str, Any]] = {}  # an indicator with several values is read once
    for kind, value, ident, text in rows:
        obj = parsed.get(ident)
        if obj is None:
            obj = parsed[ident] = orjson.loads(text)
        if obj.get("revoked"):
            index.revoked += 1
            continue
        key = (obj["id"], DECAY_KIND.get(kind, "other"))
        if key not in verdicts:
            last = seen[obj["id"]][2] if obj["id"] in seen else None
            try:
                verdicts[key] = decay.live(obj, key[1], now, last, model)
            except ParseError:  # an unreadable date: the indicator cannot be judged live
                verdicts[key] = False
        if not verdicts[key]:
            index.decayed += 1
            continue
        shape = shapes.get(obj["id"])
        if shape is None:
            shape = shapes[obj["id"]] = _shape(obj, index)
        if shape.kind == "unsupported":
            continue
        if lists is not None and kind in WARNING_KIND and lists.check(value, WARNING_KIND[kind]):
            index.warninglisted += 1
            continue
        index.values.setdefault((kind, value), []).append(obj["id"])
    for _, text in valueless:  # nothing to index: live ones are unsupported
        obj = orjson.loads(text)
        if obj.get("revoked"):
            continue
        try:
            if not decay.live(obj, "other", now, None, model):
                continue
        except ParseError:
            continue
        _shape(obj, index, no_values=True)
    if index.unsupported:
        log.warning(
            "%d live indicators have patterns detection cannot evaluate and are not matched: %s",
            sum(index.unsupported.values()),
            "; ".join(
                f"{reason}: {count} (e.g. {', '.join(index.unsupported_examples[reason])})"
                for reason, count in sorted(index.unsupported.items(), key=lambda r: -r[1])
            ),
        )
    return index


def _shape(obj: dict[str, Any], index: LiveIndex, no_values: bool = False) -> Verdict:
    """How one live indicator is matched, noted in the index."""
    from crownwatch.detect.stix_eval import NO_VALUE, Verdict, classify

    shape = classify(obj.get("pattern"), obj.get("pattern_type") or "stix")
    if no_values and shape.kind != "unsupported":
        shape = Verdict("unsupported", reason=NO_VALUE)
    if shape.kind == "unsupported":
        index.leave_out(obj["id"], shape.reason)
    elif shape.check is not None:
        index.compound[obj["id"]] = shape.check
    return shape


def neighbourhood(store: Store, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """An object, the relationships around it and the objects at their other ends."""
    found: dict[str, dict[str, Any]] = {obj["id"]: obj}
    for direction in ("out", "in"):
        for rel, other in relationships(store, obj["id"], direction):
            found.setdefault(rel["id"], rel)
            found.setdefault(other["id"], other)
    return list(found.values())


def actors_targeting(
    store: Store, sector: str | None = None, country: str | None = None
) -> list[dict[str, Any]]:
    """Intrusion sets known (from the MISP galaxy) to target a sector and/or a country.

    Sector and country match case-insensitively on the galaxy's names ("Pharmacy",
    "High tech"; "United States").
    """
    want_sector = sector.casefold() if sector else None
    want_country = country.casefold() if country else None
    found = []
    for obj in objects(store, ["intrusion-set"]):
        sectors = {s.casefold() for s in obj.get("x_crownwatch_target_sectors", [])}
        victims = {v.casefold() for v in obj.get("x_crownwatch_victims", [])}
        if want_sector and want_sector not in sectors:
            continue
        if want_country and want_country not in victims:
            continue
        if want_sector or want_country:
            found.append(obj)
    return found
