"""Behaviour analytics of intellectual-property theft.

Each analytic is a module with ``NAME``, ``TECHNIQUES`` and ``run(con, ctx) -> list[Alert]``
that works in DuckDB SQL over the lake's ``events`` view, learning its baselines from the
data (per host, user and asset; medians and percentiles; the organisation's hours) and
reading its thresholds from :class:`crownwatch.config.AnalyticsSettings`.
"""

from __future__ import annotations

import logging

import duckdb

from crownwatch.detect.alerts import Alert
from crownwatch.detect.analytics import access, beaconing, dns, exfil, lateral, sql, staging
from crownwatch.detect.analytics.context import Context

__all__ = ["ANALYTICS", "Context", "run_all"]

log = logging.getLogger(__name__)

ANALYTICS = {m.NAME: m for m in (staging, access, exfil, beaconing, dns, lateral)}


def run_all(con: duckdb.DuckDBPyConnection, ctx: Context) -> list[Alert]:
    """Every analytic's alerts; one that fails is logged and the others still run."""
    sql.setup(con, ctx)
    alerts: list[Alert] = []
    for name, module in ANALYTICS.items():
        try:
            alerts.extend(module.run(con, ctx))
        except Exception:
            log.exception("analytic %s failed", name)
    return alerts
