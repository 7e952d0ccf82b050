"""Rule packs a user adds: a folder or a .zip of Sigma rules, validated, then kept.

``read_pack`` takes the YAML files of a folder or zip with bounds (entries, bytes,
no path leaving the pack, no links), ``validate`` compiles them together (their
filters apply across files) and tells each file's failures, and ``add_pack`` copies
the files that passed into ``<home>/rules/<name>/``, replacing an earlier pack of
that name. A zip is attacker-controlled input like any log.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from crownwatch.config import Settings
from crownwatch.detect.sigma import (
    MAX_RULE_BYTES,
    Failure,
    RuleSet,
    add_texts,
    rules_dir,
)
from crownwatch.errors import UsageError

#: A zip may hold at most this many entries and this many bytes of rules in all.
MAX_ENTRIES = 20_000
MAX_TOTAL_BYTES = 256 << 20
_SUFFIXES = (".yml", ".yaml")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass
class Pack:
    """The rule files of a pack (relative path -> text) and the entries refused on reading."""

    texts: dict[str, str] = field(default_factory=dict)
    refused: list[Failure] = field(default_factory=list)


@dataclass
class Checked:
    """A validated pack: which files are good, what was refused and why, what compiled."""

    good: dict[str, str]
    refused: list[Failure]
    rules: RuleSet


def read_pack(source: Path) -> Pack:
    """The YAML files of a folder or a .zip, bounded; anything unsafe is refused."""
    if source.is_dir():
        return _read_folder(source)
    if source.is_file() and zipfile.is_zipfile(source):
        return _read_zip(source)
    if source.is_file() and source.suffix in _SUFFIXES:
        return _read_folder(source.parent, only=source)
    raise UsageError(f"{source}: not a folder, a .zip or a .yml file of Sigma rules")


def _read_folder(root: Path, only: Path | None = None) -> Pack:
    pack = Pack()
    paths = [only] if only else sorted(p for p in root.rglob("*") if p.suffix in _SUFFIXES)
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            pack.refused.append(Failure(rel, "refused: a symbolic link"))
        elif path.is_file():
            try:
                if path.stat().st_size > MAX_RULE_BYTES:
                    raise ValueError(f"file over {MAX_RULE_BYTES} bytes")
                pack.texts[rel] = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                pack.refused.append(Failure(rel, f"not loaded: {exc}"))
    return pack


def _read_zip(source: Path) -> Pack:
    pack = Pack()
    total = 0
    with zipfile.ZipFile(source) as archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise UsageError(f"{source}: {len(entries)} entries, more than {MAX_ENTRIES}")
        for entry in entries:
            name = entry.filename
            if entry.is_dir() or not name.endswith(_SUFFIXES):
                continue
            rel = safe_relative(name)
            if rel is None:
                pack.refused.append(Failure(name, "refused: path leaves the pack"))
                continue
            if (entry.external_attr >> 16) & 0o170000 == 0o120000:
                pack.refused.append(Failure(name, "refused: a symbolic link"))
                continue
            if entry.file_size > MAX_RULE_BYTES:
                pack.refused.append(Failure(name, f"not loaded: file over {MAX_RULE_BYTES} bytes"))
                continue
            total += entry.file_size
            if total > MAX_TOTAL_BYTES:
                raise UsageError(f"{source}: more than {MAX_TOTAL_BYTES} bytes of rules")
            with archive.open(entry) as fh:
                data = fh.read(MAX_RULE_BYTES + 1)  # the header's size may lie
            if len(data) > MAX_RULE_BYTES:
                pack.refused.append(Failure(name, f"not loaded: file over {MAX_RULE_BYTES} bytes"))
                continue
            try:
                pack.texts[rel] = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                pack.refused.append(Failure(name, f"not loaded: {exc}"))
    return pack


def safe_relative(name: str) -> str | None:
    """The entry's path if it stays inside the pack (no root, drive or ``..``), else None."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or not path.parts or ":" in path.parts[0]:
        return None
    if any(part in ("..", "") for part in path.parts):
        return None
    return path.as_posix()


def validate(pack: Pack) -> Checked:
    """Compile the pack's files together; a file with any failure is refused whole."""
    rules = RuleSet()
    add_texts(rules, ((text, rel) for rel, text in pack.texts.items()))
    bad = {f.file for f in rules.failures}
    good = {rel: text for rel, text in pack.texts.items() if rel not in bad}
    return Checked(good, [*pack.refused, *rules.failures], rules)


def pack_name(source: Path, name: str | None) -> str:
    """A safe folder name for the pack: the one given, or the source's name."""
    chosen = name or source.name.removesuffix(".zip")
    if not _NAME.fullmatch(chosen):
        raise UsageError(f"pack name {chosen!r}: use letters, digits, '.', '_' or '-' (max 64)")
    return chosen


def add_pack(settings: Settings, source: Path, name: str | None = None) -> tuple[Path, Checked]:
    """Validate a pack and copy its good files to ``<home>/rules/<name>/`` (replacing it)."""
    checked = validate(read_pack(source))
    target = rules_dir(settings) / pack_name(source, name)
    staging = target.with_name(f".{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    for rel, text in checked.good.items():
        path = staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    staging.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target, checked
