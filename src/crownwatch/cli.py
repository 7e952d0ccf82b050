"""The ``crownwatch`` command: Typer commands that call the pipeline and the services."""

from __future__ import annotations

import csv
import logging
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from crownwatch import __version__, config, lake, pipeline
from crownwatch.errors import CrownwatchError, UsageError
from crownwatch.store import Store, current_revision, head_revision, make_engine, upgrade

app = typer.Typer(
    help="crownwatch: keep your crown jewels out of espionage groups' hands.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
lake_app = typer.Typer(help="The Parquet event lake.", no_args_is_help=True)
db_app = typer.Typer(
    help="The database (SQLite by default, PostgreSQL by URL).", no_args_is_help=True
)
scenario_app = typer.Typer(
    help="The synthetic demo company and its intrusion.", no_args_is_help=True
)
app.add_typer(lake_app, name="lake")
app.add_typer(db_app, name="db")
app.add_typer(scenario_app, name="scenario")
intel_app = typer.Typer(
    help="The threat-intelligence knowledge base (STIX 2.1).", no_args_is_help=True
)
app.add_typer(intel_app, name="intel")
sigma_app = typer.Typer(help="Sigma rules (SigmaHQ's ship with crownwatch).", no_args_is_help=True)
app.add_typer(sigma_app, name="sigma")
taxii_app = typer.Typer(
    help="TAXII 2.1 collections and tokens served by `crownwatch serve`.", no_args_is_help=True
)
app.add_typer(taxii_app, name="taxii")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _version(value: bool) -> None:
    if value:
        out.print(f"crownwatch {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(help="Data directory (env CROWNWATCH_HOME).")] = None,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="Settings TOML file.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Global options; every command reads its settings from here."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = config.load(home=home, config_file=config_file)


def _settings(ctx: typer.Context) -> config.Settings:
    settings = ctx.obj
    assert isinstance(settings, config.Settings)
    return settings


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, default=_default, option=orjson.OPT_INDENT_2).decode())
    sys.stdout.write("\n")


def _cell(value: Any, limit: int = 200) -> Text:
    """A table cell; log fields are attacker-controlled, so never markup."""
    if value is None:
        return Text("")
    text = value.isoformat() if isinstance(value, datetime | date) else str(value)
    return Text(text if len(text) <= limit else text[: limit - 1] + "…")


def _table(title: str, columns: list[str], rows: list[list[Any]], limit: int = 200) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v, limit) for v in row))
    return table


