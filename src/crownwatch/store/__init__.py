"""The only code that touches SQL: SQLite by default, PostgreSQL by URL; Alembic migrations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crownwatch.config import Settings
from crownwatch.errors import StoreError
from crownwatch.store.models import IngestFile, IngestRun

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-131072")  # 128 MiB: bulk imports touch many index pages
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for the URL; ``postgresql://`` uses psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


@dataclass
class FileResult:
    """What ingesting one file did."""

    path: str
    format: str | None
    size: int = 0
    read: int = 0
    parsed: int = 0
    added: int = 0
    quarantined: int = 0
    status: str = "done"
    error: str | None = None


class Store:
    """Access to the database: one engine, short sessions, migrated on open."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, settings: Settings, migrate: bool = True) -> Store:
        url = settings.db_url
        if url.startswith("sqlite:///"):
            settings.home.mkdir(parents=True, exist_ok=True)
        try:
            engine = make_engine(url)
            if migrate and current_revision(engine) != head_revision():
                upgrade(engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the database {_safe(url)}: {exc}") from exc
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(self) -> str:
        run_id = uuid.uuid4().hex
        with Session(self.engine) as s, s.begin():
            s.add(
                IngestRun(
                    id=run_id,
                    started_at=datetime.now(UTC),
                    status="running",
                    files=0,
                    records_read=0,
                    events_added=0,
                    duplicates=0,
                    quarantined=0,
                )
            )
        return run_id

    def add_file(self, run_id: str, result: FileResult) -> None:
        """Record one file of a run and add its counts to the run's totals."""
        run = IngestRun
        with self.engine.begin() as conn:
            conn.execute(insert(IngestFile), {"run_id": run_id, **result.__dict__})
            updated = conn.execute(
                update(run)
                .where(run.id == run_id)
                .values(
                    files=run.files + 1,
                    records_read=run.records_read + result.read,
                    events_added=run.events_added + result.added,
                    duplicates=run.duplicates + max(result.parsed - result.added, 0),
                    quarantined=run.quarantined + result.quarantined,
                )
            )
            if updated.rowcount != 1:
                raise StoreError(f"no ingest run {run_id}")

    def finish_run(self, run_id: str, status: str, exit_code: int) -> None:
        with Session(self.engine) as s, s.begin():
            run = s.get(IngestRun, run_id)
            if run is None:
                raise StoreError(f"no ingest run {run_id}")
            run.status, run.exit_code, run.finished_at = status, exit_code, datetime.now(UTC)

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest ingest runs, newest first, as plain dicts."""
        with Session(self.engine) as s:
            rows = s.scalars(select(IngestRun).order_by(IngestRun.started_at.desc()).limit(limit))
            return [_as_dict(r) for r in rows]

    def run_files(self, run_id: str) -> list[dict[str, Any]]:
        with Session(self.engine) as s:
            rows = s.scalars(
                select(IngestFile).where(IngestFile.run_id == run_id).order_by(IngestFile.id)
            )
            return [_as_dict(r) for r in rows]


def _as_dict(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
