"""Which events a Sigma rule sees, and under which field names.

A route is a column, the values it must hold and, for Windows, the event ids:
``("winlog.channel", {"Security"}, {4688})``. Windows categories are Sysmon (or
Security / PowerShell) events and services are channels, taken from pySigma's
``windows_logsource_mapping``. Other products route by ``event.dataset`` (what
the parsers in ``ingest/`` set): Linux services to the syslog datasets, Cisco
services to ``cisco.ios``/``cisco.asa``/``cisco.ftd`` (``aaa`` to the CLI commands
they log, by ``event.action``), Zeek services to ``zeek.<log>``, and the generic
``dns``/``proxy``/``webserver``/``firewall`` categories to the Zeek and Suricata
logs of that kind, with their field names mapped onto our ECS columns by a
pySigma processing pipeline. A logsource that maps to nothing is not routable:
the rule is reported as not compiled rather than run on everything.
"""

from __future__ import annotations

from sigma.pipelines.common import windows_logsource_mapping
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation
from sigma.rule import SigmaLogSource

from crownwatch.ingest.syslog import CLI_COMMAND

SYSMON = "Microsoft-Windows-Sysmon/Operational"
SECURITY = "Security"
POWERSHELL = ("Microsoft-Windows-PowerShell/Operational", "PowerShellCore/Operational")
POWERSHELL_CLASSIC = "Windows PowerShell"
DEFENDER = "Microsoft-Windows-Windows Defender/Operational"

CHANNEL = "winlog.channel"
DATASET = "event.dataset"
MODULE = "event.module"
ACTION = "event.action"

#: A route: (column, values it may hold, event ids); no event ids means any event.
Route = tuple[str, frozenset[str], frozenset[int]]


def _route(channels: str | tuple[str, ...], *ids: int) -> Route:
    names = (channels,) if isinstance(channels, str) else channels
    return CHANNEL, frozenset(names), frozenset(ids)


def _datasets(*names: str) -> Route:
    return DATASET, frozenset(names), frozenset()


_SYSMON_IDS = {
    "process_creation": (1,),
    "process_termination": (5,),
    "network_connection": (3,),
    "driver_load": (6,),
    "image_load": (7,),
    "create_remote_thread": (8,),
    "raw_access_thread": (9,),
    "process_access": (10,),
    "file_event": (11,),
    "file_change": (2,),
    "file_delete": (23, 26),
    "file_delete_detected": (26,),
    "file_executable_detected": (29,),
    "file_block_executable": (27,),
    "file_block_shredding": (28,),
    "registry_add": (12,),
    "registry_delete": (12,),
    "registry_set": (13,),
    "registry_rename": (14,),
    "registry_event": (12, 13, 14),
    "create_stream_hash": (15,),
    "pipe_created": (17, 18),
    "wmi_event": (19, 20, 21),
    "dns_query": (22,),
    "clipboard_capture": (24,),
    "process_tampering": (25,),
    "sysmon_status": (4, 16),
    "sysmon_error": (255,),
}

#: Categories seen in more than one channel: channel -> event ids.
_EXTRA: dict[str, list[Route]] = {
    "process_creation": [_route(SECURITY, 4688)],
    "ps_module": [_route(POWERSHELL, 4103)],
    "ps_script": [_route(POWERSHELL, 4104)],
    "ps_classic_start": [_route(POWERSHELL_CLASSIC, 400)],
    "ps_classic_provider_start": [_route(POWERSHELL_CLASSIC, 600)],
    "ps_classic_script": [_route(POWERSHELL_CLASSIC, 800)],
    "antivirus": [_route(DEFENDER, 1006, 1015, 1116, 1117)],
    # Object access auditing: "an attempt was made to access an object" (ObjectName,
    # ProcessName: see the aliases in sigma_frame). Sysmon has no file-read event.
    "file_access": [_route(SECURITY, 4663)],
}

#: Windows services pySigma's mapping does not know: service -> channel.
_SERVICES: dict[str, str] = {
    "smbserver-connectivity": "Microsoft-Windows-SMBServer/Connectivity",
    "smbserver-security": "Microsoft-Windows-SMBServer/Security",
    "smbclient-connectivity": "Microsoft-Windows-SmbClient/Connectivity",
    "appxdeployment-server": "Microsoft-Windows-AppXDeploymentServer/Operational",
    "microsoft-windows-printservice-operational": "Microsoft-Windows-PrintService/Operational",
}

_AUTH = "system.auth"
_SYSLOG = "system.syslog"
#: Linux services -> the datasets ingest/syslog.py gives their lines.
_LINUX: dict[str, Route] = {
    "auth": _datasets(_AUTH),
    "sshd": _datasets(_AUTH),
    "sudo": _datasets(_AUTH),
    "su": _datasets(_AUTH),
    "login": _datasets(_AUTH),
    "syslog": _datasets(_SYSLOG, _AUTH),
    "cron": _datasets(_SYSLOG),
    "vsftpd": _datasets(_SYSLOG),
    "clamav": _datasets(_SYSLOG),
    "guacamole": _datasets(_SYSLOG),
    "": _datasets(_SYSLOG, _AUTH),  # product linux, no service: any of its logs
}

