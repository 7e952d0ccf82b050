"""The asset inventory table: replaced as a whole on import, read back as dicts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from crownwatch.store import Store
from crownwatch.store.models import AssetRow


def replace(store: Store, assets: Sequence[dict[str, Any]]) -> int:
    """The inventory, instead of the one stored; returns how many assets."""
    now = datetime.now(UTC)
    rows = [
        {
            "name": str(a.get("hostname") or a.get("fqdn") or a.get("ip") or "")[:300],
            "ip": (str(a["ip"])[:100] if a.get("ip") else None),
            "crown_jewel": bool(a.get("crown_jewel")),
            "criticality": _int(a.get("criticality"), 3),
            "value_usd": _float(a.get("ip_value_usd") or a.get("value_usd")),
            "data": orjson.dumps(a, default=str).decode(),
            "imported_at": now,
        }
        for a in assets
    ]
    with store.engine.begin() as conn:
        conn.execute(delete(AssetRow))
        if rows:
            conn.execute(insert(AssetRow), rows)
    return len(rows)


def listing(store: Store) -> list[dict[str, Any]]:
    """The stored inventory, crown jewels first."""
    query = select(AssetRow.data).order_by(
        AssetRow.crown_jewel.desc(), AssetRow.value_usd.desc(), AssetRow.name
    )
    with Session(store.engine) as session:
        return [orjson.loads(text) for text in session.scalars(query)]


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _float(value: Any) -> float:
    try:
        return float(str(value).strip().replace(",", "").replace("_", ""))
    except (TypeError, ValueError):
        return 0.0
