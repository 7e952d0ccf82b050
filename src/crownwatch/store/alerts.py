"""The alerts table and the record of which lake files detection has read.

``save`` deduplicates: an alert whose key (detector, rule, first entity) matches a stored
alert whose time span is within the dedupe window of it updates that alert; others are new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import xxhash
from sqlalchemy import delete, distinct, func, insert, select, update
from sqlalchemy.orm import Session

from crownwatch.detect.alerts import SEVERITIES, Alert, at_least, fold, merge
from crownwatch.store import Store
from crownwatch.store.models import AlertRow, DetectedPart

_CHUNK = 500


@dataclass(frozen=True)
class Saved:
    """What ``save`` did: alerts added, alerts updated."""

    added: int
    updated: int


def key_hash(alert: Alert) -> str:
    return xxhash.xxh3_128_hexdigest(alert.key.encode("utf-8", "replace"))


def save(store: Store, alerts: Iterable[Alert], window: timedelta, max_events: int) -> Saved:
    """Store alerts, folding each into a stored alert of the same key within ``window``."""
    by_key: dict[str, list[Alert]] = {}
    for alert in fold(alerts, window, max_events):
        by_key.setdefault(key_hash(alert), []).append(alert)
    if not by_key:
        return Saved(0, 0)
    now = datetime.now(UTC)
    added = updated = 0
    with store.engine.begin() as conn:
        stored: dict[str, list[tuple[str, Alert]]] = {}
        keys = sorted(by_key)
        for start in range(0, len(keys), _CHUNK):
            query = select(AlertRow).where(AlertRow.key.in_(keys[start : start + _CHUNK]))
            for row in Session(bind=conn).scalars(query):
                stored.setdefault(row.key, []).append((row.id, _alert(row)))
        for key, fresh in by_key.items():
            spans = stored.get(key, [])
            in_store = {ident for ident, _ in spans}
            changed: dict[str, Alert] = {}
            for alert in sorted(fresh, key=lambda a: a.first):
                at = _near(spans, alert, window)
                if at is None:
                    spans.append((_alert_id(key, alert), _bounded(alert, max_events)))
                else:
                    spans[at] = (spans[at][0], merge(spans[at][1], alert, max_events))
                ident, merged = spans[-1 if at is None else at]
                changed[ident] = merged
            for ident, alert in changed.items():
                values = _values(alert, now)
                if ident in in_store:
                    conn.execute(update(AlertRow).where(AlertRow.id == ident).values(**values))
                    updated += 1
                else:
                    new = {"id": ident, "key": key, "status": "new", "created_at": now, **values}
                    conn.execute(insert(AlertRow), new)
                    added += 1
    return Saved(added, updated)


def _alert_id(key: str, alert: Alert) -> str:
    """A new alert's id: its key and first time, so that detecting the same events again
    from scratch gives the same ids (and the same incident ids)."""
    return xxhash.xxh3_128_hexdigest(f"{key}|{alert.first.isoformat()}".encode())


def _near(spans: list[tuple[str, Alert]], alert: Alert, window: timedelta) -> int | None:
    """The index of the alert in ``spans`` whose time span is within ``window`` of ``alert``."""
    for at, (_, old) in enumerate(spans):
        if alert.first <= old.last + window and alert.last >= old.first - window:
            return at
    return None


def _bounded(alert: Alert, max_events: int) -> Alert:
    if len(alert.events) <= max_events:
        return alert
    return replace(alert, events=alert.events[:max_events])


def _values(alert: Alert, now: datetime) -> dict[str, Any]:
    return {
        "kind": alert.kind,
        "rule": alert.rule[:300],
        "title": alert.title,
        "severity": alert.severity,
        "techniques": _json(list(alert.techniques)),
        "entities": _json({k: list(v) for k, v in alert.entities.items()}),
        "events": _json(list(alert.events)),
        "count": alert.count or len(alert.events),
        "first_seen": alert.first,
        "last_seen": alert.last,
        "explanation": alert.explanation,
        "details": _json(dict(alert.details)),
        "retro": alert.retro,
        "updated_at": now,
    }


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _alert(row: AlertRow) -> Alert:
    return Alert(
        kind=row.kind,
        rule=row.rule,
        title=row.title,
        severity=row.severity,
        first=_utc(row.first_seen),
        last=_utc(row.last_seen),
        explanation=row.explanation,
        techniques=tuple(orjson.loads(row.techniques)),
        entities={k: tuple(v) for k, v in orjson.loads(row.entities).items()},
        events=tuple(orjson.loads(row.events)),
        count=row.count,
        retro=row.retro,
        details=orjson.loads(row.details),
    )


def listing(
    store: Store,
    limit: int = 100,
    min_severity: str = "informational",
    kind: str | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Stored alerts, worst and latest first, as plain dicts (JSON-ready but for times)."""
    levels = [s for s in SEVERITIES if at_least(s, min_severity)]
    query = select(AlertRow).where(AlertRow.severity.in_(levels))
    if kind:
        query = query.where(AlertRow.kind == kind)
    if since:
        query = query.where(AlertRow.last_seen >= since)
    with Session(store.engine) as session:
        rows = session.scalars(query.order_by(AlertRow.last_seen.desc())).all()
    found = [as_dict(row) for row in rows]
    found.sort(key=lambda a: (-SEVERITIES.index(a["severity"]), a["first"]), reverse=False)
    return found[:limit] if limit else found


