"""A Jupyter server as its own process (what a restart test kills and starts again)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(root: Path, port: int, env: dict[str, str],
                 token: str) -> subprocess.Popen[bytes]:
    """`jupyter server` on 127.0.0.1:port with ``root`` and ``token``, once it answers."""
    jupyter = Path(sys.executable).with_name("jupyter")
    proc = subprocess.Popen(
        [str(jupyter), "server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
         "--ServerApp.allow_root=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(120):
        try:
            requests.get(f"http://127.0.0.1:{port}/api/status", timeout=1,
                         headers={"Authorization": f"token {token}"})
            return proc
        except requests.ConnectionError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("jupyter server did not start")
