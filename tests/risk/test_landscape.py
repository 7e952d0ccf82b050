"""The threat landscape: groups targeting a sector, their techniques, detection's gaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crownwatch import config
from crownwatch.intel import kb
from crownwatch.risk.landscape import COVERED, GAP, landscape, layer
from crownwatch.store import Store

T0 = "2026-01-01T00:00:00.000Z"


def sdo(kind: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": f"{kind}--00000000-0000-4000-8000-{n:012d}",
        "created": T0,
        "modified": T0,
        **extra,
    }


def technique(n: int, ident: str) -> dict[str, Any]:
    refs = [{"source_name": "mitre-attack", "external_id": ident}]
    return sdo("attack-pattern", n, name=ident, external_references=refs)


def test_gaps_are_the_targeting_groups_techniques_detection_does_not_cover(
    tmp_path: Path,
) -> None:
    group = sdo(
        "intrusion-set",
        1,
        name="Panda",
        external_references=[{"source_name": "mitre-attack", "external_id": "G9999"}],
    )
    galaxy = sdo(
        "intrusion-set",
        2,
        name="Panda (galaxy)",
        x_crownwatch_target_sectors=["Pharmacy"],
        x_crownwatch_attack_ref=group["id"],
    )
    other = sdo("intrusion-set", 3, name="Bear", x_crownwatch_target_sectors=["Energy"])
    t1, t2 = technique(10, "T1003.001"), technique(11, "T1583.001")
    uses = [
        sdo(
            "relationship",
            20 + n,
            relationship_type="uses",
            source_ref=group["id"],
            target_ref=t["id"],
        )
        for n, t in enumerate((t1, t2))
    ]
    store = Store.open(config.load(home=tmp_path, environ={}))
    try:
        kb.import_objects(store, [group, galaxy, other, t1, t2, *uses], "test")
        found = landscape(store, ["pharmacy"], None, covered={"T1003"})
    finally:
        store.close()
    assert [(g["id"], g["techniques"], g["covered"]) for g in found["groups"]] == [("G9999", 2, 1)]
    assert found["covered"] == 1 and found["gaps"] == ["T1583.001"]
    drawn = {t["techniqueID"]: t for t in layer(found)["techniques"]}
    assert drawn["T1003.001"]["color"] == COVERED and drawn["T1583.001"]["color"] == GAP
    assert "Panda" in drawn["T1583.001"]["comment"]
