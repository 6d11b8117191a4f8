"""Starts REAL Pyth-On servers for the tests: ``$PYTH_ON_BIN`` if set, else
``<repo>/target/debug/pyth-on``, with the ``pyth-on-runner`` beside it, a temporary data
directory and a free loopback port; stopped at the end. ``PYTH_ON_*`` variables of this process
are not passed to the servers."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

# Lets the test modules import each other's constants (test_golden).
sys.path.insert(0, os.path.dirname(__file__))

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse battery staple"


def server_bin() -> Path:
    return Path(os.environ.get("PYTH_ON_BIN") or REPO / "target" / "debug" / "pyth-on")


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTH_ON_")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *extra: str) -> None:
        binary = server_bin()
        if not binary.exists():
            pytest.fail(f"no server binary at {binary}: build it (cargo build) or set PYTH_ON_BIN")
        self.data_dir = tempfile.mkdtemp(prefix="pyth-on-py-")
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = open(os.path.join(self.data_dir, "server.log"), "wb")
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--data-dir", self.data_dir, "--listen", self.url[7:],
             "--runner", str(binary.parent / "pyth-on-runner"), "--pool-size", "0",
             "--auth-rate-limit-per-minute", "1000", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=clean_env(),
        )
        deadline = time.time() + 20
        while True:
            try:
                if httpx.get(self.url + "/api/health/live", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                pytest.fail("the server did not start: " + open(self.log.name).read()[-2000:])
            time.sleep(0.05)

    def create_admin(self, email: str, password: str) -> None:
        subprocess.run(
            [str(server_bin()), "users", "create", "--admin", email, "--data-dir", self.data_dir],
            input=password.encode(), check=True, capture_output=True, env=clean_env(),
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    srv = Server()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def limited_server():
    """A second server with a tiny rate limit, to provoke 429."""
    srv = Server("--rate-limit-per-minute", "2")
    yield srv
    srv.stop()


def new_email() -> str:
    return f"u{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture()
def account(server):
    """A fresh account: (a Client holding its JWT, its API key)."""
    from pyth_on import Client

    client = Client(server.url, api_key="")
    answer = client.register(new_email(), PASSWORD)
    yield client, answer.api_key
    client.close()


@pytest.fixture()
def client(server, account):
    """A Client using the fresh account's API key."""
    from pyth_on import Client

    c = Client(server.url, account[1])
    yield c
    c.close()
