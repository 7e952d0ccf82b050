"""Ingest throughput: ``crownwatch ingest`` end to end against the raw parser, same files, same run.

For each format it measures, on one core (the process is pinned to one CPU):

* raw: the bare parse of the same files — iterating ``evtx.PyEvtxParser.records_json()``
  for EVTX; reading lines and ``orjson.loads`` per line for JSON lines (Zeek JSON, EVE);
  reading lines and splitting them on tabs (Zeek TSV); reading lines and matching the
  RFC 3164 header with one regular expression (syslog);
* ingest: the whole pipeline — fingerprint, detect, parse, normalise, build Arrow batches,
  write Parquet partitions, commit to the lake without duplicates, record each file in
  SQLite (the interpreter's start, the imports and creating the database are not timed);

and prints events/s of each, the ratio ingest/raw and the peak memory (max RSS) of the ingest.
Every figure is the median of ``--repeat`` runs, each in a fresh process.

Inputs: ../shared/data/evtx (all 315 files, most of them small, so per-file costs
show; and, as ``evtx-large``, its 20 largest files), the WRCCDC Zeek dns+ssl logs (TSV
and JSON), the loghub OpenSSH and Linux syslog files repeated to 200k lines, and an EVE
file made from the test fixtures repeated to 100k lines (there is no public EVE sample
in ../shared/data).

    .venv/bin/python bench/ingest.py [--repeat 3] [--only evtx,zeek-tsv,...]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
EVE_FIXTURE = ROOT / "tests" / "data" / "eve"


def inputs(work: Path) -> dict[str, tuple[str, list[Path]]]:
    """Format name -> (raw-parse kind, files)."""
    zeek = DATA / "logs" / "zeek-wrccdc-2018"
    syslog = work / "syslog.log"
    if not syslog.exists():
        lines = b"".join(
            (DATA / "logs" / "loghub" / name).read_bytes()
            for name in ("OpenSSH_2k.log", "Linux_2k.log")
        )
        syslog.write_bytes(lines * 50)
    evtx = sorted((DATA / "evtx").rglob("*.evtx"))
    largest = sorted(evtx, key=lambda p: p.stat().st_size)[-20:]
    found: dict[str, tuple[str, list[Path]]] = {
        "evtx": ("evtx", evtx),
        "evtx-large": ("evtx", largest),
        "zeek-tsv": ("split-tab", [zeek / "tsv" / "dns.log.gz", zeek / "tsv" / "ssl.log.gz"]),
        "zeek-json": ("orjson", [zeek / "json" / "dns.json.gz", zeek / "json" / "ssl.json.gz"]),
        "syslog": ("syslog-header", [syslog]),
    }
    fixtures = sorted(EVE_FIXTURE.glob("*.json")) if EVE_FIXTURE.is_dir() else []
    if fixtures:
        eve = work / "eve.json"
        if not eve.exists():
            good = [
                line
                for f in fixtures
                for line in f.read_bytes().splitlines()
                if line.strip().startswith(b"{") and _is_json(line)
            ]
            eve.write_bytes(b"\n".join(good * (100_000 // max(len(good), 1) + 1)) + b"\n")
        found["eve"] = ("orjson", [eve])
    return found


def _is_json(line: bytes) -> bool:
    import orjson

    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(record, dict) and "timestamp" in record


def _open(path: Path) -> object:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def raw_parse(kind: str, files: list[Path]) -> int:
    """The bare parse; returns records seen."""
    import re

    import orjson
    from evtx import PyEvtxParser

    header = re.compile(rb"(?:<\d{1,3}>)?[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d \S+ ")
    n = 0
    for path in files:
        if kind == "evtx":
            try:
                for _ in PyEvtxParser(str(path)).records_json():
                    n += 1
            except (RuntimeError, OSError):
                pass
            continue
        with _open(path) as fh:  # type: ignore[attr-defined]
            for line in fh:
                if kind == "orjson":
                    orjson.loads(line)
                elif kind == "split-tab":
                    if not line.startswith(b"#"):
                        line.split(b"\t")
                    else:
                        continue
                else:
                    header.match(line)
                n += 1
    return n


def ingest(files: list[Path], home: Path) -> tuple[int, float]:
    from crownwatch import config, pipeline
    from crownwatch.store import Store

    settings = config.load(home=home, environ={})
    store = Store.open(settings)  # creating the database is not part of the rate
    start = time.perf_counter()
    summary = pipeline.ingest_files([str(f) for f in files], settings, store)
    seconds = time.perf_counter() - start
    store.close()
    return summary.parsed, seconds


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(mode: str, kind: str, files: list[str]) -> None:
    """One measurement in this (fresh, pinned) process; prints JSON."""
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    paths = [Path(f) for f in files]
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "raw":
            start = time.perf_counter()
            n = raw_parse(kind, paths)
            seconds = time.perf_counter() - start
        else:
            import crownwatch.pipeline  # noqa: F401  (imports are not part of the rate)

            n, seconds = ingest(paths, Path(tmp))
    peak = peak_mb()
    print(json.dumps({"records": n, "seconds": seconds, "peak_mb": peak}))


def measure(mode: str, kind: str, files: list[Path], repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        env = dict(os.environ, ARROW_NUM_THREADS="1", OMP_NUM_THREADS="1")
        proc = subprocess.run(
            [sys.executable, __file__, "--child", mode, kind, *map(str, files)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        "records": runs[0]["records"],
        "rate": statistics.median(r["records"] / r["seconds"] for r in runs),
        "peak_mb": statistics.median(r["peak_mb"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.child[2:])
        return
    work = Path(tempfile.gettempdir()) / "crownwatch-bench-ingest"
    work.mkdir(exist_ok=True)
    wanted = set(filter(None, args.only.split(",")))
    print(
        f"{'format':<10} {'records':>9} {'raw rec/s':>11} {'ingest ev/s':>12} "
        f"{'ratio':>6} {'peak MB':>8}"
    )
    for name, (kind, files) in inputs(work).items():
        if wanted and name not in wanted:
            continue
        raw = measure("raw", kind, files, args.repeat)
        ours = measure("ingest", kind, files, args.repeat)
        print(
            f"{name:<10} {ours['records']:>9,} {raw['rate']:>11,.0f} {ours['rate']:>12,.0f} "
            f"{ours['rate'] / raw['rate']:>6.2f} {ours['peak_mb']:>8.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
