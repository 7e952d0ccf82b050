"""Sigma rules over Windows event logs: load with pySigma, compile once, scan EVTX files.

``load_rules`` reads rule files (or folders of them) and returns the compiled rules
together with every rule that failed to load or compile, with its file and reason.
``scan`` reads EVTX files batch by batch; for each batch it parses the ``fields``
JSON once, routes the events to the rules of their logsource (channel and event id),
finds with one Aho-Corasick pass per field the rows holding each rule's literals
(``sigma_prefilter``) and evaluates each rule's vectorised predicate over those only.
"""

from __future__ import annotations

import gc
import io
import logging
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.filters import SigmaFilter
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import ValueListPlaceholderTransformation
from sigma.rule import SigmaLogSource, SigmaRule

from crownwatch import ingest
from crownwatch.config import Settings
from crownwatch.detect import sigma_prefilter
from crownwatch.detect.sigma_compile import Needs, Predicate, Unsupported, compile_rule, needs
from crownwatch.detect.sigma_frame import Frame, parse_fields
from crownwatch.detect.sigma_route import Route, field_map, pipeline, routes
from crownwatch.ingest.source import Source

if TYPE_CHECKING:
    from crownwatch.detect.sigma_correlate import Correlation, State

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
    carry: frozenset[str] = frozenset()  # field values its matches carry (for correlations)
    status: str = ""  # stable, test, experimental…
    logsource: str = ""  # product/category/service, "-" where unset
    #: Clauses of literals an event must meet to match (see sigma_compile.needs).
    needs: tuple[Needs, ...] = ()


@dataclass(frozen=True)
class Failure:
    """A rule file or rule that could not be used, and why."""

    file: str
    reason: str
    title: str = ""
    #: The line of the file the problem is on, when the parser says (0: unknown).
    line: int = 0

    @property
    def where(self) -> str:
        """``file:line``, or the file alone when the line is not known."""
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class RuleSet:
    """Compiled rules, and the rules that were not, with their reasons."""

    rules: list[Rule] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)  # see sigma_correlate
    names: dict[str, str] = field(default_factory=dict)  # rule name -> id, for correlations
    #: values of ``%name%`` placeholders (the ``expand`` modifier), from the settings
    placeholders: dict[str, list[str]] = field(default_factory=dict)


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
    values: tuple[tuple[str, str | None], ...] = ()  # the rule's ``carry`` fields
    group: tuple[tuple[str, str | None], ...] = ()  # a correlation match: its group-by key
    events: tuple[str, ...] = ()  # a correlation match: the event ids of its members
    first: datetime | None = None  # a correlation match: the time of its first member


def rule_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The .yml/.yaml files of the given files and folders, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml"))
        else:
            yield path


def settle() -> None:
    """Take what is alive now (the compiled rules: ~150k closures) out of the garbage
    collector's sight, so that its full passes during a scan stop walking them (~0.1 s a
    pass). For a process that loads its rules once and then scans; rules loaded later are
    collected as usual."""
    gc.collect()
    gc.freeze()


def load_rules(paths: Iterable[Path], filters: Sequence[SigmaFilter] = ()) -> RuleSet:
    """Load and compile every rule; one bad file or rule is a failure, never a crash.

    Sigma filter documents among the files apply to the rules of all of them (and
    ``filters`` too: those of other rule sets).
    """
    found = RuleSet()
    texts: list[tuple[str, str]] = []
    for path in rule_files(paths):
        try:
            if path.stat().st_size > MAX_RULE_BYTES:
                raise ValueError(f"file over {MAX_RULE_BYTES} bytes")
            texts.append((path.read_text("utf-8"), str(path)))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            found.failures.append(Failure(str(path), f"not loaded: {exc}"))
    add_texts(found, texts, filters)
    return found


def add_texts(
    found: RuleSet, texts: Iterable[tuple[str, str]], filters: Sequence[SigmaFilter] = ()
) -> list[SigmaFilter]:
    """Compile many (text, file) rule files; every filter among them applies to all.

    Returns the filters found, so that they can be applied to other rule sets too.
    """
    texts = list(texts)
    own = [f for text, file in texts for f in filters_of(text, file)]
    for text, file in texts:
        add_yaml(found, text, file, [*filters, *own], own_filters=False)
    link(found)
    return own


_FILTER_KEY = re.compile(r"^filter:", re.MULTILINE)


def filters_of(text: str, file: str) -> list[SigmaFilter]:
    """The Sigma filter documents of one YAML text (cheap test first: most have none)."""
    if not _FILTER_KEY.search(text):
        return []
    try:
        collection = SigmaCollection.from_yaml(text, collect_errors=True, collect_filters=True)
    except (SigmaError, yaml.YAMLError, ValueError, TypeError, AttributeError, KeyError):
        return []  # reported by add_yaml
    return [f for f in collection.filters if not f.errors]


