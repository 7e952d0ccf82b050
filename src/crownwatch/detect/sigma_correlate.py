"""Sigma correlation rules (Sigma v2) as streaming state over the matches of their rules.

A correlation consumes the matches of the rules it names (plain rules or other
correlations: they chain) in time order and keeps, per (correlation, group-by key),
a window of at most ``timespan`` of member matches. ``feed`` takes the matches of a
batch, updates the ``State`` (kept by the caller across batches and scans) and gives
back the matches to report: plain ones, except those of rules only used by
``generate: false`` correlations, plus one ``Match`` per correlation that fired,
carrying its group, its first time and the event ids of its members.

Conditions with a lower bound (``gt``, ``gte``) fire as soon as the sliding window
reaches them, and the group's window starts again. Other comparisons (``lt``, ``lte``,
``eq``, ``neq``) are decided when a window anchored at the group's first match closes:
when a later match falls outside it, when the group expires or on ``flush``.

State is bounded: at most ``max_keys`` groups per correlation (the least recently
updated is dropped, and counted) and ``max_events`` members per group (the oldest is
dropped, and counted); groups whose newest member is older than the timespan go.
Group-by and field values come from ``Match.values``, which the scan fills through
the same field resolution as rule conditions (``sigma_frame.Frame``).
"""

from __future__ import annotations

import bisect
import math
import operator
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from dataclasses import field as dataclass_field
from datetime import datetime

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)

from crownwatch.detect.sigma import Failure, Match, RuleSet

#: Groups kept per correlation; beyond, the least recently updated group is dropped.
MAX_KEYS = 10_000
#: Members kept per group (raised to the threshold of a ``gt``/``gte`` condition if higher).
MAX_EVENTS = 1_000
#: The most members a group keeps to reach a high count threshold.
MAX_THRESHOLD = 100_000
#: Characters of a group-by or field value that are kept (values come from logs).
MAX_VALUE = 1_024

_OPS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}
_AT_ONCE = frozenset({"gt", "gte"})
_VALUE_TYPES = frozenset(
    {"value_count", "value_sum", "value_avg", "value_percentile", "value_median"}
)
_TYPES = frozenset({"event_count", "temporal", "temporal_ordered"}) | _VALUE_TYPES

#: An extended temporal condition: a pySigma parse tree of and/or over rule references.
Tree = object


@dataclass(frozen=True)
class Correlation:
    """One correlation rule; ``rules`` and ``aliases`` name rules by id once ``link`` ran."""

    id: str
    name: str
    title: str
    level: str
    tags: tuple[str, ...]
    file: str
    type: str
    rules: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan: float  # seconds
    op: str
    count: float
    field: str | None = None
    percentile: int | None = None
    aliases: dict[str, dict[str, str]] = dataclass_field(default_factory=dict)  # alias->rule->field
    tree: Tree | None = None  # extended temporal condition
    refs: dict[str, str] = dataclass_field(default_factory=dict)  # reference as written -> rule id
    generate: bool = False