def as_dict(row: AlertRow) -> dict[str, Any]:
    alert = _alert(row)
    return {
        "id": row.id,
        "status": row.status,
        "kind": alert.kind,
        "rule": alert.rule,
        "title": alert.title,
        "severity": alert.severity,
        "techniques": list(alert.techniques),
        "entities": {k: list(v) for k, v in alert.entities.items()},
        "first": alert.first,
        "last": alert.last,
        "count": alert.count,
        "events": list(alert.events),
        "explanation": alert.explanation,
        "retro": alert.retro,
        "details": dict(alert.details),
    }


def detected_parts(store: Store) -> set[str]:
    """Lake files detection has already read."""
    with store.engine.connect() as conn:
        return set(conn.execute(select(DetectedPart.path)).scalars())


def mark_detected(store: Store, parts: Sequence[tuple[str, int]]) -> None:
    """Record lake files (path, rows) as read by detection."""
    if not parts:
        return
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        paths = [p for p, _ in parts]
        for start in range(0, len(paths), _CHUNK):
            conn.execute(
                delete(DetectedPart).where(DetectedPart.path.in_(paths[start : start + _CHUNK]))
            )
        conn.execute(
            insert(DetectedPart), [{"path": p, "rows": n, "detected_at": now} for p, n in parts]
        )


def demote_common(
    store: Store, min_entities: int, min_days: int, kind: str = "sigma"
) -> dict[str, int]:
    """Demote to informational the alerts of rules that fire on ``min_entities`` or more
    distinct entities (an alert's key names one) on ``min_days`` or more days: such a rule
    describes this organisation's routine, not an intrusion (an intrusion's rules fire on
    its few hosts, in bursts). Returns rule -> entities, for the rules demoted now."""
    if min_entities < 1:
        return {}
    spread = func.count(distinct(AlertRow.key))
    days = func.count(distinct(func.date(AlertRow.first_seen)))
    common = (
        select(AlertRow.rule, spread)
        .where(AlertRow.kind == kind)
        .group_by(AlertRow.rule)
        .having(spread >= min_entities, days >= max(min_days, 1))
    )
    demoted: dict[str, int] = {}
    with store.engine.begin() as conn:
        for rule, entities in conn.execute(common).all():
            note = (
                f" Demoted to informational: this rule fires on {entities} hosts or users "
                "here on several days, part of the organisation's routine (kept for hunts)."
            )
            where = (
                AlertRow.kind == kind,
                AlertRow.rule == rule,
                AlertRow.severity != "informational",
            )
            changed = conn.execute(
                update(AlertRow)
                .where(*where, ~AlertRow.explanation.contains("Demoted to informational"))
                .values(explanation=AlertRow.explanation + note)
            ).rowcount
            changed += conn.execute(
                update(AlertRow).where(*where).values(severity="informational")
            ).rowcount
            if changed:
                demoted[rule] = int(entities)
    return demoted
