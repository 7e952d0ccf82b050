"""Writing the lake: each file's batches are staged, then committed without duplicates.

A file's events go to staging Parquet files, one per partition. Committing moves
each into its partition, after dropping (by ``event.id``) the events that
partition already holds. A run killed at any point leaves at worst some moved
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
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from crownwatch.errors import LakeError
from crownwatch.ingest.batch import QUARANTINE_SCHEMA, Batch, quarantine_table
from crownwatch.schema import SCHEMA

COMPACT_MANIFEST = ".compact.json"
#: Partition folders keep this much of a dataset name (records may name their own dataset).
MAX_DATASET_NAME = 100


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


def partition_keys(events: pa.RecordBatch | pa.Table) -> tuple[pa.Array, pa.Array]:
    """Each event's partition: its dataset made safe for a folder name, and its day."""
    dataset = pc.replace_substring_regex(
        pc.utf8_lower(pc.fill_null(events.column("event.dataset"), "unknown")),
        pattern="[^a-z0-9_.-]",
        replacement="_",
    )
    dataset = pc.utf8_slice_codeunits(dataset, 0, MAX_DATASET_NAME)  # a folder name is bounded
    day = pc.strftime(events.column("@timestamp"), format="%Y-%m-%d")
    return dataset, day


class IdCache:
    """The event ids each partition holds, read once a run and kept up to date.

    Bounded: past ``limit`` ids the least recently used partitions are dropped and
    read again from their files when needed.
    """

    def __init__(self, limit: int = 4_000_000) -> None:
        self.limit = limit
        self._ids: dict[Path, pa.Array] = {}

    def get(self, partition: Path) -> pa.Array | None:
        """The ids in a partition folder, or None when it holds no events yet."""
        ids = self._ids.pop(partition, None)
        if ids is None:
            files = sorted(partition.glob("*.parquet"))
            if not files:
                return None
            ids = pq.read_table(files, columns=["event.id"]).column("event.id").combine_chunks()
        self._ids[partition] = ids  # most recently used last
        return ids

    def add(self, partition: Path, ids: pa.ChunkedArray) -> None:
        old = self._ids.pop(partition, None)
        new = ids.combine_chunks()
        self._ids[partition] = new if old is None else pa.concat_arrays([old, new])
        while sum(len(v) for v in self._ids.values()) > self.limit and len(self._ids) > 1:
            del self._ids[next(iter(self._ids))]


class FileWriter:
    """Writes the batches of one source file into the lake, then commits them.

    Events go straight to staging files, one per partition. ``commit`` moves each
    into place; where the partition already held events, it first drops the ones
    already there (by ``event.id``). Pass one ``IdCache`` to all the writers of a run.
    """

    MAX_OPEN = 64

    def __init__(self, lake_dir: Path, ids: IdCache | None = None) -> None:
        self.lake = lake_dir
        self.stage = lake_dir / ".staging" / uuid.uuid4().hex
        self.stage.mkdir(parents=True)
        self.ids = ids or IdCache()
        self._open: dict[tuple[str, str], pq.ParquetWriter] = {}
        self._parts: list[tuple[tuple[str, str], Path]] = []
        self._quarantine: pq.ParquetWriter | None = None
        self.written: Counter[str] = Counter()
        self.rejected = 0

    def write(self, batch: Batch, source: str = "") -> None:
        """Stage one batch; ``source`` names the file it came from, for the counts."""
        events = batch.events
        if events.num_rows:
            datasets, days = partition_keys(events)
            keys = pc.binary_join_element_wise(datasets, days, "/")
            unique = pc.unique(keys).to_pylist()
            for key in unique:
                part = events if len(unique) == 1 else events.filter(pc.equal(keys, key))
                dataset, day = str(key).split("/", 1)
                self._writer((dataset, day)).write_batch(part)
            self.written[source] += events.num_rows
        if batch.rejected:
            if self._quarantine is None:
                self._quarantine = pq.ParquetWriter(
                    self.stage / "quarantine.parquet", QUARANTINE_SCHEMA, compression="zstd"
                )
            self._quarantine.write_table(quarantine_table(batch.rejected))
            self.rejected += len(batch.rejected)

    def _writer(self, key: tuple[str, str]) -> pq.ParquetWriter:
        writer = self._open.get(key)
        if writer is None:
            if len(self._open) >= self.MAX_OPEN:  # bound open files: an attacker picks the days
                self._close_events()
            path = self.stage / f"{len(self._parts):06d}.parquet"
            # snappy: cheap for the many small files of an ingest; compaction makes zstd
            writer = pq.ParquetWriter(path, SCHEMA, compression="snappy")
            self._open[key] = writer
            self._parts.append((key, path))
        return writer

    def _close_events(self) -> None:
        for writer in self._open.values():
            writer.close()
        self._open.clear()

    def _close(self) -> None:
        self._close_events()
        if self._quarantine is not None:
            self._quarantine.close()
            self._quarantine = None

    def commit(self) -> tuple[Counter[str], int]:
        """Move what is new into the lake; returns (events added per source, quarantined)."""
        self._close()
        added = Counter(self.written)
        try:
            for key, path in self._parts:
                added.subtract(self._commit_part(key, path))
            quarantined = self._commit_quarantine() if self.rejected else 0
        except (pa.ArrowException, OSError) as exc:
            raise LakeError(f"cannot write the lake at {self.lake}: {exc}") from exc
        finally:
            shutil.rmtree(self.stage, ignore_errors=True)
        return added, quarantined

    def abort(self) -> None:
        self._close()
        shutil.rmtree(self.stage, ignore_errors=True)

    def _commit_part(self, key: tuple[str, str], path: Path) -> Counter[str]:
        """Move one staged partition file into place; returns the duplicates per source."""
        dataset, day = key
        target = self.lake / "events" / f"dataset={dataset}" / f"day={day}"
        final = target / f"part-{uuid.uuid4().hex}.parquet"
        staged = pq.read_table(path, columns=["event.id", "log.file.path"])
        ids = staged.column("event.id")
        known = self.ids.get(target)
        new = _first_of_each(ids)
        if known is not None:
            new = pc.and_(new, pc.invert(pc.is_in(ids, value_set=known)))
        count = int(pc.sum(new).as_py() or 0)
        target.mkdir(parents=True, exist_ok=True)
        if count == len(ids):
            os.replace(path, final)
        elif count:
            pq.write_table(pq.read_table(path).filter(new), final, compression="snappy")
        if known is not None:
            self.ids.add(target, ids.filter(new))
        if count == len(ids):
            return Counter()
        dropped = pc.value_counts(staged.column("log.file.path").filter(pc.invert(new)))
        return Counter({str(v["values"]): int(v["counts"]) for v in dropped.to_pylist()})

    def _commit_quarantine(self) -> int:
        staged = self.stage / "quarantine.parquet"
        qdir = self.lake / "quarantine"
        existing = sorted(qdir.glob("*.parquet"))
        table = pq.read_table(staged)
        if existing:
            known = pq.read_table(existing, columns=["quarantine.id"]).column("quarantine.id")
            table = table.filter(pc.invert(pc.is_in(table["quarantine.id"], value_set=known)))
        if table.num_rows == 0:
            return 0
        qdir.mkdir(parents=True, exist_ok=True)
        name = f"part-{uuid.uuid4().hex}.parquet"
        pq.write_table(table, self.stage / name, compression="zstd")
        os.replace(self.stage / name, qdir / name)
        return int(table.num_rows)


