"""DuckDB over the lake: the `events` view, one view per dataset, and `quarantine`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from crownwatch.ingest.batch import QUARANTINE_SCHEMA
from crownwatch.schema import SCHEMA

#: View names a dataset may never take.
RESERVED = frozenset(("events", "quarantine"))
_VIEW_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


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
        taken = set(RESERVED)
        for folder in sorted(events.glob("dataset=*")):
            dataset = folder.name.split("=", 1)[1]
            view = re.sub(r"[^a-z0-9_]", "_", dataset.lower())
            # datasets are named by the records themselves: a name that is odd, or taken
            # by another view, gets no view of its own (it is still in `events`)
            if not _VIEW_NAME.fullmatch(view) or view in taken:
                continue
            if any(folder.glob("day=*/*.parquet")):
                taken.add(view)
                literal = "'" + dataset.replace("'", "''") + "'"
                con.execute(
                    f'CREATE VIEW "{view}" AS SELECT * FROM events WHERE dataset = {literal}'
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


def arrow(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> pa.Table:
    """The result of a query as an Arrow table."""
    table = con.execute(sql, params or {}).to_arrow_table()
    if table is None:  # only a statement without a result has none
        raise ValueError(f"query returned no result: {sql[:80]}")
    return table
