"""The distribution client without a registry: blobs hashed as read, manifests, names, trust
settings, and the bearer push flow and a 413 against a small local HTTP fixture (the test
registry speaks basic auth only; tests/integration/test_distribution.py pushes to it)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from jupyter_containerize.core import oci as dist
from jupyter_containerize.core.errors import (
    ContainerizeError,
    ImageReferenceError,
    NotFoundError,
    PayloadTooLargeError,
)
from jupyter_containerize.core.oci.client import _platform_entry
from jupyter_containerize.core.oci.push import _mount_sources


def test_a_blob_is_hashed_once_even_when_parts_are_read_again() -> None:
    data = bytes(range(256)) * 1000
    opened: list[int] = []

    def opener() -> io.BufferedReader:
        opened.append(1)
        return io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]

    blob = dist.Blob("sha256:" + hashlib.sha256(data).hexdigest(), len(data), source=opener)
    reader = dist.BlobReader(blob)
    assert reader.read_at(0, 100_000) == data[:100_000]
    assert reader.read_at(50_000, 100_000) == data[50_000:150_000]  # a resume reads again
    assert reader.read_at(150_000, 1 << 20) == data[150_000:]
    reader.verify()
    reader.close()


def test_a_blob_that_does_not_match_its_digest_names_the_layer_and_the_fix(
        tmp_path: Path) -> None:
    path = tmp_path / "layer.tar"
    path.write_bytes(b"x" * 1000)
    blob = dist.Blob.from_file(path, name="layer.tar")
    path.write_bytes(b"y" * 1000)
    reader = dist.BlobReader(blob)
    reader.read_at(0, 4096)
    with pytest.raises(ContainerizeError) as info:
        reader.verify()
    assert "layer.tar" in info.value.one_line()
    assert "build --no-cache" in info.value.one_line()


def test_the_manifest_is_oci_schema_2_with_config_and_layers() -> None:
    config = dist.Blob.from_bytes(b"{}", dist.OCI_CONFIG)
    layer = dist.Blob.from_bytes(b"layer", dist.OCI_LAYER)
    body = json.loads(dist.image_manifest(config, [layer], {"b": "2", "a": "1"}))
    assert body["schemaVersion"] == 2 and body["mediaType"] == dist.OCI_MANIFEST
    assert body["config"] == {"mediaType": dist.OCI_CONFIG, "digest": config.digest, "size": 2}
    assert body["layers"] == [layer.descriptor()]
    assert list(body["annotations"]) == ["a", "b"]


def test_names_of_targets_and_mount_sources() -> None:
    assert dist.split_target("h:5000/team/app:1") == ("h:5000", "team/app", "1", None)
    assert dist.split_target("docker.io/python:3") == ("registry-1.docker.io",
                                                       "library/python", "3", None)
    with pytest.raises(ImageReferenceError):
        dist.split_target("team/app:1")
    assert _mount_sources("h:5000", "team/app", [
        "h:5000/team/base:1", "other:5000/team/x", "team/lib@sha256:" + "a" * 64, "team/app",
        "h:5000/team/base"]) == ["team/base", "team/lib"]


def test_an_index_resolves_to_the_platform_asked_for() -> None:
    entries = [{"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64"}},
               {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}}]
    assert _platform_entry(entries) == "sha256:amd"
    assert _platform_entry(entries, "linux/arm64") == "sha256:arm"
    with pytest.raises(NotFoundError) as info:
        _platform_entry(entries, "linux/s390x")
    assert "linux/amd64" in info.value.one_line()


def test_trust_follows_certs_d_loopback_and_insecure_hosts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dist.CERTS_D_ENV, str(tmp_path))
    monkeypatch.setenv(dist.INSECURE_ENV, "reg.example:5000, other.example")
    assert dist.RegistryClient("127.0.0.1:5000", auth={}).base == "http://127.0.0.1:5000"
    (tmp_path / "127.0.0.1:5443").mkdir()
    assert dist.RegistryClient("127.0.0.1:5443", auth={}).base == "https://127.0.0.1:5443"
    insecure = dist.RegistryClient("reg.example:5000", auth={})
    assert insecure.insecure and insecure.base == "https://reg.example:5000"
    assert not dist.RegistryClient("safe.example", auth={}).insecure
    assert dist.RegistryClient("safe.example", auth={}, insecure=True).insecure
    (tmp_path / "bad.example").mkdir()
    (tmp_path / "bad.example" / "client.cert").write_text("not a certificate")
    with pytest.raises(ContainerizeError) as info:
        dist.RegistryClient("bad.example", auth={})
    assert "client.key" in info.value.one_line()


class _Registry(BaseHTTPRequestHandler):
    """Bearer-token registry fixture: every blob exists unless ``too_large``."""

    scopes: list[list[str]] = []
    manifests: dict[str, bytes] = {}
    too_large = False

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == "Bearer tok":
            return True
        port = self.server.server_address[1]
        self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {
            "WWW-Authenticate": f'Bearer realm="http://127.0.0.1:{port}/token",service="t"'})
        return False

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:  # noqa: N802 (the http.server interface)
        url = urlparse(self.path)
        if url.path == "/token":
            type(self).scopes.append(parse_qs(url.query).get("scope", []))
            return self._send(200, b'{"token": "tok"}')
        self._authorized() and self._send(404)

    def do_HEAD(self) -> None:  # noqa: N802
        if self._authorized():
            self._send(404 if type(self).too_large else 200)

    def do_POST(self) -> None:  # noqa: N802
        self._body()
        if self._authorized():
            self._send(202, headers={"Location": "/v2/team/app/blobs/uploads/u1?_state=s"})

    def do_PATCH(self) -> None:  # noqa: N802
        self._body()
        if self._authorized():
            self._send(413, b"<html>413 Request Entity Too Large</html>")

    def do_PUT(self) -> None:  # noqa: N802
        body = self._body()
        if self._authorized():
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            type(self).manifests[self.path] = body
            self._send(201, headers={"Docker-Content-Digest": digest})


@pytest.fixture
def fixture_registry() -> Iterator[tuple[str, type[_Registry]]]:
    handler = type("Handler", (_Registry,), {"scopes": [], "manifests": {}})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def _client(host: str) -> dist.RegistryClient:
    return dist.RegistryClient(host, auth={"username": "u", "password": "p"})


def test_bearer_flow_asks_push_scope_and_pull_scope_of_mount_sources(
        fixture_registry: tuple[str, Any]) -> None:
    host, handler = fixture_registry
    stats = dist.PushStats()
    layer = dist.Blob.from_bytes(b"layer", dist.OCI_LAYER)
    digest = dist.push_image(f"{host}/team/app:1", b"{}", [layer], client=_client(host),
                             mount_from=[f"{host}/team/base"], stats=stats)
    assert handler.scopes[0] == ["repository:team/app:pull,push", "repository:team/base:pull"]
    assert (stats.skipped, stats.sent) == (2, 0)
    body = handler.manifests["/v2/team/app/manifests/1"]
    assert digest == "sha256:" + hashlib.sha256(body).hexdigest()


def test_a_413_is_one_line_naming_the_layer(fixture_registry: tuple[str, Any]) -> None:
    host, handler = fixture_registry
    handler.too_large = True
    layer = dist.Blob.from_bytes(b"x" * 5000, dist.OCI_LAYER, name="big layer")
    with pytest.raises(PayloadTooLargeError) as info:
        dist.push_image(f"{host}/team/app:1", b"{}", [layer], client=_client(host))
    line = info.value.one_line()
    assert "big layer" in line and "too large" in line and "body size limit" in line


def test_the_engines_insecure_registries_are_asked_only_when_needed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from jupyter_containerize.core.oci import trust as distribution

    monkeypatch.setenv(distribution.CERTS_D_ENV, str(tmp_path))
    monkeypatch.delenv(distribution.INSECURE_ENV, raising=False)
    engine = lambda: {"reg.example:5000"}  # noqa: E731
    assert distribution.is_insecure("reg.example:5000", engine_insecure=engine)
    assert not distribution.is_insecure("other.example:5000", engine_insecure=engine)

    def no_engine() -> set[str]:
        raise AssertionError("a loopback registry never needs the engine")

    assert not distribution.is_insecure("127.0.0.1:5000", engine_insecure=no_engine)
    monkeypatch.setenv(distribution.INSECURE_ENV, "lab.example")
    assert distribution.is_insecure("lab.example", engine_insecure=no_engine)
