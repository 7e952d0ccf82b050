"""The report as a self-contained HTML page (no scripts, fonts or CDNs) and as a PDF."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from crownwatch.report import charts

#: Incidents drawn with a timeline chart.
MAX_CHARTED = 5


def html(report: Mapping[str, Any]) -> str:
    """The report's HTML; every value from logs is escaped (Jinja2 autoescape)."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["percent"] = percent
    env.filters["when"] = when
    drawn = {
        "risks": Markup(charts.risks(report["risks"][:12])),
        "heatmap": Markup(charts.heatmap(report["techniques"], report["tactics_of"])),
        "timelines": {
            i["id"]: Markup(charts.timeline(i)) for i in report["incidents"][:MAX_CHARTED]
        },
    }
    return env.get_template("report.html").render(r=_attrs(report), charts=drawn)


def when(value: Any) -> str:
    """A time as ``2026-10-06 08:41:38 UTC`` (ISO text or datetime; other text as is)."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if moment.tzinfo else "")


def percent(probability: float) -> str:
    """A probability as a person reads it: never 0% or 100% when it is not certain."""
    if probability >= 0.995:
        return "> 99%"
    if probability < 0.005:  # a softmax is never exactly 0
        return "< 1%"
    return f"{100 * probability:.0f}%"


def pdf(page: str, path: Path) -> None:
    """The HTML page printed to a PDF file (weasyprint; nothing is fetched)."""
    import weasyprint

    weasyprint.HTML(string=page, url_fetcher=_no_fetch).write_pdf(str(path))


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
    raise ValueError(f"the report fetches nothing: {url[:80]}")


def _template(name: str) -> str:
    return resources.files("crownwatch.report").joinpath("templates", name).read_text("utf-8")


class _Attrs(dict[str, Any]):
    """A dict whose keys read as attributes in the template (``i.title``), strictly."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def _attrs(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _Attrs({k: _attrs(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [_attrs(v) for v in value]
    return value
