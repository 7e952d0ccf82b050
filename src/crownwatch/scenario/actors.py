"""The actors' data (actors.yaml) and the ground-truth tags of their steps."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def load() -> dict[str, Any]:
    """actors.yaml as a dict (read once)."""
    text = resources.files("crownwatch.scenario").joinpath("actors.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def tags(key: str, incident: str) -> dict[str, dict[str, str]]:
    """step name -> the truth fields every event of that step carries."""
    actor = load()[key]
    return {
        s["step"]: {
            "incident": incident,
            "actor": actor["name"],
            "step": s["step"],
            "technique": s["technique"],
            "tactic": s["tactic"],
            "phase": s["phase"],
        }
        for s in actor["steps"]
    }


def hashes(file: dict[str, Any]) -> tuple[str, str, str]:
    """md5, sha1, sha256 of one of an actor's files."""
    return file["md5"], file["sha1"], file["sha256"]
