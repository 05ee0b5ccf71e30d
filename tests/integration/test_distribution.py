"""Pushing an image from our own files with no engine involved, on the real registry
(127.0.0.1:5000, htpasswd team/team-secret), and proving with the real engine that what was
pushed pulls and runs. Re-push sends nothing, one new layer sends one layer, a mount from
another repository is used, an upload cut mid-chunk by a proxy resumes, a corrupt layer is
refused, a TLS registry is trusted through a certs.d folder (CA and client certificate), and
wrong credentials or a registry that is down fail in one line."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from jc_support import CI, TEST_LABEL, TEST_RUN_ID

from jupyter_containerize.core import oci as dist
from jupyter_containerize.core.errors import ContainerizeError, RegistryError
from jupyter_containerize.core.image.layers import Entry, write_layer

pytestmark = pytest.mark.registry
REGISTRY = os.environ.get("JC_TEST_REGISTRY", "127.0.0.1:5000")
USER = os.environ.get("JC_REGISTRY_USER", "team")
PASSWORD = os.environ.get("JC_REGISTRY_PASSWORD", "team-secret")
REPO = f"jc-dist-{TEST_RUN_ID}"


def _skip_or_fail(reason: str) -> None:
    if CI:
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def _write_auths(config_dir: Path, hosts: dict[str, str]) -> None:
    """A Docker credential configuration holding ``user:password`` for each host."""
    config_dir.mkdir(parents=True, exist_ok=True)
    auths = {h: {"auth": base64.b64encode(f"{USER}:{pw}".encode()).decode()}
             for h, pw in hosts.items()}
    (config_dir / "config.json").write_text(json.dumps({"auths": auths}))


class Pushed:
    """What the tests pushed, to delete from the registry at the end."""

    def __init__(self) -> None:
        self.manifests: list[tuple[str, str]] = []

    def add(self, name: str, digest: str) -> None:
        self.manifests.append((name, digest))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    try:
        code = requests.get(f"http://{REGISTRY}/v2/", timeout=5).status_code
    except requests.RequestException:
        _skip_or_fail(f"no registry answers at {REGISTRY}: run scripts/services.sh")
    assert code == 401, "the test registry must ask for credentials (htpasswd)"
    root = tmp_path_factory.mktemp("distribution")
    pushed = Pushed()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCKER_CONFIG", str(root / "docker-config"))
        mp.setenv("JUPYTER_CONTAINERIZE_CACHE_DIR", str(root / "cache"))
        mp.setenv(dist.CERTS_D_ENV, str(root / "certs.d"))
        mp.delenv(dist.INSECURE_ENV, raising=False)
        _write_auths(root / "docker-config", {REGISTRY: PASSWORD})
        yield {"root": root, "pushed": pushed}
    for name, digest in pushed.manifests:
        requests.delete(f"http://{REGISTRY}/v2/{name}/manifests/{digest}",
                        auth=(USER, PASSWORD), timeout=30)


@pytest.fixture(scope="module")
def image(env: dict[str, Any]) -> dict[str, Any]:
    """A tiny root filesystem from the host (cat and the C library) plus a file of this run;
    a third layer and a large one of random bytes for later pushes."""
    root: Path = env["root"]
    entries = [Entry("bin/cat", source=Path("/bin/cat"), mode=0o755)]
    for lib in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"):
        if not os.path.exists(lib):
            pytest.skip(f"{lib} is not on this host: the test image copies the host's cat")
        entries.append(Entry(lib.strip("/"), source=Path(os.path.realpath(lib)), mode=0o755))
    base = write_layer(entries, root / "base.tar", 0)
    text = f"hello from run {TEST_RUN_ID}\n".encode()
    mine = write_layer([Entry("hello.txt", data=text)], root / "hello.txt.tar", 0)
    more = write_layer([Entry("more.txt", data=b"one more layer\n")], root / "more.tar", 0)
    big = write_layer([Entry("big.bin", data=os.urandom(6 << 20))], root / "big.tar", 0)
    layers = {k: dist.Blob.from_file(v.path, name=k)  # type: ignore[arg-type]
              for k, v in (("base", base), ("hello", mine), ("more", more), ("big", big))}
    return {"layers": layers, "diffs": {"base": base.diff_id, "hello": mine.diff_id,
                                        "more": more.diff_id, "big": big.diff_id},
            "text": text}


def _config(image: dict[str, Any], names: list[str], cmd: list[str]) -> bytes:
    cfg = {"architecture": "amd64", "os": "linux",
           "config": {"Cmd": cmd, "Labels": {TEST_LABEL: TEST_RUN_ID}},
           "rootfs": {"type": "layers", "diff_ids": [image["diffs"][n] for n in names]},
           "history": [{"created_by": n} for n in names]}
    return json.dumps(cfg, sort_keys=True).encode()


def _push(env: dict[str, Any], image: dict[str, Any], ref: str, names: list[str],
          **kwargs: Any) -> tuple[str, dist.PushStats, list[Any]]:
    events: list[Any] = []
    stats = dist.PushStats()
    cmd = ["/bin/cat", "/hello.txt"] + (["/more.txt"] if "more" in names else [])
    digest = dist.push_image(ref, _config(image, names, cmd),
                             [image["layers"][n] for n in names], progress=events.append,
                             stats=stats, **kwargs)
    host, name, _tag, _ = dist.split_target(ref)
    if host == REGISTRY:
        env["pushed"].add(name, digest)
    return digest, stats, events


@pytest.fixture(scope="module")
def first(env: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    ref = f"{REGISTRY}/{REPO}/app:1"
    digest, stats, events = _push(env, image, ref, ["base", "hello"])
    return {"ref": ref, "digest": digest, "stats": stats, "events": events}


def test_a_pushed_image_pulls_and_runs_in_the_engine(env: dict[str, Any], image: dict[str, Any],
                                                     first: dict[str, Any]) -> None:
    from jc_support import engine_or_skip

    from jupyter_containerize.core.share import registry

    stats = first["stats"]
    assert (stats.sent, stats.skipped, stats.mounted) == (3, 0, 0), stats
    assert first["digest"].startswith("sha256:")
    assert any(e.kind == "log" and first["digest"] in e.message for e in first["events"])
    client: Any = engine_or_skip()
    repo, tag = first["ref"].rsplit(":", 1)
    try:
        pulled = client.images.pull(repo, tag=tag, auth_config=registry.credentials(REGISTRY))
        assert f"{repo}@{first['digest']}" in pulled.attrs["RepoDigests"]
        out = client.containers.run(first["ref"], remove=True, labels={TEST_LABEL: TEST_RUN_ID})
        assert out == image["text"]
    finally:
        for ref in (first["ref"], f"{repo}@{first['digest']}"):
            try:
                client.images.remove(ref)
            except Exception:
                pass


def test_read_image_gives_manifest_digest_and_config_and_caches_it(
        env: dict[str, Any], image: dict[str, Any], first: dict[str, Any]) -> None:
    manifest, digest, config = dist.read_image(first["ref"])
    assert digest == first["digest"]
    assert [la["digest"] for la in manifest["layers"]] == [
        image["layers"]["base"].digest, image["layers"]["hello"].digest]
    assert config["rootfs"]["diff_ids"] == [image["diffs"]["base"], image["diffs"]["hello"]]
    cached = env["root"] / "cache" / "blobs" / "sha256" / manifest["config"]["digest"][7:]
    assert cached.exists()
    cached.write_bytes(b"damaged")  # a damaged cache entry is fetched again, not believed
    assert dist.read_image(f"{REGISTRY}/{REPO}/app@{digest}")[2] == config
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == manifest["config"]["digest"][7:]


def test_a_second_push_sends_no_blob(env: dict[str, Any], image: dict[str, Any],
                                     first: dict[str, Any]) -> None:
    digest, stats, _ = _push(env, image, first["ref"], ["base", "hello"])
    assert digest == first["digest"]
    assert (stats.sent, stats.skipped, stats.bytes_sent) == (0, 3, 0), stats


def test_one_new_layer_sends_only_that_layer(env: dict[str, Any], image: dict[str, Any],
                                             first: dict[str, Any]) -> None:
    _digest, stats, _ = _push(env, image, f"{REGISTRY}/{REPO}/app:2", ["base", "hello", "more"])
    layers = image["layers"]
    sent = {d for d, how in stats.outcomes.items() if how == "sent"}
    assert layers["more"].digest in sent
    assert stats.outcomes[layers["base"].digest] == stats.outcomes[layers["hello"].digest] \
        == "exists"
    assert sent - {layers["more"].digest} == {d for d in sent if d not in
                                              {la.digest for la in layers.values()}}
    assert stats.sent == 2, stats  # the new layer, and the new config that lists it


def test_a_mount_from_another_repository_is_used(env: dict[str, Any], image: dict[str, Any],
                                                 first: dict[str, Any]) -> None:
    ref = f"{REGISTRY}/{REPO}/other:1"
    _digest, stats, _ = _push(env, image, ref, ["base", "hello"],
                              mount_from=[f"{REGISTRY}/{REPO}/app"])
    assert (stats.mounted, stats.sent, stats.bytes_sent) == (3, 0, 0), stats
    auth = (USER, PASSWORD)
    head = requests.head(f"http://{REGISTRY}/v2/{REPO}/other/blobs/"
                         f"{image['layers']['base'].digest}", auth=auth, timeout=30)
    assert head.status_code == 200


def test_a_push_by_digest_only_has_no_tag(env: dict[str, Any], image: dict[str, Any],
                                          first: dict[str, Any]) -> None:
    digest, _stats, _ = _push(env, image, f"{REGISTRY}/{REPO}/untagged", ["base", "hello"])
    assert digest == first["digest"]
    tags = requests.get(f"http://{REGISTRY}/v2/{REPO}/untagged/tags/list",
                        auth=(USER, PASSWORD), timeout=30)
    assert not (tags.json().get("tags") if tags.ok else None)
    assert dist.read_image(f"{REGISTRY}/{REPO}/untagged@{digest}")[1] == digest


class DroppingProxy:
    """A TCP proxy to the registry that cuts the connection once: after ``drop_after`` bytes
    from the client have passed (mid-chunk), or right after the headers of the
    ``patch_headers``-th PATCH (before any byte of that chunk)."""

    def __init__(self, upstream: tuple[str, int], drop_after: int = -1,
                 patch_headers: int = 0) -> None:
        self.upstream = upstream
        self.drop_after = drop_after
        self.patch_headers = patch_headers
        self.patches = 0
        self.passed = 0
        self.dropped = 0
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            up = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(conn, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, conn, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, counted: bool) -> None:
        try:
            while data := src.recv(65536):
                if counted:
                    with self.lock:
                        room = self.drop_after - self.passed
                        self.passed += len(data)
                        cut = not self.dropped and 0 <= room < len(data)
                        if data.startswith(b"PATCH ") and self.patch_headers:
                            self.patches += 1
                            if self.patches == self.patch_headers and not self.dropped:
                                cut, room = True, data.index(b"\r\n\r\n") + 4
                        if cut:
                            self.dropped += 1
                    if cut:
                        dst.sendall(data[:room])
                        time.sleep(0.2)
                        break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.mark.parametrize("where", ["mid-chunk", "between-chunks"])
def test_a_dropped_upload_resumes_and_completes(env: dict[str, Any], image: dict[str, Any],
                                                where: str) -> None:
    host, port = REGISTRY.rsplit(":", 1)
    if where == "mid-chunk":
        proxy = DroppingProxy((host, int(port)), drop_after=(2 << 20) + 12345)
    else:  # after the headers of the 4th PATCH (the large layer's 3rd chunk), before its bytes
        proxy = DroppingProxy((host, int(port)), patch_headers=4)
    big = image["layers"]["big"]
    try:
        via = f"127.0.0.1:{proxy.port}"
        _write_auths(env["root"] / "docker-config", {REGISTRY: PASSWORD, via: PASSWORD})
        name = f"{REPO}/big-{where}"
        digest, stats, events = _push(env, image, f"{via}/{name}:1", ["hello", "big"],
                                      chunk_size=1 << 20)
        env["pushed"].add(name, digest)
    finally:
        proxy.close()
    assert proxy.dropped == 1
    assert stats.resumed == 1, stats
    resumed_at = [e.data["resume_at"] for e in events if "resume_at" in e.data]
    print(f"{where}: resumed at byte {resumed_at}; {stats.bytes_sent} bytes sent for "
          f"{big.size} bytes of the large layer")
    if where == "between-chunks":  # the registry kept 2 chunks: they are not sent again
        assert resumed_at == [2 << 20]
        assert stats.bytes_sent < big.size + (1 << 20), stats
    got = requests.get(f"http://{REGISTRY}/v2/{name}/blobs/{big.digest}",
                       auth=(USER, PASSWORD), timeout=60)
    assert got.status_code == 200
    assert "sha256:" + hashlib.sha256(got.content).hexdigest() == big.digest
    assert dist.read_image(f"{REGISTRY}/{name}:1")[1] == digest


def test_a_corrupt_layer_is_refused_in_one_line_and_never_sent_complete(
        env: dict[str, Any], image: dict[str, Any]) -> None:
    good = image["layers"]["more"]
    bad_path = env["root"] / "corrupt.tar"
    data = bytearray(Path(str(good.source)).read_bytes())
    data[600] ^= 0xFF
    bad_path.write_bytes(bytes(data))
    bad = dist.Blob(good.digest, good.size, good.media_type, bad_path, "corrupt.tar")
    name = f"{REPO}/corrupt"
    with pytest.raises(ContainerizeError) as info:
        dist.push_image(f"{REGISTRY}/{name}:1", _config(image, ["more"], ["/x"]), [bad])
    line = info.value.one_line()
    assert "\n" not in line
    assert "corrupt.tar" in line and "build --no-cache" in line, line
    head = requests.head(f"http://{REGISTRY}/v2/{name}/blobs/{good.digest}",
                         auth=(USER, PASSWORD), timeout=30)
    assert head.status_code == 404


def test_wrong_credentials_fail_in_one_line(env: dict[str, Any], image: dict[str, Any],
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _write_auths(tmp_path / "dc", {REGISTRY: "not-the-password"})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    with pytest.raises(RegistryError) as info:
        dist.push_image(f"{REGISTRY}/{REPO}/app:9", _config(image, ["hello"], ["/x"]),
                        [image["layers"]["hello"]])
    line = info.value.one_line()
    assert "refused the credentials" in line and f"containerize login {REGISTRY}" in line
    assert "not-the-password" not in line


def test_a_registry_that_is_down_fails_in_one_line(image: dict[str, Any]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(RegistryError) as info:
        dist.push_image(f"127.0.0.1:{port}/x/y:1", b"{}", [image["layers"]["hello"]])
    assert f"is the registry running at 127.0.0.1:{port}?" in info.value.one_line()


# ---------------------------------------------------------------- TLS


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it."""
    folder.mkdir(parents=True)
    p = {k: folder / k for k in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt",
                                 "client.key", "client.csr", "client.cert", "san.ext")}
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=jc test CA", "-keyout", str(p["ca.key"]), "-out", str(p["ca.crt"]))
    p["san.ext"].write_text("subjectAltName=IP:127.0.0.1\n")
    for who, cn, ext in (("server", "127.0.0.1", True), ("client", "jc test client", False)):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                 "-keyout", str(p[f"{who}.key"]), "-out", str(p[f"{who}.csr"]))
        out = p["server.crt"] if who == "server" else p["client.cert"]
        _openssl("x509", "-req", "-in", str(p[f"{who}.csr"]), "-CA", str(p["ca.crt"]),
                 "-CAkey", str(p["ca.key"]), "-CAcreateserial", "-days", "2", "-out", str(out),
                 *(["-extfile", str(p["san.ext"])] if ext else []))
    return p


