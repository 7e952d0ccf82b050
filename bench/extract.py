"""Report extraction: technique mapping quality on held-out ATT&CK groups, and throughput.

Protocol (technique mapping, sentence classifier only):

* Data: ATT&CK Enterprise 18.1 (../shared/data/attack). Examples are the ``uses``
  relationships whose target is a live attack-pattern and that have a description
  (citations removed, links reduced to their text): one procedure text -> one technique.
* Split: the examples' source objects (intrusion-sets, campaigns, malware, tools) are
  shuffled with ``random.Random(SEED)`` and cut 80/20, so a group or a piece of software
  is wholly in train or wholly in test and its phrasing cannot be memorised.
* Train: ``techniques.train`` on the train procedures plus every technique's name and
  first paragraph (never a test text).
* Test: the test procedures are grouped by (source, text): one "description" may carry
  several techniques. The classifier predicts the top k techniques for each description
  (k = 1 and 3). The explicit-id and name matchers are not used: procedure texts often
  contain the technique's name, which would flatter the figures.
* Figures, micro-averaged over descriptions: precision = correct predictions / predictions,
  recall = true techniques predicted / true techniques, F1. "exact" counts a prediction
  only when it is the technique; "parent" also counts it when it shares the parent
  technique (T1059.003 for T1059.001, T1059 for T1059.001). The table after that is the
  production rule (score >= THRESHOLD and ahead of the runner-up by MARGIN) at several
  settings, top-1 only, with the share of descriptions it answers.

Throughput: ``extract`` on a synthetic report of about 1 MB (the scenario's APT41 report,
ATT&CK procedure sentences and defanged indicator lines, shuffled), after one warm-up call
that trains the model (training and the warm-up are timed separately). Stages are timed
alone on the same text; the baseline is one ``str.split`` pass over it.

    .venv/bin/python bench/extract.py [--seed 1] [--size-kb 1024]
"""

from __future__ import annotations

import argparse
import gzip
import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from crownwatch.intel import iocs, names, techniques, textify
from crownwatch.intel.extract import build_knowledge, extract
from crownwatch.intel.knowledge import Knowledge, Procedure
from crownwatch.scenario.intel import report_text

ROOT = Path(__file__).resolve().parents[1]
ATTACK = ROOT.parent / "shared" / "data" / "attack" / "enterprise-attack-18.1.json.gz"
SEED = 1
RULES = ((0.15, 0.05), (0.2, 0.0), (0.2, 0.05), (0.25, 0.05), (0.3, 0.0), (0.3, 0.08))


def split(
    knowledge: Knowledge, seed: int
) -> tuple[list[Procedure], dict[tuple[str, str], set[str]]]:
    """Train procedures, and test descriptions -> their techniques, split by source object."""
    sources = sorted({p.source for p in knowledge.procedures})
    random.Random(seed).shuffle(sources)
    train_sources = set(sources[: int(len(sources) * 0.8)])
    train = [p for p in knowledge.procedures if p.source in train_sources]
    test: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in knowledge.procedures:
        if p.source not in train_sources:
            test[(p.source, p.text)].add(p.technique)
    return train, test


def parent(knowledge: Knowledge, ref: str) -> str:
    return knowledge.techniques[ref].external_id.split(".")[0]


def scores(hits: int, predicted: int, found: int, truths: int) -> str:
    p = hits / predicted if predicted else 0.0
    r = found / truths if truths else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return f"P {p:.3f}  R {r:.3f}  F1 {f1:.3f}"


def evaluate(knowledge: Knowledge, seed: int) -> None:
    train, test = split(knowledge, seed)
    pairs = techniques.examples(knowledge, train)
    start = time.perf_counter()
    model = techniques.train(pairs)
    took = time.perf_counter() - start
    sources = {p.source for p in knowledge.procedures}
    print(
        f"ATT&CK 18.1: {len(knowledge.procedures)} procedure examples from {len(sources)} sources"
    )
    print(
        f"train: {len(train)} procedures (+{len(pairs) - len(train)} technique descriptions), "
        f"{len({p.source for p in train})} sources; trained in {took:.2f} s"
    )
    truths = sum(len(t) for t in test.values())
    print(f"test:  {truths} procedures in {len(test)} descriptions, seed {seed}")
    ranked = {key: techniques.predict(model, key[1], 3) for key in test}
    print("\nsentence classifier, no threshold (micro-averaged):")
    for k in (1, 3):
        for credit in ("exact", "parent"):
            hits = predicted = found = 0
            for key, truth in test.items():
                top = [t for t, _ in ranked[key][:k]]
                named = list(truth)
                if credit == "parent":
                    top = [parent(knowledge, t) for t in top]
                    named = [parent(knowledge, t) for t in truth]
                predicted += len(top)
                hits += sum(1 for t in top if t in named)
                found += sum(1 for t in named if t in top)
            print(f"  top-{k} {credit:<6} {scores(hits, predicted, found, truths)}")
    print("\nproduction rule, top-1, exact (threshold, margin):")
    for threshold, margin in RULES:
        hits = predicted = 0
        for key, truth in test.items():
            best = ranked[key]
            if (
                best
                and best[0][1] >= threshold
                and (len(best) < 2 or best[0][1] - best[1][1] >= margin)
            ):
                predicted += 1
                hits += best[0][0] in truth
        used = (threshold, margin) == (techniques.THRESHOLD, techniques.MARGIN)
        mark = " <- used" if used else ""
        print(
            f"  {threshold:.2f} {margin:.2f}  {scores(hits, predicted, hits, truths)}  "
            f"answers {predicted / len(test):.0%}{mark}"
        )


