"""Typed settings: data directory and database URL, passed in, never a global.

Precedence, highest first: explicit arguments (the CLI's ``--home``), the
``CROWNWATCH_HOME`` / ``CROWNWATCH_DATABASE_URL`` environment variables, a TOML file
(``--config``, ``CROWNWATCH_CONFIG``, or ``crownwatch.toml`` in the data directory),
then the defaults.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from crownwatch.errors import ConfigError

DEFAULT_HOME = Path("crownwatch-data")
_T = TypeVar("_T")


@dataclass(frozen=True)
class IngestSettings:
    """Limits that keep attacker-controlled input bounded."""

    batch_size: int = 20_000
    max_record_bytes: int = 4 * 1024 * 1024
    max_quarantine_bytes: int = 64 * 1024
    timezone: str = "UTC"


@dataclass(frozen=True)
class DetectSettings:
    """How detection turns matches into alerts."""

    #: Matches below this Sigma level raise no alert (they are still counted).
    min_level: str = "low"
    #: The same rule on the same entity within this many seconds updates one alert.
    dedupe_seconds: int = 24 * 3600
    #: At most this many event ids are kept per alert (the count keeps going).
    max_alert_events: int = 1000
    #: A Sigma rule whose alerts concern at least this many distinct hosts (users, IPs) on
    #: at least ``common_rule_days`` different days is routine in this organisation: its
    #: alerts are demoted to informational and kept for hunts. 0 turns this off.
    common_rule_entities: int = 3
    common_rule_days: int = 3
    #: Values of Sigma placeholders (``Field|expand: '%admins%'``): name -> list of values.
    placeholders: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalyticsSettings:
    """Thresholds of the behaviour analytics (``detect/analytics``); baselines are learned."""

    #: Address ranges that are the organisation's own (RFC 1918, loopback, link-local, CGNAT).
    internal_cidrs: tuple[str, ...] = (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
    #: At most this many event ids are attached to one analytic alert.
    max_events: int = 300
    #: An hour of the week is "quiet" when its distinct active users are below this share of
    #: the busiest hours (the 90th percentile over the hours of the week).
    quiet_fraction: float = 0.25
    #: "First seen" only counts after the lake holds this many days before the event.
    learn_days: float = 2.0

    # staging
    #: Archive files (Sysmon 11, Zeek files/smb_files) at least this big are "big archives".
    staging_big_archive_bytes: int = 100 * 1024 * 1024
    #: This many archive files created in a staging folder by one host within a day alert.
    staging_min_archive_files: int = 2

    # access to crown jewels
    #: Bytes one source pulls from one crown jewel in an hour before it is considered bulk.
    access_min_bytes: int = 250 * 1024 * 1024
    #: ... and at least this many times the source's own usual hourly volume (same hour of
    #: day, or its 90th percentile over its other hours, whichever is larger).
    access_own_ratio: float = 5.0
    #: ... and at least this many times the peer baseline (median over the other sources of
    #: their 90th percentile hourly volume to that crown jewel).
    access_peer_ratio: float = 10.0
    #: Distinct files one account opens on one crown-jewel share in an hour before it is bulk.
    access_min_files: int = 200
    #: ... and at least this many times the account's and its peers' usual hourly file count.
    access_files_ratio: float = 5.0

    # exfiltration
    #: Outbound bytes from one host to one external destination in an hour before it counts.
    exfil_min_bytes: int = 20 * 1024 * 1024
    #: ... and at least this many times the host's usual hourly outbound volume to the outside
    #: (its 95th percentile over its other active hours).
    exfil_ratio: float = 20.0
    #: Uploads to cloud storage / paste sites at least this big alert on their own.
    exfil_cloud_min_bytes: int = 10 * 1024 * 1024
    #: Registered domains of cloud storage, file sharing and paste sites.
    exfil_cloud_domains: tuple[str, ...] = (
        "mega.nz",
        "mega.co.nz",
        "dropbox.com",
        "dropboxusercontent.com",
        "pastebin.com",
        "paste.ee",
        "hastebin.com",
        "ghostbin.com",
        "transfer.sh",
        "file.io",
        "anonfiles.com",
        "gofile.io",
        "wetransfer.com",
        "sendspace.com",
        "mediafire.com",
        "filebin.net",
        "temp.sh",
        "catbox.moe",
        "anonymfile.com",
        "ufile.io",
    )

    # beaconing
    #: A destination is rare when at most this many internal hosts ever talk to it.
    beacon_max_sources: int = 2
    #: A channel needs at least this many connections ...
    beacon_min_connections: int = 24
    #: ... spread over at least this many hours ...
    beacon_min_hours: float = 2.0
    #: ... with a median interval of at least this many seconds (not one streaming session) ...
    beacon_min_interval: float = 10.0
    #: ... and a jitter (median absolute deviation of the intervals / their median) at most this.
    beacon_max_jitter: float = 0.25

    # dns
    #: Distinct names that fail (NXDOMAIN) for one client within an hour before it is a burst.
    dns_nxdomain_min: int = 20
    #: ... and at least this many times the client's usual hourly NXDOMAIN count (90th pct).
    dns_nxdomain_ratio: float = 5.0
    #: Distinct subdomains of one registered domain queried by one client within an hour ...
    dns_tunnel_min_names: int = 100
    #: ... whose median length of the part left of the registered domain is at least this.
    dns_tunnel_min_label_length: int = 20
    #: ... or whose median character entropy (bits per character) is at least this.
    dns_tunnel_min_entropy: float = 3.5
    #: At most this many internal clients may query the domain (popular CDNs are not tunnels).
    dns_tunnel_max_clients: int = 3

    # credential access and lateral movement
    #: Sysmon 10 access masks on lsass.exe that can read its memory.
    lsass_access_masks: tuple[str, ...] = (
        "0x1010",
        "0x1038",
        "0x1410",
        "0x1418",
        "0x1438",
        "0x143a",
        "0x1f0fff",
        "0x1f1fff",
        "0x1f2fff",
        "0x1f3fff",
        "0x1fffff",
        "0x40",
    )
    #: Images (lower-case file names) allowed to open lsass.exe (security products, the OS).
    lsass_allowed_images: tuple[str, ...] = (
        "msmpeng.exe",
        "mssense.exe",
        "csrss.exe",
        "wininit.exe",
        "lsm.exe",
        "svchost.exe",
        "wmiprvse.exe",
        "taskmgr.exe",
        "vmtoolsd.exe",
    )
    #: One account logging on from a new origin onto at least this many hosts in a day alerts;
    #: one such host suffices when the logons fall in quiet hours.
    lateral_min_new_hosts: int = 2


@dataclass(frozen=True)
class OrganisationSettings:
    """Who is defended: the report's name, and what the threat landscape is drawn for."""

    name: str = ""
    #: MISP galaxy sector names, e.g. ["Pharmacy", "Health", "High tech"].
    sectors: tuple[str, ...] = ()
    #: A country name as the galaxy spells victims ("United States"); "" for any.
    country: str = ""


