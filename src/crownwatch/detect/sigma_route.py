"""Which Windows events a Sigma rule sees: its logsource as event log channels and event ids.

Categories are Sysmon (or Security / PowerShell) events; services are channels, taken
from pySigma's ``windows_logsource_mapping``. A logsource that maps to nothing is
not routable, and the rule is reported as not compiled rather than run on everything.
"""

from __future__ import annotations

from sigma.pipelines.common import windows_logsource_mapping
from sigma.rule import SigmaLogSource

SYSMON = "Microsoft-Windows-Sysmon/Operational"
SECURITY = "Security"
POWERSHELL = ("Microsoft-Windows-PowerShell/Operational", "PowerShellCore/Operational")
POWERSHELL_CLASSIC = "Windows PowerShell"
DEFENDER = "Microsoft-Windows-Windows Defender/Operational"

#: A route: (channels, event ids), event ids empty meaning any event of those channels.
Route = tuple[frozenset[str], frozenset[int]]


def _route(channels: str | tuple[str, ...], *ids: int) -> Route:
    names = (channels,) if isinstance(channels, str) else channels
    return frozenset(names), frozenset(ids)


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
}


def routes(logsource: SigmaLogSource) -> list[Route]:
    """The channels and event ids a rule of this logsource applies to; [] if unknown."""
    if (logsource.product or "").lower() != "windows":
        return []
    category = (logsource.category or "").lower()
    service = (logsource.service or "").lower()
    if category:
        found = list(_EXTRA.get(category, []))
        if category in _SYSMON_IDS:
            found.append(_route(SYSMON, *_SYSMON_IDS[category]))
        return found
    channels = windows_logsource_mapping.get(service)
    if channels is None:
        return []
    return [_route(channels if isinstance(channels, str) else tuple(channels))]
