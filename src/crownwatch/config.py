"""Typed settings: data directory and database URL, passed in, never a global.

Precedence, highest first: explicit arguments (the CLI's ``--home``), the
``CROWNWATCH_HOME`` / ``CROWNWATCH_DATABASE_URL`` environment variables, a TOML file
(``--config``, ``CROWNWATCH_CONFIG``, or ``crownwatch.toml`` in the data directory),
then the defaults.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crownwatch.errors import ConfigError

DEFAULT_HOME = Path("crownwatch-data")


@dataclass(frozen=True)
class IngestSettings:
    """Limits that keep attacker-controlled input bounded."""

    batch_size: int = 20_000
    max_record_bytes: int = 4 * 1024 * 1024
    max_quarantine_bytes: int = 64 * 1024
    timezone: str = "UTC"


@dataclass(frozen=True)
class Settings:
    """Where crownwatch keeps its data and how it reaches its database."""

    home: Path = DEFAULT_HOME
    database_url: str = ""
    ingest: IngestSettings = field(default_factory=IngestSettings)

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def db_url(self) -> str:
        """The database URL; SQLite inside the data directory unless one is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'crownwatch.db').resolve()}"


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc


def _ingest_from(table: dict[str, Any], path: Path) -> IngestSettings:
    known = IngestSettings.__dataclass_fields__
    unknown = set(table) - set(known)
    if unknown:
        raise ConfigError(f"{path}: unknown [ingest] settings: {', '.join(sorted(unknown))}")
    try:
        values = {k: type(getattr(IngestSettings(), k))(v) for k, v in table.items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: bad [ingest] value: {exc}") from exc
    return replace(IngestSettings(), **values)


def load(
    home: str | Path | None = None,
    config_file: str | Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build the settings from arguments, environment and an optional TOML file."""
    env = dict(os.environ) if environ is None else environ
    home_path = Path(home or env.get("CROWNWATCH_HOME") or DEFAULT_HOME)
    toml_path = Path(config_file or env.get("CROWNWATCH_CONFIG") or home_path / "crownwatch.toml")
    table: dict[str, Any] = {}
    if config_file or env.get("CROWNWATCH_CONFIG") or toml_path.exists():
        table = _from_toml(toml_path)
    if not home and not env.get("CROWNWATCH_HOME") and "home" in table:
        home_path = Path(str(table["home"]))
    url = env.get("CROWNWATCH_DATABASE_URL") or str(table.get("database_url", ""))
    ingest = _ingest_from(dict(table.get("ingest", {})), toml_path)
    return Settings(home=home_path, database_url=url, ingest=ingest)