@dataclass(frozen=True)
class Settings:
    """Where crownwatch keeps its data and how it reaches its database."""

    home: Path = DEFAULT_HOME
    database_url: str = ""
    ingest: IngestSettings = field(default_factory=IngestSettings)
    detect: DetectSettings = field(default_factory=DetectSettings)
    organisation: OrganisationSettings = field(default_factory=OrganisationSettings)
    analytics: AnalyticsSettings = field(default_factory=AnalyticsSettings)

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def db_url(self) -> str:
        """The database URL; SQLite inside the data directory unless one is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'crownwatch.db').resolve()}"


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc


def _section(kind: type[_T], table: dict[str, Any], name: str, path: Path) -> _T:
    """One ``[name]`` table of the TOML file as its settings dataclass, checked."""
    default = kind()
    unknown = set(table) - set(kind.__dataclass_fields__)  # type: ignore[attr-defined]
    if unknown:
        raise ConfigError(f"{path}: unknown [{name}] settings: {', '.join(sorted(unknown))}")
    try:
        values = {k: type(getattr(default, k))(v) for k, v in table.items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: bad [{name}] value: {exc}") from exc
    return replace(default, **values)  # type: ignore[type-var]


def load(
    home: str | Path | None = None,
    config_file: str | Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build the settings from arguments, environment and an optional TOML file."""
    env = dict(os.environ) if environ is None else environ
    home_path = Path(home or env.get("CROWNWATCH_HOME") or DEFAULT_HOME)
    toml_path = Path(config_file or env.get("CROWNWATCH_CONFIG") or home_path / "crownwatch.toml")
    table: dict[str, Any] = {}
    if config_file or env.get("CROWNWATCH_CONFIG") or toml_path.exists():
        table = _from_toml(toml_path)
    if not home and not env.get("CROWNWATCH_HOME") and "home" in table:
        home_path = Path(str(table["home"]))
    url = env.get("CROWNWATCH_DATABASE_URL") or str(table.get("database_url", ""))
    ingest = _section(IngestSettings, dict(table.get("ingest", {})), "ingest", toml_path)
    detect = _section(DetectSettings, dict(table.get("detect", {})), "detect", toml_path)
    analytics = _section(
        AnalyticsSettings, dict(table.get("analytics", {})), "analytics", toml_path
    )
    organisation = _section(
        OrganisationSettings, dict(table.get("organisation", {})), "organisation", toml_path
    )
    return Settings(
        home=home_path,
        database_url=url,
        ingest=ingest,
        detect=detect,
        analytics=analytics,
        organisation=organisation,
    )