INGESTED = "ingested.jsonl"


def fingerprint(path: Path) -> str:
    """A hash of a file's bytes and size: the same content under any name is the same file."""
    h = xxhash.xxh3_128()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return f"{h.hexdigest()}-{path.stat().st_size}"


def ingested(lake_dir: Path) -> dict[str, dict[str, Any]]:
    """The files whose every record is in this lake, by fingerprint."""
    registry = lake_dir / INGESTED
    found: dict[str, dict[str, Any]] = {}
    if registry.exists():
        for line in registry.read_text().splitlines():
            try:
                entry = json.loads(line)
                found[str(entry["fingerprint"])] = entry
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a kill: that file is simply ingested again
    return found


def mark_ingested(lake_dir: Path, entry: dict[str, Any]) -> None:
    """Remember a file as wholly in the lake (after its commit)."""
    with (lake_dir / INGESTED).open("a") as fh:
        fh.write(json.dumps(entry) + "\n")


def _first_of_each(ids: pa.ChunkedArray) -> pa.Array:
    """A mask keeping the first row of each id (a batch may repeat what another file had)."""
    if pc.count_distinct(ids).as_py() == len(ids):
        return pa.array([True] * len(ids))
    index = pa.table({"id": ids, "i": pa.array(range(len(ids)), pa.int64())})
    firsts = index.group_by("id").aggregate([("i", "min")]).column("i_min")
    mask = [False] * len(ids)
    for i in firsts.to_pylist():
        mask[i] = True
    return pa.array(mask)


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


COMPACTIONS = "compactions.jsonl"


def _log_compaction(lake_dir: Path, new: Path, old: list[Path]) -> None:
    """Note which files a compacted file replaced (detection follows what it has read)."""
    entry = {
        "new": str(new.relative_to(lake_dir)),
        "old": [str(p.relative_to(lake_dir)) for p in old],
    }
    with (lake_dir / COMPACTIONS).open("a") as fh:
        fh.write(json.dumps(entry) + "\n")


def compactions(lake_dir: Path) -> list[tuple[str, list[str]]]:
    """(new file, the files it replaced), oldest first, paths relative to the lake."""
    path = lake_dir / COMPACTIONS
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
            found.append((str(entry["new"]), [str(o) for o in entry["old"]]))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a crash
    return found


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
        manifest.write_text(
            json.dumps({"tmp": tmp, "final": final, "old": [f.name for f in files]})
        )
        os.replace(part / tmp, part / final)
        _log_compaction(lake_dir, part / final, files)
        _finish_compaction(manifest)
        partitions += 1
        files_before += len(files)
    con.close()
    return partitions, files_before
