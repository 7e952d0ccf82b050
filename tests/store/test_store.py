"""The store on SQLite and PostgreSQL: migrations run on first use, ingest runs are kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from crownwatch import config
from crownwatch.store import FileResult, Store, current_revision, head_revision


def _exercise(store: Store) -> None:
    assert current_revision(store.engine) == head_revision()
    assert {"ingest_runs", "ingest_files"} <= set(inspect(store.engine).get_table_names())
    run = store.start_run()
    store.add_file(
        run, FileResult("a.log", "zeek", size=10, read=5, parsed=4, added=3, quarantined=1)
    )
    store.add_file(run, FileResult("b.log", None, read=1, quarantined=1, status="unrecognised"))
    store.finish_run(run, "done", 1)
    [latest] = store.runs()
    assert latest["id"] == run
    assert (latest["files"], latest["records_read"], latest["events_added"]) == (2, 6, 3)
    assert (latest["duplicates"], latest["quarantined"], latest["exit_code"]) == (1, 2, 1)
    assert latest["status"] == "done" and latest["finished_at"] is not None
    files = store.run_files(run)
    assert [f["path"] for f in files] == ["a.log", "b.log"]
    assert files[1]["status"] == "unrecognised" and files[1]["format"] is None


def test_sqlite_store_migrates_and_keeps_runs(tmp_path: Path) -> None:
    settings = config.load(home=tmp_path / "home", environ={})
    store = Store.open(settings)
    assert settings.db_url.startswith("sqlite:///")
    assert (tmp_path / "home" / "crownwatch.db").exists()
    _exercise(store)
    store.close()
    again = Store.open(settings)  # a second open finds the schema current and the data there
    assert len(again.runs()) == 1
    again.close()


@pytest.mark.postgres
def test_postgres_store_migrates_and_keeps_runs(tmp_path: Path, pg_url: str) -> None:
    settings = config.load(home=tmp_path, environ={"CROWNWATCH_DATABASE_URL": pg_url})
    store = Store.open(settings)
    assert store.engine.dialect.name == "postgresql"
    _exercise(store)
    store.close()


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    from crownwatch.errors import StoreError

    settings = config.load(
        home=tmp_path,
        environ={"CROWNWATCH_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
    )
    with pytest.raises(StoreError, match="cannot open the database"):
        Store.open(settings)