def add(found: RuleSet, rule: SigmaCorrelationRule, file: str) -> None:
    """Record one correlation rule of a YAML file; it is resolved by ``link``."""
    title = rule.title or ""
    if rule.errors:
        found.failures.extend(Failure(file, f"not loaded: {e}", title) for e in rule.errors)
        return None
    kind = rule.type.name.lower()

    def fail(reason: str) -> None:
        found.failures.append(Failure(file, f"not compiled: {reason}", title))

    if kind not in _TYPES:
        return fail(f"correlation type {kind} not supported")
    condition = rule.condition
    tree: Tree | None = None
    op, count, fieldref, percentile = "gte", float(len(rule.rules or ())), None, None
    if isinstance(condition, SigmaExtendedCorrelationCondition):
        if kind != "temporal":
            return fail(f"an extended condition in a {kind} correlation is not supported")
        if _has_not(condition.parsed):
            return fail("'not' in a temporal condition (absence of events) is not supported")
        tree = condition.parsed
    elif isinstance(condition, SigmaCorrelationCondition):
        op, count = condition.op.name.lower(), float(condition.count)
        fieldref, percentile = condition.fieldref, condition.percentile
    if isinstance(fieldref, list):
        if len(fieldref) != 1:
            return fail("a condition over several fields is not supported")
        fieldref = fieldref[0]
    if kind in _VALUE_TYPES and not fieldref:
        return fail(f"{kind} correlation without a condition field")
    if kind == "value_percentile" and percentile is None:
        return fail("value_percentile correlation without a percentile")
    if kind == "value_percentile" and percentile is not None and not 0 <= percentile <= 100:
        return fail(f"percentile {percentile} outside 0..100")
    references = [r.reference for r in rule.rules or ()]
    if not references and isinstance(condition, SigmaExtendedCorrelationCondition):
        references = condition.get_referenced_rules()
    if not references:
        return fail("correlation without rules")
    found.correlations.append(
        Correlation(
            id=str(rule.id) if rule.id else (rule.name or f"{file}#{title}"),
            name=rule.name or "",
            title=title,
            level=rule.level.name.lower() if rule.level else "",
            tags=tuple(str(t) for t in rule.tags),
            file=file,
            type=kind,
            rules=tuple(references),
            group_by=tuple(rule.group_by or ()),
            timespan=float(rule.timespan.seconds),
            op=op,
            count=count,
            field=fieldref,
            percentile=percentile,
            aliases={
                a.alias: {ref.reference: name for ref, name in a.mapping.items()}
                for a in rule.aliases
            },
            tree=tree,
            generate=bool(rule.generate),
        )
    )
    return None


def _has_not(node: object) -> bool:
    if isinstance(node, CorrelationConditionNOT):
        return True
    if isinstance(node, CorrelationConditionAND | CorrelationConditionOR):
        return any(_has_not(arg) for arg in node.args)
    return False


def _canonical(reference: str) -> str:
    try:
        return str(uuid.UUID(reference))
    except ValueError:
        return reference


def _resolve(reference: str, known: set[str], named: dict[str, str]) -> str | None:
    """The id a reference (an id or a name) stands for, if that rule is known."""
    key = _canonical(reference)
    if key in known:
        return key
    target = named.get(reference)
    return target if target in known else None


def link(found: RuleSet) -> None:
    """Resolve what each correlation refers to; what cannot be resolved becomes a failure.

    Also marks on each referenced rule the field values its matches must carry.
    Idempotent: run it again after adding rules.
    """
    rule_ids = {rule.id for rule in found.rules if rule.id}
    pending = list(found.correlations)
    while True:
        known = rule_ids | {c.id for c in pending}
        named = {**found.names, **{c.name: c.id for c in pending if c.name}}
        kept: list[Correlation] = []
        for c in pending:
            written = (*c.rules, *(r for m in c.aliases.values() for r in m))
            refs = {r: _resolve(r, known, named) for r in written}
            missing = sorted(r for r, target in refs.items() if target is None)
            if missing:
                why = ", ".join(
                    f"'{r}' ({'not compiled' if r in found.names else 'unknown'})" for r in missing
                )
                found.failures.append(
                    Failure(c.file, f"not compiled: correlation refers to rule {why}", c.title)
                )
                continue
            resolved = {r: t for r, t in refs.items() if t is not None}
            kept.append(
                replace(
                    c,
                    rules=tuple(resolved[r] for r in c.rules),
                    aliases={
                        a: {resolved[r]: name for r, name in m.items()}
                        for a, m in c.aliases.items()
                    },
                    refs={**c.refs, **resolved},
                )
            )
        if len(kept) == len(pending):
            pending = kept
            break
        pending = kept  # a correlation over a failed one fails in the next round
    found.correlations[:] = _acyclic(pending, found)
    carry = _carried(found.correlations)
    found.rules[:] = [
        replace(rule, carry=frozenset(carry[rule.id])) if rule.id in carry else rule
        for rule in found.rules
    ]


