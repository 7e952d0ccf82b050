"""Techniques, groups and software in reports: ids, names, case rules, the sentence classifier."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from crownwatch.intel import names, techniques
from crownwatch.intel.extract import Knowledge, build_knowledge, extract

ATTACK = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "attack"
) / "enterprise-attack-18.1.json.gz"
APT29 = "intrusion-set--899ce53f-13a0-479b-a0e4-67d46e241542"


@pytest.fixture(scope="module")
def attack() -> list[dict[str, Any]]:
    if not ATTACK.exists():
        pytest.skip(f"ATT&CK bundle not found at {ATTACK}")
    objects: list[dict[str, Any]] = orjson.loads(gzip.decompress(ATTACK.read_bytes()))["objects"]
    return objects


@pytest.fixture(scope="module")
def kb(attack: list[dict[str, Any]]) -> Knowledge:
    return build_knowledge(attack)


def ext(kb: Knowledge, ref: str) -> str:
    known = kb.techniques.get(ref) or kb.named[ref]
    assert known.external_id is not None
    return known.external_id


def found(kb: Knowledge, text: str) -> dict[str, str]:
    """External id -> method, for the known objects ``text`` mentions."""
    return {ext(kb, m.ref): m.method for m in names.mentions(text, kb)}


def evidence(kb: Knowledge, text: str) -> dict[str, dict[str, Any]]:
    bundle = extract(text.encode(), "r.txt", kb)
    report = next(o for o in bundle["objects"] if o["type"] == "report")
    return {e["external_id"]: e for e in report.get("x_crownwatch_evidence", [])}


def test_knowledge_holds_live_techniques_and_procedures(kb: Knowledge) -> None:
    powershell = kb.techniques[kb.by_external["T1059.001"]]
    assert powershell.name == "PowerShell" and powershell.subtechnique
    assert powershell.description.startswith("Adversaries may abuse PowerShell")
    assert kb.named[kb.by_external["G0096"]].name == "APT41"
    assert "Wicked Panda" in kb.named[kb.by_external["G0096"]].aliases
    first = kb.procedures[0]
    assert "(Citation:" not in first.text and "](" not in first.text
    assert first.technique in kb.techniques


def test_explicit_ids_are_found(kb: Knowledge) -> None:
    text = "Initial access used T1566.001; execution relied on T1059 and T1059/003."
    assert found(kb, text) == {"T1566.001": "id", "T1059": "id", "T1059.003": "id"}


def test_technique_names_are_found_on_word_boundaries(kb: Knowledge) -> None:
    text = (
        "Victims got a spearphishing attachment; a PowerShell cradle ran and "
        "scheduled tasks kept it alive. PowerShellish and subscheduled task do not count."
    )
    assert found(kb, text) == {"T1566.001": "name", "T1059.001": "name", "T1053.005": "name"}


def test_generic_and_ambiguous_technique_names_need_their_parent(kb: Knowledge) -> None:
    assert found(kb, "The server ran DNS and Python; domains were bought.") == {}
    assert found(kb, "They used Acquire Infrastructure: Domains.") == {"T1583.001": "name"}


def test_revoked_techniques_are_never_emitted(kb: Knowledge, attack: list[dict[str, Any]]) -> None:
    revoked = {o["id"] for o in attack if o["type"] == "attack-pattern" and o.get("revoked")}
    text = "The old catalogue called it T1086 and T1193; the loader used Rundll32 (T1085)."
    got = evidence(kb, text)
    assert got["T1059.001"]["method"] == "id"  # T1086, revoked by T1059.001
    assert got["T1566.001"]["method"] == "id"  # T1193
    assert got["T1218.011"]["method"] == "id"  # T1085
    assert not revoked & {e["ref"] for e in got.values()}
    assert not revoked & set(techniques.classifier(kb).labels)


def test_group_and_software_names_and_aliases(kb: Knowledge) -> None:
    text = "Wicked Panda deployed KEYPLUG and Cobalt Strike; the Turla toolset was not seen."
    assert found(kb, text) == {"G0096": "name", "S1051": "name", "S0154": "name", "G0010": "name"}


def test_short_aliases_count_only_in_capitals(kb: Knowledge) -> None:
    assert "G0048" in found(kb, "Banking trojan attacks by RTM continued.")
    assert found(kb, "Read the rtm file. Use net view.") == {}
    assert "S0039" in found(kb, "It ran NET commands.")


def test_everyday_words_need_exact_spelling_away_from_a_sentence_start(kb: Knowledge) -> None:
    assert found(kb, "The vault was kept in silence. Silence fell. Empire rose.") == {}
    hits = found(kb, "Attacks attributed to Silence used the Empire framework.")
    assert hits == {"G0091": "name", "S0363": "name"}


def test_a_held_out_procedure_maps_to_its_technique_in_the_top_three(kb: Knowledge) -> None:
    train = [p for p in kb.procedures if p.source != APT29]
    model = techniques.train(techniques.examples(kb, train))
    held_out = [p for p in kb.procedures if p.source == APT29]
    sample = next(p for p in held_out if "downloaded additional tools" in p.text)
    assert "Ingress Tool Transfer" not in sample.text
    top = [ext(kb, t) for t, _ in techniques.predict(model, sample.text, 3)]
    assert ext(kb, sample.technique) == "T1105" and "T1105" in top
    hits = sum(
        p.technique in {t for t, _ in techniques.predict(model, p.text, 3)} for p in held_out
    )
    assert hits / len(held_out) > 0.7


def test_a_paraphrase_maps_through_the_sentence_classifier(kb: Knowledge) -> None:
    got = evidence(kb, "Afterwards the attackers dumped the memory of the lsass process.")
    assert got["T1003.001"]["method"] == "sentence"
    assert got["T1003.001"]["score"] >= techniques.THRESHOLD
    assert got["T1003.001"]["sentence"].startswith("Afterwards the attackers dumped")


def test_sentences_that_describe_no_technique_map_to_nothing(kb: Knowledge) -> None:
    text = (
        "We thank our colleagues for their review of this document. "
        "The weather in Geneva was pleasant during the conference last year."
    )
    assert evidence(kb, text) == {}


def test_the_model_is_trained_once_and_kept(kb: Knowledge) -> None:
    model = techniques.classifier(kb)
    assert techniques.classifier(kb) is model
    assert len(model.labels) == len({p.technique for p in kb.procedures} | set(kb.techniques))
