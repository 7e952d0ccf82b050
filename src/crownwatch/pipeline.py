"""The one place that knows the order of the stages: ingest → lake (→ detection, later)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
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
    lake_dir = settings.lake_dir
    summary = IngestSummary(run_id=store.start_run(), missing=missing)
    status = "interrupted"
    try:
        with lake.LakeLock(lake_dir):
            lake.recover(lake_dir)
            done = lake.ingested(lake_dir)
            ids = lake.IdCache()
            for path in paths:
                src = Source(path, settings.ingest, dict(field_map or {}), dataset)
                result = _ingest_one(src, fmt, lake_dir, summary.datasets, progress, done, ids)
                store.add_file(summary.run_id, result)
                summary.files.append(result)
        status = "done"
    finally:
        store.finish_run(summary.run_id, status, summary.exit_code if status == "done" else 130)
    return summary


def _ingest_one(
    src: Source,
    fmt: str | None,
    lake_dir: Path,
    datasets: Counter[str],
    progress: Progress | None,
    done: dict[str, dict[str, Any]],
    ids: lake.IdCache,
) -> FileResult:
    """One file into the lake; a file whose content is already there is skipped."""
    result = FileResult(path=str(src.path), format=None)
    try:
        result.size = src.path.stat().st_size
        mark = lake.fingerprint(src.path)
    except OSError as exc:
        result.status, result.error = "error", f"cannot read: {exc.strerror or exc}"
        return result
    if mark in done and (not fmt or done[mark].get("format") == fmt):
        result.format, result.status = done[mark].get("format"), "unchanged"
        return result
    writer = lake.FileWriter(lake_dir, ids)
    try:
        parser = ingest.parser_for(src, fmt)
        if parser is None:
            _reject_file(writer, src, "format not recognised (name it with --format)", result)
        else:
            result.format = parser.NAME
            for batch in parser.parse(src):
                _count(batch, datasets)
                result.read += batch.read
                result.parsed += batch.events.num_rows
                writer.write(batch)
                if progress:
                    progress(src.path, result.read)
        result.added, _ = writer.commit()
        result.quarantined = writer.rejected
        entry = {
            "fingerprint": mark,
            "path": result.path,
            "format": result.format,
            "events": result.parsed,
            "quarantined": result.quarantined,
        }
        lake.mark_ingested(lake_dir, entry)
        done[mark] = entry
    except OSError as exc:
        writer.abort()
        result.status, result.error = "error", f"cannot read: {exc.strerror or exc}"
        log.warning("%s: %s", src.path, result.error)
    except (KeyboardInterrupt, SystemExit, LakeError):
        writer.abort()
        raise
    except Exception as exc:  # a parser bug must not stop the other files
        writer.abort()
        result.status, result.error = "error", f"{type(exc).__name__}: {exc}"[:500]
        log.exception("%s: parser failed", src.path)
    return result


def _reject_file(writer: lake.FileWriter, src: Source, reason: str, result: FileResult) -> None:
    """Quarantine a whole file whose format nobody recognises (its head bytes as the raw)."""
    rejected = Rejected(str(src.path), "unknown", 0, 0, reason, src.head(4096), result.size)
    writer.write(Batch(pa.RecordBatch.from_pylist([], schema=SCHEMA), [rejected], 1))
    result.read = 1
    result.status = "unrecognised"


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
