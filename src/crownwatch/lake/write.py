"""Writing the lake: each file's batches are staged, then committed without duplicates.

A file's events go to a staging Parquet file first. Committing anti-joins them
against the partitions they touch (by ``event.id``), writes new partition files,
and moves them into place. A run killed at any point leaves at worst some moved
files of one source; running the ingest again adds only what is missing, so an
interrupted ingest resumed equals one clean run.

Layout: ``<lake>/events/dataset=<d>/day=<YYYY-MM-DD>/part-<uuid>.parquet`` and
``<lake>/quarantine/part-<uuid>.parquet``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from crownwatch.errors import LakeError
from crownwatch.ingest.batch import QUARANTINE_SCHEMA, Batch, quarantine_table
from crownwatch.schema import SCHEMA

COMPACT_MANIFEST = ".compact.json"
_PARTITION = (
    "regexp_replace(lower(coalesce(\"event.dataset\", 'unknown')), '[^a-z0-9_.-]', '_', 'g')"
)


class LakeLock:
    """One writer at a time: an exclusive lock on ``<lake>/.lock``."""

    def __init__(self, lake_dir: Path) -> None:
        self.path = lake_dir / ".lock"
        self.handle: IO[str] | None = None

    def __enter__(self) -> LakeLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.path.open("w")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self.handle.close()
            raise LakeError(f"another crownwatch process is writing {self.path.parent}") from exc
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.handle:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET memory_limit = '256MB'")
    return con


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


class FileWriter:
    """Stages the batches of one source file and commits them to the lake."""

    def __init__(self, lake_dir: Path) -> None:
        self.lake = lake_dir
        self.stage = lake_dir / ".staging" / uuid.uuid4().hex
        self.stage.mkdir(parents=True)
        self._events: pq.ParquetWriter | None = None
        self._quarantine: pq.ParquetWriter | None = None
        self.staged = 0
        self.rejected = 0

    def write(self, batch: Batch) -> None:
        if batch.events.num_rows:
            if self._events is None:
                self._events = pq.ParquetWriter(self.stage / "events.parquet", SCHEMA,
                                                compression="lz4")
            self._events.write_batch(batch.events)
            self.staged += batch.events.num_rows
        if batch.rejected:
            if self._quarantine is None:
                self._quarantine = pq.ParquetWriter(self.stage / "quarantine.parquet",
                                                    QUARANTINE_SCHEMA, compression="zstd")
            self._quarantine.write_table(quarantine_table(batch.rejected))
            self.rejected += len(batch.rejected)

    def _close(self) -> None:
        for writer in (self._events, self._quarantine):
            if writer is not None:
                writer.close()
        self._events = self._quarantine = None

    def commit(self) -> tuple[int, int]:
        """Move what is new into the lake; returns (events added, quarantined added)."""
        self._close()
        try:
            con = _connect()
            added = self._commit_events(con) if self.staged else 0
            quarantined = self._commit_quarantine(con) if self.rejected else 0
            con.close()
        except duckdb.Error as exc:
            raise LakeError(f"cannot write the lake at {self.lake}: {exc}") from exc
        finally:
            shutil.rmtree(self.stage, ignore_errors=True)
        return added, quarantined

    def abort(self) -> None:
        self._close()
        shutil.rmtree(self.stage, ignore_errors=True)

    def _commit_events(self, con: duckdb.DuckDBPyConnection) -> int:
        staged = self.stage / "events.parquet"
        con.execute(
            f"CREATE TEMP VIEW staged AS SELECT *, {_PARTITION} AS dataset, "
            "strftime(\"@timestamp\", '%Y-%m-%d') AS day FROM read_parquet("
            f"{_sql_list([staged])[1:-1]})"
        )
        parts = con.execute("SELECT DISTINCT dataset, day FROM staged").fetchall()
        existing = [
            f
            for dataset, day in parts
            for f in sorted((self.lake / "events" / f"dataset={dataset}" / f"day={day}").glob(
                "*.parquet"))
        ]
        new = "staged"
        if existing:
            con.execute(
                "CREATE TEMP VIEW fresh AS SELECT s.* FROM staged s ANTI JOIN "
                f"read_parquet({_sql_list(existing)}) l ON s.\"event.id\" = l.\"event.id\""
            )
            new = "fresh"
        out = self.stage / "out"
        count_row = con.execute(f"SELECT count(*) FROM {new}").fetchone()
        count = int(count_row[0]) if count_row else 0
        if count == 0:
            return 0
        con.execute(
            f"COPY (SELECT * FROM {new}) TO '{out}' (FORMAT parquet, PARTITION_BY (dataset, day), "
            "FILENAME_PATTERN 'part-{uuid}', COMPRESSION zstd)"
        )
        for path in sorted(out.rglob("*.parquet")):
            target = self.lake / "events" / path.relative_to(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        return count

    def _commit_quarantine(self, con: duckdb.DuckDBPyConnection) -> int:
        staged = self.stage / "quarantine.parquet"
        qdir = self.lake / "quarantine"
        existing = sorted(qdir.glob("*.parquet"))
        table = pq.read_table(staged)
        if existing:
            known = con.sql(
                f"SELECT DISTINCT \"quarantine.id\" FROM read_parquet({_sql_list(existing)})"
            ).to_arrow_table()
            mask = pa.compute.invert(
                pa.compute.is_in(table["quarantine.id"], value_set=known["quarantine.id"])
            )
            table = table.filter(mask)
        if table.num_rows == 0:
            return 0
        qdir.mkdir(parents=True, exist_ok=True)
        name = f"part-{uuid.uuid4().hex}.parquet"
        pq.write_table(table, self.stage / name, compression="zstd")
        os.replace(self.stage / name, qdir / name)
        return int(table.num_rows)


def recover(lake_dir: Path) -> None:
    """Finish or undo what a killed run left: staging folders and half-done compactions."""
    shutil.rmtree(lake_dir / ".staging", ignore_errors=True)
    for manifest in (lake_dir / "events").rglob(COMPACT_MANIFEST):
        _finish_compaction(manifest)


def _finish_compaction(manifest: Path) -> None:
    plan = json.loads(manifest.read_text())
    tmp, final = manifest.parent / plan["tmp"], manifest.parent / plan["final"]
    if tmp.exists():  # the new file never got into place: keep the old ones
        tmp.unlink()
    elif final.exists():  # the new file is in place: the old ones must go
        for name in plan["old"]:
            (manifest.parent / name).unlink(missing_ok=True)
    manifest.unlink()


def compact(lake_dir: Path) -> tuple[int, int]:
    """Merge each partition's files into one, sorted by time; returns (partitions, files before)."""
    partitions = files_before = 0
    con = _connect()
    for part in sorted({p.parent for p in (lake_dir / "events").rglob("*.parquet")}):
        files = sorted(part.glob("*.parquet"))
        if len(files) < 2:
            continue
        name = f"part-{uuid.uuid4().hex}"
        tmp, final = f".{name}.tmp", f"{name}.parquet"
        con.execute(
            f"COPY (SELECT * FROM read_parquet({_sql_list(files)}, hive_partitioning = false) "
            f"ORDER BY \"@timestamp\") TO '{part / tmp}' (FORMAT parquet, COMPRESSION zstd)"
        )
        manifest = part / COMPACT_MANIFEST
        manifest.write_text(json.dumps({"tmp": tmp, "final": final,
                                        "old": [f.name for f in files]}))
        os.replace(part / tmp, part / final)
        _finish_compaction(manifest)
        partitions += 1
        files_before += len(files)
    con.close()
    return partitions, files_before
