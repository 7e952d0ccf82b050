"""The demo scenario: a synthetic company, a week of its logs, an APT41 intrusion in them.

``generate(out, size, seed)`` writes, under ``out``: inventory/ (assets, users),
windows/<day>/ (Winlogbeat JSON lines), zeek/<day>/ (Zeek TSV), syslog/<day>/
(auth.log, vpn.log), truth/ (every malicious line, totals, indicators) and
report/ (a vendor report on APT41 and its STIX bundle). Same seed, same bytes:
all randomness comes from ``random.Random(seed)`` and the clock is never read.
"""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from crownwatch.errors import UsageError
from crownwatch.scenario import activity, actors, benign, commodity, intel, intrusion
from crownwatch.scenario import company as co
from crownwatch.scenario.formats import SECOND, Sink, iso_us

__all__ = ["SIZES", "START", "generate"]

#: Scale of each size: workstations (one user each), extra servers, days, activity rate.
SIZES: dict[str, dict[str, Any]] = {
    "small": {"workstations": 38, "extra_servers": 0, "days": 7, "rate": 0.5},
    "large": {"workstations": 1948, "extra_servers": 40, "days": 21, "rate": 1.0},
}
START = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
HOUR = 3600 * SECOND
OWNED = ("inventory", "windows", "zeek", "syslog", "truth", "report")


def generate(out: Path, size: str = "small", seed: int = 7) -> dict[str, Any]:
    """Write the scenario under ``out`` and return its summary (also truth/summary.json)."""
    if size not in SIZES:
        raise UsageError(f"unknown size {size!r}; choose one of: {', '.join(SIZES)}")
    params = SIZES[size]
    _prepare(out)
    rng = random.Random(seed)
    company = co.build(rng, params["workstations"], params["extra_servers"])
    sink = Sink(out)
    ctx = activity.Ctx(rng, sink, company)
    world = benign.setup(ctx)
    start = int(START.timestamp()) * SECOND
    days = params["days"]
    apt = intrusion.prepare(ctx, world, start, days)
    qak = commodity.prepare(ctx, start, days)
    try:
        for n in range(days * 24):
            t0 = start + n * HOUR
            benign.hour(ctx, world, t0, params["rate"])
            activity.run_tasks(ctx, t0 + HOUR)
            sink.flush(t0 + HOUR)
        sink.flush()
    finally:
        sink.close()
    co.write_inventory(company, out)
    indicators = intel.write(out, seed)
    summary = _summary(sink, company, size, seed, days, apt, qak, indicators)
    _write_truth(out, sink, summary)
    return summary


def _prepare(out: Path) -> None:
    """Create ``out``; replace a previous scenario there, refuse to mix with other files."""
    out.mkdir(parents=True, exist_ok=True)
    present = [name for name in OWNED if (out / name).exists()]
    if present and not (out / "truth" / "summary.json").is_file():
        raise UsageError(
            f"{out} already has {', '.join(present)} but no scenario in it; choose an empty folder"
        )
    for name in present:
        shutil.rmtree(out / name)


def _summary(
    sink: Sink,
    company: co.Company,
    size: str,
    seed: int,
    days: int,
    apt: dict[str, Any],
    qak: dict[str, Any],
    indicators: list[dict[str, Any]],
) -> dict[str, Any]:
    files = {path: info["lines"] for path, info in sorted(sink.files.items())}
    groups: dict[str, int] = {}
    for info in sink.files.values():
        groups[info["stream"]] = groups.get(info["stream"], 0) + info["lines"]
    malicious: dict[str, int] = {}
    steps: dict[str, dict[str, Any]] = {}
    for t in sink.truth:
        malicious[t["incident"]] = malicious.get(t["incident"], 0) + 1
        step = steps.setdefault(t["step"], {"events": 0})
        step["events"] += 1
    return {
        "scenario": {
            "company": company["name"],
            "domain": company["domain"],
            "size": size,
            "seed": seed,
            "start": iso_us(int(START.timestamp()) * SECOND),
            "days": days,
            "assets": len(company["hosts"]),
            "people": len(company["users"]),
        },
        "total_events": sum(files.values()),
        "files": files,
        "groups": dict(sorted(groups.items())),
        "time_range": {"first": iso_us(sink.first or 0), "last": iso_us(sink.last or 0)},
        "hosts": sorted(sink.hosts),
        "users": sorted(sink.users),
        "malicious": dict(sorted(malicious.items())),
        "incidents": {
            "apt41": _incident("apt41", "apt41", apt, steps),
            "commodity": _incident("commodity", "commodity", qak, steps),
        },
        "indicators": {
            "in_report": len(indicators),
            "in_bundle": sum(1 for i in indicators if i["in_bundle"]),
        },
    }


def _incident(
    key: str, incident: str, facts: dict[str, Any], counts: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    actor = actors.load()[key]
    return {
        "incident": incident,
        "actor": actor["name"],
        "attack_id": actor["attack_id"],
        **{k: v for k, v in facts.items() if k != "first_event"},
        "first_event": iso_us(facts["first_event"]),
        "steps": [
            {
                "step": s["step"],
                "technique": s["technique"],
                "tactic": s["tactic"],
                "phase": s["phase"],
                "events": counts.get(s["step"], {}).get("events", 0),
            }
            for s in actor["steps"]
        ],
    }


def _write_truth(out: Path, sink: Sink, summary: dict[str, Any]) -> None:
    folder = out / "truth"
    folder.mkdir(parents=True, exist_ok=True)
    rows = sorted(sink.truth, key=lambda t: (t["file"], t["line"]))
    with (folder / "events.jsonl").open("wb") as f:
        for row in rows:
            f.write(orjson.dumps(row) + b"\n")
    (folder / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
