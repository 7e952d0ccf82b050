"""SQLAlchemy models: the tables crownwatch keeps in SQLite or PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class IngestRun(Base):
    """One ``crownwatch ingest`` invocation and its totals."""

    __tablename__ = "ingest_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    files: Mapped[int] = mapped_column(Integer, default=0)
    records_read: Mapped[int] = mapped_column(BigInteger, default=0)
    events_added: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    quarantined: Mapped[int] = mapped_column(BigInteger, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer)


class IngestFile(Base):
    """One file of an ingest run: its format and counts, or why it failed."""

    __tablename__ = "ingest_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        ForeignKey("ingest_runs.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(Text)
    format: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    read: Mapped[int] = mapped_column(BigInteger, default=0)
    parsed: Mapped[int] = mapped_column(BigInteger, default=0)
    added: Mapped[int] = mapped_column(BigInteger, default=0)
    quarantined: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class StixObject(Base):
    """One version of one STIX object; ``current`` marks the newest version of each id."""

    __tablename__ = "stix_objects"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    modified: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(250), index=True)
    spec_version: Mapped[str] = mapped_column(String(8))
    created: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(500))
    name_key: Mapped[str | None] = mapped_column(String(200))  # partial index (migration 0002)
    external_id: Mapped[str | None] = mapped_column(String(64))  # partial index
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False)
    confidence: Mapped[int | None] = mapped_column(Integer)
    tlp: Mapped[str | None] = mapped_column(String(16))
    relationship_type: Mapped[str | None] = mapped_column(String(100))
    source_ref: Mapped[str | None] = mapped_column(String(300))  # partial index
    target_ref: Mapped[str | None] = mapped_column(String(300))  # partial index
    source: Mapped[str] = mapped_column(String(200))
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    object: Mapped[str] = mapped_column(Text)


class IndicatorValue(Base):
    """An observable value an indicator's pattern names, normalised, for matching."""

    __tablename__ = "indicator_values"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(2048), primary_key=True)
    indicator_id: Mapped[str] = mapped_column(String(300), primary_key=True, index=True)


class IntelImport(Base):
    """One import into the knowledge base and its counts."""

    __tablename__ = "intel_imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


class IntelRejected(Base):
    """An object an import could not keep, with the reason."""

    __tablename__ = "intel_rejected"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[str] = mapped_column(
        ForeignKey("intel_imports.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)


class IndicatorSighting(Base):
    """How often, and from when to when, an indicator matched (one row per indicator)."""

    __tablename__ = "indicator_sightings"

    indicator_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertRow(Base):
    """One alert (``detect.alerts.Alert``); lists and mappings are JSON text."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(32))  # hash of Alert.key
    kind: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    techniques: Mapped[str] = mapped_column(Text)
    entities: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    explanation: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)
    retro: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DetectedPart(Base):
    """A lake file whose events detection has read (incremental detection skips it)."""

    __tablename__ = "detected_parts"

    path: Mapped[str] = mapped_column(String(600), primary_key=True)
    rows: Mapped[int] = mapped_column(BigInteger)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IncidentRow(Base):
    """One incident as ``correlate.incidents.describe`` makes it (``data`` is its JSON)."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AssetRow(Base):
    """One asset of the inventory (``data`` keeps every column it came with)."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    ip: Mapped[str | None] = mapped_column(String(100))
    crown_jewel: Mapped[bool] = mapped_column(Boolean)
    criticality: Mapped[int] = mapped_column(Integer)
    value_usd: Mapped[float] = mapped_column(Float)
    data: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


from crownwatch.store import taxii_models  # noqa: E402, F401