def synthetic_report(knowledge: Knowledge, size: int, seed: int) -> bytes:
    """About ``size`` bytes: report paragraphs, procedure sentences, defanged indicators."""
    rng = random.Random(seed)
    base = report_text().split("\n\n")
    texts = [p.text for p in knowledge.procedures]
    parts: list[str] = []
    total = 0
    while total < size:
        roll = rng.random()
        if roll < 0.2:
            chunk = rng.choice(base)
        elif roll < 0.85:
            chunk = " ".join(rng.choice(texts) for _ in range(4))
        else:
            a, b = rng.randrange(1, 224), rng.randrange(256)
            chunk = (
                f"C2: hxxps://cdn-{rng.randrange(10**6)}[.]example-c2[.]net/{rng.randrange(99)}"
                f" resolved to {a}.{b}.{rng.randrange(256)}[.]{rng.randrange(1, 255)}; payload "
                f"{rng.getrandbits(256):064x} dropped as update{rng.randrange(99)}.exe."
            )
        parts.append(chunk)
        total += len(chunk) + 2
    return "\n\n".join(parts).encode()


def throughput(knowledge: Knowledge, size_kb: int, seed: int) -> None:
    data = synthetic_report(knowledge, size_kb * 1024, seed)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    start = time.perf_counter()
    techniques.classifier(knowledge)
    trained = time.perf_counter() - start
    start = time.perf_counter()
    names.matcher(knowledge)
    iocs.tlds()
    built = time.perf_counter() - start
    start = time.perf_counter()
    bundle = extract(data, "synthetic.txt", knowledge, published=when)
    took = time.perf_counter() - start
    kb = len(data) / 1024
    indicators = sum(1 for o in bundle["objects"] if o["type"] == "indicator")
    report = next(o for o in bundle["objects"] if o["type"] == "report")
    print(f"\nthroughput on a synthetic {kb:.0f} KB report:")
    print(f"  first use: model trained in {trained:.2f} s, names and TLDs loaded in {built:.2f} s")
    print(
        f"  extract: {took:.2f} s = {kb / took:.0f} KB/s "
        f"({indicators} indicators, {len(report.get('x_crownwatch_evidence', []))} "
        "known objects)"
    )
    text = textify.to_text(data, "synthetic.txt")
    stages: dict[str, Callable[[], object]] = {
        "baseline str.split": lambda: text.split(),
        "textify.to_text": lambda: textify.to_text(data, "synthetic.txt"),
        "textify.segments": lambda: textify.segments(text),
        "iocs.find": lambda: iocs.find(text),
        "names.mentions": lambda: names.mentions(text, knowledge),
    }
    parts = textify.segments(text)
    model = techniques.classifier(knowledge)
    stages["classify sentences"] = lambda: [techniques.best(model, p.text) for p in parts]
    base = 0.0
    for label, run in stages.items():
        start = time.perf_counter()
        run()
        took_stage = time.perf_counter() - start
        base = base or took_stage
        print(
            f"  {label:<20} {took_stage:6.3f} s  {kb / took_stage:9.0f} KB/s  "
            f"{took_stage / base:7.1f}x baseline"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--size-kb", type=int, default=1024)
    args = parser.parse_args()
    if not ATTACK.exists():
        raise SystemExit(f"ATT&CK bundle not found at {ATTACK}")
    objects = orjson.loads(gzip.decompress(ATTACK.read_bytes()))["objects"]
    evaluate(build_knowledge(objects), args.seed)
    throughput(build_knowledge(objects), args.size_kb, args.seed)


if __name__ == "__main__":
    main()
