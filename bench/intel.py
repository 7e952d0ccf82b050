"""Knowledge-base speed: ATT&CK import, a million indicators, and look-ups by value.

Each figure comes with a baseline measured in the same run:

* ``attack``: importing the bundled ATT&CK Enterprise bundle (24,771 objects) into a fresh
  SQLite knowledge base, against ``json.loads`` of the same (decompressed) bundle;
* ``1M indicators``: importing a generated STIX 2.1 bundle of 1,000,000 indicators (IPs,
  domains, URLs and SHA-256 hashes; written to a temporary file first and streamed from it),
  against ``json.loads`` of the same file; with the peak memory (max RSS) of the import, and
  separately of building the in-memory value index afterwards;
* ``lookups``: looking 1,000,000 observed values (half of them known) up in the in-memory index
  the detection stage builds from the knowledge base, against the same look-ups in a plain
  ``set`` of the values.

Each import runs in a fresh process (so its peak memory is its own); the figures are medians of
``--repeat`` runs.

    .venv/bin/python bench/intel.py [--repeat 3] [--indicators 1000000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_bundle(path: Path, n: int, seed: int = 1) -> None:
    """A bundle of ``n`` indicators, written as a stream."""
    rng = random.Random(seed)
    with path.open("w") as fh:
        bundle_id = f"bundle--{uuid.UUID(int=seed)}"
        fh.write(f'{{"type": "bundle", "id": "{bundle_id}", "objects": [\n')
        for i in range(n):
            kind = i % 4
            if kind == 0:
                ip = f"{rng.randrange(1, 224)}.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
                pattern = f"[ipv4-addr:value = '{ip}']"
            elif kind == 1:
                pattern = f"[domain-name:value = 'host{i}.bad{rng.randrange(1000)}.example']"
            elif kind == 2:
                pattern = f"[url:value = 'http://c2-{i}.example/p/{rng.randrange(10**6)}']"
            else:
                pattern = f"[file:hashes.'SHA-256' = '{rng.getrandbits(256):064x}']"
            obj = {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                "created": "2026-10-01T00:00:00.000Z",
                "modified": "2026-10-01T00:00:00.000Z",
                "pattern": pattern,
                "pattern_type": "stix",
                "valid_from": "2026-10-01T00:00:00Z",
                "confidence": 70,
            }
            fh.write(("," if i else "") + json.dumps(obj) + "\n")
        fh.write("]}\n")


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(what: str, path: str) -> None:
    """One import in a fresh process; prints JSON with seconds and peak memory."""
    from crownwatch import config
    from crownwatch.intel import attack, kb, stixfiles
    from crownwatch.store import Store

    with tempfile.TemporaryDirectory() as home:
        store = Store.open(config.load(home=home, environ={}))
        start = time.perf_counter()
        if what == "attack":
            report = kb.import_objects(store, attack.objects(), attack.SOURCE, "clear")
        else:
            report = kb.import_objects(store, stixfiles.read(Path(path)), "bench", "amber")
        seconds = time.perf_counter() - start
        peak = peak_mb()
        if what == "indicators":
            start = time.perf_counter()
            index = kb.lookup_values(store)
            index_seconds = time.perf_counter() - start
        else:
            index, index_seconds = {}, 0.0
        store.close()
    index_peak = peak_mb()
    print(
        json.dumps(
            {
                "index_peak_mb": index_peak,
                "objects": report.added + report.unchanged,
                "rejected": report.rejected,
                "seconds": seconds,
                "peak_mb": peak,
                "index_values": len(index),
                "index_seconds": index_seconds,
            }
        )
    )


def baseline(path: Path) -> float:
    start = time.perf_counter()
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    json.loads(data)
    return time.perf_counter() - start


def run_child(what: str, path: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", what, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def lookups(n_values: int, n_lookups: int) -> tuple[float, float]:
    """Look-ups/s in the detection index shape, and in a plain set (the baseline)."""
    rng = random.Random(2)
    index = {
        ("ipv4-addr", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"): [f"indicator--{i}"]
        for i in range(n_values)
    }
    keys = list(index)
    probes = [
        keys[rng.randrange(n_values)] if i % 2 else ("ipv4-addr", f"192.0.2.{i % 256}")
        for i in range(n_lookups)
    ]
    plain = set(keys)
    start = time.perf_counter()
    hits = sum(1 for p in probes if index.get(p))
    ours = time.perf_counter() - start
    start = time.perf_counter()
    base_hits = sum(1 for p in probes if p in plain)
    base = time.perf_counter() - start
    assert hits == base_hits
    return n_lookups / ours, n_lookups / base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from importlib import resources

    attack_file = Path(
        str(resources.files("crownwatch.data").joinpath("attack", "enterprise-attack-18.1.json.gz"))
    )
    runs = [run_child("attack", attack_file) for _ in range(args.repeat)]
    base = statistics.median(baseline(attack_file) for _ in range(args.repeat))
    seconds = statistics.median(r["seconds"] for r in runs)
    print(
        f"attack: {runs[0]['objects']:,} objects in {seconds:.2f} s "
        f"({runs[0]['objects'] / seconds:,.0f} objects/s); json.loads {base:.2f} s; "
        f"ratio (json.loads time / import time) {base / seconds:.2f}; "
        f"peak {statistics.median(r['peak_mb'] for r in runs):.0f} MB",
        flush=True,
    )

    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "indicators.json"
        make_bundle(bundle, args.indicators)
        base = statistics.median(baseline(bundle) for _ in range(min(args.repeat, 2)))
        runs = [run_child("indicators", bundle) for _ in range(args.repeat)]
    seconds = statistics.median(r["seconds"] for r in runs)
    n = runs[0]["objects"]
    print(
        f"indicators: {n:,} in {seconds:.1f} s ({n / seconds:,.0f} objects/s), "
        f"rejected {runs[0]['rejected']:.0f}; json.loads of the file {base:.1f} s "
        f"({n / base:,.0f} objects/s); ratio {base / seconds:.2f}; "
        f"peak {statistics.median(r['peak_mb'] for r in runs):.0f} MB; "
        f"index of {runs[0]['index_values']:,} values built in "
        f"{statistics.median(r['index_seconds'] for r in runs):.1f} s "
        f"(peak {statistics.median(r['index_peak_mb'] for r in runs):.0f} MB with it)",
        flush=True,
    )

    rates = [lookups(args.indicators, 1_000_000) for _ in range(args.repeat)]
    ours = statistics.median(r[0] for r in rates)
    plain = statistics.median(r[1] for r in rates)
    print(
        f"lookups: {ours:,.0f}/s in the index; {plain:,.0f}/s in a plain set; "
        f"ratio {ours / plain:.2f}"
    )


if __name__ == "__main__":
    main()
