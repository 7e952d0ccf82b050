"""What ``crownwatch intel import`` reads, and into which converter each kind goes.

STIX 2.x bundles (or objects, or lists of them), MISP events, MISP feed folders
(``manifest.json`` + events), and plain lists or CSV files of indicators. Each file is
one import: one transaction, with its own counts; a file that cannot be read is
reported and the others go on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crownwatch.intel import attack, galaxy, kb, lists, misp, stixfiles
from crownwatch.store import Store


@dataclass
class Outcome:
    """The imports a set of paths made, and the files that could not be read."""

    reports: list[kb.ImportReport] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)


def bundled(store: Store) -> list[kb.ImportReport]:
    """What ``crownwatch intel init`` loads, offline: ATT&CK Enterprise and the MISP galaxy's
    threat actors, linked to the ATT&CK groups."""
    objects = attack.objects()
    return [
        kb.import_objects(store, objects, attack.SOURCE, default_tlp="clear"),
        kb.import_objects(store, galaxy.actors(objects), galaxy.SOURCE, default_tlp="clear"),
    ]


def import_paths(
    store: Store, paths: list[Path], source: str, tlp: str, confidence: int | None
) -> Outcome:
    """Import every file and folder named; MISP feed folders are recognised as such."""
    outcome = Outcome()
    for path in paths:
        feeds = sorted(m.parent for m in path.rglob("manifest.json")) if path.is_dir() else []
        for feed in feeds:
            _feed(store, feed, source, tlp, confidence, outcome)
        for file in stixfiles.files([path]):
            if not any(feed in file.parents for feed in feeds):
                _file(store, file, source, tlp, confidence, outcome)
    return outcome


def _file(
    store: Store, path: Path, source: str, tlp: str, confidence: int | None, outcome: Outcome
) -> None:
    name = source or path.name
    try:  # a file that breaks off imports nothing: one transaction per file
        with path.open("rb") as fh:
            head = fh.read(64)
        if lists.is_list(path, head):
            found, refused = lists.indicators(path, confidence)
            outcome.reports.append(kb.import_objects(store, found, name, tlp, confidence, refused))
            return
        objects = stixfiles.read(path)
        first = next(objects, None)
        if first is None:
            outcome.reports.append(kb.import_objects(store, [], name, tlp, confidence))
            return
        if _is_misp(first):
            events = [first, *objects]
            stix, rejected = _from_misp(events, tlp)
            outcome.reports.append(kb.import_objects(store, stix, name, tlp, confidence, rejected))
            return
        outcome.reports.append(
            kb.import_objects(store, _chain(first, objects), name, tlp, confidence)
        )
    except stixfiles.Unreadable as exc:
        outcome.unreadable.append({"file": str(path), "reason": str(exc)})
    except OSError as exc:
        outcome.unreadable.append({"file": str(path), "reason": f"cannot read: {exc.strerror}"})


def _feed(
    store: Store, folder: Path, source: str, tlp: str, confidence: int | None, outcome: Outcome
) -> None:
    rejected: list[tuple[str, str]] = []
    events = list(misp.read_feed(folder, rejected))
    stix, refused = _from_misp(events, tlp)
    outcome.reports.append(
        kb.import_objects(
            store,
            stix,
            source or f"misp-feed:{folder.name}",
            tlp,
            confidence,
            [*rejected, *refused],
        )
    )


def _is_misp(obj: Any) -> bool:
    return isinstance(obj, dict) and ("Event" in obj or "response" in obj)


def _from_misp(events: list[Any], tlp: str) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    objects: list[dict[str, Any]] = []
    rejected: list[tuple[str, str]] = []
    for event in events:
        if isinstance(event, dict) and isinstance(event.get("response"), list):
            inner, refused = _from_misp(event["response"], tlp)
            objects.extend(inner)
            rejected.extend(refused)
            continue
        converted, refused = misp.event_to_stix(event if isinstance(event, dict) else {}, tlp)
        objects.extend(converted)
        rejected.extend(refused)
    return objects, rejected


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