def _acyclic(correlations: list[Correlation], found: RuleSet) -> list[Correlation]:
    """The correlations that do not (even through others) consume their own matches."""
    own = {c.id: c for c in correlations}
    bad: set[str] = set()

    def reaches(start: str, at: str, seen: set[str]) -> bool:
        for ref in own[at].rules if at in own else ():
            if ref == start:
                return True
            if ref not in seen:
                seen.add(ref)
                if reaches(start, ref, seen):
                    return True
        return False

    for c in correlations:
        if reaches(c.id, c.id, set()):
            bad.add(c.id)
            found.failures.append(
                Failure(c.file, "not compiled: correlation refers to itself (a cycle)", c.title)
            )
    again = True
    while again:  # and those over a dropped one
        again = False
        for c in correlations:
            if c.id not in bad and any(r in bad for r in c.rules):
                bad.add(c.id)
                again = True
                found.failures.append(
                    Failure(c.file, "not compiled: correlation refers to a cyclic one", c.title)
                )
    return [c for c in correlations if c.id not in bad]


def _needs(c: Correlation, rule: str) -> set[str]:
    """The field names a match of ``rule`` must carry for ``c``."""
    names = [*c.group_by, *([c.field] if c.field else [])]
    return {c.aliases.get(name, {}).get(rule, name) for name in names}


def _carried(correlations: Sequence[Correlation]) -> dict[str, set[str]]:
    """Rule id -> field names its matches carry; a chained correlation passes on what it lacks."""
    own = {c.id: c for c in correlations}
    carry: dict[str, set[str]] = {}
    for c in correlations:
        for rule in c.rules:
            carry.setdefault(rule, set()).update(_needs(c, rule))
    changed = True
    while changed:  # a correlation's match has its group; other names come from its members
        changed = False
        for c in correlations:
            extra = carry.get(c.id, set()) - set(c.group_by)
            for rule in c.rules:
                names = carry.setdefault(rule, set())
                if not extra <= names:
                    names.update(extra)
                    changed = True
    return {rule: names for rule, names in carry.items() if rule not in own}


@dataclass(frozen=True)
class Plan:
    """Correlations by id, who consumes which rule's matches, which matches stay unreported."""

    correlations: dict[str, Correlation]
    consumers: dict[str, tuple[str, ...]]
    quiet: frozenset[str]


def plan(correlations: Iterable[Correlation]) -> Plan:
    """The plan of linked correlations (see ``link``)."""
    by_id = {c.id: c for c in correlations}
    consumers: dict[str, list[str]] = {}
    loud: set[str] = set()
    for c in by_id.values():
        for rule in dict.fromkeys(c.rules):
            consumers.setdefault(rule, []).append(c.id)
            if c.generate:
                loud.add(rule)
    quiet = frozenset(consumers) - loud
    return Plan(by_id, {r: tuple(cs) for r, cs in consumers.items()}, quiet)


@dataclass(frozen=True)
class Member:
    """What a window keeps of one match."""

    time: float
    at: datetime
    rule: str
    events: tuple[str, ...]
    value: str | float | None
    host: str | None
    file: str
    values: tuple[tuple[str, str | None], ...]


@dataclass
class Window:
    """The members of one group, oldest first, and running aggregates over them."""

    members: deque[Member] = field(default_factory=deque)
    counts: Counter[object] = field(default_factory=Counter)  # distinct values or rules
    total: float = 0.0
    numbers: list[float] = field(default_factory=list)  # sorted, for percentiles
    start: float = 0.0  # where a closing window began


