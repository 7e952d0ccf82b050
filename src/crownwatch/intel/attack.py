"""MITRE ATT&CK Enterprise, shipped in the package (see data/attack/NOTICE.txt)."""

from __future__ import annotations

import gzip
from importlib import resources
from typing import Any

import orjson

BUNDLE = "enterprise-attack-18.1.json.gz"
VERSION = "18.1"
SOURCE = f"mitre-attack-enterprise-{VERSION}"


def objects() -> list[dict[str, Any]]:
    """The objects of the bundled ATT&CK Enterprise bundle (STIX 2.0, as MITRE ships it)."""
    data = resources.files("crownwatch.data").joinpath("attack", BUNDLE).read_bytes()
    bundle = orjson.loads(gzip.decompress(data))
    return list(bundle["objects"])
