"""The canary: a fake token planted in a saved output, a `.env` file, an
`--env` value and a private index password reaches no image layer (`docker save`), no container
log, not the job store, no run record, not the lock, not the build cache and not the server log.

Everything goes through a real `jupyter server` (its log captured to a file) and the CLI as a
user runs them. The private index is real: a package index on 127.0.0.1 that wants HTTP basic
auth (the canary is the password) in front of PyPI; the build uses a cache of its own, so every
distribution of the image is resolved and downloaded through it with those credentials.
"""

from __future__ import annotations

import base64
import http.server
import io
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from helpers import EXAMPLE, EXAMPLE_PYTHON, assert_one_line_error, cli
from jc_support import TEST_LABEL, TEST_RUN_ID, saved_image

from jupyter_containerize.core.env import project as project_files

pytestmark = [pytest.mark.engine, pytest.mark.timeout(1800)]

TOKEN = "canary-test-token"
INDEX_USER = "jc-ci"
FINAL = ("succeeded", "failed", "cancelled", "timed out")
PLANTED_CELL = 3  # index of the saved output that looks like a GitHub token (cell 4 to a user)
PYPI_SIMPLE = "https://pypi.org/simple/"
PYPI_FILES = "https://files.pythonhosted.org/"
CHUNK = 8 << 20
# Known to be in a place: finding them there shows that place's bytes really were searched.
CONTROLS = {
    b"token loaded:": "control: the planted cell",  # baked notebook, run containers' logs
    b"JC_CANARY_HOST": "control: an --env name",  # the job store and run records keep names
    b"/containerize/api/jobs": "control: a REST route",  # the server log
    b'"scikit-learn"': "control: a locked package",  # the lock
}
Found = list[tuple[str, str]]  # (what was found, where)
SMALL_MEMBER = 64 << 20  # layers up to this size are also read as tars (the project layer)

# Imported first in the server and CLI processes we start: before the product removes a
# container, its `docker logs` are kept in $JC_CANARY_LOGS/<id>.log (nothing else changes).
HOOK = """
import os, sys
import docker.models.containers as _containers
_logs = os.environ["JC_CANARY_LOGS"]
_remove = _containers.Container.remove
def _keep_logs_then_remove(self, **kwargs):
    try:
        data = self.logs(stdout=True, stderr=True)
        with open(os.path.join(_logs, self.id + ".log"), "wb") as fh:
            fh.write(data)
    except Exception as exc:
        with open(os.path.join(_logs, self.id + ".missed"), "w") as fh:
            fh.write(repr(exc))
    return _remove(self, **kwargs)
_containers.Container.remove = _keep_logs_then_remove
"""
SERVER_MAIN = HOOK + "from jupyter_server.serverapp import main\nsys.exit(main())\n"
CLI_MAIN = HOOK + "from jupyter_containerize.cli.app import main\nsys.exit(main())\n"


def _token() -> str:
    """A fresh fake GitHub token: the output scanner's own pattern says it is a credential."""
    alphabet = string.ascii_letters + string.digits
    return "ghp_" + "".join(secrets.choice(alphabet) for _ in range(36))


# ------------------------------------------------------------------ the private package index


