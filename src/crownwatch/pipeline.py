"""The one place that knows the order of the stages: ingest → lake → detection → alerts."""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crownwatch import ingest, lake
from crownwatch.config import Settings
from crownwatch.detect import engine, indicators, retro, sigma, sigma_correlate
from crownwatch.detect.alerts import Alert
from crownwatch.detect.engine import Detector
from crownwatch.errors import LakeError, UsageError
from crownwatch.ingest.batch import Batch, Rejected
from crownwatch.ingest.source import Source
from crownwatch.intel import kb
from crownwatch.schema import SCHEMA
from crownwatch.store import FileResult, Store
from crownwatch.store import alerts as alerts_store

log = logging.getLogger(__name__)

#: Called after each batch with (file, records read so far in that file).
Progress = Callable[[Path, int], None]

EXIT_OK, EXIT_QUARANTINED, EXIT_USAGE = 0, 1, 2


@dataclass
class IngestSummary:
    """What one ingest run did, for the CLI and the store."""

    run_id: str
    files: list[FileResult] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    datasets: Counter[str] = field(default_factory=Counter)

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def parsed(self) -> int:
        return sum(f.parsed for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    @property
    def exit_code(self) -> int:
        if self.missing:
            return EXIT_USAGE
        if self.quarantined or any(f.status not in ("done", "unchanged") for f in self.files):
            return EXIT_QUARANTINED
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "files": len(self.files),
            "records_read": self.read,
            "events_parsed": self.parsed,
            "events_added": self.added,
            "duplicates": self.parsed - self.added,
            "quarantined": self.quarantined,
            "unchanged_files": sum(f.status == "unchanged" for f in self.files),
            "missing": self.missing,
            "datasets": dict(sorted(self.datasets.items())),
            "exit_code": self.exit_code,
            "per_file": [f.__dict__ for f in self.files],
        }


#: Files smaller than this (in events) are committed together, to spare the lake many tiny
#: Parquet files and each file its own commit; a bigger file is committed on its own.
GROUP_EVENTS = 20_000


