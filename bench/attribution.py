"""Attribution on MITRE ATT&CK itself, with leakage control, against a TF-IDF baseline.

Protocol (ATT&CK Enterprise 18.1, /work/shared/data/attack or the shipped copy):

1. Report level, leave one report out. Every (intrusion set, cited report) pair whose ``uses``
   relationships to techniques name at least 5 techniques is a held-out intrusion: its
   techniques and software are the evidence. Before attributing it, every relationship whose
   only support is that report is removed from all profiles (groups, campaigns and the
   software->technique links the profiles inherit); relationships the report shares with
   other reports stay, counted without it.
2. Campaigns: each ATT&CK campaign with an ``attributed-to`` group and at least one technique;
   its own sources (its references and those of its ``uses``) are removed as above and the
   facts that came through the campaign are dropped. Right when a group it is attributed to
   ranks first (top-5: among the first five).
3. The same intrusions with a random 50% of each one's techniques and software visible
   (seed 20240605; at least one item).

Calibration is leave-one-out clean too: the temperature and the "unknown group" logit are
fitted (grid search, maximum likelihood, in DuckDB) on the report-level intrusions (full and
50%) of the *other* folds (10 folds, by group), and each intrusion is scored with the values
fitted without its fold. The values fitted on all folds are printed: they are the engine's
defaults (``engine.Params``).

Figures: top-1/top-5 accuracy; of the hypotheses labelled ``high`` confidence, how many are
right; a reliability table (the top-5 hypotheses of each intrusion binned by predicted
probability: mean predicted vs observed frequency); time per attribution (the whole
``engine.attribute`` call on the full profiles; median and p95).

Baseline, measured in the same run: plain TF-IDF cosine over techniques and software (binary
presence; idf = ln(N/df) over the groups), on the same leakage-controlled profiles.

    .venv/bin/python bench/attribution.py [--bundle PATH] [--folds 10]
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import statistics
import sys
import time
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

# bench/sigma.py would shadow pySigma's ``sigma`` package when this folder is sys.path[0]:
# take the folder off the path before crownwatch is imported.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import duckdb
import orjson

from crownwatch.attribute import engine, profiles
from crownwatch.intel import attack

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "attack"
SEED = 20240605
MIN_TECHNIQUES = 5
TEMPERATURES = [round(0.5 * 1.15**i, 3) for i in range(34)]
UNKNOWN = [x / 2 for x in range(-16, 17)]

Case = dict[str, Any]


def _objects(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        candidate = SHARED / f"enterprise-attack-{attack.VERSION}.json.gz"
        path = candidate if candidate.is_file() else None
    if path is None:
        return attack.objects()
    return list(orjson.loads(gzip.decompress(path.read_bytes()))["objects"])


def report_cases(knowledge: profiles.Knowledge) -> list[Case]:
    """(group, report) pairs with at least MIN_TECHNIQUES techniques."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for fact in knowledge.facts:
        if fact.kind == "uses":
            for report in fact.support[0]:
                found[(fact.group, report)].add(fact.feature)
    cases = []
    for (group, report), feats in sorted(found.items()):
        if sum(f.startswith("T") for f in feats) >= MIN_TECHNIQUES:
            cases.append(
                {
                    "name": report,
                    "truth": {group},
                    "fold_group": group,
                    "exclude": frozenset([report]),
                    "skip": frozenset(),
                    "features": sorted(feats),
                }
            )
    return cases


def campaign_cases(knowledge: profiles.Knowledge, objects: list[dict[str, Any]]) -> list[Case]:
    """Attributed campaigns with their own sources to remove."""
    byid = {o["id"]: o for o in objects if o.get("type") == "campaign"}
    truth: dict[str, set[str]] = defaultdict(set)
    feats: dict[str, set[str]] = defaultdict(set)
    sources: dict[str, set[str]] = defaultdict(set)
    for fact in knowledge.facts:
        if fact.kind == "campaign":
            truth[fact.via].add(fact.group)
            feats[fact.via].add(fact.feature)
            sources[fact.via].update(fact.support[0])
    cases = []
    for cid in sorted(truth):
        own = {
            str(r["source_name"])
            for r in byid[cid].get("external_references") or ()
            if r.get("source_name") and r.get("source_name") != "mitre-attack"
        }
        if not any(f.startswith("T") for f in feats[cid]):
            continue
        cases.append(
            {
                "name": byid[cid].get("name", cid),
                "truth": truth[cid],
                "fold_group": sorted(truth[cid])[0],
                "exclude": frozenset(own | sources[cid]),
                "skip": frozenset([cid]),
                "features": sorted(feats[cid]),
            }
        )
    return cases