@dataclass
class State:
    """Open windows of every correlation, kept across batches and scans; bounded."""

    max_keys: int = MAX_KEYS
    max_events: int = MAX_EVENTS
    groups: dict[str, OrderedDict[tuple[str | None, ...], Window]] = field(default_factory=dict)
    clock: dict[str, float] = field(default_factory=dict)  # newest time seen per correlation
    evicted: int = 0  # groups dropped at max_keys
    truncated: int = 0  # members dropped at max_events
    late: int = 0  # matches older than their group's window


def feed(matches: Iterable[Match], how: Plan, state: State) -> list[Match]:
    """The matches to report, correlation matches included, after updating ``state``."""
    if not how.consumers:
        return list(matches)
    out: list[Match] = []
    for match in sorted(matches, key=_time):
        _process(match, how, state, out)
    return out


def flush(how: Plan, state: State) -> list[Match]:
    """Close every open window (end of input): decides ``lt``/``lte``/``eq``/``neq`` ones."""
    out: list[Match] = []
    for cid, groups in list(state.groups.items()):
        c = how.correlations.get(cid)
        while groups:
            key, window = groups.popitem(last=False)
            if c is not None and c.op not in _AT_ONCE:
                fired = _close(c, key, window)
                if fired is not None:
                    _process(fired, how, state, out)
    return out


def _time(match: Match) -> float:
    return match.timestamp.timestamp() if match.timestamp is not None else -math.inf


def _process(match: Match, how: Plan, state: State, out: list[Match]) -> None:
    queue = deque([match])
    while queue:
        item = queue.popleft()
        if item.rule_id not in how.quiet:
            out.append(item)
        if item.timestamp is None:
            continue
        for cid in how.consumers.get(item.rule_id, ()):
            queue.extend(_update(how.correlations[cid], item, state))