_QUOTED = re.compile(r"'([^'\n]{1,200})'")


def _failure(file: str, exc: BaseException, title: str = "", text: str = "") -> Failure:
    """A "not loaded" failure with its line: where the YAML parser or pySigma points,
    else the first line of ``text`` holding a name the message quotes (pySigma names
    the modifier, identifier or value it refuses but rarely knows the line)."""
    line = 0
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        line = mark.line + 1
    source = getattr(exc, "source", None)
    if not line and source is not None and getattr(source, "line", None):
        line = int(source.line)
    reason = " ".join(str(exc).split())
    if not line and text:
        line = _line_of(text, _QUOTED.findall(str(exc)))
    return Failure(file, f"not loaded: {reason}", title, line)


def _line_of(text: str, names: list[str]) -> int:
    for name in names:
        for number, line in enumerate(text.splitlines(), 1):
            if name in line:
                return number
    return 0


def add_yaml(
    found: RuleSet,
    text: str,
    file: str,
    filters: Sequence[SigmaFilter] = (),
    own_filters: bool = True,
) -> None:
    """Compile the rules of one YAML text into ``found``, failures included.

    ``filters`` (Sigma filter documents) are applied to the rules they name before
    compiling, as are the text's own filters unless ``own_filters`` is off.
    """
    try:
        collection = SigmaCollection.from_yaml(
            text, collect_errors=True, collect_filters=True, resolve_references=False
        )  # correlations' references are resolved across files by ``link``
    except (SigmaError, yaml.YAMLError, ValueError, TypeError, AttributeError, KeyError) as exc:
        found.failures.append(_failure(file, exc, text=text))
        return
    of_rules = [id(e) for rule in collection.rules for e in rule.errors]
    found.failures.extend(
        _failure(file, e, text=text) for e in collection.errors if id(e) not in of_rules
    )
    applied = [*filters, *(collection.filters if own_filters else ())]
    for rule in collection.rules:
        if rule.name:
            found.names[rule.name] = str(rule.id) if rule.id else rule.name
        if isinstance(rule, SigmaRule) and rule.errors:
            title = rule.title or ""
            found.failures.extend(_failure(file, e, title, text) for e in rule.errors)
        elif isinstance(rule, SigmaRule):
            _add(found, _filtered(rule, applied), file)
        else:
            from crownwatch.detect import sigma_correlate

            sigma_correlate.add(found, rule, file)


def link(found: RuleSet) -> None:
    """Resolve the correlations' references once every file is in (see sigma_correlate)."""
    if found.correlations:
        from crownwatch.detect import sigma_correlate

        sigma_correlate.link(found)


def _filtered(rule: SigmaRule, filters: Sequence[SigmaFilter]) -> SigmaRule:
    """The rule with the filters that name it (or its logsource, for "any") added."""
    for sigma_filter in filters:
        try:
            applied = sigma_filter.apply_on_rule(rule)
        except SigmaError as exc:
            log.warning("filter %s not applied to %s: %s", sigma_filter.title, rule.title, exc)
            continue
        if isinstance(applied, SigmaRule):
            rule = applied
    return rule


def _add(found: RuleSet, rule: SigmaRule, file: str) -> None:
    title = rule.title or ""
    where = routes(rule.logsource)
    if not where:
        ls = rule.logsource
        reason = f"logsource not routable: {ls.product}/{ls.category}/{ls.service}"
        found.failures.append(Failure(file, f"not compiled: {reason}", title))
        return
    try:
        if found.placeholders:
            expand(rule, found.placeholders)
        mapping = field_map(rule.logsource)
        if mapping is not None:
            pipeline(mapping).apply(rule)
        predicate, names = compile_rule(rule)
        prefilter = needs(rule)
        if mapping is not None:
            known = {n for v in mapping.values() for n in ((v,) if isinstance(v, str) else v)}
            if names - known:
                missing = ", ".join(sorted(names - known))
                category = rule.logsource.category
                raise Unsupported(f"field not in {category} logs we read: {missing}")
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
            status=rule.status.name.lower() if rule.status else "",
            logsource=logsource_text(rule.logsource),
            needs=prefilter,
        )
    )


def logsource_text(logsource: SigmaLogSource) -> str:
    """``product/category/service``, ``-`` for the parts not set."""
    parts = (logsource.product, logsource.category, logsource.service)
    return "/".join(p or "-" for p in parts)


