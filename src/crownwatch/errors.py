"""The error hierarchy: one root, specific subclasses, messages that say what to do."""

from __future__ import annotations


class CrownwatchError(Exception):
    """Root of every error crownwatch raises on purpose."""


class ConfigError(CrownwatchError):
    """Settings that cannot be used (bad TOML, bad URL, unusable data directory)."""


class UsageError(CrownwatchError):
    """Arguments that cannot be used: unknown format, missing path, bad option."""


class ParseError(CrownwatchError):
    """One record that cannot be parsed; carries where it was and why."""

    def __init__(self, reason: str, where: str = "") -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.reason = reason
        self.where = where


class StoreError(CrownwatchError):
    """The database cannot be reached or migrated."""


class LakeError(CrownwatchError):
    """The Parquet lake cannot be written or queried."""
