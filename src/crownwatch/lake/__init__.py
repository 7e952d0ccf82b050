"""The event lake: Parquet partitioned by dataset and day, queried with DuckDB."""

from crownwatch.lake.query import connect
from crownwatch.lake.write import (
    FileWriter,
    IdCache,
    LakeLock,
    compact,
    compactions,
    fingerprint,
    ingested,
    mark_ingested,
    recover,
)

__all__ = [
    "FileWriter",
    "IdCache",
    "LakeLock",
    "compact",
    "compactions",
    "connect",
    "fingerprint",
    "ingested",
    "mark_ingested",
    "recover",
]