class _Index(http.server.ThreadingHTTPServer):
    """A PEP 503 index on 127.0.0.1 wanting basic auth, in front of PyPI: pages and files both
    go through it (file URLs are rewritten to point here), so no download skips the password."""

    daemon_threads = True

    def __init__(self, user: str, password: str) -> None:
        super().__init__(("127.0.0.1", 0), _IndexHandler)
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.refuse = False  # answer 401 even to the right password (a revoked token)
        self.hits = {"pages": 0, "files": 0, "refused": 0, "no credentials": 0}
        self.lock = threading.Lock()
        self.tls = ssl.create_default_context()
        cert = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
        if cert and Path(cert).is_file():
            self.tls.load_verify_locations(cert)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def url(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.server_address[1]}/simple/"

    def count(self, what: str) -> None:
        with self.lock:
            self.hits[what] += 1

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _IndexHandler(http.server.BaseHTTPRequestHandler):
    server: _Index

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:  # noqa: N802
        index = self.server
        given = self.headers.get("Authorization")
        if given != index.expected or index.refuse:
            index.count("refused" if given else "no credentials")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="canary index"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/simple/"):
            kind, upstream = "pages", PYPI_SIMPLE + self.path[len("/simple/"):]
        elif self.path.startswith("/files/"):
            kind, upstream = "files", PYPI_FILES + self.path[len("/files/"):]
        else:
            self.send_error(404)
            return
        headers = {k: v for k in ("Accept", "Range") if (v := self.headers.get(k))}
        method = "HEAD" if head else "GET"
        try:
            answer = urllib.request.urlopen(
                urllib.request.Request(upstream, headers=headers, method=method),
                context=index.tls, timeout=120)
        except urllib.error.HTTPError as exc:
            self.send_error(exc.code)
            return
        index.count(kind)
        with answer:
            self.send_response(answer.status)
            if kind == "pages" and not head:
                here = f"http://127.0.0.1:{index.server_address[1]}/files/"
                body = answer.read().replace(PYPI_FILES.encode(), here.encode())
                self.send_header("Content-Type", answer.headers.get("Content-Type", "text/html"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            for name in ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges"):
                if answer.headers.get(name):
                    self.send_header(name, answer.headers[name])
            self.end_headers()
            if not head:
                shutil.copyfileobj(answer, self.wfile, 1 << 20)


# ------------------------------------------------------------------------------ the search


class _Finder:
    """The canaries in a byte stream fed in chunks (a canary may straddle two chunks)."""

    def __init__(self, needles: dict[bytes, str], where: str, found: Found) -> None:
        self.needles, self.where, self.found = needles, where, found
        self.keep = max(len(n) for n in needles) - 1
        self.tail = b""
        self.seen: set[str] = set()

    def feed(self, chunk: bytes) -> None:
        data = self.tail + chunk
        for needle, plant in self.needles.items():
            if plant not in self.seen and needle in data:
                self.seen.add(plant)
                self.found.append((plant, self.where))
        self.tail = data[-self.keep:]


def _search_stream(stream: Any, needles: dict[bytes, str], where: str, found: Found,
                   keep: bool = False) -> bytes:
    """Search the raw bytes and, when they are gzip or zlib, the inflated bytes too.
    Returns the raw bytes when ``keep`` (small members, read again as tars)."""
    raw = _Finder(needles, where, found)
    inflated: _Finder | None = None
    inflate = None
    kept = io.BytesIO() if keep else None
    first = True
    while chunk := stream.read(CHUNK):
        if first:
            first = False
            if chunk[:2] == b"\x1f\x8b" or chunk[:2] in (b"\x78\x01", b"\x78\x9c", b"\x78\xda"):
                inflate = zlib.decompressobj(47)  # gzip or zlib header
                inflated = _Finder(needles, f"{where} (inflated)", found)
            assert chunk[:4] != b"\x28\xb5\x2f\xfd", f"{where} is zstd-compressed: not searched"
        raw.feed(chunk)
        if inflate is not None and inflated is not None:
            inflated.feed(inflate.decompress(chunk))
        if kept is not None:
            kept.write(chunk)
    return kept.getvalue() if kept is not None else b""


def _search_file(path: Path, needles: dict[bytes, str], where: str, found: Found) -> None:
    with open(path, "rb") as fh:
        _search_stream(fh, needles, where, found)


def _search_tree(root: Path, needles: dict[bytes, str], label: str, found: Found,
                 skip: Iterable[Path] = ()) -> int:
    skipped = {p.resolve() for p in skip}
    count = 0
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.resolve() not in skipped:
            _search_file(path, needles, f"{label} {path.relative_to(root)}", found)
            count += 1
    return count


def _search_text(text: str, needles: dict[bytes, str], where: str, found: Found) -> None:
    _Finder(needles, where, found).feed(text.encode())


def _search_images(client: Any, references: list[str], needles: dict[bytes, str],
                   found: Found) -> dict[str, Any]:
    """`docker save` each image and search every member (layers, config, manifest); small
    layers are also opened as tars to see what the project layer holds."""
    seen: set[str] = set()
    files: dict[str, bytes] = {}
    names: list[str] = []
    layers = 0
    for ref in references:
        stream = saved_image(client, ref)
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                shared = member.name.startswith("blobs/") or member.name.endswith("/layer.tar")
                if shared and member.name in seen:
                    continue  # a layer shared with an image already searched
                seen.add(member.name)
                layers += 1
                small = member.size <= SMALL_MEMBER
                data = _search_stream(tar.extractfile(member), needles,
                                      f"image {ref}, member {member.name}", found, keep=small)
                if small and data:
                    _read_layer(data, files, names)
    return {"members": layers, "files": files, "names": names}


def _read_layer(data: bytes, files: dict[str, bytes], names: list[str]) -> None:
    if data[:2] == b"\x1f\x8b":
        data = zlib.decompress(data, 47)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as layer:
            for entry in layer.getmembers():
                names.append(entry.name)
                if entry.name.startswith("home/jovyan/work/") and entry.isfile():
                    handle = layer.extractfile(entry)
                    files[entry.name] = handle.read() if handle else b""
    except tarfile.TarError:
        pass  # not a layer (a manifest, an image config)


# --------------------------------------------------------------------------- the processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """A real `jupyter server` (with the log hook) whose output goes to a file."""

    def __init__(self, root: Path, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.log = log
        self.api = f"http://127.0.0.1:{self.port}/containerize/api"
        self.headers = {"Authorization": f"token {TOKEN}"}
        self.responses: list[str] = []
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SERVER_MAIN, "--no-browser", f"--port={self.port}",
                 "--ip=127.0.0.1", f"--ServerApp.root_dir={root}",
                 f"--IdentityProvider.token={TOKEN}", "--ServerApp.allow_root=True",
                 "--log-level=DEBUG", "--ContainerizeExtension.log_level=DEBUG"],
                env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(240):
            try:
                requests.get(f"{self.api}/info", headers=self.headers, timeout=2)
                return
            except requests.ConnectionError:
                assert self.proc.poll() is None, log.read_text()[-3000:]
                time.sleep(0.5)
        self.stop()
        raise AssertionError(f"jupyter server did not start: {log.read_text()[-3000:]}")

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = requests.request(method, f"{self.api}/{path}", headers=self.headers,
                                  timeout=60, **kwargs)
        self.responses.append(f"{method} {path} -> {answer.status_code}\n{answer.text}")
        return answer

    def job(self, kind: str, notebook: str, options: dict[str, Any],
            timeout: float = 1500) -> dict[str, Any]:
        """POST a job, wait until it ends; also reads its whole event stream."""
        created = self.call("POST", "jobs", json={"kind": kind, "notebook": notebook,
                                                  "options": options})
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        deadline = time.monotonic() + timeout
        while True:
            job = requests.get(f"{self.api}/jobs/{job_id}", headers=self.headers,
                               timeout=60).json()
            if job["status"] in FINAL:
                break
            assert time.monotonic() < deadline, f"{kind} job {job_id} did not end: {job}"
            time.sleep(1)
        self.call("GET", f"jobs/{job_id}")
        self.call("GET", f"jobs/{job_id}/events")
        return dict(job)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


class _Containers:
    """Every container the engine creates from the test's images while the test runs
    (from the engine's event stream), to check that each one's log was searched."""

    def __init__(self, client: Any) -> None:
        self.created: dict[str, str] = {}
        self.stream = client.events(decode=True, filters={"type": "container",
                                                          "event": "create"})
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                actor = event.get("Actor") or {}
                image = (actor.get("Attributes") or {}).get("image", "")
                self.created[actor.get("ID") or event.get("id", "")] = image
        except Exception:
            return

    def close(self) -> None:
        self.stream.close()
        self.thread.join(timeout=10)


def _plant(project: Path, canaries: dict[str, str]) -> Path:
    """The example copied, with a saved output that holds a token and a `.env` file."""
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("*.lock.json", "model.*"))
    path = project / "classifier.ipynb"
    nb = nbformat.read(path, as_version=4)
    # the cell printed the token once while it was being debugged, and was saved like that
    cell = nbformat.v4.new_code_cell(
        "import os\n\ntoken = os.environ.get('GITHUB_TOKEN', '')\n"
        "print('token loaded:', bool(token))",
        execution_count=3,
        outputs=[nbformat.v4.new_output("stream", name="stdout",
                                        text=canaries["saved output"] + "\n")],
    )
    nb.cells.insert(PLANTED_CELL, cell)
    nbformat.write(nb, path)
    assert project_files.scan_outputs(json.loads(path.read_text())) == [
        (PLANTED_CELL, "GitHub token")
    ], "the output scanner must see the planted token for this test to mean anything"
    (project / ".env").write_text(f"GITHUB_TOKEN={canaries['.env']}\n")
    return path


def _needles(canaries: dict[str, str]) -> dict[bytes, str]:
    needles = {**CONTROLS, **{value.encode(): plant for plant, value in canaries.items()}}
    # the index password also travels as a basic-auth header
    basic = base64.b64encode(f"{INDEX_USER}:{canaries['index password']}".encode())
    needles[basic] = "index password (as a basic-auth header)"
    return needles


def _remove_new_images(client: Any, refs: list[str], existed: set[str]) -> None:
    """Remove the tags this test made (never one that was there before it started)."""
    import docker.errors

    for ref in refs:
        if ref in existed:
            continue
        try:
            image = client.images.get(ref)
            if (image.labels or {}).get(TEST_LABEL) == TEST_RUN_ID:
                client.images.remove(ref, force=True)
        except docker.errors.APIError:
            pass


# ------------------------------------------------------------------------------ the test


def test_canaries_reach_no_layer_log_store_record_or_server_log(
        tmp_path: Path, docker_client: Any) -> None:
    started = time.monotonic()
    canaries = {
        "saved output": _token(),
        ".env": _token(),
        "--env value": _token(),
        "--env from the host": _token(),
        "index password": _token(),
    }
    needles = _needles(canaries)
    root = tmp_path / "root"
    notebook = _plant(root, canaries)
    data, cache, logs = tmp_path / "data", tmp_path / "cache", tmp_path / "container-logs"
    out = tmp_path / "out"
    logs.mkdir()
    index = _Index(INDEX_USER, canaries["index password"])
    index_url = index.url(INDEX_USER, canaries["index password"])
    env = {
        **os.environ,
        "UV_INDEX_URL": index_url,  # how a team points uv and pip at its private index
        "PIP_INDEX_URL": index_url,
        "JUPYTER_CONTAINERIZE_DATA_DIR": str(data),
        "JUPYTER_CONTAINERIZE_CACHE_DIR": str(cache),  # cold: every download uses the index
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JC_CANARY_LOGS": str(logs),
    }
    outputs: dict[str, str] = {}  # what the CLI printed, what the REST API answered
    existing = {t for image in docker_client.images.list() for t in image.tags}
    refs: list[str] = []
    watcher = _Containers(docker_client)
    server = None
    try:
        # 1. the saved output stops the build: one line naming the cell
        proc = cli("build", str(notebook), "--python", str(EXAMPLE_PYTHON), env=env,
                   timeout=300)
        outputs["CLI build without --strip-outputs"] = proc.stdout + proc.stderr
        assert_one_line_error(proc, f"cell {PLANTED_CELL + 1}: GitHub token", "--strip-outputs")

        server = _Server(root, env, tmp_path / "server.log")
        # 2. the same through the REST API: a failed job naming the cell
        job = server.job("build", notebook.name, {"python": str(EXAMPLE_PYTHON)})
        assert job["status"] == "failed", json.dumps(job.get("error"))
        assert f"cell {PLANTED_CELL + 1}: GitHub token" in job["error"]["message"], job["error"]

        build = {"python": str(EXAMPLE_PYTHON), "strip_outputs": True}
        # 3. the index refuses the password (a revoked token): the failure names no secret
        index.refuse = True
        job = server.job("build", notebook.name, build)
        index.refuse = False
        assert job["status"] == "failed", json.dumps(job.get("error"))
        assert f"127.0.0.1:{index.server_address[1]}" in job["error"]["message"], job["error"]
        assert index.hits["refused"] > 0, index.hits
        assert index.hits["no credentials"] == 0, "uv asked the index without the password"

        # 4. --strip-outputs: cleared outputs baked in, every download through the index
        job = server.job("build", notebook.name, build)
        assert job["status"] == "succeeded", json.dumps(job.get("error"))
        result = job["result"]
        refs = [result["reference"], f"{result['reference'].split(':')[0]}:env-"
                f"{result['env_hash'][:12]}"]
        assert index.hits["pages"] > 10 and index.hits["files"] > 10, index.hits
        assert any(w.startswith(".env:") and "left out" in w for w in result["warnings"]), result

        # 5. a run through the REST API
        job = server.job("run", notebook.name, {"image": refs[0]})
        assert job["status"] == "succeeded", json.dumps(job.get("error"))

        # 6. a run from the CLI with --env values (NAME=VALUE, and NAME from the host)
        proc = subprocess.run(
            [sys.executable, "-c", CLI_MAIN, "run", str(notebook), "--image", refs[0],
             "--env", f"GITHUB_TOKEN={canaries['--env value']}", "--env", "JC_CANARY_HOST",
             "--output", str(out / "classifier.out.ipynb"), "--report", "html"],
            env={**env, "JC_CANARY_HOST": canaries["--env from the host"]},
            capture_output=True, text=True, timeout=900, cwd=tmp_path)
        outputs["CLI run"] = proc.stdout + proc.stderr
        assert proc.returncode == 0, proc.stderr
        executed = json.loads((out / "classifier.out.ipynb").read_text())
        printed = "".join("".join(o.get("text", "")) for o in executed["cells"][PLANTED_CELL]
                          .get("outputs", []))
        assert "token loaded: True" in printed, "the --env value must reach the notebook"

        # what a user sees afterwards
        server.call("GET", "jobs")
        server.call("GET", "runs")
        listed = cli("runs", "--json", env=env, timeout=120)
        outputs["CLI runs --json"] = listed.stdout + listed.stderr
        # the one verb that prints the index it uses
        doctor = cli("doctor", env=env, timeout=300)
        outputs["CLI doctor"] = doctor.stdout + doctor.stderr
        # it reaches the private index with its password, and shows it without
        assert "ok    package index: http://***@127.0.0.1:" in doctor.stdout, doctor.stdout
    finally:
        if server is not None:
            server.stop()
        watcher.close()
        index.close()

    try:
        found: Found = []
        # every layer, config and manifest of the images built
        image = _search_images(docker_client, refs, needles, found)
        work = image["files"]
        baked = json.loads(work["home/jovyan/work/classifier.ipynb"])
        assert all(not c.get("outputs") for c in baked["cells"] if c["cell_type"] == "code")
        assert not [n for n in image["names"] if n.startswith("home/jovyan/work/.env")]
        # every container's log: kept by the hook before removal, or read now
        ours = {cid for cid, img in watcher.created.items() if img in refs}
        # the two runs (and the smoke test's, when the engine lacked a layer)
        assert len(ours) >= 2, f"expected a container per run: {watcher.created}"
        for cid in sorted(ours):
            kept = logs / f"{cid}.log"
            if not kept.exists():
                container = docker_client.containers.get(cid)  # not removed: read it now
                kept.write_bytes(container.logs(stdout=True, stderr=True))
            _search_file(kept, needles, f"docker logs of container {cid[:12]}", found)
        assert not list(logs.glob("*.missed")), "a container's log could not be kept"
        # the job store (SQLite file, its WAL) and every run record under the data dir
        stored = _search_tree(data, needles, "data dir:", found)
        assert (data / "jobs.sqlite").exists() and stored >= 4, sorted(data.rglob("*"))
        # the CLI run's executed notebook, run record, HTML report and artifacts
        assert (out / "classifier.out.run.json").exists() and (out / "classifier.out.html").exists()
        _search_tree(out, needles, "run output:", found)
        # the lock and anything else written beside the notebook (not the planted files)
        assert (root / "classifier.lock.json").exists()
        _search_tree(root, needles, "project folder:", found, skip=[notebook, root / ".env"])
        # the build cache (installed distributions, layer tars, tool pins, captures)
        _search_tree(cache, needles, "build cache:", found)
        # the server's log, what the CLI printed and what the REST API answered
        _search_file(tmp_path / "server.log", needles, "the server log", found)
        for where, text in outputs.items():
            _search_text(text, needles, f"the output of {where}", found)
        for answer in server.responses if server else []:
            _search_text(answer, needles, f"a REST answer ({answer.splitlines()[0]})", found)
        print(f"canary test: {', '.join(refs)}: {image['members']} image members, "
              f"{len(ours)} container logs, "
              f"{stored} data files searched; index {index.hits}; "
              f"{time.monotonic() - started:.0f} s")
        for control, where in [
            ("the planted cell", "image "), ("an --env name", "data dir: jobs.sqlite"),
            ("an --env name", "run output: classifier.out.run.json"),
            ("a REST route", "the server log"),
            ("a locked package", "project folder: classifier.lock.json"),
        ]:
            assert any(p == f"control: {control}" and w.startswith(where) for p, w in found), (
                f"the search never saw {control} in {where}: it did not read that place")
        # each run's container printed the planted cell (a smoke test's prints only imports)
        runs = {w for p, w in found if p == "control: the planted cell"
                and w.startswith("docker logs of container ")}
        assert len(runs) >= 2, f"the search saw the planted cell in {sorted(runs)} only"
        leaks = sorted({f"the {p} canary is in {w}" for p, w in found
                        if not p.startswith("control")})
        assert not leaks, "canaries leaked:\n" + "\n".join(leaks)
    finally:
        for cid in watcher.created:
            try:
                container = docker_client.containers.get(cid)
            except Exception:
                continue
            if (container.labels or {}).get(TEST_LABEL) == TEST_RUN_ID:
                container.remove(force=True)
        _remove_new_images(docker_client, refs, existing)
        for big in (cache, tmp_path / "uv-cache"):
            shutil.rmtree(big, ignore_errors=True)

