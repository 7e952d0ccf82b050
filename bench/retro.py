"""Retro-hunt speed: new indicators against the events the lake already holds.

Protocol: generate the demo scenario (``--size large`` is about 10M events; seed 7) and ingest
it into a data directory (kept with ``--work`` to reuse), then import ``--indicators`` new
STIX indicators (40% IPv4 addresses, 40% domain names, 20% SHA-256 hashes, random, plus the
scenario's own indicators so that there is something to find), valid from the day before the
lake's newest event. ``pipeline.hunt_retro`` then sweeps every event in the lake
(``--repeat`` times; the later runs update the alerts of the first).

Baseline, measured in the same run: DuckDB reading the distinct values of every indicator
column of the same events (the floor of any sweep). The ratio is baseline time / hunt time.

    .venv/bin/python bench/retro.py [--size large] [--indicators 100000] [--work DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

# bench/sigma.py (named by the issue) would shadow pySigma's ``sigma`` package when this
# folder is sys.path[0]: take the folder off the path before crownwatch is imported.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
from typing import Any

import orjson

from crownwatch import config, demo, lake, pipeline, scenario
from crownwatch.detect.indicators import FIELDS_BY_KIND
from crownwatch.intel import kb
from crownwatch.store import Store

PATTERNS = {
    "ipv4-addr": "[ipv4-addr:value = '{}']",
    "domain-name": "[domain-name:value = '{}']",
    "url": "[url:value = '{}']",
    "file": "[file:hashes.'SHA-256' = '{}']",
    "sha256": "[file:hashes.'SHA-256' = '{}']",
}


def _indicator(kind: str, value: str, valid_from: str) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, kind + ':' + value)}",
        "created": valid_from,
        "modified": valid_from,
        "name": f"bench {kind} {value[:24]}",
        "pattern": PATTERNS[kind].format(value.replace("'", "")),
        "pattern_type": "stix",
        "valid_from": valid_from,
        "confidence": 90,
    }


def indicators(n: int, folder: Path, valid_from: str) -> list[dict[str, Any]]:
    """``n`` random indicators and the scenario's own."""
    rng = random.Random(1)
    found = []
    for i in range(n):
        roll = i % 5
        if roll < 2:
            ip = ".".join(
                str(rng.randrange(1, 224) if j == 0 else rng.randrange(256)) for j in range(4)
            )
            found.append(_indicator("ipv4-addr", ip, valid_from))
        elif roll < 4:
            found.append(_indicator("domain-name", f"w{rng.getrandbits(40):x}.example", valid_from))
        else:
            found.append(_indicator("sha256", f"{rng.getrandbits(256):064x}", valid_from))
    own = orjson.loads((folder / "truth" / "indicators.json").read_bytes())
    for entry in own if isinstance(own, list) else own.get("indicators", []):
        if entry.get("type") in PATTERNS:
            found.append(_indicator(entry["type"], entry["value"], valid_from))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="large")
    parser.add_argument("--indicators", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="keep the scratch data here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="cw-bench-retro-"))
    folder, home = work / f"scenario-{args.size}", work / f"home-{args.size}"
    if not (folder / "truth" / "summary.json").is_file():
        scenario.generate(folder, args.size, 7)
    settings = config.load(home=home, environ={})
    store = Store.open(settings)
    try:
        if not (settings.lake_dir / "events").is_dir():
            pipeline.ingest_files([str(folder / d) for d in demo.LOG_FOLDERS], settings, store)
        con = lake.connect(settings.lake_dir)
        first, last, events = con.execute(
            'SELECT min("@timestamp"), max("@timestamp"), count(*) FROM events'
        ).fetchone() or (None, None, 0)
        assert first is not None and last is not None
        valid_from = (last - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        begun = time.perf_counter()
        report = kb.import_objects(store, indicators(args.indicators, folder, valid_from), "bench")
        imported = time.perf_counter() - begun

        columns = sorted({c for cs in FIELDS_BY_KIND.values() for c in cs})
        reads = []
        for _ in range(args.repeat):
            begun = time.perf_counter()
            for column in columns:
                con.execute(f'SELECT count(DISTINCT "{column}") FROM events').fetchone()
            reads.append(time.perf_counter() - begun)
        con.close()

        runs, summaries = [], []
        for _ in range(args.repeat):
            begun = time.perf_counter()
            summaries.append(pipeline.hunt_retro(settings, store, first))
            runs.append(time.perf_counter() - begun)
    finally:
        store.close()
    hunt_s, read_s = statistics.median(runs), statistics.median(reads)
    print(
        f"lake: {events:,} events; {report.added:,} new indicators imported in {imported:.1f} s; "
        f"{summaries[0].indicators_live:,} live indicator values"
    )
    print(
        f"retro-hunt: {hunt_s:.2f} s = {events / hunt_s:,.0f} events/s; first run "
        f"{summaries[0].alerts_raised:,} detections → {summaries[0].added:,} alerts "
        f"(later runs: {summaries[-1].added} new, {summaries[-1].updated} updated)"
    )
    print(f"baseline (DuckDB reads the distinct values of {len(columns)} columns): {read_s:.2f} s")
    print(f"ratio {read_s / hunt_s:.3f}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
