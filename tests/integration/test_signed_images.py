"""Signed images on real components: the engine, the htpasswd registry on 127.0.0.1:5000 (a
registry with no referrers API: attestations travel by the tag-schema fallback), and a second,
clean engine with the containerd image store (the teammate). A key made by `key create`, a
push that attaches the signed provenance and the SBOM, `images` that shows both, and a
teammate who pulls with --verify and installs a kernel under require_signed; refused: an
unsigned image, one changed after signing, one signed by an unknown key, a signature that does
not match, a statement about another image, and keys that are missing, unreadable or of another
kind."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from helpers import (
    EXAMPLE_PYTHON,
    ROOT,
    assert_one_line_error,
    cli,
    example_project,
    notebook,
)
from jc_support import TEST_LABEL, TEST_RUN_ID, engine_or_skip, skip_or_fail
from refusing_registry import refusing_registry

from jupyter_containerize.core import labels
from jupyter_containerize.core.attest import dsse, keys
from jupyter_containerize.core.attest.sbom import IMAGE_SBOM_PATH, SBOM_DIGEST_LABEL
from jupyter_containerize.core.config import ContainerizeConfig
from jupyter_containerize.core.engine import client as engine
from jupyter_containerize.core.oci.client import RegistryClient
from jupyter_containerize.core.oci.referrers import artifact_data, attach, referrers
from jupyter_containerize.core.share import signing

pytestmark = [pytest.mark.engine, pytest.mark.registry]
REGISTRY = os.environ.get("JC_TEST_REGISTRY", "127.0.0.1:5000")
USER = os.environ.get("JC_REGISTRY_USER", "team")
PASSWORD = os.environ.get("JC_REGISTRY_PASSWORD", "team-secret")
NS = f"jc-sign-{TEST_RUN_ID[-10:]}".lower().replace("_", "-")
OCI_IMAGE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SBOM = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
                   "metadata": {"properties": [{"name": "test-run", "value": TEST_RUN_ID}]}},
                  sort_keys=True).encode()


def _write_config(folder: Path, **settings: Any) -> dict[str, str]:
    """A Jupyter config folder whose jupyter_containerize_config.json holds ``settings``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jupyter_containerize_config.json").write_text(
        json.dumps({"ContainerizeConfig": settings}))
    return {"JUPYTER_CONFIG_DIR": str(folder)}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A temporary Docker config, data dir and Jupyter config; the publisher's key made by
    `key create` in its default folder; a stranger's key elsewhere."""
    engine_or_skip()
    try:
        requests.get(f"http://{REGISTRY}/v2/", timeout=5)
    except requests.RequestException:
        skip_or_fail(f"no registry at {REGISTRY}: run scripts/services.sh")
    root = tmp_path_factory.mktemp("signed")
    base = {"DOCKER_CONFIG": str(root / "docker-config"),
            "JUPYTER_CONTAINERIZE_DATA_DIR": str(root / "data"),
            "JUPYTER_DATA_DIR": str(root / "jupyter-data"),
            "JUPYTER_CONTAINERIZE_LABELS": f"{TEST_LABEL}={TEST_RUN_ID}"}
    proc = cli("login", REGISTRY, "--username", USER, "--password-stdin",
               env={**base, **_write_config(root / "cfg-plain")}, input_text=PASSWORD + "\n")
    assert proc.returncode == 0, proc.stderr
    made = cli("key", "create", env={**base, **_write_config(root / "cfg-plain")})
    stranger = keys.create_key(root / "stranger", "ecdsa-p256")
    yield {"root": root, "base": base, "key": made, "stranger": stranger}
    for name in _repositories():
        tags = requests.get(f"http://{REGISTRY}/v2/{name}/tags/list", auth=(USER, PASSWORD),
                            timeout=30).json().get("tags") or []
        for tag in tags:
            head = requests.head(f"http://{REGISTRY}/v2/{name}/manifests/{tag}",
                                 auth=(USER, PASSWORD), timeout=30, headers={"Accept": ", ".join(
                                     ("application/vnd.oci.image.manifest.v1+json",
                                      "application/vnd.oci.image.index.v1+json"))})
            digest = head.headers.get("Docker-Content-Digest")
            if digest:
                requests.delete(f"http://{REGISTRY}/v2/{name}/manifests/{digest}",
                                auth=(USER, PASSWORD), timeout=30)
    client = engine.client()
    for image in client.images.list(filters={"label": f"jc.test.signing={TEST_RUN_ID}"}):
        client.images.remove(image.id, force=True)


