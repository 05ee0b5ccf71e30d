"""Containers and load for the serving benchmark: the same for both servers.

Load is Debian's ``wrk`` with a Lua script that POSTs JSON bodies taken in turn from a pool
file (one body a line), on 127.0.0.1 only. Every container carries the benchmark's labels.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

from common import LABEL, run

LABELS = [f"{LABEL}=serving", "io.jupyter-containerize.managed=true"]
PORT_IN_CONTAINER = 8080

# Each wrk thread reads the pool, starts at a different place and posts body after body.
LUA = """
local bodies = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  i = math.random(#bodies)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_MEM = {"b": 1 / 2**20, "kib": 1 / 1024, "mib": 1.0, "gib": 1024.0,
        "kb": 1e3 / 2**20, "mb": 1e6 / 2**20, "gb": 1e9 / 2**20}


def check_tools() -> None:
    missing = [tool for tool in ("docker", "wrk") if not shutil.which(tool)]
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)} (apt-get install wrk; a Docker engine)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answer(port: int, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _correct(status: int, data: bytes, expected: list[object]) -> bool:
    if status != 200:
        return False
    try:
        return list(json.loads(data)["predictions"]) == expected
    except (ValueError, KeyError, TypeError):
        return False


def cold_start(image: str, side: str, probe: dict, timeout: float = 180) -> tuple[str, int, float]:
    """``docker run`` the image; seconds from the command to the first correct answer."""
    port = free_port()
    body = json.dumps(probe["body"]).encode()
    labels = [arg for label in [*LABELS, f"{LABEL}.side={side}"] for arg in ("--label", label)]
    args = ["docker", "run", "-d", *labels, "-p", f"127.0.0.1:{port}:{PORT_IN_CONTAINER}", image]
    start = time.perf_counter()
    started = run(args)
    if started.returncode != 0:  # once more: the engine's network can be busy on a shared host
        remove(started.stdout.strip())
        time.sleep(2)
        start = time.perf_counter()
        started = run(args)
    container = started.stdout.strip()
    if started.returncode != 0:
        remove(container)
        raise RuntimeError(f"docker run {image} failed: {started.stderr.strip()}")
    while time.perf_counter() - start < timeout:
        try:
            if _correct(*_answer(port, body), probe["expected"]):
                return container, port, time.perf_counter() - start
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.01)
    logs = run(["docker", "logs", "--tail", "20", container]).stderr
    remove(container)
    raise RuntimeError(f"{image} gave no correct answer in {timeout:.0f} s:\n{logs}")


def remove(container: str) -> None:
    if container:
        run(["docker", "rm", "-f", container])


def remove_labelled() -> None:
    """Every container this benchmark started and left behind (an interrupted run)."""
    out = run(["docker", "ps", "-aq", "--filter", f"label={LABEL}=serving"]).stdout.split()
    if out:
        run(["docker", "rm", "-f", *out])


def image_size(image: str) -> int:
    return int(run(["docker", "image", "inspect", "--format", "{{.Size}}", image]).stdout)


def memory_mib(container: str) -> float:
    out = run(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container])
    m = re.match(r"\s*([\d.]+)\s*([A-Za-z]+)", out.stdout)
    if not m:
        raise RuntimeError(f"docker stats gave {out.stdout!r} {out.stderr!r}")
    return float(m.group(1)) * _MEM[m.group(2).lower()]


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(text: str) -> dict[str, float]:
    """requests/s, p50/p90/p99 in ms, requests and failed ones from ``wrk --latency`` output."""
    out: dict[str, float] = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])}
    for pct in ("50", "90", "99"):
        out[f"p{pct}_ms"] = _ms(re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)[1])
    out["requests"] = int(re.search(r"(\d+) requests in", text)[1])
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        text)
    out["errors"] = (int(errors[1]) if errors else 0) + (
        sum(int(n) for n in sockets.groups()) if sockets else 0)
    return out


def wrk(port: int, pool: Path, connections: int, seconds: int) -> dict[str, float]:
    """One load point: ``connections`` keep-alive connections for ``seconds``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(LUA)
        script.flush()
        threads = min(2, connections)
        done = run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                    "--timeout", "10s", "-s", script.name,
                    f"http://127.0.0.1:{port}/invocations", "--", str(pool)],
                   timeout=seconds + 60).check()
    return parse_wrk(done.stdout)