def halve(cases: list[Case], seed: int = SEED) -> list[Case]:
    rng = random.Random(seed)
    out = []
    for case in cases:
        feats = case["features"]
        out.append({**case, "features": sorted(rng.sample(feats, max(1, len(feats) // 2)))})
    return out


class Profiles:
    """Leakage-controlled profiles, built once per (excluded sources, skipped campaigns)."""

    def __init__(self, knowledge: profiles.Knowledge) -> None:
        self.knowledge = knowledge
        self.cache: dict[tuple[frozenset[str], frozenset[str]], profiles.Profiles] = {}
        self.seconds: list[float] = []

    def get(self, case: Case) -> profiles.Profiles:
        key = (case["exclude"], case["skip"])
        if key not in self.cache:
            p = profiles.assemble(self.knowledge, *key)
            self.seconds.append(p.seconds)
            self.cache[key] = p
        return self.cache[key]


def _evidence(case: Case) -> engine.Evidence:
    feats = case["features"]
    return engine.Evidence(
        techniques=[f for f in feats if f.startswith("T")],
        software=[f for f in feats if not f.startswith("T")],
    )


def raw_scores(cases: list[Case], store: Profiles) -> list[dict[str, float]]:
    out = []
    for case in cases:
        p = store.get(case)
        query, _ = engine.features(p, _evidence(case))
        out.append(engine.scores(p, query))
    return out


def tfidf(cases: list[Case], store: Profiles) -> list[dict[str, float]]:
    """Plain TF-IDF cosine over techniques and software (binary presence), same profiles."""
    out = []
    for case in cases:
        p = store.get(case)
        rows = {
            g: {f for f, w in row.items() if f in p.knowledge.names and _direct(p, g, f)}
            for g, row in p.weights.items()
        }
        n = len(rows)
        df: dict[str, int] = defaultdict(int)
        for row in rows.values():
            for f in row:
                df[f] += 1
        idf = {f: math.log(n / d) for f, d in df.items()}
        query = [f for f in case["features"] if f in idf]
        qn = math.sqrt(sum(idf[f] ** 2 for f in query)) or 1.0
        scores = {}
        for g, row in rows.items():
            dn = math.sqrt(sum(idf[f] ** 2 for f in row)) or 1.0
            scores[g] = sum(idf[f] ** 2 for f in query if f in row) / (qn * dn)
        out.append(scores)
    return out


_DIRECT: dict[int, dict[str, set[str]]] = {}


def _direct(p: profiles.Profiles, group: str, feature: str) -> bool:
    """Whether the group's own ``uses`` (not campaigns, not inherited) name the feature."""
    return feature in _DIRECT[id(p)].get(group, set())


def _prepare_direct(store: Profiles, cases: list[Case]) -> None:
    for case in cases:
        p = store.get(case)
        if id(p) in _DIRECT:
            continue
        rows: dict[str, set[str]] = defaultdict(set)
        for fact in store.knowledge.facts:
            if fact.kind != "uses" or (fact.support[0] and fact.support[0] <= case["exclude"]):
                continue
            rows[fact.group].add(fact.feature)
        _DIRECT[id(p)] = rows


def topk(cases: list[Case], scores: list[dict[str, float]]) -> tuple[float, float]:
    one = five = 0
    for case, s in zip(cases, scores, strict=True):
        ranked = sorted(s, key=lambda g: -s[g])
        one += ranked[0] in case["truth"]
        five += bool(set(ranked[:5]) & case["truth"])
    return one / len(cases), five / len(cases)


def fold_of(case: Case, folds: int) -> int:
    return zlib.crc32(case["fold_group"].encode()) % folds


def fit(
    cases: list[Case], scores: list[dict[str, float]], folds: int
) -> tuple[dict[int, tuple[float, float]], tuple[float, float]]:
    """Temperature and unknown logit by maximum likelihood: per held-out fold and on all."""
    con = duckdb.connect()
    con.execute("CREATE TABLE s (c INTEGER, fold INTEGER, raw DOUBLE, hit BOOLEAN)")
    rows = [
        (i, fold_of(case, folds), v, g in case["truth"])
        for i, (case, sc) in enumerate(zip(cases, scores, strict=True))
        for g, v in sc.items()
    ]
    con.executemany("INSERT INTO s VALUES (?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE grid (t DOUBLE, u DOUBLE)")
    con.executemany(
        "INSERT INTO grid VALUES (?, ?)", [(t, u) for t in TEMPERATURES for u in UNKNOWN]
    )
    nll = con.execute(
        """
        WITH m AS (SELECT c, max(raw) AS top FROM s GROUP BY c),
        z AS (SELECT s.c, s.fold, grid.t, grid.u, s.hit,
                     (s.raw - m.top) / grid.t AS z,
                     grid.u - m.top / grid.t AS zu,
                     greatest(0, grid.u - m.top / grid.t) AS k
              FROM s JOIN m USING (c) CROSS JOIN grid),
        per AS (SELECT c, fold, t, u,
                       sum(exp(z - k)) + exp(any_value(zu) - any_value(k)) AS norm,
                       sum(CASE WHEN hit THEN exp(z - k) ELSE 0 END) AS hitz
                FROM z GROUP BY c, fold, t, u)
        SELECT fold, t, u, sum(ln(norm) - ln(greatest(hitz, 1e-300))) AS nll
        FROM per GROUP BY fold, t, u
        """
    ).fetchall()
    per: dict[tuple[float, float], dict[int, float]] = defaultdict(dict)
    for fold, t, u, value in nll:
        per[(t, u)][fold] = value
    totals = {k: sum(v.values()) for k, v in per.items()}
    best_all = min(totals, key=lambda k: totals[k])
    by_fold = {f: min(per, key=lambda k, f=f: totals[k] - per[k].get(f, 0.0)) for f in range(folds)}
    return by_fold, best_all


def calibrated(
    cases: list[Case],
    scores: list[dict[str, float]],
    params: dict[int, tuple[float, float]],
    folds: int,
    store: Profiles,
) -> list[list[tuple[float, bool, str]]]:
    """Per case, the top-5 (probability, right, confidence) with its fold's parameters."""
    out = []
    for case, sc in zip(cases, scores, strict=True):
        t, u = params[fold_of(case, folds)]
        p = engine.Params(temperature=t, unknown_logit=u)
        probs, _ = engine.probabilities({g: v / t for g, v in sc.items()}, p)
        ranked = sorted(probs, key=lambda g: -probs[g])[:5]
        prof = store.get(case)
        query, _ = engine.features(prof, _evidence(case))
        rows = []
        for g in ranked:
            strong = engine.strong_evidence(prof, g, query, _evidence(case))
            rows.append((probs[g], g in case["truth"], engine.confidence(probs[g], strong)))
        out.append(rows)
    return out


def reliability(rows: list[list[tuple[float, bool, str]]]) -> list[str]:
    bins: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for case in rows:
        for prob, right, _ in case:
            bins[min(int(prob * 10), 9)].append((prob, right))
    lines = ["  predicted     mean p   observed      n"]
    for b in range(10):
        items = bins.get(b, [])
        if items:
            mean = statistics.fmean(p for p, _ in items)
            seen = sum(r for _, r in items) / len(items)
            lines.append(
                f"  {b / 10:.1f}-{(b + 1) / 10:.1f}    {mean:7.3f}  {seen:9.3f}  {len(items):5d}"
            )
    return lines


def confidence_table(rows: list[list[tuple[float, bool, str]]]) -> str:
    parts = []
    for word in ("high", "moderate", "low"):
        items = [r for case in rows for _, r, c in case if c == word]
        if items:
            parts.append(f"{word} {sum(items)}/{len(items)} right ({sum(items) / len(items):.1%})")
        else:
            parts.append(f"{word} 0/0")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--folds", type=int, default=10)
    args = parser.parse_args()
    started = time.perf_counter()
    objects = _objects(args.bundle)
    t0 = time.perf_counter()
    knowledge = profiles.extract(objects)
    full = profiles.assemble(knowledge)
    full.seconds = time.perf_counter() - t0
    print(f"profiles: {len(full.groups)} groups, {len(full.background)} features")
    store = Profiles(knowledge)
    reports = report_cases(knowledge)
    camps = campaign_cases(knowledge, objects)
    halves = halve(reports)
    sets = {"reports": reports, "reports 50%": halves, "campaigns": camps}
    print("  ".join(f"{k}: N={len(v)}" for k, v in sets.items()))
    scored = {k: raw_scores(v, store) for k, v in sets.items()}
    assembly = statistics.median(store.seconds) * 1000
    print(f"profile assembly (leakage control): median {assembly:.0f} ms")
    _prepare_direct(store, reports + camps)
    base = {k: tfidf(v, store) for k, v in sets.items()}
    train = reports + halves
    by_fold, (t_all, u_all) = fit(train, scored["reports"] + scored["reports 50%"], args.folds)
    print(f"fitted on all folds: temperature={t_all} unknown_logit={u_all}")
    print()
    head = f"{'TF-IDF top-1':>12} {'top-5':>7}   {'engine top-1':>12} {'top-5':>7}"
    print(f"{'set':<14}{'N':>5}  {head}")
    all_rows = []
    for name, cases in sets.items():
        b1, b5 = topk(cases, base[name])
        e1, e5 = topk(cases, scored[name])
        print(f"{name:<14}{len(cases):>5}  {b1:>12.1%} {b5:>7.1%}   {e1:>12.1%} {e5:>7.1%}")
        rows = calibrated(cases, scored[name], by_fold, args.folds, store)
        all_rows.append((name, rows))
    print()
    for name, rows in all_rows:
        print(f"confidence ({name}, top-5 hypotheses): {confidence_table(rows)}")
    for name, rows in all_rows:
        print(f"\nreliability ({name}, top-5 hypotheses, cross-fitted):")
        print("\n".join(reliability(rows)))
    times = []
    for case in reports:
        t0 = time.perf_counter()
        engine.attribute(full, _evidence(case), top=10)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(
        f"\ntime per attribution: median {statistics.median(times) * 1000:.2f} ms, "
        f"p95 {times[int(0.95 * (len(times) - 1))] * 1000:.2f} ms "
        f"(profiles from the bundle: {full.seconds:.2f} s once)"
    )
    print(f"bench wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