def ingest_files(
    args: list[str],
    settings: Settings,
    store: Store,
    fmt: str | None = None,
    field_map: dict[str, str] | None = None,
    dataset: str = "",
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest files, folders and globs into the lake; record the run in the store."""
    if fmt and fmt not in ingest.PARSERS:
        raise UsageError(f"unknown format {fmt!r}; known formats: {', '.join(ingest.PARSERS)}")
    paths, missing = ingest.expand(args)
    summary = IngestSummary(run_id=store.start_run(), missing=missing)
    status = "interrupted"
    try:
        with lake.LakeLock(settings.lake_dir):
            lake.recover(settings.lake_dir)
            run = _Run(settings.lake_dir, store, summary, lake.ingested(settings.lake_dir))
            for path in paths:
                src = Source(path, settings.ingest, dict(field_map or {}), dataset)
                run.ingest(src, fmt, progress)
            run.commit_group()
        status = "done"
    finally:
        store.finish_run(summary.run_id, status, summary.exit_code if status == "done" else 130)
    return summary


@dataclass
class _Pending:
    """A small file parsed and waiting for its group's commit."""

    result: FileResult
    entry: dict[str, Any]
    batches: list[Batch]


class _Run:
    """One ingest run: files in, commits out, each file recorded once it is in the lake."""

    def __init__(
        self, lake_dir: Path, store: Store, summary: IngestSummary, done: dict[str, Any]
    ) -> None:
        self.lake_dir, self.store, self.summary, self.done = lake_dir, store, summary, done
        self.ids = lake.IdCache()
        self.group: list[_Pending] = []
        self.group_events = 0

    def ingest(self, src: Source, fmt: str | None, progress: Progress | None) -> None:
        """One file: skipped when its content is in the lake already, else parsed."""
        result = FileResult(path=str(src.path), format=None)
        try:
            result.size = src.path.stat().st_size
            mark = lake.fingerprint(src.path)
        except OSError as exc:
            result.status, result.error = "error", f"cannot read: {exc.strerror or exc}"
            self._record(result)
            return
        if mark in self.done and (not fmt or self.done[mark].get("format") == fmt):
            result.format, result.status = self.done[mark].get("format"), "unchanged"
            self._record(result)
            return
        own: lake.FileWriter | None = None
        batches: list[Batch] = []
        try:
            for batch in self._batches(src, fmt, result):
                _count(batch, self.summary.datasets)
                result.read += batch.read
                result.parsed += batch.events.num_rows
                result.quarantined += len(batch.rejected)
                if progress:
                    progress(src.path, result.read)
                if own is None and result.parsed < GROUP_EVENTS:
                    batches.append(batch)
                    continue
                if own is None:  # too big to wait for a group: this file commits alone
                    own = lake.FileWriter(self.lake_dir, self.ids)
                    for held in batches:
                        own.write(held, result.path)
                    batches = []
                own.write(batch, result.path)
            entry = {
                "fingerprint": mark,
                "path": result.path,
                "format": result.format,
                "events": result.parsed,
                "quarantined": result.quarantined,
            }
            if own is not None:
                added, _ = own.commit()
                result.added = added[result.path]
                self._finish(result, entry)
            else:
                self.group.append(_Pending(result, entry, batches))
                self.group_events += result.parsed
                if self.group_events >= GROUP_EVENTS:
                    self.commit_group()
        except OSError as exc:
            self._fail(own, result, f"cannot read: {exc.strerror or exc}")
        except (KeyboardInterrupt, SystemExit, LakeError):
            if own is not None:
                own.abort()
            raise
        except Exception as exc:  # a parser bug must not stop the other files
            log.exception("%s: parser failed", src.path)
            self._fail(own, result, f"{type(exc).__name__}: {exc}"[:500])

    def _batches(self, src: Source, fmt: str | None, result: FileResult) -> Iterator[Batch]:
        parser = ingest.parser_for(src, fmt)
        if parser is None:
            yield _unrecognised(src, result)
            return
        result.format = parser.NAME
        yield from parser.parse(src)

    def commit_group(self) -> None:
        """Commit the small files waiting together, then record each."""
        if not self.group:
            return
        writer = lake.FileWriter(self.lake_dir, self.ids)
        try:
            for pending in self.group:
                for batch in pending.batches:
                    writer.write(batch, pending.result.path)
            added, _ = writer.commit()
        except BaseException:
            writer.abort()
            raise
        for pending in self.group:
            pending.result.added = added[pending.result.path]
            self._finish(pending.result, pending.entry)
        self.group, self.group_events = [], 0

    def _finish(self, result: FileResult, entry: dict[str, Any]) -> None:
        lake.mark_ingested(self.lake_dir, entry)
        self.done[entry["fingerprint"]] = entry
        self._record(result)

    def _fail(self, own: lake.FileWriter | None, result: FileResult, error: str) -> None:
        if own is not None:
            own.abort()
        result.status, result.error = "error", error
        log.warning("%s: %s", result.path, error)
        self._record(result)

    def _record(self, result: FileResult) -> None:
        self.store.add_file(self.summary.run_id, result)
        self.summary.files.append(result)


def _unrecognised(src: Source, result: FileResult) -> Batch:
    """A whole file whose format nobody recognises, quarantined (its head bytes as the raw)."""
    reason = "format not recognised (name it with --format)"
    rejected = Rejected(str(src.path), "unknown", 0, 0, reason, src.head(4096), result.size)
    result.status = "unrecognised"
    return Batch(pa.RecordBatch.from_pylist([], schema=SCHEMA), [rejected], 1)


def _count(batch: Batch, datasets: Counter[str]) -> None:
    if batch.events.num_rows:
        counts = pc.value_counts(batch.events.column("event.dataset"))
        for item in counts.to_pylist():
            datasets[str(item["values"])] += int(item["counts"])


def lake_summary(settings: Settings) -> dict[str, Any]:
    """What the lake holds: events per dataset and kind, time range, hosts, users, quarantine."""
    con = lake.connect(settings.lake_dir)
    per_source = con.execute(
        'SELECT "event.dataset", coalesce("event.category", \'-\'), count(*) FROM events '
        "GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    first, last, total, hosts, users = con.execute(
        'SELECT min("@timestamp"), max("@timestamp"), count(*), count(DISTINCT "host.name"), '
        'count(DISTINCT "user.name") FROM events'
    ).fetchone() or (None, None, 0, 0, 0)
    quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()
    reasons = con.execute(
        "SELECT reason, count(*) FROM quarantine GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
    ).fetchall()
    con.close()
    return {
        "events": int(total or 0),
        "per_source": [{"dataset": d, "category": c, "events": int(n)} for d, c, n in per_source],
        "first": first.isoformat() if first else None,
        "last": last.isoformat() if last else None,
        "hosts": int(hosts or 0),
        "users": int(users or 0),
        "quarantined": int(quarantined[0]) if quarantined else 0,
        "quarantine_reasons": [{"reason": r, "records": int(n)} for r, n in reasons],
        "lake": str(settings.lake_dir.resolve()),
        "database": settings.db_url,
    }


@dataclass
class DetectSummary:
    """What one detection run did."""

    parts: int = 0
    events: int = 0
    alerts_raised: int = 0
    added: int = 0
    updated: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    indicators_live: int = 0
    indicators_unsupported: dict[str, int] = field(default_factory=dict)  # reason -> count
    sighted: int = 0
    rules: int = 0
    rule_failures: int = 0
    demoted: dict[str, int] = field(default_factory=dict)  # common rules: rule -> entities

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "by_kind": dict(self.by_kind)}