def _clip(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text[:MAX_VALUE]


def _lookup(c: Correlation, name: str, match: Match) -> str | None:
    wanted = c.aliases.get(name, {}).get(match.rule_id, name)
    for key, value in match.values:
        if key == wanted:
            return _clip(value)
    return None


def _measure_value(c: Correlation, match: Match) -> str | float | None:
    if c.type == "value_count":
        return _lookup(c, c.field, match) if c.field else None
    if c.type in _VALUE_TYPES:
        raw = _lookup(c, c.field, match) if c.field else None
        try:
            number = float(raw) if raw is not None else math.nan
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _update(c: Correlation, match: Match, state: State) -> list[Match]:
    """Add one member to its group's window; the correlation matches that fire."""
    value = _measure_value(c, match)
    if c.type in _VALUE_TYPES and value is None:
        return []  # no value to count or add up
    time = _time(match)
    key = tuple(_lookup(c, name, match) for name in c.group_by)
    groups = state.groups.setdefault(c.id, OrderedDict())
    clock = max(state.clock.get(c.id, time), time)
    state.clock[c.id] = clock
    fired: list[Match] = []
    window = groups.get(key)
    if window is None:
        window = groups[key] = Window(start=time)
    groups.move_to_end(key)
    if window.members and time < window.members[-1].time - c.timespan:
        state.late += 1
        return fired
    if c.op in _AT_ONCE:
        while window.members and window.members[0].time < time - c.timespan:
            _drop(c, window)
    elif window.members and time > window.start + c.timespan:
        closed = _close(c, key, window)
        if closed is not None:
            fired.append(closed)
        window = groups[key] = Window(start=time)
    _add(c, window, match, value)
    cap = state.max_events
    if c.op in _AT_ONCE and c.type in ("event_count", "value_count"):
        cap = max(cap, min(int(c.count) + 1, MAX_THRESHOLD))  # the threshold must be reachable
    while len(window.members) > cap:
        _drop(c, window)
        state.truncated += 1
    if c.op in _AT_ONCE and _holds(c, window):
        fired.append(_fire(c, key, window))
        groups[key] = Window(start=time)
    fired.extend(_expire(c, groups, clock, key))
    while len(groups) > state.max_keys:
        groups.popitem(last=False)
        state.evicted += 1
    return fired


def _expire(
    c: Correlation, groups: OrderedDict[tuple[str | None, ...], Window], clock: float, key: object
) -> list[Match]:
    """Drop the least recently updated groups whose newest member is out of the window."""
    fired: list[Match] = []
    while groups:
        oldest, window = next(iter(groups.items()))
        newest = window.members[-1].time if window.members else window.start
        if oldest == key or newest >= clock - c.timespan:
            break
        del groups[oldest]
        if c.op not in _AT_ONCE:
            closed = _close(c, oldest, window)
            if closed is not None:
                fired.append(closed)
    return fired


def _add(c: Correlation, window: Window, match: Match, value: str | float | None) -> None:
    member = Member(
        time=_time(match),
        at=match.timestamp,
        rule=match.rule_id,
        events=match.events or (match.event_id,),
        value=value,
        host=match.host,
        file=match.file,
        values=match.values,
    )
    window.members.append(member)
    if c.type in ("temporal", "temporal_ordered"):
        window.counts[member.rule] += 1
    elif c.type == "value_count":
        window.counts[value] += 1
    elif isinstance(value, float):
        window.total += value
        bisect.insort(window.numbers, value)


def _drop(c: Correlation, window: Window) -> None:
    member = window.members.popleft()
    counted: object = None
    if c.type in ("temporal", "temporal_ordered"):
        counted = member.rule
    elif c.type == "value_count":
        counted = member.value
    elif isinstance(member.value, float):
        window.total -= member.value
        del window.numbers[bisect.bisect_left(window.numbers, member.value)]
        return
    else:
        return
    window.counts[counted] -= 1
    if window.counts[counted] <= 0:
        del window.counts[counted]


def _measure(c: Correlation, window: Window) -> float:
    if c.type == "event_count":
        return float(len(window.members))
    if c.type in ("value_count", "temporal"):
        return float(len(window.counts))
    if c.type == "temporal_ordered":
        at = 0
        for member in window.members:  # greedy: the rules in their given order
            if at < len(c.rules) and member.rule == c.rules[at]:
                at += 1
        return float(at)
    numbers = window.numbers
    if not numbers:
        return math.nan
    if c.type == "value_sum":
        return window.total
    if c.type == "value_avg":
        return window.total / len(numbers)
    share = 50 if c.type == "value_median" else (c.percentile or 0)
    rank = max(1, math.ceil(share / 100 * len(numbers)))  # nearest rank
    return numbers[rank - 1]


def _holds(c: Correlation, window: Window) -> bool:
    if c.tree is not None:
        return _satisfied(c.tree, c, window)
    measured = _measure(c, window)
    return not math.isnan(measured) and _OPS[c.op](measured, c.count)


def _satisfied(node: object, c: Correlation, window: Window) -> bool:
    if isinstance(node, SigmaRuleReference):
        return c.refs.get(node.reference, node.reference) in window.counts
    if isinstance(node, CorrelationConditionAND):
        return all(_satisfied(arg, c, window) for arg in node.args)
    if isinstance(node, CorrelationConditionOR):
        return any(_satisfied(arg, c, window) for arg in node.args)
    return False


def _close(c: Correlation, key: tuple[str | None, ...], window: Window) -> Match | None:
    if window.members and _holds(c, window):
        return _fire(c, key, window)
    return None


def _fire(c: Correlation, key: tuple[str | None, ...], window: Window) -> Match:
    first, last = window.members[0], window.members[-1]
    events: list[str] = []
    for member in window.members:
        events.extend(member.events[: MAX_EVENTS - len(events)])
    group = tuple(zip(c.group_by, key, strict=True))
    values = dict(last.values)
    values.update(group)
    return Match(
        rule_id=c.id,
        title=c.title,
        level=c.level,
        tags=c.tags,
        timestamp=last.at,
        host=last.host,
        file=last.file,
        event_code=None,
        event_id="",
        original="",
        values=tuple(sorted(values.items())),
        group=group,
        events=tuple(events),
        first=first.at,
    )
