"""The vendor threat report about APT41 (text) and its STIX 2.1 bundle (part of the IOCs)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from crownwatch.scenario import actors

TLP_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
VENDOR = "Corvid Threat Intelligence"
PUBLISHED = "2026-09-17T09:30:00.000Z"
VALID_FROM = "2026-09-01T00:00:00.000Z"
#: The vendor's confidence in its indicators (STIX 0–100: "high").
INDICATOR_CONFIDENCE = 85

#: Techniques the report describes, as STIX attack-patterns.
REPORTED = (
    "T1566.001",
    "T1218.001",
    "T1059.001",
    "T1053.005",
    "T1036.005",
    "T1071.001",
    "T1573.002",
    "T1003.001",
    "T1021.002",
    "T1569.002",
    "T1213.003",
    "T1560.001",
    "T1041",
    "T1070.001",
)


def defang(value: str) -> str:
    """``hxxps://a[.]b[.]com/x`` / ``45.77.126[.]34``: safe to paste, easy to re-fang."""
    text = value.replace("https://", "hxxps://").replace("http://", "hxxp://")
    head, sep, rest = text.partition("://")
    if not sep:
        head, rest = "", text
    host, slash, path = rest.partition("/")
    if host.replace(".", "").isdigit():
        host = host[: host.rfind(".")] + "[.]" + host[host.rfind(".") + 1 :]
    else:
        host = host.replace(".", "[.]")
    return (head + sep if sep else "") + host + slash + path


def report_text() -> str:
    """A short vendor-style report: who, targeting, campaign, TTPs, malware, indicators."""
    data = actors.load()["apt41"]
    infra, files = data["infrastructure"], data["files"]
    d = defang
    return f"""{VENDOR} - Threat Report CTI-2026-0917 (TLP:AMBER)
APT41 targets pharmaceutical and medical-device R&D: {data["campaign"]}

Summary
APT41 (also tracked as Wicked Panda, Brass Typhoon, BARIUM and Double Dragon) is a
China-nexus group that runs state-sponsored espionage alongside financially motivated
intrusions. Since June 2026 we have observed a campaign, which we call {data["campaign"]},
against pharmaceutical, biotechnology and medical-device companies in Europe and North
America. The operators go after pre-clinical research data, electronic lab notebooks,
device designs held in PLM systems, and firmware source code.

Initial access and execution
Victims receive spearphishing emails (T1566.001) with a Compiled HTML Help file themed as an
assay-validation or supplier-quality document, for example {files["chm"]["name"]}. Opening
the attachment from Outlook starts hh.exe (T1218.001), which runs cmd.exe and a hidden
PowerShell download cradle (T1059.001) that fetches a second stage from
{d(infra["download_url"])}. The second stage writes the DUSTPAN dropper and an encrypted
payload into C:\\ProgramData\\Microsoft\\DeviceSync\\, naming the dropper after a Windows
component (T1036.005).

Persistence and command and control
DUSTPAN is registered as a scheduled task that runs at logon with the highest privileges
(T1053.005) and decrypts KEYPLUG in memory. KEYPLUG beacons over HTTPS (T1071.001), inside
TLS with its own key exchange (T1573.002), roughly once a minute while an operator is active
and every fifteen minutes otherwise. Its C2 domains resolve to a small set of VPS addresses
and it falls back to a secondary domain when the first stops answering. Operators later push
DUSTTRAP plugins over the same channel.

Credential access, discovery and lateral movement
The actor dumps LSASS memory with the comsvcs.dll MiniDump export (T1003.001), typically
after an administrator has logged on to the compromised machine, and enumerates the domain
with net, nltest, systeminfo and net view. With the stolen administrator credentials it
tunnels Impacket through the implant: smbexec-style services on file servers (T1021.002,
T1569.002) and RDP sessions to application servers, authenticating with NTLM from the
first victim's address.

Collection and exfiltration
Collection favours what the victim values most: research shares copied with robocopy,
PLM vaults archived on the server itself, database dumps pulled from lab systems over ssh,
and source code cloned from internal GitLab instances at night (T1213.003). Everything is
packed into password-protected RAR volumes of 400 MB with a renamed rar.exe (T1560.001) and
sent over the C2 channel one volume per connection (T1041). The operators then clear the
Security event log (T1070.001) and delete their staging folders, but leave the implant in
place for later access.

Indicators of compromise
Domains:  {d(infra["staging_domain"])}, {d(infra["c2_domain"])}, {d(infra["fallback_domain"])},
          {d(infra["old_domain"])} (earlier infrastructure)
Addresses: {d(infra["c2_ip"])}, {d(infra["staging_ip"])}, {d(infra["old_ip"])}
URL:      {d(infra["download_url"])}
SHA-256:  {files["chm"]["sha256"]}  ({files["chm"]["name"]})
          {files["dustpan"]["sha256"]}  (DUSTPAN, DeviceSyncSvc.exe)
          {files["payload"]["sha256"]}  (encrypted KEYPLUG payload, DeviceSync.dat)
          {files["dusttrap"]["sha256"]}  (DUSTTRAP plugin, dsmod.dll)
          {infra["old_sha256"]}  (DUSTPAN, earlier build)
MD5:      {files["dustpan"]["md5"]}  (DUSTPAN)

The accompanying STIX 2.1 bundle carries the indicators we have validated for automated
blocking; the others are listed above for hunting only.
"""


def _ids(seed: int) -> Callable[[str], str]:
    """A maker of STIX ids (``type--uuid4``) from a generator seeded with ``seed``."""
    rng = random.Random(f"crownwatch-scenario-stix-{seed}")

    def new(kind: str) -> str:
        return f"{kind}--{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    return new


