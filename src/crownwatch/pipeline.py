"""The one place that knows the order of the stages: ingest → lake (→ detection, later)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from crownwatch import ingest, lake
from crownwatch.config import Settings
from crownwatch.errors import LakeError, UsageError
from crownwatch.ingest.batch import Batch, Rejected
from crownwatch.ingest.source import Source
from crownwatch.schema import SCHEMA
from crownwatch.store import FileResult, Store

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
