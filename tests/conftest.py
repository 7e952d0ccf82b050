"""Shared fixtures: the real data folder and a PostgreSQL database for store tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip when this checkout has none beside it."""
    if not SHARED.is_dir():
        pytest.skip(f"real data not found at {SHARED}")
    return SHARED


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _throwaway_server(tmp: Path) -> tuple[str, list[str]]:
    """Start a private PostgreSQL with initdb/pg_ctl; returns its URL and the stop command."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    bindir = next((c for c in candidates if (c / "initdb").exists()), None)
    if bindir is None or os.geteuid() == 0:
        # initdb refuses to run as root; the service on 5432 is what root machines have.
        return "", []
    data = tmp / "pg"
    subprocess.run(
        [bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    port = 55432
    subprocess.run(
        [bindir / "pg_ctl", "-D", data, "-o", f"-p {port} -k {tmp} -h 127.0.0.1", "-w", "start"],
        check=True,
        capture_output=True,
    )
    stop = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A URL of a PostgreSQL server's maintenance database, or skip with the reason."""
    required = os.environ.get("CROWNWATCH_REQUIRE_POSTGRES") == "1"
    url = os.environ.get("CROWNWATCH_TEST_POSTGRES", "")
    if not url and _answers("127.0.0.1", 5432):
        url = "postgresql://postgres@127.0.0.1:5432/postgres"
    tmp = Path(tempfile.mkdtemp(prefix="cw-pg-"))
    stop: list[str] = []
    if not url:
        try:
            url, stop = _throwaway_server(tmp)
        except (OSError, subprocess.CalledProcessError) as exc:
            url = ""
            reason = f"could not start a throwaway PostgreSQL: {exc}"
        else:
            reason = "no PostgreSQL on 127.0.0.1:5432 and no initdb to start one"
        if not url:
            if required:
                pytest.fail(f"CROWNWATCH_REQUIRE_POSTGRES=1 but {reason}")
            print(f"skipping PostgreSQL tests: {reason}")
            pytest.skip(reason)
    yield url
    if stop:
        subprocess.run(stop, check=False, capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture()
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"cw_test_{uuid.uuid4().hex[:12]}"
    conninfo = pg_server
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def small_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's small scenario (seed 7), generated once per test session (worker)."""
    from crownwatch import scenario

    folder = tmp_path_factory.mktemp("scenario") / "small"
    scenario.generate(folder, "small", 7)
    return folder


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A migrated store, once on SQLite and once on PostgreSQL."""
    from crownwatch import config
    from crownwatch.store import Store

    env: dict[str, str] = {}
    if request.param == "postgres":
        env["CROWNWATCH_DATABASE_URL"] = request.getfixturevalue("pg_url")
    opened = Store.open(config.load(home=tmp_path, environ=env))
    yield opened
    opened.close()


#: ``cw(home, *args)``: the crownwatch command run in a child process, its output captured.
CW = Callable[..., "subprocess.CompletedProcess[str]"]


def _cw(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crownwatch", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture()
def cw() -> CW:
    """Run ``crownwatch --home HOME ARGS…`` as a user would, in a child process."""
    return _cw
