"""Charts drawn when the report is made: Altair specs rendered to SVG by vl-convert.

Names from logs (hosts, users) can appear in labels: vl-convert writes them as escaped SVG
text (tests/report checks it), and the SVG is inlined as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import vl_convert

from crownwatch.correlate.incidents import TACTICS

_SEVERITY_COLOURS = {
    "low": "#9ecae1",
    "medium": "#fdae6b",
    "high": "#e6550d",
    "critical": "#a50f15",
}


def _data(rows: list[dict[str, Any]]) -> alt.Data:
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def _svg(chart: alt.TopLevelMixin) -> str:
    text = vl_convert.vegalite_to_svg(chart.to_json())
    return str(text)


def timeline(incident: Mapping[str, Any]) -> str:
    """The incident's alerts over time, one row per tactic reached, coloured by severity."""
    rows = [
        {
            "time": str(entry["time"]),
            "tactic": (entry["tactics"] or ["unmapped"])[-1],
            "severity": entry["severity"],
        }
        for entry in incident["timeline"]
    ]
    order = [t for t in TACTICS if any(r["tactic"] == t for r in rows)] + ["unmapped"]
    chart = (
        alt.Chart(_data(rows))
        .mark_circle(size=90, opacity=0.8)
        .encode(
            x=alt.X("time:T", title=None),
            y=alt.Y("tactic:N", sort=order, title=None),
            color=alt.Color(
                "severity:N",
                scale=alt.Scale(
                    domain=list(_SEVERITY_COLOURS), range=list(_SEVERITY_COLOURS.values())
                ),
            ),
        )
        .properties(width=620, height=max(60, 22 * len(order)))
    )
    return _svg(chart)


def heatmap(techniques: Mapping[str, int], tactics_of: Mapping[str, Sequence[str]]) -> str:
    """ATT&CK heatmap: the techniques seen, under their tactics, shaded by alert count."""
    rows = [
        {"tactic": tactic, "technique": technique, "alerts": count}
        for technique, count in sorted(techniques.items())
        for tactic in (tactics_of.get(technique) or tactics_of.get(technique.split(".")[0]) or ())
    ]
    if not rows:
        return ""
    order = [t for t in TACTICS if any(r["tactic"] == t for r in rows)]
    base = alt.Chart(_data(rows)).encode(
        x=alt.X("tactic:N", sort=order, title=None, axis=alt.Axis(labelAngle=-35)),
        y=alt.Y("technique:N", title=None),
    )
    chart = (
        base.mark_rect().encode(
            color=alt.Color("alerts:Q", scale=alt.Scale(scheme="oranges"), title="alerts")
        )
        + base.mark_text(fontSize=9).encode(text="alerts:Q")
    ).properties(width=max(200, 70 * len(order)), height=max(80, 14 * len(techniques)))
    return _svg(chart)


def risks(objects: Sequence[Mapping[str, Any]]) -> str:
    """The top risk objects as bars, crown jewels marked."""
    rows = [
        {
            "object": f"{o['kind']}: {o['name']}",
            "risk": o["score"],
            "crown jewel": "yes" if o["crown_jewel"] else "no",
        }
        for o in objects
    ]
    if not rows:
        return ""
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("risk:Q"),
            y=alt.Y("object:N", sort=None, title=None),
            color=alt.Color(
                "crown jewel:N",
                scale=alt.Scale(domain=["yes", "no"], range=["#a50f15", "#9ecae1"]),
            ),
        )
        .properties(width=520, height=22 * len(rows))
    )
    return _svg(chart)