@dataclass(frozen=True)
class RuleIndex:
    """Rules grouped by route, every source field name they read, their literal prefilter."""

    groups: dict[Route, list[Rule]]
    names: frozenset[str]
    prefilter: sigma_prefilter.Prefilter = field(default_factory=sigma_prefilter.Prefilter)


def index(rules: Iterable[Rule]) -> RuleIndex:
    groups: dict[Route, list[Rule]] = {}
    names: set[str] = set()
    unique: dict[int, Rule] = {}
    for rule in rules:
        names.update(rule.fields)
        names.update(rule.carry)
        unique[id(rule)] = rule
        for route in rule.routes:
            groups.setdefault(route, []).append(rule)
    prefilter = sigma_prefilter.build((k, r.routes, r.needs) for k, r in unique.items())
    return RuleIndex(groups, frozenset(names), prefilter)


def scan(
    paths: Iterable[Path],
    rules: Iterable[Rule],
    batch_rows: int = 20_000,
    correlations: Iterable[Correlation] = (),
    state: State | None = None,
) -> list[Match]:
    """Every (rule, event) match in the given files (any format crownwatch reads).

    Batches of small files are pooled up to ``batch_rows`` events before the rules run:
    the cost of a rule is mostly per call, not per event. Correlations (linked, as in
    ``RuleSet.correlations``) run over the matches; pass a ``State`` to keep their open
    windows for the next call, else they are closed at the end.
    """
    from crownwatch.detect import sigma_correlate as corr

    how = corr.plan(correlations)
    windows = state if state is not None else corr.State()
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
                matches.extend(corr.feed(scan_batch(_concat(pool), rule_index), how, windows))
                pool, pooled = [], 0
    if pooled:
        matches.extend(corr.feed(scan_batch(_concat(pool), rule_index), how, windows))
    if state is None:
        matches.extend(corr.flush(how, windows))
    return matches


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def scan_batch(events: pa.RecordBatch, rule_index: RuleIndex) -> Iterator[Match]:
    """Matches in one batch: fields parsed once, each logsource group on its own rows.

    The literal prefilter (``sigma_prefilter``) runs once over the batch; each rule's
    predicate then runs only on the rows of its group that meet its literal clauses
    (on all the group's rows for a rule without any). Columns a match shows are read
    once for all of the batch's matches.
    """
    if not events.num_rows:
        return
    frame = Frame(events, parse_fields(events.column("fields"), rule_index.names))
    prefilter = rule_index.prefilter
    masks = {route: _routed(events, route) for route in rule_index.groups}
    found = sigma_prefilter.hits(prefilter, frame, masks)
    seen: set[tuple[str, int]] = set()
    fired: list[tuple[Rule, int]] = []
    for route, group in rule_index.groups.items():
        mask = masks[route]
        rows = pc.indices_nonzero(mask)
        if not len(rows):
            continue
        routed: memoryview | None = None  # one byte per row of the batch: 1 if in the group
        everyone: tuple[Frame, list[int]] | None = None
        for rule in group:
            wanted = sigma_prefilter.candidates(prefilter, found, id(rule))
            if wanted is None:
                if everyone is None:
                    everyone = frame.take(rows), rows.to_pylist()
                sub, positions = everyone
            else:
                if not wanted:
                    continue
                if routed is None:
                    flags = pc.cast(mask, pa.uint8())
                    routed = memoryview(flags.buffers()[1])[flags.offset :]
                positions = [row for row in wanted if routed[row]]
                if not positions:
                    continue
                sub = frame.take(pa.array(positions, pa.int64()))
            try:
                hits = pc.indices_nonzero(rule.predicate(sub)).to_pylist()
            except pa.ArrowException as exc:  # one failing rule must not stop the others
                log.warning("sigma rule %s (%s) failed on a batch: %s", rule.id, rule.file, exc)
                continue
            for hit in hits:
                row = positions[hit]
                if (rule.id, row) not in seen:  # a rule with two routes sees an event once
                    seen.add((rule.id, row))
                    fired.append((rule, row))
    yield from _matches(fired, events, frame)


def _routed(events: pa.RecordBatch, route: Route) -> pa.Array:
    """A boolean per event: on this route (its column holds one of the values, and one of
    the event ids if it names some)."""
    column, values, route_ids = route
    mask = pc.is_in(events.column(column), value_set=pa.array(sorted(values), pa.string()))
    if route_ids:
        codes = events.column("winlog.event_id")
        ids = pa.array(sorted(route_ids), codes.type)
        mask = pc.and_(mask, pc.is_in(codes, value_set=ids))
    return pc.fill_null(mask, False)


#: The columns a match carries, by Match attribute.
_MATCH_COLUMNS = {
    "timestamp": "@timestamp",
    "host": "host.name",
    "file": "log.file.path",
    "event_code": "winlog.event_id",
    "event_id": "event.id",
    "original": "event.original",
}


