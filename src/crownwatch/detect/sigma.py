"""Sigma rules over Windows event logs: load with pySigma, compile once, scan EVTX files.

``load_rules`` reads rule files (or folders of them) and returns the compiled rules
together with every rule that failed to load or compile, with its file and reason.
``scan`` reads EVTX files batch by batch; for each batch it parses the ``fields``
JSON once, routes the events to the rules of their logsource (channel and event id)
and evaluates each rule's vectorised predicate over its slice only.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from crownwatch import ingest
from crownwatch.detect.sigma_compile import Predicate, Unsupported, compile_rule
from crownwatch.detect.sigma_frame import Frame, parse_fields
from crownwatch.detect.sigma_route import Route, routes
from crownwatch.ingest.source import Source

log = logging.getLogger(__name__)

#: Rule files larger than this are not read (a rule is a few KB).
MAX_RULE_BYTES = 1 << 20


@dataclass(frozen=True)
class Rule:
    """A compiled rule: what it reports, where it looks, what it reads, how it decides."""

    id: str
    title: str
    level: str
    tags: tuple[str, ...]
    file: str
    routes: tuple[Route, ...]
    fields: frozenset[str]
    predicate: Predicate


@dataclass(frozen=True)
class Failure:
    """A rule file or rule that could not be used, and why."""

    file: str
    reason: str
    title: str = ""


@dataclass
class RuleSet:
    """Compiled rules, and the rules that were not, with their reasons."""

    rules: list[Rule] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


@dataclass(frozen=True)
class Match:
    """One event that fired one rule."""

    rule_id: str
    title: str
    level: str
    tags: tuple[str, ...]
    timestamp: datetime
    host: str | None
    file: str
    event_code: int | None
    event_id: str
    original: str


def rule_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The .yml/.yaml files of the given files and folders, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml"))
        else:
            yield path


def load_rules(paths: Iterable[Path]) -> RuleSet:
    """Load and compile every rule; one bad file or rule is a failure, never a crash."""
    found = RuleSet()
    for path in rule_files(paths):
        try:
            if path.stat().st_size > MAX_RULE_BYTES:
                raise ValueError(f"file over {MAX_RULE_BYTES} bytes")
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            found.failures.append(Failure(str(path), f"not loaded: {exc}"))
            continue
        add_yaml(found, text, str(path))
    return found


def add_yaml(found: RuleSet, text: str, file: str) -> None:
    """Compile the rules of one YAML text into ``found``, failures included."""
    try:
        collection = SigmaCollection.from_yaml(text, collect_errors=True)
    except (SigmaError, yaml.YAMLError, ValueError, TypeError, AttributeError, KeyError) as exc:
        found.failures.append(Failure(file, f"not loaded: {exc}"))
        return
    found.failures.extend(Failure(file, f"not loaded: {e}") for e in collection.errors)
    for rule in collection.rules:
        if isinstance(rule, SigmaRule):
            _add(found, rule, file)
        else:
            kind = type(rule).__name__
            found.failures.append(Failure(file, f"not compiled: {kind} not supported"))


def _add(found: RuleSet, rule: SigmaRule, file: str) -> None:
    title = rule.title or ""
    if rule.errors:
        found.failures.append(Failure(file, f"not loaded: {rule.errors[0]}", title))
        return
    where = routes(rule.logsource)
    if not where:
        ls = rule.logsource
        reason = f"logsource not routable: {ls.product}/{ls.category}/{ls.service}"
        found.failures.append(Failure(file, f"not compiled: {reason}", title))
        return
    try:
        predicate, names = compile_rule(rule)
    except (Unsupported, SigmaError, RecursionError) as exc:
        found.failures.append(Failure(file, f"not compiled: {exc}", title))
        return
    found.rules.append(
        Rule(
            id=str(rule.id or ""),
            title=title,
            level=rule.level.name.lower() if rule.level else "",
            tags=tuple(str(t) for t in rule.tags),
            file=file,
            routes=tuple(where),
            fields=names,
            predicate=predicate,
        )
    )


@dataclass(frozen=True)
class RuleIndex:
    """Rules grouped by route, and every source field name they read."""

    groups: dict[Route, list[Rule]]
    names: frozenset[str]


def index(rules: Iterable[Rule]) -> RuleIndex:
    groups: dict[Route, list[Rule]] = {}
    names: set[str] = set()
    for rule in rules:
        names.update(rule.fields)
        for route in rule.routes:
            groups.setdefault(route, []).append(rule)
    return RuleIndex(groups, frozenset(names))


def scan(paths: Iterable[Path], rules: Iterable[Rule], batch_rows: int = 20_000) -> list[Match]:
    """Every (rule, event) match in the given files (any format crownwatch reads).

    Batches of small files are pooled up to ``batch_rows`` events before the rules run:
    the cost of a rule is mostly per call, not per event.
    """
    rule_index = index(rules)
    matches: list[Match] = []
    pool: list[pa.RecordBatch] = []
    pooled = 0
    for path in paths:
        src = Source(path)
        parser = ingest.detect(src)
        if parser is None:
            log.warning("%s: format not recognised; not scanned", path)
            continue
        for batch in parser.parse(src):
            pool.append(batch.events)
            pooled += batch.events.num_rows
            if pooled >= batch_rows:
                matches.extend(scan_batch(_concat(pool), rule_index))
                pool, pooled = [], 0
    if pooled:
        matches.extend(scan_batch(_concat(pool), rule_index))
    return matches


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def scan_batch(events: pa.RecordBatch, rule_index: RuleIndex) -> Iterator[Match]:
    """Matches in one batch: fields parsed once, each logsource group on its own rows."""
    if not events.num_rows:
        return
    frame = Frame(events, parse_fields(events.column("fields"), rule_index.names))
    channels = events.column("winlog.channel")
    codes = events.column("winlog.event_id")
    seen: set[tuple[str, int]] = set()
    for (route_channels, route_ids), group in rule_index.groups.items():
        mask = pc.is_in(channels, value_set=pa.array(sorted(route_channels), pa.string()))
        if route_ids:
            ids = pa.array(sorted(route_ids), codes.type)
            mask = pc.and_(mask, pc.is_in(codes, value_set=ids))
        rows = pc.indices_nonzero(pc.fill_null(mask, False))
        if not len(rows):
            continue
        sub = frame.take(rows)
        for rule in group:
            try:
                hits = pc.indices_nonzero(rule.predicate(sub)).to_pylist()
            except pa.ArrowException as exc:  # one failing rule must not stop the others
                log.warning("sigma rule %s (%s) failed on a batch: %s", rule.id, rule.file, exc)
                continue
            for hit in hits:
                row = rows[hit].as_py()
                if (rule.id, row) not in seen:  # a rule with two routes sees an event once
                    seen.add((rule.id, row))
                    yield _match(rule, events, row)


def _match(rule: Rule, events: pa.RecordBatch, row: int) -> Match:
    def value(name: str) -> Any:
        return events.column(name)[row].as_py()

    return Match(
        rule_id=rule.id,
        title=rule.title,
        level=rule.level,
        tags=rule.tags,
        timestamp=value("@timestamp"),
        host=value("host.name"),
        file=str(value("log.file.path")),
        event_code=value("winlog.event_id"),
        event_id=str(value("event.id")),
        original=str(value("event.original")),
    )


BUNDLED = "sigma-rules.zip"


def bundled_rules(prefixes: tuple[str, ...] = ("rules/windows/",)) -> RuleSet:
    """The SigmaHQ rules shipped in the package (data/sigma: DRL 1.1, authors in each rule)."""
    found = RuleSet()
    data = resources.files("crownwatch.data").joinpath("sigma", BUNDLED).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in sorted(archive.namelist()):
            if name.endswith((".yml", ".yaml")) and name.startswith(prefixes):
                add_yaml(found, archive.read(name).decode("utf-8", "replace"), f"sigmahq:{name}")
    return found