def _repositories() -> list[str]:
    got = requests.get(f"http://{REGISTRY}/v2/_catalog?n=1000", auth=(USER, PASSWORD),
                       timeout=30).json().get("repositories") or []
    return [r for r in got if r.startswith(NS + "/")]


def _env(env: dict[str, Any], name: str, **settings: Any) -> dict[str, str]:
    return {**env["base"], **_write_config(env["root"] / f"cfg-{name}", **settings)}


def _publisher(env: dict[str, Any]) -> tuple[str, str]:
    """(private key path, public key path) of the key `key create` made."""
    public = env["key"].stdout.splitlines()[0]
    return str(Path(public).with_suffix(".key")), public


def _tiny(tag: str, with_sbom: bool = False, sbom: bytes = SBOM) -> str:
    """A small image of its own (random bytes), optionally carrying an SBOM and its label."""
    files = [("blob", os.urandom(4096))]
    lines = ["FROM scratch", "COPY blob /blob"]
    lab = {labels.MANAGED: "true", TEST_LABEL: TEST_RUN_ID, "jc.test.signing": TEST_RUN_ID}
    if with_sbom:
        files.append(("sbom.cdx.json", sbom))
        lines.append(f"COPY sbom.cdx.json {IMAGE_SBOM_PATH}")
        lab[SBOM_DIGEST_LABEL] = "sha256:" + hashlib.sha256(sbom).hexdigest()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in [("Dockerfile", ("\n".join(lines) + "\n").encode()), *files]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    engine.classic_build(buffer, tag, lab, True, lambda _: None)
    return tag


def _push(env: dict[str, Any], image: str, signer: str | None) -> str:
    settings = {"signing_key": signer} if signer else {}
    proc = cli("push", image, "--registry", f"{REGISTRY}/{NS}",
               env=_env(env, f"push-{hashlib.sha256(str(signer).encode()).hexdigest()[:8]}",
                        **settings))
    assert proc.returncode == 0, proc.stderr[-1500:]
    return proc.stdout.strip().splitlines()[-1]


def _verifying(env: dict[str, Any], name: str, **extra: Any) -> dict[str, str]:
    _private, public = _publisher(env)
    return _env(env, name, trusted_keys=[public], require_signed=True, **extra)


# ---------------------------------------------------------------- keys


def test_key_create_prints_the_public_key_and_its_id_never_the_private_key(
        env: dict[str, Any]) -> None:
    proc = env["key"]
    assert proc.returncode == 0, proc.stderr
    public, keyid_line = proc.stdout.splitlines()[:2]
    folder = Path(env["base"]["JUPYTER_CONTAINERIZE_DATA_DIR"]) / "keys"
    assert Path(public) == folder / "signing.pub"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    private = folder / "signing.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    der = serialization.load_pem_public_key(Path(public).read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert keyid_line.split()[:2] == ["keyid", hashlib.sha256(der).hexdigest()]
    secret = private.read_text()
    body = "".join(secret.splitlines()[1:-1])
    assert body[:40] not in proc.stdout + proc.stderr
    again = cli("key", "create", env=_env(env, "plain"))
    assert_one_line_error(again, "already exists", "never overwritten")
    assert private.read_text() == secret  # nothing lost


# ---------------------------------------------------------------- a signed image, accepted


@pytest.fixture(scope="module")
def signed(env: dict[str, Any]) -> dict[str, Any]:
    private, _public = _publisher(env)
    image = _tiny(f"jc-sign-{TEST_RUN_ID}:signed", with_sbom=True)
    pinned = _push(env, image, private)
    return {"pinned": pinned, "ref": f"{REGISTRY}/{NS}/jc-sign-{TEST_RUN_ID}:signed"}