def _matches(
    fired: list[tuple[Rule, int]], events: pa.RecordBatch, frame: Frame
) -> Iterator[Match]:
    """The matches of (rule, row) pairs, in order; each column is read once for all rows."""
    if not fired:
        return
    rows = sorted({row for _, row in fired})
    at = {row: i for i, row in enumerate(rows)}
    positions = pa.array(rows, pa.int64())
    values = {
        key: events.column(name).take(positions).to_pylist() for key, name in _MATCH_COLUMNS.items()
    }
    timestamps, hosts, files = values["timestamp"], values["host"], values["file"]
    codes, ids, originals = values["event_code"], values["event_id"], values["original"]
    for rule, row in fired:
        i = at[row]
        yield Match(
            rule_id=rule.id,
            title=rule.title,
            level=rule.level,
            tags=rule.tags,
            timestamp=timestamps[i],
            host=hosts[i],
            file=str(files[i]),
            event_code=codes[i],
            event_id=str(ids[i]),
            original=str(originals[i]),
            values=tuple((name, frame.raw(name)[row].as_py()) for name in sorted(rule.carry)),
        )


BUNDLED = "sigma-rules.zip"

#: The named sets of shipped rules: SigmaHQ's folders.
RULE_SETS: dict[str, str] = {
    "core": "rules/",
    "emerging-threats": "rules-emerging-threats/",
    "threat-hunting": "rules-threat-hunting/",
    "windows": "rules/windows/",
}
#: What runs by default, as Hayabusa and Chainsaw do: core and emerging threats.
#: Threat-hunting rules are broader (more false positives): ask for them by name.
DEFAULT_SETS = ("core", "emerging-threats")


def expand(rule: SigmaRule, values: dict[str, list[str]]) -> None:
    """Replace the rule's ``%name%`` placeholders by their values (an OR of them)."""
    ProcessingPipeline(
        items=[ProcessingItem(ValueListPlaceholderTransformation())], vars=dict(values)
    ).apply(rule)


def bundled_rules(
    sets: Sequence[str] = DEFAULT_SETS,
    filters: Sequence[SigmaFilter] = (),
    placeholders: dict[str, list[str]] | None = None,
) -> RuleSet:
    """The SigmaHQ rules shipped in the package (data/sigma: DRL 1.1, authors in each rule).

    ``sets`` names entries of ``RULE_SETS`` (or are folder prefixes inside the zip).
    Rules whose logsource crownwatch cannot route (cloud audit logs…) are failures
    with that reason.
    """
    prefixes = tuple(RULE_SETS.get(name, name) for name in sets)
    found = RuleSet(placeholders=dict(placeholders or {}))
    data = resources.files("crownwatch.data").joinpath("sigma", BUNDLED).read_bytes()
    texts = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in sorted(archive.namelist()):
            if name.endswith((".yml", ".yaml")) and name.startswith(prefixes):
                texts.append((archive.read(name).decode("utf-8", "replace"), f"sigmahq:{name}"))
    add_texts(found, texts, filters)
    return found


#: Where ``crownwatch rules add`` keeps the rule packs it accepted: one folder each.
def rules_dir(settings: Settings) -> Path:
    return settings.home / "rules"


def _user_texts(settings: Settings) -> list[tuple[str, str]]:
    folder = rules_dir(settings)
    texts: list[tuple[str, str]] = []
    if not folder.is_dir():
        return texts
    for path in rule_files([folder]):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            if path.stat().st_size <= MAX_RULE_BYTES:
                texts.append((path.read_text("utf-8"), str(path)))
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("%s: not read: %s", path, exc)
    return texts


def user_rules(settings: Settings) -> RuleSet:
    """The rules added with ``crownwatch rules add`` (their filters applied among them)."""
    found = RuleSet(placeholders=placeholder_values(settings))
    add_texts(found, _user_texts(settings))
    return found


def all_rules(settings: Settings, sets: Sequence[str] = DEFAULT_SETS) -> RuleSet:
    """Shipped and added rules in one set; the added filters apply to the shipped rules too."""
    texts = _user_texts(settings)
    filters = [f for text, file in texts for f in filters_of(text, file)]
    found = bundled_rules(sets, filters, placeholder_values(settings))
    add_texts(found, texts)
    return found


def placeholder_values(settings: Settings) -> dict[str, list[str]]:
    """``[detect.placeholders]`` of the settings: name -> values (a string is one value)."""
    return {
        str(name): [values] if isinstance(values, str) else [str(v) for v in values]
        for name, values in settings.detect.placeholders.items()
    }
