"""DuckDB over the lake: the `events` view, one view per dataset, and `quarantine`."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from crownwatch.ingest.batch import QUARANTINE_SCHEMA
from crownwatch.schema import SCHEMA


def _glob(path: Path) -> str:
    return str(path).replace("'", "''")


def connect(lake_dir: Path, threads: int = 0) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the lake's views defined."""
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    events = lake_dir / "events"
    if any(events.glob("dataset=*/day=*/*.parquet")):
        con.execute(
            "CREATE VIEW events AS SELECT * FROM read_parquet("
            f"'{_glob(events)}/dataset=*/day=*/*.parquet', hive_partitioning = true, "
            "union_by_name = true)"
        )
        for folder in sorted(events.glob("dataset=*")):
            dataset = folder.name.split("=", 1)[1]
            view = re.sub(r"[^a-z0-9_]", "_", dataset.lower())
            if view and view != "events" and any(folder.glob("day=*/*.parquet")):
                con.execute(
                    f'CREATE VIEW "{view}" AS SELECT * FROM events WHERE dataset = ?'.replace(
                        "?", "'" + dataset.replace("'", "''") + "'"
                    )
                )
    else:
        con.register("_no_events", SCHEMA.empty_table())
        con.execute(
            "CREATE VIEW events AS SELECT *, NULL::VARCHAR AS dataset, NULL::DATE AS day "
            "FROM _no_events"
        )
    quarantine = lake_dir / "quarantine"
    if any(quarantine.glob("*.parquet")):
        con.execute(
            f"CREATE VIEW quarantine AS SELECT * FROM read_parquet('{_glob(quarantine)}/*.parquet')"
        )
    else:
        con.register("_no_quarantine", QUARANTINE_SCHEMA.empty_table())
        con.execute("CREATE VIEW quarantine AS SELECT * FROM _no_quarantine")
    return con
