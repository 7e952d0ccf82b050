"""Known objects named in text: ATT&CK ids, and technique, group and software names.

All names and aliases go into one Aho-Corasick automaton over ASCII-lower-cased text;
each hit must sit on word boundaries and pass a case rule that keeps ordinary words
from matching: a name of three letters or fewer counts only in upper case ("NET", not
"net"); an all-capitals alias ("BARIUM") only in capitals; a one-word name only with a
capital first letter ("Turla"); a name that is also an everyday word ("Empire",
"Silence") only spelled exactly and not first in its sentence. Technique names that
say nothing alone ("Server", "DNS", "Malware") are left to the sentence classifier; a
name several techniques share ("Spearphishing Attachment") means the one ATT&CK gives
far more procedure examples (T1566.001, not T1598.002), else none; "Parent: Sub" forms
are always matched.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import ahocorasick

from crownwatch.intel.knowledge import Knowledge


def _phrases(text: str) -> frozenset[str]:
    return frozenset(p.strip() for p in text.split(","))


#: Technique names too generic to mean the technique by themselves (lower case).
GENERIC = _phrases(
    "at, botnet, compression, confluence, credentials, databases, dll, dns, domains, "
    "exploits, firmware, hardware, impersonation, javascript, keychain, lua, malware, python, "
    "server, serverless, sharepoint, software, ssh, tool, trap, vnc, vulnerabilities, whois, "
    "cron, proxy, defacement, social media, ip addresses, employee names, search engines, "
    "cloud services, chat messages, code signing, control panel, visual basic, unix shell, "
    "malicious file, malicious link, web service, web services, native api, system checks, "
    "identify roles, link target, upload tool, upload malware, acquire access, data encoding, "
    "shared modules, private keys, hidden users, junk data, cloud api"
)
#: Group and software names that are everyday words, places or first names (lower case).
COMMON = _phrases(
    "agenda, anchor, apostle, aurora, avenger, axiom, bumblebee, cannon, carbon, chaos, "
    "chimera, cicada, cleaver, covenant, crimson, crutch, cuba, denis, disco, donut, embargo, "
    "emissary, empire, epic, equation, expand, explosive, ferocious, flame, gazer, havoc, "
    "inception, james, kevin, krypton, leviathan, lucifer, machete, mango, mantis, "
    "matryoshka, meteor, milan, mirage, mori, mosquito, mythic, ninja, octopus, page, "
    "pandora, patchwork, ping, play, pony, prestige, proton, ramsay, reaper, responder, "
    "rover, royal, ruler, samurai, scorpion, shark, silence, sliver, snake, solar, soldier, "
    "spark, strider, tick, trinity, wiper"
)
#: A name two techniques share means the one with this many times more procedure examples.
DOMINANCE = 2
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_IDS = re.compile(r"(?<![\w.])(T\d{4}(?:[./]\d{3})?|[GS]\d{4})(?![\w])")
_WORDY = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class Mention:
    """A known object found in the text: how (``id`` or ``name``), the words, where."""

    ref: str
    method: str
    matched: str
    start: int
    end: int


@dataclass(frozen=True)
class _Entry:
    ref: str
    name: str
    rule: str  # any, upper, capital, exact


@dataclass(frozen=True)
class Matcher:
    """The automaton: lower-cased name -> (the name, its entries)."""

    automaton: ahocorasick.Automaton


def lower(text: str) -> str:
    """ASCII-only lower case: keeps every offset where it was."""
    return text.translate(_LOWER)


def matcher(knowledge: Knowledge) -> Matcher:
    """The knowledge's name automaton, built once and kept on it."""
    if knowledge.matcher is None:
        knowledge.matcher = _build(knowledge)
    return knowledge.matcher


