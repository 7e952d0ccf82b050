"""Two crownwatch installs sharing intelligence over TAXII, as users run them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import CW


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_and_poll_between_two_homes(tmp_path: Path, cw: CW) -> None:
    server_home, client_home = tmp_path / "server", tmp_path / "client"
    assert cw(server_home, "intel", "init").returncode == 0
    made = cw(server_home, "taxii", "add-collection", "groups", "--type", "intrusion-set", "--json")
    collection = json.loads(made.stdout)["id"]
    token = cw(server_home, "taxii", "add-token", "partner", "--read", collection).stdout.strip()
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crownwatch",
            "--home",
            str(server_home),
            "serve",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/taxii2/"
        for _ in range(100):
            try:
                if httpx.get(url, timeout=1).status_code == 401:  # up, and wants a token
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        first = cw(client_home, "intel", "import", url, "--token", token, "--json")
        assert first.returncode == 0, first.stderr
        added = sum(r["added"] for r in json.loads(first.stdout)["imports"])
        assert added > 1_000  # ATT&CK and galaxy intrusion-sets, nothing else
        stats = json.loads(cw(client_home, "intel", "stats", "--json").stdout)
        assert set(stats) == {"intrusion-set"} and stats["intrusion-set"] == added
        again = json.loads(
            cw(client_home, "intel", "import", url, "--token", token, "--json").stdout
        )
        assert sum(r["added"] for r in again["imports"]) == 0  # only what is new is asked for
        refused = cw(client_home, "intel", "import", url, "--token", "wrong")
        assert refused.returncode != 0 and "401" in refused.stderr
    finally:
        server.terminate()
        server.wait(timeout=20)
