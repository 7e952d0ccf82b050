"""The lake: partitioned Parquet, no duplicates, compaction that survives a kill, DuckDB views."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from crownwatch import lake
from crownwatch.errors import LakeError
from crownwatch.ingest.batch import Batch, Rejected
from crownwatch.schema import SCHEMA, event_id

DAY = 86_400_000_000
T0 = 1_759_622_400_000_000  # 2025-10-05T00:00:00Z


def _batch(dataset: str, n: int, start: int = 0, day_step: int = 0, source: str = "f.log") -> Batch:
    rows = [
        {
            "@timestamp": T0 + i * 1_000_000 + (i % 2) * day_step,
            "event.id": event_id(dataset, i, b"r%d" % i),
            "event.dataset": dataset,
            "host.name": f"h{i % 3}",
            "log.file.path": source,
        }
        for i in range(start, start + n)
    ]
    return Batch(pa.RecordBatch.from_pylist(rows, schema=SCHEMA), [], n)


def _write(lake_dir: Path, *batches: Batch) -> tuple[int, int]:
    writer = lake.FileWriter(lake_dir)
    for b in batches:
        writer.write(b, "f.log")
    added, quarantined = writer.commit()
    assert set(added) <= {"f.log"}
    return added["f.log"], quarantined


def _count(lake_dir: Path, sql: str = "SELECT count(*) FROM events") -> int:
    con = lake.connect(lake_dir)
    row = con.execute(sql).fetchone()
    con.close()
    assert row is not None
    return int(row[0])


def test_partitions_by_dataset_and_day(tmp_path: Path) -> None:
    assert _write(tmp_path, _batch("zeek.dns", 10, day_step=DAY)) == (10, 0)
    parts = sorted(
        p.relative_to(tmp_path / "events").parent.as_posix()
        for p in (tmp_path / "events").rglob("*.parquet")
    )
    assert parts == ["dataset=zeek.dns/day=2025-10-05", "dataset=zeek.dns/day=2025-10-06"]
    assert _count(tmp_path) == 10
    assert _count(tmp_path, "SELECT count(*) FROM zeek_dns WHERE day = DATE '2025-10-06'") == 5


def test_nothing_is_added_twice(tmp_path: Path) -> None:
    _write(tmp_path, _batch("zeek.dns", 10))
    assert _write(tmp_path, _batch("zeek.dns", 10)) == (0, 0)
    assert _write(tmp_path, _batch("zeek.dns", 10, start=5)) == (5, 0)  # half new
    assert _count(tmp_path) == 15
    assert _count(tmp_path, 'SELECT count(DISTINCT "event.id") FROM events') == 15


def test_ids_repeated_within_one_commit_are_kept_once(tmp_path: Path) -> None:
    writer = lake.FileWriter(tmp_path)
    writer.write(_batch("zeek.dns", 10, source="a.log"), "a.log")
    writer.write(_batch("zeek.dns", 10, start=5, source="b.log"), "b.log")  # 5 overlap a.log
    added, _ = writer.commit()
    assert (added["a.log"], added["b.log"]) == (10, 5)
    assert _count(tmp_path) == 15


def test_quarantine_is_kept_once(tmp_path: Path) -> None:
    bad = Rejected("f.log", "zeek", 3, 120, "2 columns where #fields names 21", b"x\ty", 3)
    empty = pa.RecordBatch.from_pylist([], schema=SCHEMA)
    assert _write(tmp_path, Batch(empty, [bad], 1)) == (0, 1)
    assert _write(tmp_path, Batch(empty, [bad], 1)) == (0, 0)
    con = lake.connect(tmp_path)
    rows = con.execute('SELECT "log.file.path", position, reason, raw FROM quarantine').fetchall()
    assert rows == [("f.log", 3, "2 columns where #fields names 21", b"x\ty")]


def test_empty_lake_has_typed_views(tmp_path: Path) -> None:
    con = lake.connect(tmp_path)
    assert con.execute("SELECT count(*) FROM events").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
    names = [d[0] for d in con.execute("SELECT * FROM events").description or []]
    assert names[:3] == ["@timestamp", "event.id", "event.kind"] and "fields" in names


def test_dataset_names_cannot_escape_the_lake(tmp_path: Path) -> None:
    _write(tmp_path, _batch("../../etc/Evil Name", 2))
    [part] = list((tmp_path / "events").glob("dataset=*"))
    assert part.name == "dataset=.._.._etc_evil_name"
    assert _count(tmp_path) == 2


def test_compact_merges_sorted_and_a_killed_compaction_recovers(tmp_path: Path) -> None:
    for start in (0, 10, 20):
        _write(tmp_path, _batch("zeek.dns", 10, start=start))
    part = tmp_path / "events" / "dataset=zeek.dns" / "day=2025-10-05"
    assert len(list(part.glob("*.parquet"))) == 3
    backup = tmp_path.parent / "backup"
    shutil.copytree(part, backup)
    assert lake.compact(tmp_path) == (1, 3)
    [merged] = list(part.glob("*.parquet"))
    assert _count(tmp_path) == 30
    times = pa.parquet.read_table(merged).column("@timestamp").to_pylist()
    assert times == sorted(times)
    # a kill after the new file moved in but before the old ones went: recovery removes them
    for f in backup.glob("*.parquet"):
        shutil.copy(f, part / f.name)
    (part / lake.write.COMPACT_MANIFEST).write_text(
        json.dumps(
            {"tmp": ".gone.tmp", "final": merged.name, "old": [f.name for f in backup.glob("*")]}
        )
    )
    assert _count(tmp_path) == 60  # doubled until recovery
    lake.recover(tmp_path)
    assert _count(tmp_path) == 30 and not (part / lake.write.COMPACT_MANIFEST).exists()


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    with (
        lake.LakeLock(tmp_path),
        pytest.raises(LakeError, match="another crownwatch process"),
        lake.LakeLock(tmp_path),
    ):
        pass
