"""The incidents table: rebuilt as a whole from the alerts, read back as dicts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from crownwatch.store import Store
from crownwatch.store.models import IncidentRow


def replace_all(store: Store, incidents: Sequence[dict[str, Any]]) -> None:
    """The incidents, instead of those stored (they are derived from the alerts)."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": i["id"],
            "title": i["title"][:1000],
            "score": float(i["score"]),
            "severity": i["severity"],
            "first_seen": i["first"],
            "last_seen": i["last"],
            "data": orjson.dumps(i, default=str).decode(),
            "updated_at": now,
        }
        for i in incidents
    ]
    with store.engine.begin() as conn:
        conn.execute(delete(IncidentRow))
        if rows:
            conn.execute(insert(IncidentRow), rows)


def listing(store: Store, limit: int = 0) -> list[dict[str, Any]]:
    """Stored incidents, highest score first."""
    query = select(IncidentRow.data).order_by(IncidentRow.score.desc(), IncidentRow.first_seen)
    if limit:
        query = query.limit(limit)
    with Session(store.engine) as session:
        return [orjson.loads(text) for text in session.scalars(query)]


def get(store: Store, ident: str) -> dict[str, Any] | None:
    """One incident by id (case-insensitive), or None."""
    with Session(store.engine) as session:
        text = session.scalars(
            select(IncidentRow.data).where(IncidentRow.id == ident.strip().upper())
        ).first()
    return orjson.loads(text) if text else None