def _pattern(indicator: dict[str, Any]) -> str:
    kind, value = indicator["type"], indicator["value"]
    if kind == "file":
        return f"[file:hashes.'SHA-256' = '{value}']"
    return f"[{kind}:value = '{value}']"


def bundle(seed: int) -> dict[str, Any]:
    """The vendor's STIX 2.1 bundle: intrusion set, campaign, malware, techniques, part of
    the indicators, relationships and the report, all marked TLP:AMBER."""
    data = actors.load()["apt41"]
    new = _ids(seed)
    identity = new("identity")
    common = {
        "spec_version": "2.1",
        "created": PUBLISHED,
        "modified": PUBLISHED,
        "created_by_ref": identity,
        "object_marking_refs": [TLP_AMBER],
    }
    objects: list[dict[str, Any]] = [
        {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": TLP_AMBER,
            "created": "2017-01-20T00:00:00.000Z",
            "definition_type": "tlp",
            "name": "TLP:AMBER",
            "definition": {"tlp": "amber"},
        },
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": identity,
            "created": PUBLISHED,
            "modified": PUBLISHED,
            "name": VENDOR,
            "identity_class": "organization",
            "sectors": ["technology"],
        },
    ]
    group = {
        "type": "intrusion-set",
        "id": new("intrusion-set"),
        **common,
        "name": "APT41",
        "aliases": data["aliases"],
        "description": "China-nexus espionage and financially motivated intrusion group.",
        "first_seen": "2012-01-01T00:00:00.000Z",
        "resource_level": "government",
        "primary_motivation": "organizational-gain",
        "external_references": [
            {
                "source_name": "mitre-attack",
                "external_id": "G0096",
                "url": "https://attack.mitre.org/groups/G0096",
            }
        ],
    }
    campaign = {
        "type": "campaign",
        "id": new("campaign"),
        **common,
        "name": data["campaign"],
        "description": "CHM spearphishing against pharmaceutical and medical-device R&D.",
        "first_seen": "2026-06-02T00:00:00.000Z",
        "objective": "Theft of research data, designs and source code.",
    }
    objects += [group, campaign]
    rels: list[dict[str, Any]] = []

    def rel(kind: str, source: str, target: str) -> None:
        rels.append(
            {
                "type": "relationship",
                "id": new("relationship"),
                **common,
                "relationship_type": kind,
                "source_ref": source,
                "target_ref": target,
            }
        )

    rel("attributed-to", campaign["id"], group["id"])
    malware: dict[str, str] = {}
    for name, info in data["software"].items():
        if info["type"] != "malware":
            continue
        ref = new("malware")
        malware[name] = ref
        objects.append(
            {
                "type": "malware",
                "id": ref,
                **common,
                "name": name,
                "is_family": True,
                "description": info["role"],
                "malware_types": ["backdoor"]
                if name == "KEYPLUG"
                else ["dropper"]
                if name == "DUSTPAN"
                else ["remote-access-trojan"],
                "external_references": [
                    {
                        "source_name": "mitre-attack",
                        "external_id": info["attack_id"],
                        "url": f"https://attack.mitre.org/software/{info['attack_id']}",
                    }
                ],
            }
        )
        rel("uses", group["id"], ref)
    for tid in REPORTED:
        ref = new("attack-pattern")
        url = "https://attack.mitre.org/techniques/" + tid.replace(".", "/")
        objects.append(
            {
                "type": "attack-pattern",
                "id": ref,
                **common,
                "name": data["techniques"][tid]["name"],
                "external_references": [
                    {"source_name": "mitre-attack", "external_id": tid, "url": url}
                ],
            }
        )
        rel("uses", group["id"], ref)
    owners = {"dustpan": "DUSTPAN", "payload": "KEYPLUG", "dusttrap": "DUSTTRAP"}
    for ind in data["indicators"]:
        if not ind["in_bundle"]:
            continue
        ref = new("indicator")
        objects.append(
            {
                "type": "indicator",
                "id": ref,
                **common,
                "name": f"APT41 {ind['type']} {ind['value'][:16]}",
                "indicator_types": ["malicious-activity"],
                "pattern_type": "stix",
                "pattern_version": "2.1",
                "pattern": _pattern(ind),
                "valid_from": VALID_FROM,
                "confidence": INDICATOR_CONFIDENCE,
            }
        )
        owner = owners.get(ind.get("name", ""))
        rel("indicates", ref, malware[owner] if owner else group["id"])
    objects += rels
    refs = [o["id"] for o in objects if o["type"] not in ("marking-definition", "identity")]
    objects.append(
        {
            "type": "report",
            "id": new("report"),
            **common,
            "name": f"APT41 targets pharmaceutical and medical-device R&D: {data['campaign']}",
            "report_types": ["threat-actor", "campaign"],
            "published": PUBLISHED,
            "object_refs": refs,
        }
    )
    return {"type": "bundle", "id": new("bundle"), "objects": objects}


def write(out: Path, seed: int) -> list[dict[str, Any]]:
    """report/apt41-report.txt, report/apt41-bundle.json and truth/indicators.json."""
    (out / "report").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    (out / "report" / "apt41-report.txt").write_text(report_text(), encoding="utf-8")
    (out / "report" / "apt41-bundle.json").write_bytes(
        orjson.dumps(bundle(seed), option=orjson.OPT_INDENT_2)
    )
    indicators = [
        {
            "type": i["type"],
            "value": i["value"],
            "in_report": True,
            "in_bundle": i["in_bundle"],
            "seen_in_logs": i["seen_in_logs"],
        }
        for i in actors.load()["apt41"]["indicators"]
    ]
    (out / "truth" / "indicators.json").write_bytes(
        orjson.dumps(indicators, option=orjson.OPT_INDENT_2)
    )
    return indicators
