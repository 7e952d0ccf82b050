"""Detection over the lake: how fast ``crownwatch detect`` runs and how well it does.

Protocol: generate the demo scenario (``--size``, seed 7) into a scratch folder, ingest it
into a fresh data directory, import the vendor's STIX bundle, and then, ``--repeat`` times,
forget every alert and every file read and run ``pipeline.detect_lake`` over the whole lake
(Sigma rules shipped with the package, loaded and compiled once before the runs and timed
apart; the live indicators; the behaviour analytics with the scenario inventory's crown
jewels). The behaviour analytics are also timed on their own.

Baseline, measured in the same run: reading the same Parquet files with pyarrow (the floor
of any detection over the lake). The ratio is detection speed / reading speed.

Quality, against the scenario's ground truth: per incident, how many kill-chain steps raised
an alert (an alert holds one of the step's events); false alerts (none of whose events is
malicious) per 10,000 events.

    .venv/bin/python bench/detection.py [--size small] [--repeat 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# bench/sigma.py (named by the issue) would shadow pySigma's ``sigma`` package when this
# folder is sys.path[0]: take the folder off the path before crownwatch is imported.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import pyarrow.parquet as pq
from sqlalchemy import delete

from crownwatch import config, demo, lake, pipeline, scenario
from crownwatch.detect import analytics, sigma
from crownwatch.intel import kb, stixfiles
from crownwatch.risk import assets
from crownwatch.store import Store
from crownwatch.store import alerts as alerts_store
from crownwatch.store.models import AlertRow, DetectedPart


def _forget(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(AlertRow))
        conn.execute(delete(DetectedPart))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="small")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="keep the scratch data here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="cw-bench-detect-"))
    folder, home = work / f"scenario-{args.size}", work / f"home-{args.size}"
    if not (folder / "truth" / "summary.json").is_file():
        scenario.generate(folder, args.size, 7)
    settings = config.load(home=home, environ={})
    store = Store.open(settings)
    try:
        pipeline.ingest_files([str(folder / d) for d in demo.LOG_FOLDERS], settings, store)
        kb.import_objects(
            store, stixfiles.read(folder / "report" / "apt41-bundle.json"), "vendor-report"
        )
        jewels = assets.crown_jewels(assets.read_inventory(folder / "inventory" / "assets.csv"))
        parts = sorted((settings.lake_dir / "events").rglob("*.parquet"))

        reads = []
        for _ in range(args.repeat):
            begun = time.perf_counter()
            rows = sum(pq.read_table(p).num_rows for p in parts)
            reads.append(time.perf_counter() - begun)

        begun = time.perf_counter()
        ruleset = sigma.all_rules(settings)
        sigma.settle()
        loading = time.perf_counter() - begun
        runs, summary = [], None
        for _ in range(args.repeat):
            _forget(store)
            begun = time.perf_counter()
            summary = pipeline.detect_lake(settings, store, ruleset, jewels=jewels)
            runs.append(time.perf_counter() - begun)
        assert summary is not None

        timed = []
        ctx = analytics.Context(settings.analytics, None, None, jewels)
        for _ in range(args.repeat):
            con = lake.connect(settings.lake_dir)
            begun = time.perf_counter()
            analytics.run_all(con, ctx)
            timed.append(time.perf_counter() - begun)
            con.close()
        found = alerts_store.listing(store, limit=0, min_severity="low")
    finally:
        store.close()
    measured = demo.quality(settings, folder, found)

    detect_s, read_s, analytics_s = (statistics.median(x) for x in (runs, reads, timed))
    print(
        f"lake: {rows:,} events in {len(parts)} files; {summary.rules:,} Sigma rules (loaded "
        f"once in {loading:.1f} s, not in the times below), {summary.indicators_live:,} live "
        "indicator values"
    )
    print(
        f"detect: {detect_s:.2f} s = {rows / detect_s:,.0f} events/s "
        f"(of which behaviour analytics {analytics_s:.2f} s); "
        f"{summary.alerts_raised:,} detections {dict(summary.by_kind)} → {summary.added:,} alerts"
    )
    print(
        f"baseline (pyarrow reads the same files): {read_s:.2f} s = {rows / read_s:,.0f} events/s"
    )
    print(f"ratio {read_s / detect_s:.3f}")
    for name, incident in sorted(measured["incidents"].items()):
        missed = [s for s, titles in incident["per_step"].items() if not titles]
        print(
            f"{name}: {incident['alerted']} of {incident['steps']} steps alerted; missed {missed}"
        )
    print(
        f"false alerts: {measured['false_alerts']} of {measured['alerts']} alerts = "
        f"{measured['false_per_10k']} per 10,000 events"
    )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
