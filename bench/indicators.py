"""Indicator matching speed: a million live values against two million events.

The matcher holds ``--indicators`` generated values (40% IPv4 addresses, 40% domain names,
20% SHA-256 hashes); the events are a synthetic Arrow table of ``--events`` rows with random
source/destination addresses, DNS names (two to four labels) and file hashes, about 1% of
them holding an indicator value (an address, a subdomain of an indicator domain, or a hash).
``match`` runs over the table in batches of ``--batch`` rows (the ingest batch size).

Baseline, measured in the same run: one ``pyarrow.compute.is_in`` of the whole
``destination.ip`` column against the IPv4 values, the floor of any vectorised look-up.

    .venv/bin/python bench/indicators.py [--indicators 1000000] [--events 2000000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import pyarrow as pa
import pyarrow.compute as pc

from crownwatch.detect.indicators import Matcher, match
from crownwatch.schema import SCHEMA


def _ip(rng: random.Random) -> str:
    return f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"


def _name(rng: random.Random, labels: int) -> str:
    return ".".join(f"w{rng.getrandbits(24):x}" for _ in range(labels)) + ".example"


def indicators(n: int, rng: random.Random) -> dict[tuple[str, str], list[str]]:
    """``n`` distinct (kind, value) pairs, each with one indicator id."""
    values: dict[tuple[str, str], list[str]] = {}
    while len(values) < n:
        i = len(values)
        roll = i % 5
        if roll < 2:
            key = ("ipv4-addr", _ip(rng))
        elif roll < 4:
            key = ("domain-name", _name(rng, 2))
        else:
            key = ("sha256", f"{rng.getrandbits(256):064x}")
        values[key] = [f"indicator--{i:036d}"]
    return values


def events(n: int, values: dict[tuple[str, str], list[str]], rng: random.Random) -> pa.Table:
    """``n`` events; about 1% hold one indicator value."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in values:
        by_kind.setdefault(kind, []).append(value)
    columns: dict[str, list[str | None]] = {
        "source.ip": [],
        "destination.ip": [],
        "dns.question.name": [],
        "file.hash.sha256": [],
    }
    for _ in range(n):
        src, dst = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}", _ip(rng)
        name = _name(rng, rng.randrange(2, 5))
        digest = f"{rng.getrandbits(256):064x}" if rng.random() < 0.1 else None
        if rng.random() < 0.01:
            roll = rng.randrange(3)
            if roll == 0:
                dst = rng.choice(by_kind["ipv4-addr"])
            elif roll == 1:
                name = "www." + rng.choice(by_kind["domain-name"])
            else:
                digest = rng.choice(by_kind["sha256"])
        columns["source.ip"].append(src)
        columns["destination.ip"].append(dst)
        columns["dns.question.name"].append(name)
        columns["file.hash.sha256"].append(digest)
    start = 1_790_000_000_000_000
    base = {
        "@timestamp": pa.array(range(start, start + n), pa.int64()).cast(SCHEMA.field(0).type),
        "event.id": pa.array([f"e{i}" for i in range(n)], pa.string()),
        "host.name": pa.array([f"host{i % 500}" for i in range(n)], pa.string()),
    }
    arrays = {**base, **{k: pa.array(v, pa.string()) for k, v in columns.items()}}
    return pa.table(
        [arrays.get(name, pa.nulls(n, SCHEMA.field(name).type)) for name in SCHEMA.names],
        schema=SCHEMA,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(1)
    values = indicators(args.indicators, rng)
    table = events(args.events, values, rng)

    begun = time.perf_counter()
    matcher = Matcher.build(values)
    built = time.perf_counter() - begun
    batches = table.to_batches(max_chunksize=args.batch)

    runs, hits = [], 0
    for _ in range(args.repeat):
        begun = time.perf_counter()
        hits = sum(len(match(b, matcher)) for b in batches)
        runs.append(time.perf_counter() - begun)
    ours = args.events / statistics.median(runs)

    column, ipv4 = table.column("destination.ip"), matcher.arrays["ipv4-addr"]
    plain = []
    for _ in range(args.repeat):
        begun = time.perf_counter()
        pc.is_in(column, value_set=ipv4)
        plain.append(time.perf_counter() - begun)
    base = args.events / statistics.median(plain)

    print(
        f"matcher: {len(values):,} values built in {built:.2f} s; "
        f"{args.events:,} events in batches of {args.batch:,}: {hits:,} hits"
    )
    print(f"match: {ours:,.0f} events/s")
    print(f"baseline (one is_in of destination.ip against the IPv4 values): {base:,.0f} events/s")
    print(f"ratio {ours / base:.3f}")


if __name__ == "__main__":
    main()