_IOS, _ASA, _FTD = "cisco.ios", "cisco.asa", "cisco.ftd"
#: Cisco services -> the datasets ingest/syslog.py gives IOS, ASA and FTD messages. ``aaa``
#: rules look for CLI commands (what AAA command accounting records): they see the commands
#: the devices log (IOS config logger, ASA/FTD 111008 and 111010), not every message: their
#: keywords ("username", "aaa"…) are in ordinary VPN and login messages too. Cisco Duo (an
#: HTTP API's JSON, not syslog) is not routed.
_CISCO: dict[str, Route] = {
    "aaa": (ACTION, frozenset({CLI_COMMAND}), frozenset()),
    "syslog": _datasets(_IOS, _ASA, _FTD),
    "bgp": _datasets(_IOS),
    "ldp": _datasets(_IOS),
    "": _datasets(_IOS, _ASA, _FTD),
}

_HTTP = _datasets("zeek.http", "suricata.http")

#: Generic categories (no product) -> the network logs that record them.
_CATEGORIES: dict[str, Route] = {
    "dns": _datasets("zeek.dns", "suricata.dns"),
    "proxy": _HTTP,
    "webserver": _HTTP,
    "firewall": _datasets("zeek.conn", "suricata.flow", "suricata.netflow"),
}

_WEB: dict[str, str | tuple[str, ...]] = {
    "c-uri": "url.path",
    "cs-uri": "url.path",
    "cs-uri-stem": "url.path",
    "cs-uri-query": "url.path",
    "c-uri-query": "url.path",
    "c-useragent": "user_agent.original",
    "cs-user-agent": "user_agent.original",
    "cs-host": "url.domain",
    "r-dns": "url.domain",
    "cs-method": "http.request.method",
    "sc-status": "http.response.status_code",
    "cs-referer": ("referrer", "http.http_refer"),
    "cs-referrer": ("referrer", "http.http_refer"),
    "cs-username": ("username", "user.name"),
    "cs-content-type": ("http.http_content_type",),
    "src_ip": "source.ip",
    "dst_ip": "destination.ip",
    "c-ip": "source.ip",
}

#: Generic category -> {Sigma field: our column or original field name(s)}.
FIELD_MAPS: dict[str, dict[str, str | tuple[str, ...]]] = {
    "dns": {
        "query": "dns.question.name",
        "record_type": "dns.question.type",
        "answer": ("answers", "dns.answers", "dns.rdata"),
        "src_ip": "source.ip",
        "dst_ip": "destination.ip",
    },
    "proxy": _WEB,
    "webserver": _WEB,
    "firewall": {
        "src_ip": "source.ip",
        "dst_ip": "destination.ip",
        "src_port": "source.port",
        "dst_port": "destination.port",
        "action": "event.action",
    },
}


def routes(logsource: SigmaLogSource) -> list[Route]:
    """Where a rule of this logsource looks; [] if nowhere we know."""
    product = (logsource.product or "").lower()
    category = (logsource.category or "").lower()
    service = (logsource.service or "").lower()
    if product == "windows" or (not product and category == "antivirus"):
        return _windows(category, service)
    if product == "linux" and not category:
        return [_LINUX[service]] if service in _LINUX else []
    if product == "cisco" and not category:
        return [_CISCO[service]] if service in _CISCO else []
    if product == "zeek" and service and not category:
        return [_datasets(f"zeek.{service}")]
    if not product and not service and category in _CATEGORIES:
        return [_CATEGORIES[category]]
    return []


def _windows(category: str, service: str) -> list[Route]:
    if category:
        found = list(_EXTRA.get(category, []))
        if category in _SYSMON_IDS:
            found.append(_route(SYSMON, *_SYSMON_IDS[category]))
        return found
    if not service:  # no category, no service: every Windows event
        return [(MODULE, frozenset({"windows"}), frozenset())]
    channels = windows_logsource_mapping.get(service) or _SERVICES.get(service)
    if channels is None:
        return []
    return [_route(channels if isinstance(channels, str) else tuple(channels))]


def field_map(logsource: SigmaLogSource) -> dict[str, str | tuple[str, ...]] | None:
    """The field names a generic-category rule may use, mapped; None: no mapping applies.

    A rule of a mapped category that names a field outside the map cannot be
    evaluated (the logs we route it to have no such field) and is reported.
    """
    if logsource.product or logsource.service:
        return None
    return FIELD_MAPS.get((logsource.category or "").lower())


def pipeline(mapping: dict[str, str | tuple[str, ...]]) -> ProcessingPipeline:
    """A pySigma pipeline renaming fields (one name to several: any of them)."""
    names: dict[str | None, str | list[str]] = {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in mapping.items()
    }
    item = ProcessingItem(transformation=FieldMappingTransformation(names))
    return ProcessingPipeline(name="crownwatch field names", items=[item])
