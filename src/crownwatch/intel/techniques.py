"""Sentences to ATT&CK techniques: a TF-IDF nearest-centroid classifier in plain Python.

It is trained on ATT&CK's own procedure examples (the text of each ``uses``
relationship that points at a technique) plus each technique's name and first
paragraph. Features are word unigrams and bigrams after stop words are dropped and
a light suffix stemmer ("dumps", "dumped", "dumping" -> "dump"), weighted by
sublinear TF x IDF (features seen in one example only are dropped) and L2-normalised.
Each technique's centroid is the normalised mean of its examples; a sentence scores
the cosine against every centroid through an inverted index (sparse, no numpy), so
training takes about a second and a prediction a fraction of a millisecond.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from crownwatch.intel.knowledge import Knowledge, Procedure

#: A sentence maps to its best technique when the cosine reaches THRESHOLD and beats the
#: runner-up by MARGIN (chosen on held-out groups with bench/extract.py: precision ~0.8).
THRESHOLD = 0.2
MARGIN = 0.05
MIN_FEATURES = 4
MAX_SENTENCE = 2000
_WORD = re.compile(r"[a-z][a-z0-9]+")
_STOP = frozenset(
    _WORD.findall(
        "an the and or of to in on for with by from as at is are was were be been being has "
        "have had it its this that these those which who whom into onto via can could may "
        "might will would should also such than then there their them they he she we our us "
        "you your not no other use used using uses able ability"
    )
)


@dataclass(frozen=True)
class Model:
    """Technique ids, feature IDF weights, and feature -> [(technique index, weight)]."""

    labels: tuple[str, ...]
    idf: dict[str, float]
    index: dict[str, list[tuple[int, float]]]


def features(text: str) -> Counter[str]:
    """Stemmed word unigrams and bigrams of ``text`` with their counts."""
    words = [_stem(w) for w in _WORD.findall(text[:MAX_SENTENCE].lower()) if w not in _STOP]
    counts = Counter(words)
    counts.update(f"{a} {b}" for a, b in pairwise(words))
    return counts


def examples(
    knowledge: Knowledge, procedures: Iterable[Procedure] | None = None
) -> list[tuple[str, str]]:
    """(text, technique id) pairs: the procedures (default: all) and the techniques' own words."""
    chosen = knowledge.procedures if procedures is None else procedures
    pairs = [(p.text, p.technique) for p in chosen]
    pairs += [(f"{t.name}. {t.description}", t.ref) for t in knowledge.techniques.values()]
    return pairs


def train(pairs: Iterable[tuple[str, str]]) -> Model:
    """A nearest-centroid model from (text, technique id) pairs."""
    docs = [(features(text), label) for text, label in pairs]
    df: Counter[str] = Counter()
    for counts, _ in docs:
        df.update(counts.keys())
    n = len(docs)
    idf = {f: math.log((n + 1) / (c + 1)) + 1 for f, c in df.items() if c >= 2}
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for counts, label in docs:
        total = sums[label]
        for f, w in _vector(counts, idf).items():
            total[f] += w
    labels = tuple(sorted(sums))
    index: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for i, label in enumerate(labels):
        centroid = sums[label]
        norm = math.sqrt(sum(w * w for w in centroid.values())) or 1.0
        for f, w in centroid.items():
            index[f].append((i, w / norm))
    return Model(labels, idf, dict(index))


def predict(model: Model, text: str, k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` best techniques for ``text`` with their cosine scores, best first."""
    vector = _vector(features(text), model.idf)
    if len(vector) < MIN_FEATURES:
        return []
    scores: dict[int, float] = defaultdict(float)
    for f, w in vector.items():
        for i, cw in model.index.get(f, ()):
            scores[i] += w * cw
    best = sorted(scores.items(), key=lambda s: -s[1])[:k]
    return [(model.labels[i], round(s, 4)) for i, s in best]


def best(model: Model, text: str) -> tuple[str, float] | None:
    """The technique ``text`` describes, if the model is sure enough, with its score."""
    top = predict(model, text, 2)
    if not top or top[0][1] < THRESHOLD:
        return None
    if len(top) > 1 and top[0][1] - top[1][1] < MARGIN:
        return None
    return top[0]


def classifier(knowledge: Knowledge) -> Model:
    """The model for ``knowledge``, trained at first use and kept on it."""
    if knowledge.model is None:
        knowledge.model = train(examples(knowledge))
    return knowledge.model


def _vector(counts: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    vector = {f: (1 + math.log(c)) * idf[f] for f, c in counts.items() if f in idf}
    norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
    return {f: w / norm for f, w in vector.items()}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word
