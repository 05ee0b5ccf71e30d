"""Registry helpers without an engine: names, errors, credentials, and the catalog over HTTP
against a small local registry fixture that speaks the bearer-token flow (no token server is
reachable from this machine, so that flow is tested here only)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jupyter_containerize.core import labels
from jupyter_containerize.core.config import ContainerizeConfig
from jupyter_containerize.core.errors import ImageReferenceError, NotFoundError, RegistryError
from jupyter_containerize.core.oci.credentials import store_login
from jupyter_containerize.core.share import catalog, registry

USER, PASSWORD, TOKEN = "alice", "s3cret", "tok-123"
CONFIG = json.dumps({"created": "2025-01-01T00:00:00Z", "config": {"Labels": {
    labels.AUTHOR: "alice", labels.NOTEBOOK: "analysis.ipynb", labels.PYTHON: "3.11.7",
    labels.PACKAGES: "pandas,scikit-learn", labels.OCI_CREATED: "2025-02-03T04:05:06Z",
    labels.MANAGED: "true", labels.MODEL_SHA256: "ab" * 32}}}).encode()
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"digest": CONFIG_DIGEST, "size": len(CONFIG)},
    "layers": [{"digest": "sha256:" + "1" * 64, "size": 1000},
               {"digest": "sha256:" + "2" * 64, "size": 234}]}).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
INDEX = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [
                        {"digest": "sha256:" + "9" * 64, "platform": {"os": "linux",
                                                                     "architecture": "arm64"}},
                        {"digest": MANIFEST_DIGEST, "platform": {"os": "linux",
                                                                "architecture": "amd64"}}]})


class _Handler(BaseHTTPRequestHandler):
    catalog = True
    seen: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes = b"", ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (the http.server interface)
        type(self).seen.append(self.path)
        if self.path.startswith("/token"):
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                return self._send(401, b"{}")
            return self._send(200, json.dumps({"token": TOKEN}).encode())
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            port = self.server.server_address[1]
            challenge = (f'Bearer realm="http://127.0.0.1:{port}/token",service="fixture",'
                         f'scope="repository:team/model:pull"')
            return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                              headers={"WWW-Authenticate": challenge})
        self._routes()

    def _routes(self) -> None:
        if self.path.startswith("/v2/_catalog"):
            if not type(self).catalog:
                return self._send(404, b"{}")
            return self._send(200, json.dumps({"repositories": ["team/model"]}).encode())
        if self.path == "/v2/team/model/tags/list":
            return self._send(200, json.dumps({"name": "team/model", "tags": ["1"]}).encode())
        if self.path == "/v2/team/model/manifests/1":
            return self._send(200, INDEX.encode(), "application/vnd.oci.image.index.v1+json")
        if self.path == f"/v2/team/model/manifests/{MANIFEST_DIGEST}":
            return self._send(200, MANIFEST, "application/vnd.oci.image.manifest.v1+json",
                              {"Docker-Content-Digest": MANIFEST_DIGEST})
        if self.path == f"/v2/team/model/blobs/{CONFIG_DIGEST}":
            return self._send(200, CONFIG, "application/octet-stream")
        self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"catalog": True, "seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def _client(host: str, password: str = PASSWORD) -> catalog.RegistryClient:
    return catalog.RegistryClient(host, auth={"username": USER, "password": password})


def test_bearer_token_flow_reads_labels_without_pulling(server: tuple[str, type]) -> None:
    host, handler = server
    rows = catalog.images(host, client=_client(host))
    assert len(rows) == 1
    row = rows[0]
    assert row["reference"] == f"{host}/team/model:1"
    assert row["pinned"] == f"{host}/team/model@{MANIFEST_DIGEST}"
    assert (row["author"], row["notebook"], row["python"]) == ("alice", "analysis.ipynb",
                                                              "3.11.7")
    assert row["packages"] == ["pandas", "scikit-learn"]
    assert row["model"] == {"sha256": "ab" * 32}
    assert row["created"] == "2025-02-03T04:05:06Z"
    assert row["size"] == 1000 + 234 + len(CONFIG)
    assert any(p.startswith("/token") for p in handler.seen)
    assert not any("/blobs/sha256:1111" in p for p in handler.seen), "a layer was downloaded"


def test_wrong_password_at_the_token_service_says_login(server: tuple[str, type]) -> None:
    host, _ = server
    with pytest.raises(RegistryError) as info:
        catalog.images(host, client=_client(host, password="wrong"))
    assert f"jupyter containerize login {host}" in info.value.one_line()


def test_no_catalog_falls_back_to_team_repositories(server: tuple[str, type]) -> None:
    host, handler = server
    handler.catalog = False
    cfg = ContainerizeConfig(team_repositories=["team/model"])
    rows = catalog.images(host, client=_client(host), config=cfg)
    assert [r["tag"] for r in rows] == ["1"]
    with pytest.raises(NotFoundError) as info:
        catalog.images(host, client=_client(host), config=ContainerizeConfig())
    assert "team_repositories" in info.value.one_line()


def test_a_namespace_keeps_only_its_repositories(server: tuple[str, type]) -> None:
    host, _ = server
    assert catalog.images(f"{host}/other", client=_client(host)) == []
    assert len(catalog.images(f"{host}/team", client=_client(host))) == 1


def test_registry_down_is_one_line() -> None:
    with pytest.raises(RegistryError) as info:
        catalog.images("127.0.0.1:9", client=catalog.RegistryClient("127.0.0.1:9", auth={}))
    assert "is the registry running at 127.0.0.1:9?" in info.value.one_line()


@pytest.mark.parametrize(("text", "kind", "needle"), [
    ("Get http://h:5000/v2/: dial tcp 127.0.0.1:5000: connect: connection refused",
     RegistryError, "is the registry running"),
    ("unauthorized: authentication required", RegistryError, "containerize login"),
    ("no basic auth credentials", RegistryError, "containerize login"),
    ("invalid reference format", ImageReferenceError, "lowercase"),
    ('{"errors":[{"code":"NAME_INVALID","message":"invalid repository name"}]}',
     ImageReferenceError, "lowercase"),
    ("manifest for h/x:1 not found: manifest unknown", NotFoundError, "push it first"),
])
def test_engine_and_registry_messages_become_one_line_errors(
        text: str, kind: type, needle: str) -> None:
    err = registry.classify(text, "h:5000", "h:5000/x:1")
    assert isinstance(err, kind)
    assert needle in err.one_line()
    assert "\n" not in err.one_line()


def test_push_target_names() -> None:
    assert registry.push_target("jupyter-containerize/nb:abc", "reg:5000", None) == (
        "reg:5000/jupyter-containerize/nb", "abc")
    assert registry.push_target("reg:5000/team/nb:1", "reg:5000/team", None) == (
        "reg:5000/team/nb", "1")
    assert registry.push_target("other:5000/nb", "reg:5000/team", "v9") == (
        "reg:5000/team/nb", "v9")
    with pytest.raises(ImageReferenceError):
        registry.push_target("nb:1", "reg:5000/Team", None)


def test_no_registry_configured_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTER_CONTAINERIZE_REGISTRY", raising=False)
    with pytest.raises(RegistryError) as info:
        registry.registry_setting(None)
    assert "--registry" in info.value.one_line()


def test_login_is_stored_as_docker_stores_it(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain `auths` entry (mode 0600), and a credential helper when one is configured."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    store_login("reg:5000", "bob", "pw-1")
    path = tmp_path / "cfg" / "config.json"
    data = json.loads(path.read_text())
    assert base64.b64decode(data["auths"]["reg:5000"]["auth"]) == b"bob:pw-1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert registry.credentials("reg:5000") == {"username": "bob", "password": "pw-1",
                                                "serveraddress": "reg:5000"}

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    store = tmp_path / "helper-store.json"
    helper = bin_dir / "docker-credential-jcfake"
    helper.write_text(f"""#!/bin/sh
case "$1" in
  store) cat > {store} ;;
  get) cat {store} | sed 's/"Secret"/"Secret"/' ;;
esac
""")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    path.write_text(json.dumps({"credsStore": "jcfake"}))
    store_login("reg:5000", "carol", "pw-2")
    data = json.loads(path.read_text())
    assert data["auths"]["reg:5000"] == {}, "the secret went into the file, not the helper"
    assert "pw-2" not in path.read_text()
    assert json.loads(store.read_text())["Secret"] == "pw-2"
    assert registry.credentials("reg:5000")["password"] == "pw-2"
