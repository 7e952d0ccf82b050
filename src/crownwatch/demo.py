"""The demo: generate the scenario, ingest it, and check the lake against the ground truth.

Later stages (detection, incidents, attribution, risk) extend this same run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from crownwatch import lake, pipeline, scenario
from crownwatch.config import Settings
from crownwatch.store import Store

LOG_FOLDERS = ("windows", "zeek", "syslog")


def scenario_dir(settings: Settings, size: str, seed: int) -> Path:
    return settings.home / "scenario" / f"{size}-seed{seed}"


def run(settings: Settings, size: str, seed: int, console: Console | None) -> dict[str, Any]:
    """Generate (once), ingest, compare with the ground truth; print when given a console."""
    started = time.perf_counter()
    folder = scenario_dir(settings, size, seed)
    truth_file = folder / "truth" / "summary.json"
    if not truth_file.is_file():
        if console:
            console.print(Text(f"generating the {size} scenario (seed {seed}) in {folder} …"))
        scenario.generate(folder, size=size, seed=seed)
    truth = orjson.loads(truth_file.read_bytes())
    if console:
        console.print(Text(f"ingesting {truth['total_events']:,} events …"))
    store = Store.open(settings)
    try:
        summary = pipeline.ingest_files(
            [str(folder / name) for name in LOG_FOLDERS if (folder / name).is_dir()],
            settings,
            store,
        )
    finally:
        store.close()
    checks = compare(settings, folder, truth)
    knowledge = load_knowledge(settings, folder, console)
    result = {
        "scenario": str(folder),
        "ingest": {k: v for k, v in summary.as_dict().items() if k != "per_file"},
        "lake": pipeline.lake_summary(settings),
        "checks": checks,
        "knowledge": knowledge,
        "matches_truth": all(c["ok"] for c in checks),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if console:
        _print(console, result, truth)
    return result


def load_knowledge(settings: Settings, folder: Path, console: Console | None) -> dict[str, Any]:
    """What `crownwatch intel init` loads, and the scenario's vendor report (STIX bundle)."""
    from crownwatch.intel import importers, kb, stixfiles

    if console:
        console.print(Text("loading the knowledge base (ATT&CK, MISP galaxy, vendor report) …"))
    store = Store.open(settings)
    try:
        reports = importers.bundled(store)
        bundle = folder / "report" / "apt41-bundle.json"
        if bundle.is_file():
            reports.append(kb.import_objects(store, stixfiles.read(bundle), "vendor-report"))
        counts = kb.counts(store)
    finally:
        store.close()
    return {"imports": [r.as_dict() for r in reports], "objects": counts}


def compare(settings: Settings, folder: Path, truth: dict[str, Any]) -> list[dict[str, Any]]:
    """What the lake holds of the scenario's files against the scenario's own counts."""
    con = lake.connect(settings.lake_dir)
    prefix = str(folder.absolute()).replace("'", "''") + "/"
    where = f"WHERE starts_with(\"log.file.path\", '{prefix}')"
    per_file = dict(
        con.execute(
            f'SELECT substr("log.file.path", {len(prefix) + 1}), count(*) FROM events {where} '
            "GROUP BY 1"
        ).fetchall()
    )
    first, last, hosts = con.execute(
        f'SELECT min("@timestamp"), max("@timestamp"), list(DISTINCT "host.name") '
        f"FROM events {where}"
    ).fetchone() or (None, None, [])
    quarantined = con.execute(f"SELECT count(*) FROM quarantine {where}").fetchone()
    con.close()
    expected_files: dict[str, int] = truth["files"]
    wrong = {p: (n, per_file.get(p, 0)) for p, n in expected_files.items() if per_file.get(p) != n}
    truth_hosts = set(truth["hosts"])
    seen_hosts = {h for h in hosts or [] if h}
    return [
        _check("events", truth["total_events"], sum(per_file.values())),
        _check(
            "files with the right count",
            len(expected_files),
            len(expected_files) - len(wrong),
            detail={
                p: {"truth": a, "lake": b}
                for p, a, b in ((p, *v) for p, v in list(wrong.items())[:5])
            },
        ),
        _check("first event", truth["time_range"]["first"], _iso(first)),
        _check("last event", truth["time_range"]["last"], _iso(last)),
        _check("hosts named in events", len(truth_hosts), len(truth_hosts & seen_hosts)),
        _check("records quarantined", 0, int(quarantined[0]) if quarantined else 0),
    ]


def _check(name: str, expected: Any, found: Any, detail: Any = None) -> dict[str, Any]:
    check = {"check": name, "truth": expected, "lake": found, "ok": expected == found}
    if detail:
        check["detail"] = detail
    return check


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    text = value.isoformat().replace("+00:00", "Z")
    return str(text)


def _print(console: Console, result: dict[str, Any], truth: dict[str, Any]) -> None:
    lake_info = result["lake"]
    table = Table(title="Events per source and kind", title_justify="left")
    for column in ("dataset", "category", "events"):
        table.add_column(column, justify="right" if column == "events" else "left")
    for row in lake_info["per_source"]:
        table.add_row(Text(row["dataset"]), Text(row["category"]), f"{row['events']:,}")
    console.print(table)
    ingest = result["ingest"]
    console.print(
        Text(
            f"{lake_info['events']:,} events from {lake_info['first']} to {lake_info['last']}; "
            f"{lake_info['hosts']} hosts, {lake_info['users']} users; "
            f"{ingest['events_added']:,} added now, {ingest['quarantined']:,} quarantined"
        )
    )
    checks = Table(title="Against the scenario's ground truth", title_justify="left")
    for column in ("check", "truth", "lake", "ok"):
        checks.add_column(column)
    for c in result["checks"]:
        checks.add_row(
            Text(c["check"]),
            Text(str(c["truth"])),
            Text(str(c["lake"])),
            Text("yes" if c["ok"] else "NO", style="green" if c["ok"] else "bold red"),
        )
    console.print(checks)
    objects = result["knowledge"]["objects"]
    console.print(
        Text(
            f"knowledge base: {sum(objects.values()):,} STIX objects — "
            f"{objects.get('intrusion-set', 0):,} intrusion sets, "
            f"{objects.get('attack-pattern', 0):,} techniques, "
            f"{objects.get('indicator', 0):,} indicators (the vendor report's)"
        )
    )
    apt = truth["incidents"]["apt41"]
    console.print(
        Text(
            f"hidden in it: {truth['malicious'].get('apt41', 0)} events of an {apt['actor']} "
            f"({apt['attack_id']}) intrusion in {len(apt['steps'])} steps, and "
            f"{truth['malicious'].get('commodity', 0)} of a commodity-malware infection "
            "(detection comes next)"
        )
    )
    console.print(
        Text(
            f"lake: {lake_info['lake']}\ndatabase: {lake_info['database']}\n"
            f"done in {result['seconds']} s"
        )
    )
