"""The demo: generate the scenario, ingest it, check the lake against the ground truth,
load the knowledge, detect, and measure detection against the ground truth.

Later stages (incidents, attribution, risk) extend this same run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from rich.console import Console
from rich.table import Table
from rich.text import Text

from crownwatch import lake, pipeline, scenario
from crownwatch.config import Settings
from crownwatch.store import Store
from crownwatch.store import alerts as alerts_store

LOG_FOLDERS = ("windows", "zeek", "syslog")
#: The demo company's sectors, as the MISP galaxy names them (pharmaceuticals, med-tech R&D).
SECTORS = ("Pharmacy", "Health", "High tech")


def scenario_dir(settings: Settings, size: str, seed: int) -> Path:
    return settings.home / "scenario" / f"{size}-seed{seed}"


def run(settings: Settings, size: str, seed: int, console: Console | None) -> dict[str, Any]:
    """The whole story on the scenario (generated once): ingest, check against the ground
    truth, knowledge, detection measured against the truth, incidents, attribution, risks,
    the report. Prints when given a console."""
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
    with Store.open(settings) as store:
        summary = pipeline.ingest_files(
            [str(folder / name) for name in LOG_FOLDERS if (folder / name).is_dir()],
            settings,
            store,
        )
    checks = compare(settings, folder, truth)
    knowledge = load_knowledge(settings, folder, console)
    detection = detect(settings, folder, console)
    if console:
        console.print(Text("incidents, attribution, risks and the report …"))
    with Store.open(settings) as store:
        answers = pipeline.answer(
            settings,
            store,
            settings.home / "report",
            truth["scenario"]["company"],
            sectors=SECTORS,
        )
    result = {
        "scenario": str(folder),
        "ingest": {k: v for k, v in summary.as_dict().items() if k != "per_file"},
        "lake": pipeline.lake_summary(settings),
        "checks": checks,
        "knowledge": knowledge,
        "detection": detection,
        "answers": answers,
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
    with Store.open(settings) as store:
        reports = importers.bundled(store)
        bundle = folder / "report" / "apt41-bundle.json"
        if bundle.is_file():
            reports.append(kb.import_objects(store, stixfiles.read(bundle), "vendor-report"))
        counts = kb.counts(store)
    return {"imports": [r.as_dict() for r in reports], "objects": counts}


def detect(settings: Settings, folder: Path, console: Console | None) -> dict[str, Any]:
    """The scenario's asset inventory imported, detection over the lake, incidents; then
    detection measured against the ground truth."""
    from crownwatch.risk import assets
    from crownwatch.store import assets as assets_store

    if console:
        console.print(Text("detecting (Sigma rules, indicators, behaviour analytics) …"))
    inventory = folder / "inventory" / "assets.csv"
    with Store.open(settings) as store:
        if inventory.is_file():
            assets_store.replace(store, assets.read_inventory(inventory))
        summary = pipeline.detect_lake(settings, store)
        found = alerts_store.listing(store, limit=0, min_severity="low")
        incidents = pipeline.build_incidents(settings, store)
    return {
        "run": summary.as_dict(),
        "quality": quality(settings, folder, found),
        "incidents": [
            {
                k: i[k]
                for k in ("id", "title", "score", "severity", "hosts", "tactics", "crown_jewels")
            }
            | {"alerts": len(i["alerts"])}
            for i in incidents
        ],
    }


def quality(settings: Settings, folder: Path, found: list[dict[str, Any]]) -> dict[str, Any]:
    """Per step of each incident, the alerts (``found``) holding one of its events; and the
    false alerts (none of whose events is malicious), per 10,000 events."""
    truth_rows = [
        orjson.loads(line)
        for line in (folder / "truth" / "events.jsonl").read_bytes().splitlines()
        if line
    ]
    con = lake.connect(settings.lake_dir)
    try:
        con.register(
            "truth",
            pa.Table.from_pylist(
                [
                    {
                        "path": str((folder / r["file"]).absolute()),
                        "offset": r["offset"],
                        "incident": r["incident"],
                        "step": r["step"],
                    }
                    for r in truth_rows
                ]
            ),
        )
        step_of = {
            event: (incident, step)
            for event, incident, step in con.execute(
                'SELECT e."event.id", t.incident, t.step FROM truth t JOIN events e '
                'ON e."log.file.path" = t.path AND e."log.offset" = t.offset'
            ).fetchall()
        }
        total = (con.execute("SELECT count(*) FROM events").fetchone() or (0,))[0]
    finally:
        con.close()
    steps: dict[tuple[str, str], set[str]] = {(r["incident"], r["step"]): set() for r in truth_rows}
    false = 0
    for alert in found:
        hit = {step_of[e] for e in alert["events"] if e in step_of}
        for key in hit:
            steps[key].add(f"{alert['kind']}: {alert['title']}")
        false += not hit
    incidents: dict[str, dict[str, Any]] = {}
    for (incident, step), titles in steps.items():
        entry = incidents.setdefault(incident, {"steps": 0, "alerted": 0, "per_step": {}})
        entry["steps"] += 1
        entry["alerted"] += bool(titles)
        entry["per_step"][step] = sorted(titles)
    return {
        "incidents": incidents,
        "alerts": len(found),
        "false_alerts": false,
        "events": int(total),
        "false_per_10k": round(false * 10_000 / total, 2) if total else 0.0,
    }


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
            f"{truth['malicious'].get('commodity', 0)} of a commodity-malware infection"
        )
    )
    _print_detection(console, result["detection"], truth)
    print_answers(console, result["answers"])
    console.print(
        Text(
            f"lake: {lake_info['lake']}\ndatabase: {lake_info['database']}\n"
            f"done in {result['seconds']} s"
        )
    )


def _print_detection(console: Console, detection: dict[str, Any], truth: dict[str, Any]) -> None:
    run, measured = detection["run"], detection["quality"]
    kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(run["by_kind"].items())) or "none"
    console.print(
        Text(
            f"detection: {run['events']:,} events, {run['rules']:,} Sigma rules, "
            f"{run['indicators_live']:,} live indicator values; {run['alerts_raised']:,} "
            f"detections ({kinds}) → {measured['alerts']:,} alerts"
        )
    )
    for name, incident in sorted(measured["incidents"].items()):
        steps = {s["step"]: s for s in truth["incidents"][name]["steps"]}
        table = Table(
            title=f"{truth['incidents'][name]['actor']}: {incident['alerted']} of "
            f"{incident['steps']} steps raised an alert",
            title_justify="left",
        )
        for column in ("step", "technique", "alerts"):
            table.add_column(column, overflow="fold")
        for step, titles in incident["per_step"].items():
            shown = "; ".join(titles[:3]) + (f" (+{len(titles) - 3})" if len(titles) > 3 else "")
            table.add_row(
                Text(step),
                Text(str(steps.get(step, {}).get("technique", ""))),
                Text(shown or "—", style="" if titles else "bold red"),
            )
        console.print(table)
    console.print(
        Text(
            f"false alerts: {measured['false_alerts']} of {measured['alerts']} "
            f"({measured['false_per_10k']} per 10,000 events)"
        )
    )


def print_answers(console: Console, answers: dict[str, Any]) -> None:
    from crownwatch.report.render import percent

    """The short story: the top incident, its most likely group, the top risks, the files."""
    top = answers["top_incident"]
    if top is None:
        console.print(Text("no incident: no alert of low severity or above"))
        return
    console.print(
        Text(
            f"top incident {top['id']} (of {answers['incidents']}): {top['title']} — score "
            f"{top['score']:g} ({top['severity']}), {len(top['hosts'])} hosts, "
            f"{len(top['alerts'])} alerts, reached {top['tactics'][-1] if top['tactics'] else '-'}"
            f"; crown jewels touched: {', '.join(top['crown_jewels']) or 'none'}",
            style="bold",
        )
    )
    hypothesis = answers["hypothesis"]
    if hypothesis:
        console.print(
            Text(
                f"most likely actor: {hypothesis['name']} ({hypothesis['id']}), probability "
                f"{percent(hypothesis['probability'])}, {hypothesis['confidence']} confidence",
                style="bold",
            )
        )
    table = Table(title="Greatest risks (crown jewels first)", title_justify="left")
    for column in ("object", "jewel", "risk", "notable because"):
        table.add_column(column, overflow="fold")
    for r in answers["risks"]:
        table.add_row(
            Text(f"{r['kind']}: {r['name']}"),
            "yes" if r["crown_jewel"] else "",
            f"{r['score']:,.0f}",
            Text("; ".join(r["notable_because"])),
        )
    console.print(table)
    report = answers["report"]
    console.print(
        Text(
            f"report: {report['html']}"
            + (f", {report['pdf']}" if report["pdf"] else "")
            + (f"; STIX: {', '.join(report['stix'])}" if report["stix"] else "")
        )
    )
