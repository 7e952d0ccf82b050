"""The company of the scenario: hosts, users and crown jewels, and its inventory files."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

NAME = "Helix Therapeutics & Devices"
DOMAIN = "helix.corp"
NETBIOS = "HELIX"
DOMAIN_SID = "S-1-5-21-3623811015-3361044348-30300820"
MAIL_DOMAIN = "helixtd.com"
VPN_GROUP = "GP-Helix-Staff"
TZ_HOURS = 1  # the offices are on UTC+1

Host = dict[str, Any]
User = dict[str, Any]
Company = dict[str, Any]

_FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jakub",
    "Kofi",
    "Laura",
    "Marco",
    "Nadia",
    "Omar",
    "Paula",
    "Quentin",
    "Rosa",
    "Samir",
    "Tara",
    "Uwe",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Adrian",
    "Beatriz",
    "Chen",
    "Dmitri",
    "Esther",
    "Felix",
    "Gabriela",
    "Hannah",
    "Ivan",
    "Julia",
    "Karim",
    "Lena",
    "Mateo",
    "Nora",
    "Oskar",
    "Priya",
    "Rafael",
    "Sofia",
    "Tomasz",
    "Ulrike",
    "Viktor",
    "Wendy",
    "Yara",
    "Aisha",
    "Bruno",
    "Clara",
    "Emil",
    "Fatima",
    "Georg",
    "Helena",
    "Igor",
    "Jonas",
    "Katja",
    "Luca",
]
_LAST = [
    "Adler",
    "Baker",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jansen",
    "Kowalski",
    "Larsen",
    "Meyer",
    "Novak",
    "Olsen",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Vogel",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zimmermann",
    "Andersen",
    "Becker",
    "Conti",
    "Dalton",
    "Engel",
    "Fontaine",
    "Gruber",
    "Horvat",
    "Ibrahim",
    "Jovanovic",
    "Keller",
    "Lindqvist",
    "Moreau",
    "Nilsson",
    "Ortega",
    "Patel",
    "Ramos",
    "Santos",
    "Torres",
    "Urban",
    "Varga",
    "Wagner",
    "Young",
    "Zhang",
    "Brandt",
    "Castro",
    "Diaz",
    "Ekstrom",
    "Ferrari",
    "Holm",
    "Kaur",
    "Lopez",
    "Mendes",
    "Nakamura",
    "Okafor",
]

#: department -> (profile, business unit, share of staff, titles)
DEPARTMENTS: dict[str, tuple[str, str, float, tuple[str, ...]]] = {
    "Research & Development": (
        "rnd", "Therapeutics", 0.28,
        ("Research Scientist", "Senior Scientist", "Principal Scientist", "Lab Manager",
         "Research Associate"),
    ),
    "Device Engineering": (
        "eng", "Medical Devices", 0.12,
        ("Mechanical Engineer", "Design Engineer", "Systems Engineer", "Engineering Manager"),
    ),
    "Software Engineering": (
        "dev", "Medical Devices", 0.15,
        ("Software Engineer", "Senior Software Engineer", "DevOps Engineer",
         "Firmware Engineer"),
    ),
    "IT": ("it", "Corporate", 0.06, ("Systems Administrator", "IT Support Specialist",
                                     "Security Engineer")),
    "Quality & Regulatory": ("office", "Therapeutics", 0.07, ("QA Specialist",
                                                            "Regulatory Affairs Manager")),
    "Finance": ("office", "Corporate", 0.08, ("Accountant", "Financial Analyst", "Controller")),
    "Human Resources": ("office", "Corporate", 0.04, ("HR Business Partner", "Recruiter")),
    "Sales & Marketing": ("sales", "Medical Devices", 0.11, ("Account Manager",
                                                            "Marketing Manager")),
    "Legal": ("office", "Corporate", 0.04, ("Legal Counsel", "Patent Attorney")),
    "Executive": ("exec", "Corporate", 0.05, ("Chief Executive Officer", "Chief Scientific Officer",
                                             "VP Operations", "Executive Assistant")),
}  # fmt: skip

#: Minimum head count per department, so that every story has its actors.
_MINIMUM = {
    "Research & Development": 6,
    "Software Engineering": 4,
    "IT": 3,
    "Finance": 2,
    "Device Engineering": 3,
}

#: R&D project folders on the R&D share (and in the ELN).
PROJECTS = (
    "Oncology\\HX-2231",
    "Oncology\\HX-2240",
    "Immunology\\HX-1187",
    "Formulation\\HX-2231-F",
    "Biologics\\HXB-044",
    "Toxicology\\HX-2231-TOX",
    "Analytical\\Methods",
)
#: Source-code repositories on the source-code server.
REPOS = (
    "helix/devices/infumax-firmware",
    "helix/devices/infumax-app",
    "helix/platform/lims-connector",
    "helix/research/assay-pipeline",
    "helix/research/molecule-db",
    "helix/platform/build-tools",
)

#: (hostname, role, os, ip, criticality, crown_jewel, classification, ip value, description)
_SERVERS: tuple[tuple[str, str, str, str, int, bool, str, int, str], ...] = (
    ("DC01", "domain_controller", "Windows Server 2022", "10.10.0.10", 5, False, "restricted",
     0, "Active Directory domain controller and DNS server for helix.corp"),
    ("DC02", "domain_controller", "Windows Server 2022", "10.10.0.11", 5, False, "restricted",
     0, "Secondary domain controller and DNS server"),
    ("vpn01", "vpn_concentrator", "Cisco ASA 9.18", "10.10.0.5", 4, False, "internal",
     0, "Remote-access VPN concentrator (AnyConnect), public address 198.51.100.10"),
    ("FS01", "file_server", "Windows Server 2022", "10.10.1.20", 3, False, "confidential",
     4_000_000, "Departmental file shares (Finance, HR, Sales, Legal)"),
    ("FS-RND-01", "rnd_share", "Windows Server 2022", "10.10.1.21", 5, True, "restricted",
     240_000_000, "R&D file share \\\\FS-RND-01\\RnD: assay results, formulations, "
     "pre-clinical study data for the HX-2231 oncology programme"),
    ("PLM01", "plm", "Windows Server 2019", "10.10.1.30", 5, True, "restricted",
     95_000_000, "PTC Windchill PLM: InfuMax-3 infusion pump CAD models, drawings and BOMs"),
    ("WSUS01", "update_server", "Windows Server 2022", "10.10.1.40", 2, False, "internal",
     0, "Windows Server Update Services"),
    ("git01", "source_code", "Ubuntu 22.04 LTS", "10.10.2.10", 5, True, "restricted",
     180_000_000, "GitLab EE (git.helix.corp): device firmware, LIMS connectors, research "
     "pipelines; git over ssh and https"),
    ("eln01", "eln_lims", "Red Hat Enterprise Linux 9", "10.10.2.20", 5, True, "restricted",
     130_000_000, "Electronic lab notebook and LIMS (eln.helix.corp) with MariaDB backend"),
    ("build01", "build_server", "Ubuntu 22.04 LTS", "10.10.2.30", 3, False, "confidential",
     6_000_000, "GitLab CI runners; nightly firmware builds"),
    ("web01", "intranet", "Ubuntu 22.04 LTS", "10.10.2.40", 2, False, "internal",
     0, "Intranet portal (intranet.helix.corp)"),
    ("bkp01", "backup", "Ubuntu 22.04 LTS", "10.10.3.10", 4, False, "restricted",
     20_000_000, "Backup server: nightly backups of all servers at 01:00 UTC"),
)  # fmt: skip

#: Service names in DNS for the servers that users reach by name.
ALIASES = {
    "git.helix.corp": "git01",
    "eln.helix.corp": "eln01",
    "plm.helix.corp": "PLM01",
    "intranet.helix.corp": "web01",
    "wsus.helix.corp": "WSUS01",
}


def build(rng: random.Random, workstations: int, extra_servers: int) -> Company:
    """A company with ``workstations`` users (one each) and its servers."""
    hosts = [_server(*row) for row in _SERVERS]
    for n in range(extra_servers):
        hosts.append(_app_server(n))
    users = _users(rng, workstations)
    for index, user in enumerate(users):
        hosts.append(_workstation(index, user))
    company: Company = {
        "name": NAME,
        "domain": DOMAIN,
        "hosts": hosts,
        "users": users,
        "host": {h["hostname"]: h for h in hosts},
        "user": {u["username"]: u for u in users},
        "by_ip": {h["ip"]: h for h in hosts},
    }
    return company


def _server(
    hostname: str,
    role: str,
    os_name: str,
    ip: str,
    criticality: int,
    crown: bool,
    classification: str,
    value: int,
    description: str,
    owner: tuple[str, str, str] = ("it-operations", "IT", "Corporate"),
) -> Host:
    """A host; ``owner`` is (owner, department, business unit)."""
    family = "windows" if os_name.startswith("Windows") else "linux"
    if role == "vpn_concentrator":
        family = "appliance"
    return {
        "hostname": hostname,
        "fqdn": f"{hostname}.{DOMAIN}",
        "ip": ip,
        "role": role,
        "os": os_name,
        "family": family,
        "owner": owner[0],
        "department": owner[1],
        "business_unit": owner[2],
        "criticality": criticality,
        "crown_jewel": crown,
        "data_classification": classification,
        "ip_value_usd": value,
        "description": description,
    }


def _app_server(n: int) -> Host:
    name = f"APP{n + 1:03d}"
    return _server(
        name,
        "application_server",
        "Windows Server 2022",
        f"10.10.{4 + n // 200}.{10 + n % 200}",
        2,
        False,
        "internal",
        0,
        "Line-of-business application server",
    )


def _workstation(index: int, user: User) -> Host:
    name = f"WS-{index + 1:04d}"
    profile = user["profile"]
    value = {"rnd": 400_000, "eng": 300_000, "dev": 250_000, "exec": 150_000}.get(profile, 20_000)
    description = f"Laptop of {user['full_name']} ({user['department']})"
    if profile == "rnd":
        description += "; lab workstation, the user is a local administrator"
    user["workstation"] = name
    return _server(
        name,
        "workstation",
        "Windows 11 Enterprise 23H2",
        f"10.20.{index // 200}.{10 + index % 200}",
        3 if profile in ("rnd", "exec", "it") else 2,
        False,
        "confidential" if profile in ("rnd", "eng", "dev") else "internal",
        value,
        description,
        (user["username"], user["department"], user["business_unit"]),
    )


def _headcount(total: int) -> list[str]:
    """Department of each of ``total`` users: proportional shares with minimums."""
    counts = {
        d: max(_MINIMUM.get(d, 1), round(share * total))
        for d, (_, _, share, _) in DEPARTMENTS.items()
    }
    order = sorted(DEPARTMENTS, key=lambda d: -DEPARTMENTS[d][2])
    i = 0
    while sum(counts.values()) != total:
        dept = order[i % len(order)]
        if sum(counts.values()) > total and counts[dept] > _MINIMUM.get(dept, 1):
            counts[dept] -= 1
        elif sum(counts.values()) < total:
            counts[dept] += 1
        i += 1
    return [d for d in DEPARTMENTS for _ in range(counts[d])]


def _users(rng: random.Random, total: int) -> list[User]:
    users: list[User] = []
    taken: set[str] = set()
    for n, dept in enumerate(_headcount(total)):
        profile, unit, _, titles = DEPARTMENTS[dept]
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        base = (first[0] + last).lower()
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}{k}"
        taken.add(name)
        title = titles[0] if profile == "exec" and n == 0 else rng.choice(titles)
        users.append(
            {
                "username": name,
                "full_name": f"{first} {last}",
                "department": dept,
                "business_unit": unit,
                "title": title,
                "email": f"{first.lower()}.{last.lower()}{'' if k == 1 else k}@{MAIL_DOMAIN}",
                "workstation": "",
                "is_admin": False,
                "admin_account": f"adm-{name}" if profile == "it" else None,
                "profile": profile,
                "rid": 1105 + n,
                "uid": 10_000 + n,
                "projects": rng.sample(PROJECTS, 2),
                "repos": rng.sample(REPOS, 2),
                "wfh": {"sales": 0.5, "exec": 0.2, "dev": 0.3}.get(profile, 0.1),
                "start": rng.uniform(7.0, 9.5),
                "hours": rng.uniform(7.5, 9.5),
                "pinned": False,
            }
        )
    return users


def user_sid(user_rid: int) -> str:
    return f"{DOMAIN_SID}-{user_rid}"


def write_inventory(company: Company, out: Path) -> dict[str, int]:
    """Write inventory/assets.csv and inventory/users.csv; their row counts."""
    folder = out / "inventory"
    folder.mkdir(parents=True, exist_ok=True)
    asset_cols = [
        "hostname",
        "fqdn",
        "ip",
        "role",
        "os",
        "owner",
        "department",
        "business_unit",
        "criticality",
        "crown_jewel",
        "data_classification",
        "ip_value_usd",
        "description",
    ]
    assets = []
    for host in company["hosts"]:
        row = [host[c] for c in asset_cols]
        row[asset_cols.index("crown_jewel")] = "true" if host["crown_jewel"] else "false"
        assets.append(row)
    _write_csv(folder / "assets.csv", asset_cols, assets)
    user_cols = ["username", "full_name", "department", "title", "email", "workstation", "is_admin"]
    users = []
    for user in company["users"]:
        users.append([*(user[c] for c in user_cols[:-1]), "false"])
        if user["admin_account"]:
            users.append(
                [
                    user["admin_account"],
                    f"{user['full_name']} (admin)",
                    user["department"],
                    "Administrative account (Domain Admins)",
                    user["email"].replace("@", "+admin@"),
                    "",
                    "true",
                ]
            )
    _write_csv(folder / "users.csv", user_cols, users)
    return {"assets": len(company["hosts"]), "users": len(company["users"])}


def _write_csv(path: Path, cols: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(cols)
        writer.writerows(rows)
