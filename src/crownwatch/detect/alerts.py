"""Alerts: what every detector (Sigma, indicators, behaviour analytics) reports.

An alert names what fired (``kind`` and ``rule``), how bad it is, the ATT&CK techniques,
the entities involved, the events that made it and a sentence a person can read. Alerts
with the same key (kind, rule, first entity) within the dedupe window are one alert:
``merge`` folds a new one into an existing one. The store keeps them (``store.alerts``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

#: Severities from least to most severe (Sigma's levels).
SEVERITIES = ("informational", "low", "medium", "high", "critical")

#: Entity kinds, in the order that picks an alert's key entity.
ENTITY_KINDS = ("host", "user", "ip", "domain", "url", "process", "file", "hash")

#: Event columns -> the entity kind their values are.
ENTITY_COLUMNS: dict[str, str] = {
    "host.name": "host",
    "user.name": "user",
    "source.ip": "ip",
    "destination.ip": "ip",
    "dns.question.name": "domain",
    "tls.server.name": "domain",
    "url.domain": "domain",
    "url.full": "url",
    "process.executable": "process",
    "file.path": "file",
    "process.hash.sha256": "hash",
    "file.hash.sha256": "hash",
}

#: At most this many values of one entity kind are kept on an alert.
MAX_ENTITY_VALUES = 50

_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


@dataclass(frozen=True)
class Alert:
    """One detection, possibly covering many events of the same thing on the same entity."""

    kind: str  # "sigma", "indicator" or "analytic"
    rule: str  # the Sigma rule id, the indicator's STIX id, or the analytic's name
    title: str
    severity: str
    first: datetime
    last: datetime
    explanation: str
    techniques: tuple[str, ...] = ()
    entities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    events: tuple[str, ...] = ()  # event ids (``event.id``), at most max_alert_events
    count: int = 0  # how many events, all of them (``events`` may be cut)
    retro: bool = False  # raised by a retro-hunt over the past
    details: Mapping[str, Any] = field(default_factory=dict)  # detector-specific figures

    @property
    def key(self) -> str:
        """What makes two alerts the same alert: the detector and its first entity."""
        return f"{self.kind}\0{self.rule}\0{key_entity(self.entities)}"


def key_entity(entities: Mapping[str, Iterable[str]]) -> str:
    """The entity an alert is about: its first host, else user, else IP… ('' if none)."""
    for kind in ENTITY_KINDS:
        values = sorted(entities.get(kind, ()))
        if values:
            return f"{kind}:{values[0]}"
    return ""


def techniques_of(tags: Iterable[str]) -> tuple[str, ...]:
    """ATT&CK technique ids ("T1059.001") from Sigma tags ("attack.t1059.001")."""
    found = (m.group(1).upper() for t in tags if (m := _TECHNIQUE.match(t)))
    return tuple(dict.fromkeys(found))


def entities_of(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """The entities named in event rows (ECS column -> value), each kind sorted and bounded.

    The resolver a DNS lookup went to is left out: it answers every machine's lookups."""
    found: dict[str, set[str]] = {}
    for row in rows:
        # a DNS lookup's destination is the resolver, not a party to what was looked up
        skip = "destination.ip" if row.get("dns.question.name") else None
        for column, kind in ENTITY_COLUMNS.items():
            if column == skip:
                continue
            value = row.get(column)
            if value not in (None, "", "-"):
                found.setdefault(kind, set()).add(str(value))
    return {k: tuple(sorted(v)[:MAX_ENTITY_VALUES]) for k, v in found.items()}


def at_least(severity: str, floor: str) -> bool:
    """Whether ``severity`` is ``floor`` or worse (unknown severities count as low)."""
    return _rank(severity) >= _rank(floor)


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 1


def merge(old: Alert, new: Alert, max_events: int) -> Alert:
    """``old`` widened by ``new`` (see ``combine``)."""
    return combine([old, new], max_events)


def combine(alerts: Sequence[Alert], max_events: int) -> Alert:
    """One alert from alerts of the same key: the span of their times, the union of their
    entities, events and techniques, the worst severity; the first one's identity."""
    first = alerts[0]
    events: dict[str, None] = {}
    count = 0
    for alert in alerts:
        before = len(events)
        events.update(dict.fromkeys(alert.events))
        # events beyond those listed (cut alerts) are counted as new
        count += len(events) - before + max(alert.count - len(alert.events), 0)
    entities: dict[str, set[str]] = {}
    for alert in alerts:
        for kind, values in alert.entities.items():
            entities.setdefault(kind, set()).update(values)
    latest = max(alerts, key=lambda a: a.last)
    return replace(
        first,
        severity=max((a.severity for a in alerts), key=_rank),
        first=min(a.first for a in alerts),
        last=latest.last,
        techniques=tuple(dict.fromkeys(t for a in alerts for t in a.techniques)),
        entities={k: tuple(sorted(v))[:MAX_ENTITY_VALUES] for k, v in entities.items()},
        events=tuple(events)[:max_events],
        count=count,
        retro=all(a.retro for a in alerts),
        explanation=latest.explanation,
        details={k: v for a in alerts for k, v in a.details.items()},
    )


def fold(alerts: Iterable[Alert], window: timedelta, max_events: int) -> list[Alert]:
    """Alerts of the same key whose times lie within ``window`` of each other, as one."""
    by_key: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_key.setdefault(alert.key, []).append(alert)
    folded: list[Alert] = []
    for group in by_key.values():
        group.sort(key=lambda a: a.first)
        span = [group[0]]
        end = group[0].last
        for alert in group[1:]:
            if alert.first > end + window:
                folded.append(combine(span, max_events))
                span, end = [], alert.last
            span.append(alert)
            end = max(end, alert.last)
        folded.append(combine(span, max_events))
    return folded