def mentions(text: str, knowledge: Knowledge) -> list[Mention]:
    """ATT&CK ids and names in ``text``, in order; revoked ids lead to their successors."""
    found = [
        Mention(ref, "id", m.group(1), m.start(), m.end())
        for m in _IDS.finditer(text)
        if (ref := knowledge.by_external.get(m.group(1).replace("/", ".")))
    ]
    hits: list[tuple[int, int, str, list[_Entry]]] = []
    automaton = matcher(knowledge).automaton
    if automaton.kind != ahocorasick.AHOCORASICK:  # no names at all
        return found
    for end, (key, entries) in automaton.iter(lower(text)):
        start = end - len(key) + 1
        if _bounded(text, start, end + 1, len(key) <= 3):
            kept = [e for e in entries if _case_ok(text, start, end + 1, e)]
            if kept:
                hits.append((start, end + 1, key, kept))
    hits.sort(key=lambda h: (h[0], -h[1]))
    reach = -1
    for start, end, _, entries in hits:
        if end <= reach:
            continue  # inside a longer name ("Scheduled Task" in "Scheduled Task/Job")
        reach = end
        found.extend(Mention(e.ref, "name", text[start:end], start, end) for e in entries)
    found.sort(key=lambda m: m.start)
    return found


def _build(knowledge: Knowledge) -> Matcher:
    table: dict[str, dict[str, _Entry]] = {}

    def add(name: str, ref: str, rule: str) -> None:
        key = lower(name.strip())
        if len(key) >= 2:
            table.setdefault(key, {})[ref] = _Entry(ref, name.strip(), rule)

    techniques = knowledge.techniques
    uses = Counter(p.technique for p in knowledge.procedures)
    by_name: dict[str, list[str]] = {}
    for t in techniques.values():
        by_name.setdefault(lower(t.name), []).append(t.ref)
    for t in techniques.values():
        parent = knowledge.by_external.get(t.external_id.split(".")[0])
        if t.subtechnique and parent in techniques:
            add(f"{techniques[parent].name}: {t.name}", t.ref, "any")
        key = lower(t.name)
        others = [uses[r] for r in by_name[key] if r != t.ref]
        if key in GENERIC or (others and uses[t.ref] < DOMINANCE * max(others)):
            continue
        rule = "upper" if len(key) <= 3 else "any"
        for variant in _variants(t.name):
            add(variant, t.ref, rule)
    for n in knowledge.named.values():
        for name in (n.name, *n.aliases):
            add(name, n.ref, _rule(name))
    automaton = ahocorasick.Automaton()
    for key, entries in table.items():
        automaton.add_word(key, (key, list(entries.values())))
    automaton.make_automaton()
    return Matcher(automaton)


def _variants(name: str) -> list[str]:
    """A technique name, its plural, and its spear-phishing spellings."""
    out = [name]
    if not name.endswith("s") and " " in name:
        out.append(name + "s")
    if name.lower().startswith("spearphishing"):
        rest = name[len("spearphishing") :]
        out += ["spear-phishing" + rest, "spear phishing" + rest]
    return out


def _rule(name: str) -> str:
    if len(name) <= 3:
        return "upper"
    if name.lower() in COMMON:
        return "exact"
    if _WORDY.fullmatch(name):
        return "upper" if name.isupper() else "capital"
    return "any"


def _bounded(text: str, start: int, end: int, short: bool) -> bool:
    """The match is a whole word: not glued to letters, digits or a file/domain dot."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if before.isalnum() or before in "_." or after.isalnum() or after == "_":
        return False
    if short and (before == "-" or after == "-"):
        return False
    return not (after == "." and end + 1 < len(text) and text[end + 1].isalnum())


def _case_ok(text: str, start: int, end: int, entry: _Entry) -> bool:
    word = text[start:end]
    if entry.rule == "any":
        return True
    if entry.rule == "upper":
        return word.isupper()
    if entry.rule == "capital":
        return word[0].isupper()
    head = text[max(0, start - 12) : start].rstrip()
    return word == entry.name and head[-1:] not in ("", ".", "!", "?", ":")
