"""Sigma detection speed: EVTX to matches with the shipped SigmaHQ rule sets.

In one run, on ../shared/data/evtx (315 real EVTX files recorded during attacks):

* raw: iterating ``evtx.PyEvtxParser.records_json()`` over the same files (the parse floor);
* crownwatch: ``detect.sigma.scan`` with the shipped default rule sets compiled (parse,
  normalise, route by logsource, prefilter the rules' literals with Aho-Corasick, evaluate
  the candidate rules' predicates, build the matches), on one core;

printed as events/s, the ratio crownwatch/raw, the matches and the rules that fired. Loading
and compiling the rules is timed separately (it happens once per process). Medians of
``--repeat`` runs. The issue's anchor is Zircolite (1.4–2.4k events/s here) and Hayabusa
(10–17k events/s published); a Zircolite install is not part of this repository, so it is not
run here.

    .venv/bin/python bench/sigma.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# This script is named after the bench/sigma.py, which on sys.path[0] would shadow
# pySigma's own ``sigma`` package: take this folder off the path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "evtx"


def raw(files: list[Path]) -> tuple[int, float]:
    from evtx import PyEvtxParser

    start = time.perf_counter()
    n = 0
    for path in files:
        try:
            for _ in PyEvtxParser(str(path)).records_json():
                n += 1
        except (RuntimeError, OSError):
            pass
    return n, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from crownwatch.detect import sigma

    files = sorted(DATA.rglob("*.evtx"))
    start = time.perf_counter()
    rules = sigma.bundled_rules()
    load = time.perf_counter() - start
    sigma.settle()  # as the CLI does after loading its rules
    print(f"rules: {len(rules.rules):,} compiled, {len(rules.failures)} not, in {load:.1f} s")
    raws, ours = [], []
    matches: list[sigma.Match] = []
    for _ in range(args.repeat):
        n, seconds = raw(files)
        raws.append(n / seconds)
        start = time.perf_counter()
        matches = sigma.scan(files, rules.rules)
        ours.append(n / (time.perf_counter() - start))
    raw_rate, our_rate = statistics.median(raws), statistics.median(ours)
    fired = len({m.rule_id for m in matches})
    print(
        f"events: {n:,} in {len(files)} files; raw parse {raw_rate:,.0f}/s; "
        f"crownwatch sigma {our_rate:,.0f} events/s; ratio {our_rate / raw_rate:.3f}; "
        f"{len(matches):,} matches from {fired} rules"
    )


if __name__ == "__main__":
    main()
