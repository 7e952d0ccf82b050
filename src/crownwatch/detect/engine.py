"""One batch of events in, alerts out: Sigma rules and the knowledge base's indicators.

``Detector`` holds what detection needs, built once: the compiled Sigma rules grouped by
logsource, the indicator matcher and what each indicator is about. ``detect`` runs both over
one Arrow batch and turns each (rule, event) and (indicator, event) into an ``Alert``;
deduplication happens when alerts are stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from crownwatch.detect import indicators, sigma
from crownwatch.detect import sigma_correlate as correlate
from crownwatch.detect.alerts import ENTITY_COLUMNS, Alert, at_least, entities_of, techniques_of
from crownwatch.intel.attack import attack_id

log = logging.getLogger(__name__)

#: The event columns shown in an alert's explanation, most telling first.
_SHOWN = (
    "process.command_line",
    "process.executable",
    "file.path",
    "registry.path",
    "dns.question.name",
    "url.full",
    "tls.server.name",
    "destination.ip",
    "message",
)
_MAX_SHOWN = 200


@dataclass(frozen=True)
class IndicatorInfo:
    """What an alert says about an indicator: its name, confidence and what it indicates."""

    name: str
    confidence: int | None
    indicates: tuple[str, ...] = ()  # names of the groups, malware… it is linked to
    techniques: tuple[str, ...] = ()


@dataclass
class Detector:
    """Compiled rules and live indicators, ready for batches."""

    rules: sigma.RuleIndex
    matcher: indicators.Matcher | None = None
    correlations: correlate.Plan = field(default_factory=lambda: correlate.plan(()))
    windows: correlate.State = field(default_factory=correlate.State)  # open correlations
    about: Callable[[str], IndicatorInfo] = lambda ident: IndicatorInfo(ident, None)
    min_level: str = "low"
    retro: bool = False
    hits: list[indicators.Hit] = field(default_factory=list)  # for sightings


def detect(batch: pa.RecordBatch, detector: Detector) -> list[Alert]:
    """Every Sigma and indicator alert in one batch (not yet deduplicated)."""
    found: list[tuple[Any, str]] = []
    matches = sigma.scan_batch(batch, detector.rules)
    if detector.correlations.correlations:
        matches = iter(correlate.feed(matches, detector.correlations, detector.windows))
    for match in matches:
        if at_least(match.level, detector.min_level):
            # a correlation's members may lie in earlier batches: its last one is here
            found.append((match, match.event_id or match.events[-1]))
    hits: list[indicators.Hit] = []
    if detector.matcher is not None:
        hits = indicators.match(batch, detector.matcher)
        detector.hits.extend(hits)
        found.extend((hit, hit.event_id) for hit in hits)
    if not found:
        return []
    ids = batch.column("event.id").to_pylist()
    wanted = {event for _, event in found}
    rows = {event: at for at, event in enumerate(ids) if event in wanted}
    found = [(item, event) for item, event in found if event in rows]
    details = _rows(batch, sorted(rows.values()))
    by_event = {ids[at]: row for at, row in zip(sorted(rows.values()), details, strict=True)}
    alerts = []
    for item, event in found:
        row = by_event[event]
        if isinstance(item, indicators.Hit):
            alerts.append(indicator_alert(item, row, detector))
        else:
            alerts.append(_sigma_alert(item, row, detector.retro))
    return alerts


def flush(detector: Detector) -> list[Alert]:
    """Alerts of the correlations that can only be decided when the events end (lt, eq…)."""
    closed = correlate.flush(detector.correlations, detector.windows)
    return [
        _sigma_alert(m, {"host.name": m.host}, detector.retro)
        for m in closed
        if at_least(m.level, detector.min_level)
    ]


def _rows(batch: pa.RecordBatch, rows: Sequence[int]) -> list[dict[str, Any]]:
    columns = ["event.id", "@timestamp", *ENTITY_COLUMNS, *_SHOWN]
    present = [c for c in dict.fromkeys(columns) if batch.schema.get_field_index(c) >= 0]
    picked = batch.select(present).take(pa.array(rows, pa.int64()))
    return list(picked.to_pylist())


def _what(row: dict[str, Any]) -> str:
    for column in _SHOWN:
        value = row.get(column)
        if value:
            text = str(value)
            cut = text[:_MAX_SHOWN] + ("…" if len(text) > _MAX_SHOWN else "")
            return f"{column} {cut!r}"
    return "an event"


def _sigma_alert(match: sigma.Match, row: dict[str, Any], retro: bool) -> Alert:
    where = f" on {match.host}" if match.host else ""
    seen = f"matched {_what(row)}{where}"
    if match.events:  # a correlation: its members' events, grouped by its key
        key = ", ".join(f"{k}={v}" for k, v in match.group)
        seen = f"correlated {len(match.events)} events{f' of {key}' if key else ''}{where}"
    return Alert(
        kind="sigma",
        rule=match.rule_id,
        title=match.title,
        severity=match.level or "medium",
        first=match.first or match.timestamp,
        last=match.timestamp,
        explanation=f"Sigma rule “{match.title}” ({match.level}) {seen}.",
        techniques=techniques_of(match.tags),
        entities=entities_of([row]),
        events=match.events or (match.event_id,),
        count=len(match.events) or 1,
        retro=retro,
    )


def indicator_alert(hit: indicators.Hit, row: dict[str, Any], detector: Detector) -> Alert:
    info = detector.about(hit.indicator_id)
    linked = f", linked to {', '.join(info.indicates)}" if info.indicates else ""
    sure = f", confidence {info.confidence}" if info.confidence is not None else ""
    when: datetime = hit.timestamp or row["@timestamp"]
    return Alert(
        kind="indicator",
        rule=hit.indicator_id,
        title=f"Known indicator: {info.name}",
        severity="high" if info.indicates else "medium",
        first=when,
        last=when,
        explanation=(
            f"{hit.field} {hit.value!r} matches the indicator “{info.name}”{sure}{linked}."
        ),
        techniques=info.techniques,
        entities=entities_of([row]),
        events=(hit.event_id,),
        count=1,
        retro=detector.retro,
        details={"indicator_kind": hit.kind, "value": hit.value, "field": hit.field},
    )


def indicator_info(obj: dict[str, Any], related: Iterable[dict[str, Any]]) -> IndicatorInfo:
    """An indicator's name and confidence, the names of what it indicates, and the ATT&CK
    techniques among them."""
    others = list(related)
    names = [str(o.get("name", o["id"])) for o in others if o.get("type") != "attack-pattern"]
    techniques = [attack_id(o) for o in others if o.get("type") == "attack-pattern"]
    return IndicatorInfo(
        name=str(obj.get("name") or obj.get("pattern") or obj["id"])[:200],
        confidence=obj.get("confidence"),
        indicates=tuple(dict.fromkeys(names)),
        techniques=tuple(t for t in techniques if t),
    )