def test_push_attaches_a_signed_provenance_and_the_sbom_as_artifacts_of_the_image(
        env: dict[str, Any], signed: dict[str, Any]) -> None:
    _private, public = _publisher(env)
    repo, digest = signed["pinned"].split("@")
    name = repo.split("/", 1)[1]
    # the registry has no referrers API: the fallback tag lists the artifacts
    assert requests.get(f"http://{REGISTRY}/v2/{name}/referrers/{digest}",
                        auth=(USER, PASSWORD), timeout=30).status_code == 404
    index = requests.get(f"http://{REGISTRY}/v2/{name}/manifests/{digest.replace(':', '-')}",
                         auth=(USER, PASSWORD), timeout=30,
                         headers={"Accept": "application/vnd.oci.image.index.v1+json"}).json()
    kinds = sorted(m["artifactType"] for m in index["manifests"])
    assert kinds == ["application/vnd.cyclonedx+json", "application/vnd.dsse.envelope.v1+json"]
    reg = RegistryClient(REGISTRY, auth={"username": USER, "password": PASSWORD})
    found = referrers(reg, name, digest)
    for entry in found:
        artifact = requests.get(f"http://{REGISTRY}/v2/{name}/manifests/{entry['digest']}",
                                auth=(USER, PASSWORD), timeout=30,
                                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        assert artifact.json()["subject"]["digest"] == digest
    by_type = {d["artifactType"]: artifact_data(reg, name, d) for d in found}
    assert by_type["application/vnd.cyclonedx+json"] == SBOM
    envelope = by_type["application/vnd.dsse.envelope.v1+json"]
    assert b"PRIVATE KEY" not in envelope
    statement = dsse.verify(envelope, [keys.load_public_key(public)], digest)
    assert statement["subject"][0]["digest"]["sha256"] == digest.split(":")[1]
    byproduct = statement["predicate"]["runDetails"]["byproducts"][0]
    assert byproduct["digest"]["sha256"] == hashlib.sha256(SBOM).hexdigest()
    # what openssl checks: the Ed25519 signature over DSSE's pre-authentication encoding
    doc = json.loads(envelope)
    payload = base64.b64decode(doc["payload"])
    ed25519.Ed25519PublicKey.from_public_bytes(keys.load_public_key(public).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).verify(
        base64.b64decode(doc["signatures"][0]["sig"]), dsse.pae(doc["payloadType"], payload))


def test_images_shows_the_signer_and_the_sbom(env: dict[str, Any],
                                              signed: dict[str, Any]) -> None:
    proc = cli("images", "--registry", f"{REGISTRY}/{NS}", "--json", env=_env(env, "plain"))
    assert proc.returncode == 0, proc.stderr
    rows = {r["reference"]: r for r in json.loads(proc.stdout)}
    keyid = env["key"].stdout.splitlines()[1].split()[1]
    assert rows[signed["ref"]]["signers"] == [keyid]
    assert rows[signed["ref"]]["sbom"] is True
    assert not any(":sha256-" in ref for ref in rows)  # the fallback tags are not images
    text = cli("images", "--registry", f"{REGISTRY}/{NS}", env=_env(env, "plain")).stdout
    line = next(ln for ln in text.splitlines() if ln.startswith(signed["ref"] + " "))
    assert f"signed {keyid[:16]}" in line and line.endswith("sbom")


@pytest.fixture(scope="module")
def teammate() -> Iterator[str]:
    """The second engine, clean, with the containerd image store (scripts/second-engine.sh)."""
    folder = tempfile.mkdtemp(prefix="jc2-", dir="/tmp")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "second-engine.sh"), "start", folder,
                           "--store", "containerd"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        skip_or_fail(f"the second engine did not start: {proc.stderr.strip()[-300:]}")
    try:
        yield proc.stdout.strip()
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "second-engine.sh"), "stop", folder],
                       capture_output=True, timeout=300)