@pytest.fixture(scope="module")
def tls_registry(env: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A second registry that speaks only TLS and asks for a client certificate."""
    if not shutil.which("docker-registry") or not shutil.which("openssl"):
        _skip_or_fail("docker-registry and openssl are needed: run scripts/services.sh")
    root: Path = env["root"] / "tls"
    certs = _certificates(root / "pki")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = root / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  tls:\n"
        f"    certificate: {certs['server.crt']}\n    key: {certs['server.key']}\n"
        f"    clientcas: [{certs['ca.crt']}]\n")
    log = open(root / "registry.log", "wb")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
    host = f"127.0.0.1:{port}"
    try:
        for _ in range(80):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail(f"the TLS registry did not start: {(root / 'registry.log').read_text()}")
        yield {"host": host, "certs": certs}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_a_tls_registry_is_trusted_through_certs_d(env: dict[str, Any], image: dict[str, Any],
                                                   tls_registry: dict[str, Any]) -> None:
    host, certs = tls_registry["host"], tls_registry["certs"]
    ref = f"{host}/{REPO}/tls:1"
    folder = env["root"] / "certs.d" / host
    names = ["base", "hello"]
    config = _config(image, names, ["/bin/cat", "/hello.txt"])
    layers = [image["layers"][n] for n in names]

    folder.mkdir(parents=True)  # no CA yet: the registry's certificate is not trusted
    with pytest.raises(RegistryError) as info:
        dist.push_image(ref, config, layers)
    assert "not trusted" in info.value.one_line()
    assert f"{folder}/ca.crt" in info.value.one_line()

    shutil.copy(certs["ca.crt"], folder / "ca.crt")  # trusted, but no client certificate
    with pytest.raises(RegistryError) as info:
        dist.push_image(ref, config, layers)
    assert "client certificate" in info.value.one_line()

    shutil.copy(certs["client.cert"], folder / "client.cert")
    shutil.copy(certs["client.key"], folder / "client.key")
    stats = dist.PushStats()
    digest = dist.push_image(ref, config, layers, stats=stats)
    assert stats.sent == 3
    manifest, got, cfg = dist.read_image(ref)
    assert got == digest and cfg["config"]["Cmd"] == ["/bin/cat", "/hello.txt"]
    assert len(manifest["layers"]) == 2
