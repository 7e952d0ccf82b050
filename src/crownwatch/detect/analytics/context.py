"""What every analytic is given: settings, the time window to alert on, the crown jewels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from crownwatch.config import AnalyticsSettings


@dataclass(frozen=True)
class Context:
    """Alert only on events in [start, end); baselines may read every event before ``end``.

    ``crown_jewels`` holds lower-case host names (short and FQDN), IP addresses and share
    names (``\\\\plm01\\vault``) of the assets that matter most.
    """

    settings: AnalyticsSettings = field(default_factory=AnalyticsSettings)
    start: datetime | None = None
    end: datetime | None = None
    crown_jewels: frozenset[str] = frozenset()