def test_a_teammate_pulls_the_signed_image_verified_and_installs_its_kernel(
        env: dict[str, Any], signed: dict[str, Any], teammate: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On the containerd image store: pull --verify, then kernel install under require_signed;
    a verification takes well under a second."""
    plain = {**_env(env, "teammate", trusted_keys=[_publisher(env)[1]]), "DOCKER_HOST": teammate}
    proc = cli("pull", "--verify", signed["ref"], env=plain)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert proc.stdout.strip().splitlines()[-1] == signed["pinned"]
    keyid = env["key"].stdout.splitlines()[1].split()[1]
    assert f"signed by key {keyid[:16]}" in proc.stderr
    strict = {**_verifying(env, "teammate-strict"), "DOCKER_HOST": teammate}
    proc = cli("kernel", "install", signed["ref"], "--name", f"jc-sign-{TEST_RUN_ID}",
               env=strict)
    assert proc.returncode == 0, proc.stderr[-1500:]
    spec = json.loads((Path(proc.stdout.strip().splitlines()[-1]) / "kernel.json").read_text())
    assert spec["metadata"]["kernel_provisioner"]["config"]["image"] == signed["pinned"]
    # measured in process, against the teammate's engine and the registry
    monkeypatch.setenv("DOCKER_HOST", teammate)
    for name in ("DOCKER_CONFIG", "JUPYTER_CONTAINERIZE_DATA_DIR"):
        monkeypatch.setenv(name, env["base"][name])
    cfg = ContainerizeConfig(trusted_keys=[_publisher(env)[1]], require_signed=True)
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        checked = signing.verify_image(signed["ref"], config=cfg)
        seconds.append(time.perf_counter() - started)
        assert checked is not None and checked["digest"] == signed["pinned"].split("@")[1]
    print(f"verification of a pulled image: {', '.join(f'{s:.3f}' for s in seconds)} s")
    assert max(seconds) < 1.0, seconds


def test_build_push_signs_the_provenance_of_its_build(env: dict[str, Any]) -> None:
    """`build --push` with a signing key: the statement carries the build's facts (the
    notebook's and the lock's sha256) and the SBOM the image holds is attached."""
    private, public = _publisher(env)
    nb = example_project(env["root"], f"signed build {TEST_RUN_ID}")
    target = f"{REGISTRY}/{NS}/classifier:built"
    proc = cli("build", str(nb), "--python", str(EXAMPLE_PYTHON), "--push", target,
               env=_env(env, "build", signing_key=private))
    assert proc.returncode == 0, proc.stderr[-2000:]
    pinned = proc.stdout.strip().splitlines()[-1]
    repo, digest = pinned.split("@")
    name = repo.split("/", 1)[1]
    reg = RegistryClient(REGISTRY, auth={"username": USER, "password": PASSWORD})
    found = {d["artifactType"]: artifact_data(reg, name, d) for d in referrers(reg, name, digest)}
    statement = dsse.verify(found[signing.ATTESTATION_TYPE], [keys.load_public_key(public)],
                            digest)
    params = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert params["notebook"]["sha256"] == hashlib.sha256(nb.read_bytes()).hexdigest()
    lock = nb.with_name("classifier.lock.json")
    assert params["lock"]["sha256"] == hashlib.sha256(lock.read_bytes()).hexdigest()
    document = found[signing.SBOM_TYPE]
    byproduct = statement["predicate"]["runDetails"]["byproducts"][0]
    assert byproduct["digest"]["sha256"] == hashlib.sha256(document).hexdigest()
    assert json.loads(document)["bomFormat"] == "CycloneDX"


# ---------------------------------------------------------------- refused


@pytest.mark.hostile
def test_an_unsigned_image_is_refused_under_require_signed(env: dict[str, Any],
                                                          tmp_path: Path) -> None:
    image = _tiny(f"jc-sign-{TEST_RUN_ID}:unsigned")
    pinned = _push(env, image, None)
    ref = f"{REGISTRY}/{NS}/jc-sign-{TEST_RUN_ID}:unsigned"
    strict = _verifying(env, "strict")
    proc = cli("pull", ref, env=strict)
    assert_one_line_error(proc, "refused", "no signed provenance", pinned.split("@")[1][:19],
                          "signing_key")
    nb = notebook(tmp_path / "nb.ipynb", "print(1)")
    model = tmp_path / "model"
    model.mkdir()
    (model / "predict.py").write_text("def load():\n    return None\n\n\n"
                                      "def predict(model, rows):\n    return rows\n")
    for args in (("kernel", "install", ref, "--name", f"jc-unsigned-{TEST_RUN_ID}"),
                 ("run", str(nb), "--image", ref),
                 ("serve", str(model), "--image", ref, "--name", f"jc-unsigned-{TEST_RUN_ID}")):
        proc = cli(*args, env=strict)
        assert_one_line_error(proc, "refused", "no signed provenance")
    assert not (Path(env["base"]["JUPYTER_DATA_DIR"]) / "kernels"
                / f"jc-unsigned-{TEST_RUN_ID}").exists()
    assert not (tmp_path / "nb.executed.ipynb").exists()
    assert not engine.client().containers.list(
        all=True, filters={"name": f"jc-unsigned-{TEST_RUN_ID}"})
    # without require_signed nothing changes
    assert cli("pull", ref, env=_env(env, "plain")).returncode == 0


@pytest.mark.hostile
def test_an_image_changed_after_signing_is_refused(env: dict[str, Any],
                                                   signed: dict[str, Any]) -> None:
    """Another image pushed under the signed one's tag: its manifest digest no longer matches
    the signed one."""
    private, _public = _publisher(env)
    tag = f"jc-sign-{TEST_RUN_ID}:moved"
    first = _push(env, _tiny(tag), private)
    assert cli("pull", "--verify", f"{REGISTRY}/{NS}/{tag}",
               env=_verifying(env, "moved")).returncode == 0
    second = _push(env, _tiny(tag), None)  # same tag, changed layer, pushed unsigned
    proc = cli("pull", "--verify", f"{REGISTRY}/{NS}/{tag}", env=_verifying(env, "moved"))
    assert_one_line_error(proc, "refused", "changed after signing", second.split("@")[1][:19],
                          first.split("@")[1][:19])


@pytest.mark.hostile
def test_a_signature_by_an_unknown_key_is_refused(env: dict[str, Any]) -> None:
    tag = f"jc-sign-{TEST_RUN_ID}:stranger"
    _push(env, _tiny(tag), env["stranger"]["private"])
    proc = cli("pull", "--verify", f"{REGISTRY}/{NS}/{tag}", env=_verifying(env, "stranger"))
    assert_one_line_error(proc, "refused", env["stranger"]["keyid"][:16],
                          "not among the 1 trusted key(s)")


def _attach_envelope(env: dict[str, Any], tag: str, envelope: dict[str, Any]) -> str:
    """Push an unsigned image under ``tag`` and attach ``envelope`` to it."""
    pinned = _push(env, _tiny(tag), None)
    repo, digest = pinned.split("@")
    name = repo.split("/", 1)[1]
    reg = RegistryClient(REGISTRY, auth={"username": USER, "password": PASSWORD})
    size = len(requests.get(f"http://{REGISTRY}/v2/{name}/manifests/{digest}",
                            auth=(USER, PASSWORD), timeout=30, headers={
                                "Accept": "application/vnd.oci.image.manifest.v1+json"}).content)
    subject = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
               "size": size}
    attach(reg, name, subject, signing.ATTESTATION_TYPE, dsse.envelope_bytes(envelope),
           dsse.MEDIA_TYPE, {})
    return pinned


def _statement_for(digest: str) -> dict[str, Any]:
    return {"_type": "https://in-toto.io/Statement/v1", "predicateType": "x",
            "subject": [{"name": "x", "digest": {"sha256": digest.split(":")[1]}}],
            "predicate": {}}


@pytest.mark.hostile
def test_a_signature_that_does_not_match_is_refused(env: dict[str, Any],
                                                    signed: dict[str, Any]) -> None:
    """The signed statement's bytes altered after signing (the signature kept)."""
    private, _public = _publisher(env)
    key = keys.load_private_key(private)
    envelope = dsse.sign_statement(_statement_for(signed["pinned"].split("@")[1]), key)
    changed = json.loads(base64.b64decode(envelope["payload"]))
    changed["predicate"] = {"forged": True}
    envelope["payload"] = base64.b64encode(json.dumps(changed).encode()).decode()
    tag = f"jc-sign-{TEST_RUN_ID}:forged"
    _attach_envelope(env, tag, envelope)
    proc = cli("pull", "--verify", f"{REGISTRY}/{NS}/{tag}", env=_verifying(env, "forged"))
    assert_one_line_error(proc, "refused", "does not match the payload")


