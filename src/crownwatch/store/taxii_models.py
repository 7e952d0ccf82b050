"""Tables of the TAXII 2.1 server (collections, tokens, statuses) and client (poll state)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crownwatch.store.models import Base


class TaxiiCollection(Base):
    """A collection: a filtered view of the knowledge base that tokens may read or write."""

    __tablename__ = "taxii_collections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    can_read: Mapped[bool] = mapped_column(Boolean, default=True)
    can_write: Mapped[bool] = mapped_column(Boolean, default=False)
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every source
    types: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every type
    allow_amber_strict: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TaxiiToken(Base):
    """A bearer token, kept as its SHA-256, and the collections it may read and write."""

    __tablename__ = "taxii_tokens"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    read: Mapped[list[str]] = mapped_column(JSON, default=list)
    write: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TaxiiStatus(Base):
    """The status resource of one POST of objects: totals and per-object outcomes."""

    __tablename__ = "taxii_status"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    collection_id: Mapped[str] = mapped_column(String(36), index=True)
    token_name: Mapped[str] = mapped_column(String(100))
    request_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    total_count: Mapped[int] = mapped_column(Integer, default=0)
    success_count: Mapped[int] = mapped_column(Integer, default=0)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    pending_count: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    pendings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class TaxiiPoll(Base):
    """Client side: the newest date_added seen per (server, API root, collection)."""

    __tablename__ = "taxii_polls"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the three below
    url: Mapped[str] = mapped_column(Text)
    api_root: Mapped[str] = mapped_column(Text)
    collection_id: Mapped[str] = mapped_column(Text)
    added_after: Mapped[str | None] = mapped_column(String(40))
    polled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