def _parse_map(items: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        ecs, sep, source_field = item.partition("=")
        if not sep or not ecs or not source_field:
            raise UsageError(f"--map takes ECS_FIELD=SOURCE_FIELD, not {item!r}")
        mapping[ecs.strip()] = source_field.strip()
    return mapping


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Files, folders or globs.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="Skip detection: evtx, zeek, eve, winjson, cef, syslog, jsonl, csvlog."
        ),
    ] = None,
    dataset: Annotated[str, typer.Option(help="Set event.dataset for every event.")] = "",
    field_map: Annotated[
        list[str] | None,
        typer.Option("--map", help="ECS_FIELD=SOURCE_FIELD for jsonl and csvlog (repeatable)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Parse telemetry into the lake. Exit 0: all ingested; 1: some records quarantined;
    2: unusable arguments."""
    settings = _settings(ctx)
    mapping = _parse_map(field_map or [])
    store = Store.open(settings)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[n]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    ) as bar:
        task = bar.add_task("ingest", total=None, n="")

        def progress(path: Path, records: int) -> None:
            bar.update(task, description=Text(path.name[:40]).plain, n=f"{records:,} records")

        try:
            summary = pipeline.ingest_files(paths, settings, store, fmt, mapping, dataset, progress)
        except KeyboardInterrupt:
            err.print(
                "interrupted: run the same command again to finish; nothing is lost or doubled"
            )
            raise typer.Exit(130) from None
        finally:
            store.close()
    if as_json:
        print_json(summary.as_dict())
    else:
        _print_ingest(summary)
    raise typer.Exit(summary.exit_code)


def _print_ingest(summary: pipeline.IngestSummary) -> None:
    for problem in summary.missing:
        err.print(Text(f"error: {problem}"))
    for f in summary.files:
        if f.status not in ("done", "unchanged"):
            err.print(Text(f"warning: {f.path}: {f.status}: {f.error or ''}"))
    rows = [[d, f"{n:,}"] for d, n in sorted(summary.datasets.items())]
    out.print(_table("Events parsed per dataset", ["dataset", "events"], rows))
    out.print(
        Text(
            f"{len(summary.files)} files, {summary.read:,} records read, "
            f"{summary.added:,} events added, {summary.parsed - summary.added:,} already in the "
            f"lake, {summary.quarantined:,} quarantined, "
            f"{sum(f.status == 'unchanged' for f in summary.files)} files already ingested "
            f"(run {summary.run_id})"
        )
    )


@app.command()
def query(
    ctx: typer.Context,
    sql: Annotated[
        str,
        typer.Argument(
            help="SQL over the views: events, quarantine, one per "
            'dataset (e.g. zeek_dns). Quote dotted names: "host.name".'
        ),
    ],
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    max_rows: Annotated[int, typer.Option(help="Rows to show in a table.")] = 100,
) -> None:
    """Query the lake with DuckDB SQL."""
    import duckdb

    con = lake.connect(_settings(ctx).lake_dir)
    try:
        cursor = con.execute(sql)
    except duckdb.Error as exc:
        raise UsageError(f"query failed: {exc}") from exc
    columns = [d[0] for d in cursor.description or []]
    if as_json:
        print_json([dict(zip(columns, row, strict=True)) for row in cursor.fetchall()])
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        while chunk := cursor.fetchmany(10_000):
            writer.writerows(chunk)
    else:
        rows = cursor.fetchmany(max_rows + 1)
        out.print(_table("", columns, [list(r) for r in rows[:max_rows]]))
        if len(rows) > max_rows:
            err.print(f"(first {max_rows} rows; use --max-rows, --json or --csv for more)")
    con.close()


@lake_app.command("compact")
def lake_compact(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Merge each partition's files into one file sorted by time."""
    lake_dir = _settings(ctx).lake_dir
    with lake.LakeLock(lake_dir):
        lake.recover(lake_dir)
        partitions, files = lake.compact(lake_dir)
    if as_json:
        print_json({"partitions": partitions, "files_before": files})
    else:
        out.print(f"compacted {partitions} partitions ({files} files into {partitions})")


@lake_app.command("stats")
def lake_stats(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """What the lake holds: events per source and kind, time range, hosts, users, quarantine."""
    summary = pipeline.lake_summary(_settings(ctx))
    if as_json:
        print_json(summary)
    else:
        print_lake_summary(summary)


def print_lake_summary(summary: dict[str, Any]) -> None:
    rows = [[r["dataset"], r["category"], f"{r['events']:,}"] for r in summary["per_source"]]
    out.print(_table("Events per source and kind", ["dataset", "category", "events"], rows))
    out.print(
        Text(
            f"{summary['events']:,} events from {summary['first']} to {summary['last']}; "
            f"{summary['hosts']} hosts, {summary['users']} users"
        )
    )
    out.print(Text(f"{summary['quarantined']:,} records quarantined"))
    for reason in summary["quarantine_reasons"]:
        out.print(Text(f"  {reason['records']:>8,}  {reason['reason']}"))
    out.print(Text(f"lake: {summary['lake']}\ndatabase: {summary['database']}"))


@app.command()
def runs(ctx: typer.Context, limit: int = 20, as_json: JsonOpt = False) -> None:
    """The latest ingest runs."""
    store = Store.open(_settings(ctx))
    items = store.runs(limit)
    store.close()
    if as_json:
        print_json(items)
        return
    columns = [
        "id",
        "started_at",
        "status",
        "files",
        "records_read",
        "events_added",
        "duplicates",
        "quarantined",
        "exit_code",
    ]
    out.print(_table("Ingest runs", columns, [[r[c] for c in columns] for r in items]))


@app.command()
def formats(as_json: JsonOpt = False) -> None:
    """The telemetry formats crownwatch reads, in detection order."""
    from crownwatch import ingest as ingest_pkg

    items = [
        {"name": name, "about": (m.__doc__ or "").strip().splitlines()[0]}
        for name, m in ingest_pkg.PARSERS.items()
    ]
    if as_json:
        print_json(items)
    else:
        out.print(_table("Formats", ["name", "about"], [[i["name"], i["about"]] for i in items]))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply the database migrations (also done automatically on first use)."""
    engine = make_engine(_settings(ctx).db_url)
    if _settings(ctx).db_url.startswith("sqlite:///"):
        _settings(ctx).home.mkdir(parents=True, exist_ok=True)
    upgrade(engine)
    out.print(f"database at revision {current_revision(engine)}")


@db_app.command("current")
def db_current(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The database's schema revision and the newest one."""
    engine = make_engine(_settings(ctx).db_url)
    data = {"current": current_revision(engine), "head": head_revision()}
    if as_json:
        print_json(data)
    else:
        out.print(f"current {data['current']}, newest {data['head']}")


@scenario_app.command("generate")
def scenario_generate(
    output: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
    size: Annotated[str, typer.Option(help="small (~50k events) or large (~10M).")] = "small",
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Write the demo company's logs, inventory, ground truth and threat report."""
    from crownwatch import scenario

    if size not in ("small", "large"):
        raise UsageError(f"--size is small or large, not {size!r}")
    summary = scenario.generate(output, size=size, seed=seed)
    if as_json:
        print_json(summary)
    else:
        out.print(Text(f"wrote {summary.get('total_events', 0):,} events to {output}"))


@app.command()
def demo(
    ctx: typer.Context,
    size: Annotated[str, typer.Option(help="small or large.")] = "small",
    seed: Annotated[int, typer.Option(help="Random seed of the scenario.")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Generate the demo scenario, ingest it, and show what crownwatch found."""
    from crownwatch import demo as demo_mod

    result = demo_mod.run(_settings(ctx), size, seed, console=None if as_json else out)
    if as_json:
        print_json(result)
    if not result["matches_truth"]:
        raise typer.Exit(1)


def _print_import(report: Any) -> None:
    out.print(
        Text(
            f"{report.source}: {report.added:,} added, {report.updated:,} updated, "
            f"{report.unchanged:,} unchanged, {report.rejected:,} rejected"
        )
    )
    for reason in report.reasons[:10]:
        err.print(Text(f"  rejected: {reason}"))


@intel_app.command("init")
def intel_init(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Load the knowledge that ships with crownwatch, offline: MITRE ATT&CK Enterprise and the
    MISP galaxy's threat actors (country, sponsor, targeted sectors), linked to ATT&CK."""
    from crownwatch.intel import importers

    with Store.open(_settings(ctx)) as store:
        reports = importers.bundled(store)
    if as_json:
        print_json({"imports": [r.as_dict() for r in reports]})
    else:
        for report in reports:
            _print_import(report)


@intel_app.command("import")
def intel_import(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files and folders (STIX, MISP events, MISP feeds), or TAXII 2.1 server URLs."
        ),
    ],
    source: Annotated[str, typer.Option(help="Name of the source, kept on every object.")] = "",
    tlp: Annotated[str, typer.Option(help="TLP for objects without a marking.")] = "amber",
    confidence: Annotated[int | None, typer.Option(help="Confidence 0-100 where missing.")] = None,
    token: Annotated[
        str, typer.Option(help="Bearer token for TAXII URLs (env CROWNWATCH_TAXII_TOKEN).")
    ] = "",
    collection: Annotated[
        str | None, typer.Option(help="TAXII collection id or title (default: every readable one).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import STIX 2.x bundles, MISP events and MISP feed folders (files, folders, .gz), or poll
    TAXII 2.1 servers (only what was added since the last poll).

    Idempotent: importing the same objects again changes nothing."""
    from crownwatch.intel import importers, stixobj

    if tlp not in stixobj.TLP_ORDER:
        raise UsageError(f"--tlp is one of {', '.join(stixobj.TLP_ORDER)}, not {tlp!r}")
    if confidence is not None and not 0 <= confidence <= 100:
        raise UsageError("--confidence is 0 to 100")
    urls = [p for p in paths if p.startswith(("http://", "https://"))]
    files = [Path(p) for p in paths if p not in urls]
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    with Store.open(_settings(ctx)) as store:
        outcome = importers.import_paths(store, files, source, tlp, confidence)
        if urls:
            from crownwatch.intel import taxii_client

            secret = token or os.environ.get("CROWNWATCH_TAXII_TOKEN", "")
            for url in urls:
                outcome.reports.extend(taxii_client.poll(store, url, secret, collection))
    if as_json:
        print_json(
            {"imports": [r.as_dict() for r in outcome.reports], "unreadable": outcome.unreadable}
        )
    else:
        for report in outcome.reports:
            _print_import(report)
        for item in outcome.unreadable:
            err.print(Text(f"error: {item['file']}: {item['reason']}"))
    if outcome.unreadable or any(r.rejected for r in outcome.reports):
        raise typer.Exit(1)


@intel_app.command("show")
def intel_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name, alias, ATT&CK id (G0096) or STIX id.")],
    as_json: JsonOpt = False,
) -> None:
    """An actor's profile: aliases, country, techniques by tactic, software, campaigns…"""
    from crownwatch.intel import kb

    store = Store.open(_settings(ctx))
    found = kb.resolve(store, name)
    if not found:
        store.close()
        raise UsageError(
            f"nothing in the knowledge base is called {name!r} "
            "(try `crownwatch intel search`, or `crownwatch intel init` first)"
        )
    profile = kb.profile(store, found[0])
    store.close()
    profile["also_matching"] = [
        {"id": o["id"], "name": o.get("name"), "type": o["type"]} for o in found[1:]
    ]
    if as_json:
        print_json(profile)
    else:
        _print_profile(profile)


def _print_profile(p: dict[str, Any]) -> None:
    title = f"{p['name']} ({p['attack_id'] or p['id']}) — {p['type']}"
    out.print(Text(title, style="bold"))
    if p["aliases"]:
        out.print(Text("aliases: " + ", ".join(p["aliases"])))
    if p["country"] or p["target_sectors"]:
        out.print(
            Text(
                f"country: {p['country'] or '?'}; targets: "
                + ", ".join(p["target_sectors"] or ["?"])
            )
        )
    if p["revoked"]:
        out.print(Text("revoked", style="bold red"))
    description = p["description"].split("\n")[0]
    out.print(Text(description[:600] + ("…" if len(description) > 600 else "")))
    rows = [
        [tactic, ", ".join(f"{t['id']} {t['name']}" for t in items)]
        for tactic, items in p["techniques"].items()
    ]
    if rows:
        out.print(_table("Techniques by tactic", ["tactic", "techniques"], rows, limit=5000))
    if p["software"]:
        out.print(
            _table(
                "Software",
                ["id", "name", "type"],
                [[s["id"], s["name"], s["type"]] for s in p["software"]],
            )
        )
    if p["campaigns"]:
        out.print(
            _table(
                "Campaigns",
                ["id", "name", "first seen", "last seen"],
                [[c["id"], c["name"], c["first_seen"], c["last_seen"]] for c in p["campaigns"]],
            )
        )
    out.print(Text(f"{len(p['indicators'])} indicators; {len(p['sources'])} sources"))
    for source in p["sources"][:8]:
        out.print(Text(f"  {source['name']}: {source['url']}"))
    for other in p["also_matching"]:
        out.print(Text(f"also matching: {other['name']} ({other['type']}, {other['id']})"))


@intel_app.command("search")
def intel_search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Part of a name, alias or ATT&CK id.")],
    limit: int = 50,
    as_json: JsonOpt = False,
) -> None:
    """Find objects by name, alias or ATT&CK id."""
    from crownwatch.intel import kb, stixobj

    store = Store.open(_settings(ctx))
    found = kb.search(store, text, limit)
    store.close()
    items = [
        {
            "id": o["id"],
            "attack_id": stixobj.external_id(o),
            "type": o["type"],
            "name": o.get("name"),
            "revoked": bool(o.get("revoked")),
        }
        for o in found
    ]
    if as_json:
        print_json(items)
    else:
        out.print(
            _table(
                f"{len(items)} found",
                ["attack id", "name", "type", "id"],
                [[i["attack_id"], i["name"], i["type"], i["id"]] for i in items],
            )
        )


@intel_app.command("extract")
def intel_extract(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A threat report: text, HTML, Markdown or PDF.")],
    do_import: Annotated[
        bool, typer.Option("--import", help="Add the result to the knowledge base.")
    ] = False,
    tlp: Annotated[str, typer.Option(help="TLP where the report states none.")] = "amber",
    as_json: JsonOpt = False,
) -> None:
    """Turn a report into knowledge: indicators, ATT&CK techniques, groups and software named,
    as a STIX 2.1 report bundle."""
    from crownwatch.intel import attack, extract, kb, knowledge, stixobj

    if tlp not in stixobj.TLP_ORDER:
        raise UsageError(f"--tlp is one of {', '.join(stixobj.TLP_ORDER)}, not {tlp!r}")
    if not file.is_file():
        raise UsageError(f"no such file: {file}")
    with Store.open(_settings(ctx)) as store:
        known = kb.objects(
            store, ["attack-pattern", "intrusion-set", "malware", "tool", "relationship"]
        )
        if not any(o["type"] == "attack-pattern" for o in known):
            known = attack.objects()  # an empty knowledge base: ATT&CK still ships
        bundle = extract.extract(file.read_bytes(), file.name, knowledge.build(known))
        report = (
            kb.import_objects(store, bundle["objects"], f"extract:{file.name}", tlp)
            if do_import
            else None
        )
    if as_json:
        print_json(bundle if report is None else {"bundle": bundle, "import": report.as_dict()})
        return
    _print_extract(bundle)
    if report is not None:
        _print_import(report)


def _print_extract(bundle: dict[str, Any]) -> None:
    report = next(o for o in bundle["objects"] if o["type"] == "report")
    out.print(Text(f"{report['name']}", style="bold"))
    indicators = [o for o in bundle["objects"] if o["type"] == "indicator"]
    out.print(
        _table(
            f"{len(indicators)} indicators",
            ["pattern", "confidence"],
            [[o["pattern"], o.get("confidence")] for o in indicators],
        )
    )
    evidence = report.get("x_crownwatch_evidence", [])
    out.print(
        _table(
            f"{len(evidence)} known objects named",
            ["id", "name", "how", "sentence"],
            [
                [
                    e.get("external_id") or e.get("ref"),
                    e.get("name"),
                    e.get("method"),
                    e.get("sentence"),
                ]
                for e in evidence
            ],
            limit=160,
        )
    )
    for item in report.get("x_crownwatch_dropped", [])[:10]:
        err.print(Text(f"dropped {item.get('value')}: {item.get('reason')}"))


@intel_app.command("export")
def intel_export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Argument(help="stix, misp or navigator.")],
    name: Annotated[
        str | None,
        typer.Argument(
            help="A group, software or campaign: it and what it is related to (navigator: its "
            "techniques). Without one: every object (of --type)."
        ),
    ] = None,
    type_: Annotated[list[str] | None, typer.Option("--type", help="STIX types to export.")] = None,
    audience: Annotated[
        str,
        typer.Option(help="public, community or organization: what TLP may go (RED never does)."),
    ] = "organization",
    allow_amber_strict: bool = False,
    validate: Annotated[
        bool, typer.Option(help="Check the STIX bundle with stix2-validator.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--out", help="File to write (default stdout).")
    ] = None,
) -> None:
    """Share knowledge: a STIX 2.1 bundle, a MISP event, or an ATT&CK Navigator layer."""
    from crownwatch.intel import export, kb, markings, misp, stixobj

    if fmt not in ("stix", "misp", "navigator"):
        raise UsageError(f"format is stix, misp or navigator, not {fmt!r}")
    if audience not in markings.AUDIENCES:
        raise UsageError(f"--audience is one of {', '.join(markings.AUDIENCES)}")
    with Store.open(_settings(ctx)) as store:
        found = kb.resolve(store, name) if name else []
        if name and not found:
            raise UsageError(f"nothing in the knowledge base is called {name!r}")
        if fmt == "navigator":
            if not found:
                raise UsageError("a Navigator layer needs a group, software or campaign name")
            document: Any = export.group_layer(kb.profile(store, found[0]))
        else:
            chosen = kb.neighbourhood(store, found[0]) if found else kb.objects(store, type_)
            if type_:
                chosen = [o for o in chosen if o["type"] in type_]
            shared = [
                o
                for o in chosen
                if o["type"] == "marking-definition"
                or markings.may_share(stixobj.tlp(o, None) or "clear", audience, allow_amber_strict)
            ]
            bundle = export.stix_bundle(shared, name or "crownwatch-export")
            if validate:
                problems = export.validate(bundle)
                for problem in problems[:20]:
                    err.print(Text(f"invalid: {problem}"))
                if problems:
                    raise typer.Exit(1)
            document = (
                bundle
                if fmt == "stix"
                else misp.stix_to_event(
                    bundle["objects"], f"crownwatch export: {name or 'knowledge base'}"
                )
            )
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
    if output:
        output.write_text(text)
        err.print(Text(f"wrote {output}"))
    else:
        sys.stdout.write(text)


@intel_app.command("stats")
def intel_stats(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """How many objects of each type the knowledge base holds."""
    from crownwatch.intel import kb

    store = Store.open(_settings(ctx))
    counts = kb.counts(store)
    store.close()
    if as_json:
        print_json(counts)
    else:
        out.print(
            _table(
                "Knowledge base", ["type", "objects"], [[t, f"{n:,}"] for t, n in counts.items()]
            )
        )


@sigma_app.command("scan")
def sigma_scan(
    logs: Annotated[list[str], typer.Argument(help="Log files, folders or globs (EVTX, …).")],
    rules: Annotated[
        list[Path] | None,
        typer.Option(help="Sigma rule files or folders (default: the SigmaHQ rules shipped)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON lines, one per (rule, event).")
    ] = False,
    sets: SetOpt = None,
) -> None:
    """Scan log files with Sigma rules, without a data directory (as Hayabusa or Zircolite)."""
    from crownwatch import ingest
    from crownwatch.detect import sigma

    files, problems = ingest.expand(logs)
    for problem in problems:
        err.print(Text(f"error: {problem}"))
    ruleset = sigma.load_rules(rules) if rules else sigma.bundled_rules(sets or sigma.DEFAULT_SETS)
    sigma.settle()
    if not as_json:
        err.print(
            Text(
                f"{len(ruleset.rules)} rules compiled, {len(ruleset.failures)} could not be "
                f"(mostly logsources crownwatch does not read); {len(files)} files"
            )
        )
    matches = sigma.scan(files, ruleset.rules, correlations=ruleset.correlations)
    if as_json:
        for m in matches:
            line: dict[str, Any] = {
                "rule_id": m.rule_id,
                "rule_title": m.title,
                "level": m.level,
                "tags": list(m.tags),
                "timestamp": m.timestamp,
                "host": m.host,
                "file": m.file,
            }
            if m.events:  # a correlation match: its group and the events of its members
                line.update(group=dict(m.group), events=list(m.events), first=m.first)
            else:
                line.update(
                    event_code=m.event_code, event_id=m.event_id, event=_as_json(m.original)
                )
            sys.stdout.write(orjson.dumps(line, default=_default).decode() + "\n")
    else:
        counts: dict[tuple[str, str, str], int] = {}
        for m in matches:
            key = (m.level, m.title, m.rule_id)
            counts[key] = counts.get(key, 0) + 1
        order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "informational": 4}
        rows = [
            [level, title, n, rid]
            for (level, title, rid), n in sorted(
                counts.items(), key=lambda kv: (order.get(kv[0][0], 5), -kv[1])
            )
        ]
        out.print(
            _table(
                f"{len(matches):,} matches of {len(counts)} rules",
                ["level", "rule", "events", "id"],
                rows,
            )
        )
    if problems:
        raise typer.Exit(2)


def _as_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


rules_app = typer.Typer(
    help="Sigma rules: the shipped SigmaHQ sets and the packs you add.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Shipped sets: core, emerging-threats, threat-hunting (default: the first two).",
    ),
]


def _print_refused(refused: list[Any]) -> None:
    for failure in refused:
        title = f" ({failure.title})" if failure.title else ""
        err.print(Text(f"refused {failure.where}{title}: {failure.reason}"))


@rules_app.command("add")
def rules_add(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A folder, .zip or .yml of Sigma rules.")],
    name: Annotated[
        str | None, typer.Option(help="The pack's name (default: the folder or zip name).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate Sigma rules and keep the good ones in <home>/rules/<name>/ (same name: replaced)."""
    from crownwatch.detect import sigma_pack

    target, checked = sigma_pack.add_pack(_settings(ctx), path, name)
    if as_json:
        print_json(
            {
                "pack": str(target),
                "files": sorted(checked.good),
                "rules": len(checked.rules.rules),
                "refused": [
                    {"file": f.file, "line": f.line, "title": f.title, "reason": f.reason}
                    for f in checked.refused
                ],
            }
        )
    else:
        _print_refused(checked.refused)
        out.print(
            Text(
                f"{len(checked.good)} files ({len(checked.rules.rules)} rules) added to "
                f"{target}; {len({f.file for f in checked.refused})} files refused"
            )
        )


@rules_app.command("validate")
def rules_validate(
    path: Annotated[Path, typer.Argument(help="A folder, .zip or .yml of Sigma rules.")],
    as_json: JsonOpt = False,
) -> None:
    """Check Sigma rules without keeping them; exit 1 if any rule fails."""
    from crownwatch.detect import sigma_pack

    checked = sigma_pack.validate(sigma_pack.read_pack(path))
    if as_json:
        print_json(
            {
                "rules": len(checked.rules.rules),
                "failures": [
                    {"file": f.file, "line": f.line, "title": f.title, "reason": f.reason}
                    for f in checked.refused
                ],
            }
        )
    else:
        _print_refused(checked.refused)
        out.print(Text(f"{len(checked.rules.rules)} rules valid, {len(checked.refused)} failures"))
    if checked.refused:
        raise typer.Exit(1)


@rules_app.command("list")
def rules_list(ctx: typer.Context, sets: SetOpt = None, as_json: JsonOpt = False) -> None:
    """The rules detection runs: shipped and added (title, id, level, logsource, file, status)."""
    from crownwatch.detect import sigma

    ruleset = sigma.all_rules(_settings(ctx), sets or sigma.DEFAULT_SETS)
    rows = [
        {
            "title": r.title,
            "id": r.id,
            "level": r.level,
            "logsource": r.logsource,
            "file": r.file,
            "status": r.status,
            "origin": "shipped" if r.file.startswith("sigmahq:") else "added",
        }
        for r in ruleset.rules
    ]
    if as_json:
        print_json(rows)
        return
    err.print(Text(f"{len(rows)} rules; {len(ruleset.failures)} not usable"))
    columns = ["title", "id", "level", "logsource", "status", "origin", "file"]
    out.print(_table("Sigma rules", columns, [[r[c] for c in columns] for r in rows], limit=80))


RulesOpt = Annotated[
    list[Path] | None,
    typer.Option("--rules", help="Sigma rule files or folders instead of the installed rules."),
]


def _ruleset(ctx: typer.Context, rules: list[Path] | None) -> Any:
    """The rules given, or those installed: shipped and added with `crownwatch rules add`."""
    from crownwatch.detect import sigma

    return sigma.load_rules(rules) if rules else sigma.all_rules(_settings(ctx))


@app.command()
def detect(
    ctx: typer.Context,
    rules: RulesOpt = None,
    assets: Annotated[
        Path | None,
        typer.Option(help="Import this asset inventory (CSV or JSON) first: the crown jewels."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run detection (Sigma, indicators, behaviour analytics) over events not yet detected,
    then group the alerts into incidents."""
    settings = _settings(ctx)
    with Store.open(settings) as store:
        if assets:
            _import_assets(store, assets)
        summary = pipeline.detect_lake(settings, store, _ruleset(ctx, rules))
        pipeline.build_incidents(settings, store)
    _print_detect(summary, as_json, "detection")


def _print_detect(summary: pipeline.DetectSummary, as_json: bool, what: str) -> None:
    if as_json:
        print_json(summary.as_dict())
        return
    kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(summary.by_kind.items())) or "none"
    out.print(
        Text(
            f"{what}: {summary.events:,} events read, {summary.rules:,} rules, "
            f"{summary.indicators_live:,} live indicator values; {summary.alerts_raised:,} "
            f"detections ({kinds}) → {summary.added:,} new alerts, {summary.updated:,} updated"
        )
    )


@app.command()
def alerts(
    ctx: typer.Context,
    min_severity: Annotated[
        str, typer.Option(help="informational, low, medium, high or critical.")
    ] = "low",
    kind: Annotated[str | None, typer.Option(help="sigma, indicator or analytic.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (0: all).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The alerts detection raised, worst first."""
    from crownwatch.detect.alerts import SEVERITIES
    from crownwatch.store import alerts as alerts_store

    if min_severity not in SEVERITIES:
        raise UsageError(f"--min-severity is one of {', '.join(SEVERITIES)}")
    with Store.open(_settings(ctx)) as store:
        found = alerts_store.listing(store, limit, min_severity, kind)
    if as_json:
        print_json(found)
        return
    rows = [
        [
            a["severity"],
            a["kind"],
            a["title"],
            ", ".join(a["entities"].get("host", [])[:3]),
            ", ".join(a["techniques"][:4]),
            a["count"],
            a["first"],
            a["explanation"],
        ]
        for a in found
    ]
    columns = ["severity", "kind", "title", "hosts", "techniques", "events", "first", "why"]
    out.print(_table(f"{len(found)} alerts", columns, rows, limit=160))


hunt_app = typer.Typer(help="Hunts over the events the lake already holds.", no_args_is_help=True)
app.add_typer(hunt_app, name="hunt")


@hunt_app.command("retro")
def hunt_retro(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(help="How far back to sweep, in days.")] = 30,
    rules: Annotated[
        list[Path] | None,
        typer.Option("--rules", help="Also sweep with these Sigma rule files or folders."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sweep the past with the live indicators (and new rules): alerts marked retrospective."""
    from datetime import UTC, timedelta

    from crownwatch.detect import sigma

    if days < 1:
        raise UsageError("--days must be 1 or more")
    settings = _settings(ctx)
    with Store.open(settings) as store:
        since = datetime.now(UTC) - timedelta(days=days)
        summary = pipeline.hunt_retro(
            settings, store, since, sigma.load_rules(rules) if rules else None
        )
    _print_detect(summary, as_json, f"retro-hunt over {days} days")


assets_app = typer.Typer(help="The asset inventory: hosts, owners, crown jewels.")
app.add_typer(assets_app, name="assets")


def _import_assets(store: Store, path: Path) -> int:
    from crownwatch.risk import assets as inventory
    from crownwatch.store import assets as assets_store

    return assets_store.replace(store, inventory.read_inventory(path))


@assets_app.callback(invoke_without_command=True)
def assets_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the inventory, crown jewels first."""
    if ctx.invoked_subcommand:
        return
    from crownwatch.store import assets as assets_store

    with Store.open(_settings(ctx)) as store:
        found = assets_store.listing(store)
    if as_json:
        print_json(found)
        return
    columns = ["name", "ip", "crown jewel", "criticality", "classification", "value (USD)", "owner"]
    rows = [
        [
            a.get("hostname") or a.get("fqdn"),
            a.get("ip"),
            "yes" if a.get("crown_jewel") else "",
            a.get("criticality"),
            a.get("data_classification"),
            a.get("ip_value_usd"),
            a.get("owner"),
        ]
        for a in found
    ]
    out.print(_table(f"{len(found)} assets", columns, rows))


@assets_app.command("import")
def assets_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV or JSON inventory.")],
) -> None:
    """Replace the inventory with this file's assets (hostname, ip, crown_jewel, …)."""
    with Store.open(_settings(ctx)) as store:
        count = _import_assets(store, path)
    out.print(Text(f"{count} assets imported"))


@app.command()
def incidents(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="At most this many (0: all).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Incidents: alerts grouped by the entities they share, highest score first."""
    from crownwatch.store import incidents as incidents_store

    with Store.open(_settings(ctx)) as store:
        found = incidents_store.listing(store, limit)
    if as_json:
        print_json(found)
        return
    rows = [
        [
            i["id"],
            i["score"],
            i["severity"],
            i["title"],
            ", ".join(i["hosts"][:5]),
            len(i["alerts"]),
            i["tactics"][-1] if i["tactics"] else "",
            ", ".join(i["crown_jewels"][:4]),
            i["first"],
        ]
        for i in found
    ]
    columns = ["id", "score", "severity", "title", "hosts", "alerts", "reached", "jewels", "first"]
    out.print(_table(f"{len(found)} incidents", columns, rows))


@app.command()
def incident(
    ctx: typer.Context,
    ident: Annotated[str, typer.Argument(help="The incident's id (INC-…).")],
    as_json: JsonOpt = False,
) -> None:
    """One incident: its score and why, entities, and the timeline of its alerts."""
    from crownwatch.store import incidents as incidents_store

    with Store.open(_settings(ctx)) as store:
        found = incidents_store.get(store, ident)
    if found is None:
        raise UsageError(f"no incident {ident!r}; `crownwatch incidents` lists them")
    if as_json:
        print_json(found)
        return
    out.print(Text(f"{found['id']}  {found['title']}", style="bold"))
    out.print(
        Text(f"score {found['score']} ({found['severity']}); {found['first']} → {found['last']}")
    )
    out.print(
        _table(
            "score",
            ["term", "points", "why"],
            [[t["term"], t["points"], t["why"]] for t in found["terms"]],
        )
    )
    out.print(
        _table(
            "entities",
            ["kind", "values"],
            [
                [k, ", ".join(v[:12]) + (" …" if len(v) > 12 else "")]
                for k, v in found["entities"].items()
            ],
        )
    )
    rows = [
        [e["time"], e["severity"], ", ".join(e["tactics"]), e["title"], e["explanation"]]
        for e in found["timeline"]
    ]
    out.print(_table("timeline", ["time", "severity", "tactics", "alert", "why"], rows, limit=220))


@app.command()
def risks(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="At most this many (0: all).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The greatest risks: crown jewels first, each with the terms of its score."""
    with Store.open(_settings(ctx)) as store:
        found = pipeline.rank_risks(store)
    found = found[:limit] if limit else found
    if as_json:
        print_json(found)
        return
    rows = [
        [
            r["kind"],
            r["name"],
            "yes" if r["crown_jewel"] else "",
            r["score"],
            "; ".join(r["notable_because"]),
            r["alerts"],
            next((t["why"] for t in r["terms"] if t["term"] == "asset"), ""),
            next((t["title"] for t in r["terms"] if t["term"] == "alert"), ""),
        ]
        for r in found
    ]
    columns = ["kind", "name", "jewel", "risk", "notable", "alerts", "worth", "top alert"]
    out.print(_table(f"{len(found)} risk objects", columns, rows))


OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Folder for the report (default: <home>/report).")
]


@app.command()
def run(
    ctx: typer.Context,
    logs: Annotated[list[str], typer.Argument(help="Log files, folders or globs.")],
    assets: Annotated[
        Path | None, typer.Option(help="Asset inventory (CSV or JSON) naming the crown jewels.")
    ] = None,
    organisation: Annotated[str, typer.Option(help="Name shown on the report.")] = "",
    folder: OutOpt = None,
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Write the HTML report only.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The main job on your own data: ingest → intelligence → detection → incidents →
    attribution → risk → report."""
    from crownwatch import demo as demo_mod
    from crownwatch.intel import importers, kb

    settings = _settings(ctx)
    with Store.open(settings) as store:
        ingested = pipeline.ingest_files(logs, settings, store)
        if not kb.counts(store).get("attack-pattern"):
            importers.bundled(store)  # ATT&CK and the MISP galaxy, shipped
        if assets:
            _import_assets(store, assets)
        summary = pipeline.detect_lake(settings, store)
        answers = pipeline.answer(
            settings, store, folder or settings.home / "report", organisation, pdf=not no_pdf
        )
    if as_json:
        print_json({"ingest": ingested.as_dict(), "detection": summary.as_dict(), **answers})
    else:
        _print_detect(summary, False, "detection")
        demo_mod.print_answers(out, answers)
    if ingested.exit_code:
        raise typer.Exit(ingested.exit_code)


@app.command()
def report(
    ctx: typer.Context,
    folder: OutOpt = None,
    organisation: Annotated[str, typer.Option(help="Name shown on the report.")] = "",
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Write the HTML report only.")] = False,
) -> None:
    """Write the report (HTML, PDF, STIX bundles of the top incidents) from what is stored."""
    settings = _settings(ctx)
    with Store.open(settings) as store:
        answers = pipeline.answer(
            settings, store, folder or settings.home / "report", organisation, pdf=not no_pdf
        )
    from crownwatch import demo as demo_mod

    demo_mod.print_answers(out, answers)


@app.command()
def landscape(
    ctx: typer.Context,
    sector: Annotated[
        list[str] | None,
        typer.Option(help="A sector as the MISP galaxy names it (Pharmacy, Health…); repeat."),
    ] = None,
    country: Annotated[str, typer.Option(help="Only groups known to hit this country.")] = "",
    layer: Annotated[
        Path | None, typer.Option(help="Write the ATT&CK Navigator layer to this file.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Which groups target your sectors, their techniques, and your detection's gaps."""
    from crownwatch.risk import landscape as landscapes

    settings = _settings(ctx)
    sectors = tuple(sector or settings.organisation.sectors)
    if not sectors:
        raise UsageError("name a --sector (or set [organisation] sectors in the settings)")
    with Store.open(settings) as store:
        found = pipeline.threat_landscape(settings, store, sectors, country)
    if layer:
        layer.write_bytes(orjson.dumps(landscapes.layer(found), option=orjson.OPT_INDENT_2))
    if as_json:
        print_json(found)
        return
    rows = [
        [g["name"], g["id"], g["country"], g["techniques"], g["covered"]] for g in found["groups"]
    ]
    out.print(
        _table(
            f"{len(rows)} groups target {', '.join(sectors)}",
            ["group", "id", "country", "techniques", "covered"],
            rows,
        )
    )
    out.print(
        Text(
            f"detection covers {found['covered']} of their {len(found['techniques'])} techniques; "
            f"gaps used by most: {', '.join(found['gaps'][:12]) or 'none'}"
        )
    )


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the TAXII 2.1 API (/taxii2/) over HTTP; put TLS in front of it (a reverse proxy)."""
    import uvicorn

    from crownwatch.api.app import create_app

    uvicorn.run(create_app(_settings(ctx)), host=host, port=port, log_level="info")


@taxii_app.command("add-collection")
def taxii_add_collection(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="The collection's title.")],
    description: str = "",
    read: Annotated[bool, typer.Option("--read/--no-read", help="Clients may read.")] = True,
    write: Annotated[bool, typer.Option("--write/--no-write", help="Clients may add.")] = False,
    source: Annotated[
        list[str] | None,
        typer.Option(help="Only objects from these import sources (repeatable; default all)."),
    ] = None,
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only these STIX types (repeatable; default all)."),
    ] = None,
    allow_amber_strict: Annotated[
        bool, typer.Option(help="Also serve TLP:AMBER+STRICT objects (TLP:RED never leaves).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a TAXII collection: a filtered view of the knowledge base."""
    from crownwatch.api.app import add_collection

    store = Store.open(_settings(ctx))
    row = add_collection(
        store, title, description, read, write, source or (), type_ or (), allow_amber_strict
    )
    store.close()
    if as_json:
        print_json(row)
    else:
        out.print(Text(f"collection {row['id']}: {title}"))


@taxii_app.command("add-token")
def taxii_add_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who the token is for.")],
    read: Annotated[list[str] | None, typer.Option(help="Collection ids it may read.")] = None,
    write: Annotated[list[str] | None, typer.Option(help="Collection ids it may add to.")] = None,
) -> None:
    """Make a bearer token (printed once; only its hash is kept). Same name: replaced."""
    from crownwatch.api.app import add_token

    store = Store.open(_settings(ctx))
    secret = add_token(store, name, read or (), write or ())
    store.close()
    out.print(secret)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


@app.command()
def attribute(
    ctx: typer.Context,
    techniques: Annotated[
        list[str] | None, typer.Option(help="ATT&CK technique ids, comma-separated: T1566.001,…")
    ] = None,
    software: Annotated[
        list[str] | None, typer.Option(help="Software ids or names, comma-separated: S0002,…")
    ] = None,
    indicators: Annotated[
        list[str] | None, typer.Option(help="STIX ids of indicators that matched, comma-separated.")
    ] = None,
    sector: Annotated[
        list[str] | None, typer.Option(help="The organisation's sectors (repeatable or a,b).")
    ] = None,
    country: Annotated[str | None, typer.Option(help="The organisation's country.")] = None,
    when: Annotated[
        datetime | None, typer.Option(help="When the intrusion happened (for recency).")
    ] = None,
    top: Annotated[int, typer.Option(help="How many hypotheses to show.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Which known intrusion set most likely did this: ranked hypotheses, each with a
    probability, an ICD 203 confidence and the evidence for and against it."""
    from crownwatch.attribute import engine, profiles

    evidence = engine.Evidence(
        techniques=_split(techniques),
        software=_split(software),
        indicators=_split(indicators),
        sectors=_split(sector),
        country=country,
        when=when,
    )
    if not (evidence.techniques or evidence.software or evidence.indicators):
        raise UsageError("give --techniques, --software or --indicators")
    with Store.open(_settings(ctx)) as store:
        known = profiles.load(store)
    if not known.groups:
        raise UsageError("the knowledge base holds no groups: run `crownwatch intel init` first")
    result = engine.attribute(known, evidence, top=max(1, min(top, 200)))
    if as_json:
        print_json(result.hypotheses)
        return
    rows = [
        [
            h["id"],
            h["name"],
            f"{h['probability']:.1%}",
            h["likelihood"],
            h["confidence"],
            ", ".join(str(e.get("id") or e.get("detail")) for e in h["evidence"]["for"][:6]),
        ]
        for h in result.hypotheses
    ]
    out.print(
        _table(
            "Attribution",
            ["id", "group", "probability", "likelihood", "confidence", "evidence for"],
            rows,
        )
    )
    out.print(Text(f"a group not in the knowledge base: {result.unattributed:.1%}"))
    if result.unknown:
        err.print(Text("not recognised: " + ", ".join(result.unknown[:20])))


def main() -> None:
    """Entry point: errors become one clear line and exit code 2 (usage) or 1."""
    try:
        app()
    except UsageError as exc:
        err.print(Text(f"error: {exc}"))
        sys.exit(pipeline.EXIT_USAGE)
    except CrownwatchError as exc:
        err.print(Text(f"error: {exc}"))
        sys.exit(1)