@pytest.mark.hostile
def test_a_statement_about_another_image_is_refused(env: dict[str, Any],
                                                    signed: dict[str, Any]) -> None:
    """A genuine signature, copied from the signed image to another one."""
    private, _public = _publisher(env)
    envelope = dsse.sign_statement(_statement_for(signed["pinned"].split("@")[1]),
                                   keys.load_private_key(private))
    tag = f"jc-sign-{TEST_RUN_ID}:copied"
    _attach_envelope(env, tag, envelope)
    proc = cli("pull", "--verify", f"{REGISTRY}/{NS}/{tag}", env=_verifying(env, "copied"))
    assert_one_line_error(proc, "refused", "the statement is about",
                          signed["pinned"].split("@")[1][7:19])


# ---------------------------------------------------------------- bad keys


def _rsa_key(path: Path) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(path)


@pytest.mark.hostile
@pytest.mark.parametrize("case", ["missing", "unreadable", "rsa"])
def test_a_signing_key_that_cannot_sign_stops_the_push_before_anything_is_sent(
        env: dict[str, Any], tmp_path: Path, case: str) -> None:
    path = {"missing": str(tmp_path / "nope.key"), "unreadable": str(tmp_path),
            "rsa": _rsa_key(tmp_path / "rsa.key")}[case]
    said = {"missing": "does not exist", "unreadable": "cannot be read",
            "rsa": "only Ed25519 and ECDSA P-256"}[case]
    tag = f"jc-sign-{TEST_RUN_ID}:badkey-{case}"
    _tiny(tag)
    proc = cli("push", tag, "--registry", f"{REGISTRY}/{NS}",
               env=_env(env, f"badkey-{case}", signing_key=path))
    assert_one_line_error(proc, path, said)
    assert "signing_key" in proc.stderr or "key create" in proc.stderr or "make a key" in \
        proc.stderr
    tags = requests.get(f"http://{REGISTRY}/v2/{NS}/jc-sign-{TEST_RUN_ID}/tags/list",
                        auth=(USER, PASSWORD), timeout=30).json().get("tags") or []
    assert f"badkey-{case}" not in tags  # nothing pushed unsigned


