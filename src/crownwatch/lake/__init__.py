"""The event lake: Parquet partitioned by dataset and day, queried with DuckDB."""

from crownwatch.lake.query import connect
from crownwatch.lake.write import FileWriter, LakeLock, compact, recover

__all__ = ["FileWriter", "LakeLock", "compact", "connect", "recover"]