def detect_lake(
    settings: Settings,
    store: Store,
    rules: sigma.RuleSet | None = None,
    jewels: frozenset[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DetectSummary:
    """Run detection over the lake files it has not read yet, and store the alerts.

    Sigma rules and live indicators run batch by batch over the new files; the behaviour
    analytics run over the time span of the new events, with the whole lake for baselines,
    and the crown jewels of the stored inventory unless ``jewels`` are given.
    Indicators are judged live as of the newest new event (ageing counts to the events'
    time, so a late run over old logs still matches what was live then).
    """
    summary = DetectSummary()
    parts = _new_parts(settings.lake_dir, alerts_store.detected_parts(store))
    if not parts:
        return summary
    ruleset = rules if rules is not None else sigma.all_rules(settings)
    sigma.settle()
    summary.rules, summary.rule_failures = len(ruleset.rules), len(ruleset.failures)
    start, end = _time_span(parts)
    detector = _detector(store, ruleset, settings, as_of=end or datetime.now(UTC), summary=summary)
    summary.indicators_live = len(detector.matcher.ids) if detector.matcher else 0
    found: list[Alert] = []
    done: list[tuple[str, int]] = []
    for number, (batch, read) in enumerate(_batches(parts), 1):
        summary.events += batch.num_rows
        found.extend(engine.detect(batch, detector))
        done.extend((str(p.relative_to(settings.lake_dir)), n) for p, n in read)
        if progress:
            progress(number, summary.events)
    found.extend(engine.flush(detector))
    if start is not None and end is not None:
        from crownwatch.detect import analytics

        if jewels is None:
            jewels = crown_jewels(store)
        ctx = analytics.Context(settings.analytics, start, end + timedelta(microseconds=1), jewels)
        con = lake.connect(settings.lake_dir)
        try:
            raised = analytics.run_all(con, ctx)
        finally:
            con.close()
        found.extend(raised)
    _store_alerts(settings, store, found, detector, summary)
    alerts_store.mark_detected(store, done)
    return summary


def _store_alerts(
    settings: Settings,
    store: Store,
    found: list[Alert],
    detector: Detector,
    summary: DetectSummary,
) -> None:
    """Save the alerts (deduplicated), demote the organisation's routine rules, and record
    the indicators' sightings."""
    summary.alerts_raised = len(found)
    summary.by_kind.update(a.kind for a in found)
    window = timedelta(seconds=settings.detect.dedupe_seconds)
    saved = alerts_store.save(store, found, window, settings.detect.max_alert_events)
    summary.added, summary.updated = saved.added, saved.updated
    summary.demoted = alerts_store.demote_common(
        store, settings.detect.common_rule_entities, settings.detect.common_rule_days
    )
    summary.sighted = kb.record_sightings(store, indicators.sightings(detector.hits))


def _new_parts(lake_dir: Path, seen: set[str]) -> list[Path]:
    """Lake files detection has not read: neither themselves nor all the files they replaced."""
    for new, old in lake.compactions(lake_dir):
        if old and all(o in seen for o in old):
            seen.add(new)
    events = lake_dir / "events"
    found = sorted(events.glob("dataset=*/day=*/*.parquet"))
    return [p for p in found if str(p.relative_to(lake_dir)) not in seen]


def _time_span(parts: list[Path]) -> tuple[datetime | None, datetime | None]:
    """The first and last event time of the files, from their Parquet statistics."""
    lows: list[datetime] = []
    highs: list[datetime] = []
    for path in parts:
        meta = pq.ParquetFile(path).metadata
        column = meta.schema.names.index("@timestamp")
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(column).statistics
            if stats is not None and stats.has_min_max:
                lows.append(_utc(stats.min))
                highs.append(_utc(stats.max))
    return (min(lows), max(highs)) if lows else (None, None)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _detector(
    store: Store,
    ruleset: sigma.RuleSet,
    settings: Settings,
    as_of: datetime,
    summary: DetectSummary | None = None,
) -> Detector:
    live = kb.live_index(store, now=as_of)
    matcher = indicators.Matcher.build(live.values, live.compound) if live.values else None
    if summary is not None:
        summary.indicators_unsupported = dict(live.unsupported)

    @functools.lru_cache(maxsize=4096)
    def about(ident: str) -> engine.IndicatorInfo:
        obj = kb.get(store, ident) or {"id": ident}
        related = [other for _, other in kb.relationships(store, ident, "out", "indicates")]
        return engine.indicator_info(obj, related)

    return Detector(
        rules=sigma.index(ruleset.rules),
        matcher=matcher,
        correlations=sigma_correlate.plan(ruleset.correlations),
        about=about,
        min_level=settings.detect.min_level,
    )


#: Detection reads the lake in batches of about this many events.
DETECT_BATCH = 20_000


def _batches(parts: list[Path]) -> Iterator[tuple[pa.RecordBatch, list[tuple[Path, int]]]]:
    """The new files' events, small files pooled into batches of about DETECT_BATCH events,
    each with the files it completes (file, rows)."""
    pool: list[pa.Table] = []
    pooled = 0
    files: list[tuple[Path, int]] = []
    for path in parts:
        table = pq.read_table(path, schema=SCHEMA)
        pool.append(table)
        pooled += table.num_rows
        files.append((path, table.num_rows))
        if pooled >= DETECT_BATCH:
            yield from _split(pa.concat_tables(pool), files)
            pool, pooled, files = [], 0, []
    if pool:
        yield from _split(pa.concat_tables(pool), files)


def _split(
    table: pa.Table, files: list[tuple[Path, int]]
) -> Iterator[tuple[pa.RecordBatch, list[tuple[Path, int]]]]:
    batches = table.combine_chunks().to_batches(max_chunksize=DETECT_BATCH * 4)
    for at, batch in enumerate(batches):
        yield batch, files if at == len(batches) - 1 else []


def hunt_retro(
    settings: Settings,
    store: Store,
    since: datetime,
    rules: sigma.RuleSet | None = None,
) -> DetectSummary:
    """Sweep the lake's events since ``since`` with the live indicators (and ``rules``, if
    given); the alerts are marked retrospective. Indicators are judged live as of the
    newest event in the lake."""
    summary = DetectSummary()
    con = lake.connect(settings.lake_dir)
    try:
        if not _has_events(con):
            return summary
        newest = con.execute('SELECT max("@timestamp") FROM events').fetchone()
        as_of = min(_utc(newest[0]), datetime.now(UTC)) if newest and newest[0] else since
        detector = _detector(store, rules or sigma.RuleSet(), settings, as_of, summary=summary)
        detector.retro = True
        summary.indicators_live = len(detector.matcher.ids) if detector.matcher else 0
        found = retro.hunt(con, detector, since)
        if rules is not None and rules.rules:
            summary.rules = len(rules.rules)
            matcher, detector.matcher = detector.matcher, None
            query = 'SELECT * EXCLUDE (dataset, day) FROM events WHERE "@timestamp" >= $since'
            reader = con.execute(query, {"since": since}).to_arrow_reader(DETECT_BATCH)
            for batch in reader or ():
                summary.events += batch.num_rows
                found.extend(engine.detect(batch, detector))
            found.extend(engine.flush(detector))
            detector.matcher = matcher
    finally:
        con.close()
    _store_alerts(settings, store, found, detector, summary)
    return summary


def _has_events(con: Any) -> bool:
    return bool(
        con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'events'").fetchone()[0]
    )


def crown_jewels(store: Store) -> frozenset[str]:
    """Names, addresses and shares of the stored inventory's crown jewels."""
    from crownwatch.risk import assets
    from crownwatch.store import assets as assets_store

    return assets.crown_jewels(assets_store.listing(store))


def build_incidents(settings: Settings, store: Store) -> list[dict[str, Any]]:
    """Group the stored alerts into incidents (rebuilt as a whole) and store them."""
    from crownwatch.correlate import facts, incidents
    from crownwatch.intel import attack
    from crownwatch.risk import assets
    from crownwatch.store import assets as assets_store
    from crownwatch.store import incidents as incidents_store

    found = alerts_store.listing(store, limit=0, min_severity="low")
    inventory = assets_store.listing(store)
    ctx = incidents.Context(
        tactics_of={
            **attack.tactics_by_technique(attack.patterns()),  # shipped, then what was imported
            **attack.tactics_by_technique(kb.objects(store, ["attack-pattern"])),
        },
        crown_jewels=assets.jewel_names(inventory),
    )
    wanted = {
        (kind, str(value).lower() if kind != "ip" else str(value))
        for alert in found
        for kind in incidents.MEASURED
        for value in alert["entities"].get(kind, ())
    }
    con = lake.connect(settings.lake_dir)
    try:
        if _has_events(con):
            ctx.host_of_ip = facts.hosts_by_ip(con)
            ctx.peers = facts.peers(con, wanted)
    finally:
        con.close()
    ctx.host_of_ip = {
        **ctx.host_of_ip,
        **{
            str(a["ip"]): incidents.short_host(str(a.get("hostname") or a.get("fqdn") or ""))
            for a in inventory
            if a.get("ip") and "/" not in str(a["ip"]) and (a.get("hostname") or a.get("fqdn"))
        },
    }
    built = incidents.build(found, ctx)
    incidents_store.replace_all(store, built)
    return built


def rank_risks(store: Store, threats: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The risk objects (hosts, users) by risk, crown jewels first, from the stored alerts,
    incidents and inventory. Risk decays from the newest alert's time (the data's present)."""
    from crownwatch.risk import score
    from crownwatch.store import assets as assets_store
    from crownwatch.store import incidents as incidents_store

    found = alerts_store.listing(store, limit=0, min_severity="low")
    if not found:
        return []
    now = min(max(a["last"] for a in found), datetime.now(UTC))
    return score.rank(
        found, incidents_store.listing(store), assets_store.listing(store), now, threats
    )


@dataclass
class ReportFiles:
    """Where a report was written."""

    html: Path
    pdf: Path | None
    stix: list[Path] = field(default_factory=list)
    layer: Path | None = None


def write_report(
    settings: Settings,
    store: Store,
    out: Path,
    organisation: str = "",
    pdf: bool = True,
    tlp: str = "amber",
    landscape: Mapping[str, Any] | None = None,
    risks: list[dict[str, Any]] | None = None,
) -> ReportFiles:
    """The HTML report (and its PDF), each top incident as a STIX bundle, and the threat
    landscape as a Navigator layer (when there is one), into ``out``."""
    from crownwatch.intel import attack
    from crownwatch.report import build, render, stix
    from crownwatch.store import incidents as incidents_store

    out.mkdir(parents=True, exist_ok=True)
    found = incidents_store.listing(store)
    alerts = alerts_store.listing(store, limit=0, min_severity="low")
    ranked = risks if risks is not None else rank_risks(store, threats(store, found))
    data = build.collect(found, alerts, ranked, lake_summary(settings), organisation, landscape)
    page = render.html(data)
    files = ReportFiles(html=out / "report.html", pdf=out / "report.pdf" if pdf else None)
    if landscape is not None and landscape["techniques"]:
        from crownwatch.risk import landscape as landscapes

        files.layer = out / "landscape-layer.json"
        files.layer.write_bytes(
            orjson.dumps(landscapes.layer(dict(landscape)), option=orjson.OPT_INDENT_2)
        )
    files.html.write_text(page, "utf-8")
    if files.pdf:
        render.pdf(page, files.pdf)
    patterns = {attack.attack_id(p): p for p in attack.patterns()}
    patterns.update({attack.attack_id(p): p for p in kb.objects(store, ["attack-pattern"])})
    wanted = {a["rule"] for a in alerts if a["kind"] == "indicator"}
    indicators = {i: obj for i in wanted if (obj := kb.get(store, i))}
    for incident in found[:3]:
        top = (incident.get("attribution") or [{}])[0]
        group = kb.get(store, top["stix_id"]) if top.get("stix_id") else None
        bundle = stix.incident_bundle(
            incident,
            alerts,
            patterns,
            indicators,
            {group["id"]: group} if group else {},
            tlp,
        )
        path = out / f"{incident['id'].lower()}.stix.json"
        path.write_bytes(orjson.dumps(bundle, option=orjson.OPT_INDENT_2))
        files.stix.append(path)
    return files


def answer(
    settings: Settings,
    store: Store,
    out: Path,
    organisation: str = "",
    pdf: bool = True,
    sectors: tuple[str, ...] = (),
) -> dict[str, Any]:
    """From the stored alerts to the answers: incidents, risks, the threat landscape (for
    the organisation's sectors, when known) and the report."""
    sectors = sectors or settings.organisation.sectors
    built = attribute_incidents(store, build_incidents(settings, store), sectors)
    risks = rank_risks(store, threats(store, built, sectors))
    landscape = threat_landscape(settings, store, sectors) if sectors else None
    files = write_report(settings, store, out, organisation, pdf, landscape=landscape, risks=risks)
    top = built[0] if built else None
    return {
        "incidents": len(built),
        "top_incident": top,
        "hypothesis": (top.get("attribution") or [None])[0] if top else None,
        "risks": risks[:5],
        "report": {
            "html": str(files.html),
            "pdf": str(files.pdf) if files.pdf else None,
            "stix": [str(p) for p in files.stix],
            "layer": str(files.layer) if files.layer else None,
        },
        "landscape": {
            "groups": len(landscape["groups"]),
            "techniques": len(landscape["techniques"]),
            "covered": landscape["covered"],
            "gaps": landscape["gaps"][:10],
        }
        if landscape
        else None,
    }


def detection_coverage(ruleset: sigma.RuleSet) -> set[str]:
    """ATT&CK techniques the installed detection looks for: Sigma rules' tags and the
    behaviour analytics."""
    from crownwatch.detect import analytics
    from crownwatch.detect.alerts import techniques_of

    found = {t for rule in ruleset.rules for t in techniques_of(rule.tags)}
    found.update(t for module in analytics.ANALYTICS.values() for t in module.TECHNIQUES)
    return found


def threat_landscape(
    settings: Settings,
    store: Store,
    sectors: tuple[str, ...] = (),
    country: str = "",
    ruleset: sigma.RuleSet | None = None,
) -> dict[str, Any]:
    """Groups targeting the organisation's sectors, their techniques, detection's gaps."""
    from crownwatch.risk import landscape

    org = settings.organisation
    covered = detection_coverage(ruleset or sigma.all_rules(settings))
    return landscape.landscape(store, sectors or org.sectors, country or org.country, covered)


#: Incidents attributed (the top ones by score: the rest are rarely worth a hypothesis).
ATTRIBUTED = 10


def attribute_incidents(
    store: Store, built: list[dict[str, Any]], sectors: tuple[str, ...] = (), country: str = ""
) -> list[dict[str, Any]]:
    """Each top incident with its ranked hypotheses (``attribution``), stored again."""
    from crownwatch.attribute import engine, profiles
    from crownwatch.store import incidents as incidents_store

    if not built:
        return built
    known = profiles.load(store)
    alerts = {a["id"]: a for a in alerts_store.listing(store, limit=0, min_severity="low")}
    for incident in built[:ATTRIBUTED]:
        evidence = engine.Evidence(
            techniques=list(incident["techniques"]),
            indicators=sorted(
                {
                    alerts[a]["rule"]
                    for a in incident["alerts"]
                    if a in alerts and alerts[a]["kind"] == "indicator"
                }
            ),
            sectors=list(sectors),
            country=country or None,
            when=incident["first"],
        )
        result = engine.attribute(known, evidence, top=5)
        incident["attribution"] = result.hypotheses
        incident["unattributed"] = result.unattributed
        top = result.hypotheses[0] if result.hypotheses else None
        if top and top["confidence"] in ("moderate", "high"):  # the title names the actor
            incident["title"] = (
                f"{top['name']} ({top['confidence']} confidence): {incident['title']}"
            )
    incidents_store.replace_all(store, built)
    return built


#: How much a state group's incident weighs on risk, by the attribution's confidence.
THREAT_BY_CONFIDENCE = {"high": 1.5, "moderate": 1.3, "low": 1.1}


def threats(
    store: Store, built: list[dict[str, Any]], sectors: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Per attributed incident, the threat factor on its alerts' risk and why: a group with
    a known sponsor country weighs more, the more so when it targets our sectors and the
    surer the attribution; commodity or unattributed activity weighs 1."""
    from crownwatch.attribute import profiles
    from crownwatch.risk.score import Threat

    known = profiles.load(store)
    wanted = {s.casefold() for s in sectors}
    found: dict[str, Any] = {}
    for incident in built:
        top = (incident.get("attribution") or [None])[0]
        if not top or top["confidence"] == "low":
            continue
        group = known.groups.get(top["stix_id"])
        if group is None or not group.country:
            continue
        targets = wanted & {s.casefold() for s in group.sectors}
        factor = THREAT_BY_CONFIDENCE[top["confidence"]] + (0.2 if targets else 0.0)
        why = (
            f"{top['name']} ({top['id']}, {group.country}), {top['confidence']} confidence"
            + (f", targets {', '.join(sorted(targets))}" if targets else "")
            + f": ×{factor:g}"
        )
        found[incident["id"]] = Threat(factor, why)
    return found