@pytest.mark.hostile
@pytest.mark.parametrize("case", ["missing", "rsa", "none"])
def test_trusted_keys_that_cannot_verify_say_so(env: dict[str, Any], signed: dict[str, Any],
                                                tmp_path: Path, case: str) -> None:
    trusted = {"missing": [str(tmp_path / "nope.pub")], "none": [],
               "rsa": [_rsa_key(tmp_path / "rsa.pem")]}[case]
    if case == "rsa":  # its public half
        key = serialization.load_pem_private_key(Path(trusted[0]).read_bytes(), None)
        Path(trusted[0]).write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    said = {"missing": "does not exist", "none": "no trusted public key is configured",
            "rsa": "only Ed25519 and ECDSA P-256"}[case]
    proc = cli("pull", signed["ref"],
               env=_env(env, f"trust-{case}", trusted_keys=trusted, require_signed=True))
    assert_one_line_error(proc, said, "trusted_keys")


@pytest.mark.hostile
def test_an_sbom_that_fails_its_schema_is_never_attached(env: dict[str, Any]) -> None:
    """An image whose SBOM is not valid CycloneDX (an unknown component type): the push says
    so in one line, and neither that SBOM nor a signature is attached to the image."""
    private, _public = _publisher(env)
    broken = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
                         "components": [{"type": "gadget", "name": "x"}]}).encode()
    image = _tiny(f"jc-sign-{TEST_RUN_ID}:badsbom", with_sbom=True, sbom=broken)
    proc = cli("push", image, "--registry", f"{REGISTRY}/{NS}",
               env=_env(env, "push-badsbom", signing_key=private))
    assert_one_line_error(proc, "is pushed but not signed", "fails the CycloneDX 1.6 schema",
                          "components/0/type", "'gadget'")
    assert "jupyter containerize build" in proc.stderr  # the fix
    _assert_pushed_without_artifacts("badsbom")


@pytest.mark.hostile
def test_a_registry_that_refuses_artifacts_says_so_in_one_line(env: dict[str, Any]) -> None:
    """Behind a registry that refuses OCI 1.1 artifacts, a signed push pushes the image, then
    says in one line that it could not attach the signature, and what to do."""
    private, _public = _publisher(env)
    image = _tiny(f"jc-sign-{TEST_RUN_ID}:refused", with_sbom=True)
    with refusing_registry(REGISTRY) as host:
        login = cli("login", host, "--username", USER, "--password-stdin",
                    env=_env(env, "plain"), input_text=PASSWORD + "\n")
        assert login.returncode == 0, login.stderr
        proc = cli("push", image, "--registry", f"{host}/{NS}",
                   env=_env(env, "push-refused", signing_key=private))
    assert_one_line_error(proc, "is pushed but not signed", f"the registry {host} refused",
                          "artifacts and image indexes are not accepted")
    assert "OCI 1.1 artifacts" in proc.stderr and "signing_key" in proc.stderr  # the fixes
    _assert_pushed_without_artifacts("refused")


def _assert_pushed_without_artifacts(tag: str) -> None:
    """The image itself is in the registry (nothing lost), and nothing is attached to it."""
    name = f"{NS}/jc-sign-{TEST_RUN_ID}"
    head = requests.head(f"http://{REGISTRY}/v2/{name}/manifests/{tag}", auth=(USER, PASSWORD),
                         timeout=30, headers={"Accept": OCI_IMAGE_MANIFEST})
    assert head.status_code == 200, head.status_code
    reg = RegistryClient(REGISTRY, auth={"username": USER, "password": PASSWORD})
    assert referrers(reg, name, head.headers["Docker-Content-Digest"]) == []
