"""What the lake says about the entities of alerts: whose address is whose, and how widely
an address, domain or hash is seen (hubs join nothing)."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pyarrow as pa

from crownwatch.correlate.incidents import short_host


def hosts_by_ip(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Addresses that only ever appear as one host's own (outbound connections it logged)."""
    rows = con.execute(
        'SELECT "source.ip", min(lower(split_part("host.name", \'.\', 1))) FROM events '
        'WHERE "host.name" IS NOT NULL AND "source.ip" IS NOT NULL '
        "AND \"network.direction\" IS DISTINCT FROM 'inbound' "
        "AND \"event.category\" = 'network' "
        "GROUP BY 1 HAVING count(DISTINCT lower(split_part(\"host.name\", '.', 1))) = 1"
    ).fetchall()
    return {str(ip): str(host) for ip, host in rows if ip and host}


#: kind -> the event columns holding it.
_COLUMNS = {
    "ip": ("source.ip", "destination.ip"),
    "domain": ("dns.question.name", "tls.server.name", "url.domain"),
    "hash": ("process.hash.sha256", "file.hash.sha256"),
}


def peers(
    con: duckdb.DuckDBPyConnection, values: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Per (kind, value): how many distinct machines it is seen with in the lake.

    A domain or hash counts the hosts (or client addresses) that looked it up or ran it (a
    program of the operating system, run from the Windows folder, counts as everywhere); an
    address counts the machines that connected to it."""
    wanted: dict[str, list[str]] = {}
    for kind, value in values:
        if kind in _COLUMNS:
            wanted.setdefault(kind, []).append(value)
    found: dict[tuple[str, str], int] = {}
    for kind, items in wanted.items():
        con.register("_wanted", pa.table({"v": pa.array(sorted(set(items)), pa.string())}))
        try:
            for value, count in con.execute(_peer_sql(kind)).fetchall():
                found[(kind, str(value))] = int(count)
        finally:
            con.unregister("_wanted")
    return found


def _peer_sql(kind: str) -> str:
    if kind == "ip":  # who connects to it: many for a server everyone uses, few for a C2
        return (
            'SELECT "destination.ip", count(DISTINCT coalesce("source.ip", "host.name")) '
            'FROM events WHERE "destination.ip" IN (SELECT v FROM _wanted) GROUP BY 1'
        )
    if kind == "hash":  # the operating system's own programs are on every machine
        return (
            "SELECT v, CASE WHEN bool_or(system) THEN 1000000 ELSE count(DISTINCT peer) END "
            "FROM ("
            + " UNION ALL ".join(
                f'SELECT lower("{c}") AS v, {_PEER} AS peer, '
                "coalesce(starts_with(lower(\"process.executable\"), 'c:\\windows\\'), "
                f'false) AS system FROM events WHERE lower("{c}") IN (SELECT v FROM _wanted)'
                for c in _COLUMNS[kind]
            )
            + ") GROUP BY v"
        )
    parts = " UNION ALL ".join(
        f'SELECT lower("{c}") AS v, {_PEER} AS peer FROM events '
        f'WHERE lower("{c}") IN (SELECT v FROM _wanted)'
        for c in _COLUMNS[kind]
    )
    return f"SELECT v, count(DISTINCT peer) FROM ({parts}) GROUP BY v"


#: The machine an event is about: its host, else the client address.
_PEER = 'coalesce(lower(split_part("host.name", \'.\', 1)), "source.ip")'


__all__ = ["hosts_by_ip", "peers", "short_host"]
