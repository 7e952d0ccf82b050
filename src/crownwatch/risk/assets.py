"""The asset inventory: which hosts, addresses and shares hold the crown jewels.

An inventory is CSV or JSON (a list of objects) with, per asset, some of: ``hostname``,
``fqdn``, ``ip`` (an address or a CIDR), ``shares`` (``;``-separated), ``owner``,
``business_unit``, ``criticality``, ``data_classification``, ``crown_jewel`` (true/false)
and ``ip_value_usd``. Unknown columns are kept; a row without any name is reported.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson

from crownwatch.errors import UsageError

#: Inventories larger than this are refused (an inventory is a few MB at most).
MAX_INVENTORY_BYTES = 64 * 1024 * 1024
_TRUE = frozenset({"1", "true", "yes", "y", "x"})


def read_inventory(path: Path) -> list[dict[str, Any]]:
    """The assets of a CSV or JSON inventory, names lower-cased, flags as booleans."""
    try:
        if path.stat().st_size > MAX_INVENTORY_BYTES:
            raise UsageError(f"{path}: inventory over {MAX_INVENTORY_BYTES} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read inventory {path}: {exc.strerror}") from exc
    if path.suffix.lower() == ".json":
        try:
            rows = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise UsageError(f"{path}: a JSON inventory is a list of objects")
    else:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8", "replace"))))
    return [_asset(row) for row in rows]


def _asset(row: dict[str, Any]) -> dict[str, Any]:
    asset = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    for name in ("hostname", "fqdn", "ip"):
        if asset.get(name):
            asset[name] = str(asset[name]).strip().lower()
    flag = asset.get("crown_jewel")
    asset["crown_jewel"] = flag if isinstance(flag, bool) else str(flag).strip().lower() in _TRUE
    shares = asset.get("shares") or ""
    asset["shares"] = [s.strip().lower() for s in str(shares).split(";") if s.strip()]
    return asset


def crown_jewels(assets: list[dict[str, Any]]) -> frozenset[str]:
    """Names, FQDNs, addresses and shares of the crown-jewel assets, lower case."""
    found: set[str] = set()
    for asset in assets:
        if asset.get("crown_jewel"):
            found.update(str(asset[n]) for n in ("hostname", "fqdn", "ip") if asset.get(n))
            found.update(asset.get("shares", []))
    return frozenset(found)


def jewel_names(assets: list[dict[str, Any]]) -> dict[str, str]:
    """Each name, FQDN, address and share of a crown jewel -> the asset's name."""
    found: dict[str, str] = {}
    for asset in assets:
        if not asset.get("crown_jewel"):
            continue
        name = str(asset.get("hostname") or asset.get("fqdn") or asset.get("ip") or "").lower()
        for key in ("hostname", "fqdn", "ip"):
            if asset.get(key):
                found[str(asset[key]).lower()] = name
        for share in asset.get("shares", []):
            found[share] = name
    return found
