"""The engine chosen as the docker CLI chooses it, against a real engine served over TLS.

The local engine's API is served on a 127.0.0.1 port over TLS that requires a client
certificate (a CA, server and client certificates made for the test). It is reached with
DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH, and through a context made by
`docker context create`, selected with DOCKER_CONTEXT and with `docker context use`."""

from __future__ import annotations

import io
import os
import select
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assert_one_line_error, cli
from jc_support import TEST_LABEL, TEST_RUN_ID, fresh_docker_config
from tls_support import Certs, make_certs

from jupyter_containerize.core.engine import client as engine
from jupyter_containerize.core.errors import BuildError, EngineUnavailableError

pytestmark = pytest.mark.engine
SOCKET = "/var/run/docker.sock"


def _close(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


class Proxy:
    """The local engine's socket served on a 127.0.0.1 port: over TLS requiring a client
    certificate (``tls``), or plain TCP that drops a connection once a client has sent
    ``cut_after`` bytes on it (an engine that goes away mid-upload)."""

    def __init__(self, tls: ssl.SSLContext | None = None, cut_after: int | None = None):
        self.tls = tls
        self.cut_after = cut_after
        self.accepted = 0  # connections that completed the handshake (all of them, plain)
        self.rejected = 0  # TLS handshakes refused
        self.cut = 0
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = int(self._server.getsockname()[1])
        self.url = f"tcp://127.0.0.1:{self.port}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn.settimeout(30)
                conn = self.tls.wrap_socket(conn, server_side=True)
                conn.settimeout(None)
            except (OSError, ssl.SSLError):
                with self._lock:
                    self.rejected += 1
                _close(conn)
                return
        with self._lock:
            self.accepted += 1
        upstream = socket.socket(socket.AF_UNIX)
        try:
            upstream.connect(SOCKET)
            self._relay(conn, upstream)
        except (OSError, ValueError):
            pass
        finally:
            _close(conn, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        """Both directions in one thread (a TLS socket is not shared between threads)."""
        sent = 0
        while True:
            pending = isinstance(client, ssl.SSLSocket) and client.pending() > 0
            ready = [client] if pending else select.select([client, upstream], [], [], 300)[0]
            if not ready:
                return
            for src in ready:
                data = src.recv(65536)
                if not data:
                    return
                if src is client:
                    sent += len(data)
                    if self.cut_after is not None and sent > self.cut_after:
                        with self._lock:
                            self.cut += 1
                        client.shutdown(socket.SHUT_RDWR)
                        return
                    upstream.sendall(data)
                else:
                    client.sendall(data)

    def close(self) -> None:
        _close(self._server)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("engine-certs"))


@pytest.fixture(scope="module")
def tls_engine(docker_client: object, certs: Certs) -> Iterator[Proxy]:
    """The local engine over TLS on 127.0.0.1, client certificate required."""
    if not os.path.exists(SOCKET):
        pytest.skip("the engine has no local socket to serve over TLS")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server_cert, certs.server_key)
    ctx.load_verify_locations(certs.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    proxy = Proxy(tls=ctx)
    yield proxy
    proxy.close()


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No engine variables and an empty Docker config folder; returns that folder."""
    return fresh_docker_config(tmp_path, monkeypatch)


def docker_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The docker CLI with this process's environment (DOCKER_CONFIG, DOCKER_CONTEXT...)."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def engine_line() -> str:
    """The engine line of `jupyter containerize doctor`, run as a user runs it."""
    proc = cli("doctor", timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if " engine: " in ln]
    assert len(lines) == 1, proc.stdout + proc.stderr
    return lines[0]


def reached(proxy: Proxy) -> str:
    """Connect the way every module does; the proxy must have carried the connection."""
    before = proxy.accepted
    version = engine.client().version()
    assert proxy.accepted > before, "the client did not go through the TLS endpoint"
    return str(version["Version"])


def test_docker_host_with_tls_verify_reaches_the_engine_over_tls(
        tls_engine: Proxy, certs: Certs, clean_env: Path, monkeypatch: pytest.MonkeyPatch,
        docker_client: object) -> None:
    monkeypatch.setenv("DOCKER_HOST", tls_engine.url)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certs.folder))
    assert reached(tls_engine) == docker_client.version()["Version"]  # type: ignore[attr-defined]
    assert engine.engine_host() == "127.0.0.1" and engine.is_remote()

    line = engine_line()
    assert line.startswith("ok"), line
    assert f"{tls_engine.url} (context default, from DOCKER_HOST, TLS verified)" in line

    listed = cli("base", timeout=300)
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr


def test_without_a_client_certificate_the_tls_engine_refuses_in_one_line(
        tls_engine: Proxy, certs: Certs, clean_env: Path, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    ca_only = tmp_path / "ca-only"
    ca_only.mkdir()
    shutil.copy(certs.ca, ca_only / "ca.pem")
    monkeypatch.setenv("DOCKER_HOST", tls_engine.url)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(ca_only))
    before = tls_engine.rejected
    with pytest.raises(EngineUnavailableError) as err:
        engine.client()
    line = err.value.one_line()
    # the engine's side counts its refusal in its own thread, once the client has given up
    deadline = time.monotonic() + 10
    while tls_engine.rejected == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tls_engine.rejected > before
    assert tls_engine.url in line and "context default" in line and "\n" not in line
    assert "TLS handshake" in line and "no client certificate" in line
    assert "DOCKER_CERT_PATH" in line

    assert_one_line_error(cli("base", timeout=300), tls_engine.url, "context default",
                          "no client certificate")


def test_a_named_context_reaches_the_tls_engine_by_variable_and_by_context_use(
        tls_engine: Proxy, certs: Certs, clean_env: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"jc-tls-{uuid.uuid4().hex[:6]}"
    docker_cli("context", "create", name, "--docker",
               f"host={tls_engine.url},ca={certs.ca},cert={certs.cert},key={certs.key}")
    # the docker CLI itself reaches the same endpoint with that context
    version = docker_cli("--context", name, "version", "--format", "{{.Server.Version}}")

    monkeypatch.setenv("DOCKER_CONTEXT", name)
    assert reached(tls_engine) == version.stdout.strip()
    assert engine.endpoint().context == name
    line = engine_line()
    assert line.startswith("ok"), line
    assert f"{tls_engine.url} (context {name}, from DOCKER_CONTEXT, TLS verified)" in line

    monkeypatch.delenv("DOCKER_CONTEXT")
    docker_cli("context", "use", name)
    assert reached(tls_engine) == version.stdout.strip()
    line = engine_line()
    assert line.startswith("ok") and f"{tls_engine.url} (context {name}, from currentContext" \
        in line, line
    listed = cli("base", timeout=300)
    assert listed.returncode == 0, listed.stderr

    docker_cli("context", "use", "default")
    assert engine.endpoint().host == engine.DEFAULT_HOST


def test_a_context_whose_engine_does_not_answer_fails_in_one_line(
        clean_env: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    docker_cli("context", "create", "gone-engine", "--docker", f"host=tcp://127.0.0.1:{port}")
    docker_cli("context", "use", "gone-engine")
    assert_one_line_error(cli("base", timeout=300), f"tcp://127.0.0.1:{port}",
                          "context gone-engine")
    line = engine_line()
    assert line.startswith("FAIL") and "context gone-engine" in line, line


# ------------------------------------------------------------- engines that misbehave


def _archive(size: int) -> Path:
    """A docker-archive-shaped tar with one large layer (random: it does not compress)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = os.urandom(size)
        info = tarfile.TarInfo("layer/layer.tar")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"jc-cut-{uuid.uuid4().hex[:8]}.tar"
    path.write_bytes(buf.getvalue())
    return path


def test_an_engine_that_drops_the_connection_mid_load_ends_in_one_line(
        docker_client: object, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = Proxy(cut_after=1 << 20)
    archive = _archive(8 << 20)
    try:
        monkeypatch.setenv("DOCKER_HOST", proxy.url)
        with pytest.raises(BuildError) as err:
            engine.load_archive(archive)
    finally:
        archive.unlink()
        proxy.close()
    assert proxy.cut >= 1
    line = err.value.one_line()
    assert "the engine closed the connection while loading the image; run the build again" \
        in line
    assert "\n" not in line


def test_layers_of_images_removed_while_listing_are_skipped(docker_client: object) -> None:
    """Another client removes images while the engine's layers are listed: no crash."""
    api = docker_client.api  # type: ignore[attr-defined]
    stop = threading.Event()
    churned = [0]

    def churn() -> None:
        while not stop.is_set():
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                data = uuid.uuid4().bytes
                info = tarfile.TarInfo("stamp")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            out = api.import_image_from_data(
                buf.getvalue(), repository="jc-test/vanishing", tag=uuid.uuid4().hex[:8],
                changes=[f"LABEL {TEST_LABEL}={TEST_RUN_ID}"])
            image_id = _imported_id(out)
            api.remove_image(image_id, force=True)
            churned[0] += 1

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    try:
        rounds = 0
        while churned[0] < 30 and rounds < 200:
            assert isinstance(engine.known_chain_ids(), set)
            rounds += 1
    finally:
        stop.set()
        worker.join(timeout=60)
    assert churned[0] >= 30, "the other client removed images meanwhile"


def _imported_id(out: object) -> str:
    import json

    text = out.decode() if isinstance(out, bytes) else str(out)
    for line in text.splitlines():
        status = json.loads(line).get("status", "")
        if status.startswith("sha256:"):
            return str(status)
    raise AssertionError(f"no image id in {text!r}")
