"""The SBOM an environment image carries, as a user checks it: the file is in the image's
layers, valid CycloneDX, lists exactly what is installed (the Python distributions of the
image's environments, the Debian packages of its dpkg status), its digest is the image's
label; a rebuild of the same inputs gives the same image; the build's facts hold no secret."""

from __future__ import annotations

import email.parser
import hashlib
import json
import os
import re
import shutil
import tarfile
import time
from pathlib import Path
from typing import IO, Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from helpers import EXAMPLE, EXAMPLE_PYTHON, notebook
from jc_support import saved_image

from jupyter_containerize.core import api
from jupyter_containerize.core.attest.sbom import IMAGE_SBOM_PATH, SBOM_DIGEST_LABEL
from jupyter_containerize.core.attest.store import load_facts
from jupyter_containerize.core.engine import client as engine

pytestmark = pytest.mark.engine

SITES = re.compile(r"^(opt/env|opt/containerize/tool)/lib/python[\d.]+/site-packages/"
                   r"([^/]+)\.dist-info/METADATA$")
SBOM = IMAGE_SBOM_PATH.strip("/")
DPKG = "var/lib/dpkg/status"
SECRETS = ("team-secret", os.environ.get("JC_REGISTRY_PASSWORD", "team-secret"))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _layer_files(layer: IO[bytes]) -> dict[str, bytes | None]:
    """What one layer sets: the SBOM, the dpkg status, every METADATA of our environments
    (bytes), and whiteouts (None)."""
    found: dict[str, bytes | None] = {}
    with tarfile.open(fileobj=layer, mode="r|*") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            base = name.rsplit("/", 1)[-1]
            if base == ".wh..wh..opq":
                continue  # opaque folders: none in these images' paths
            if base.startswith(".wh."):
                found[name.rsplit("/", 1)[0] + "/" + base[4:] if "/" in name else base[4:]] = None
            elif member.isfile() and (name in (SBOM, DPKG) or SITES.match(name)):
                handle = tar.extractfile(member)
                assert handle is not None
                found[name] = handle.read()
    return found


def image_files(client: Any, reference: str) -> dict[str, bytes]:
    """The image's merged view of those files, read from `docker save` layer by layer."""
    per_layer: dict[str, dict[str, bytes | None]] = {}
    manifest: list[dict[str, Any]] = []
    with tarfile.open(fileobj=saved_image(client, reference), mode="r|") as outer:
        for member in outer:
            handle = outer.extractfile(member) if member.isfile() else None
            if handle is None:
                continue
            if member.name == "manifest.json":
                manifest = json.loads(handle.read())
            elif member.name.endswith("layer.tar") or member.name.startswith("blobs/"):
                try:
                    per_layer[member.name] = _layer_files(handle)
                except tarfile.ReadError:
                    continue  # a config or manifest blob, not a layer
    merged: dict[str, bytes | None] = {}
    for layer in manifest[0]["Layers"]:
        for name, data in per_layer[layer].items():
            if data is None:  # a whiteout hides the path and what is below it
                merged = {k: v for k, v in merged.items()
                          if k != name and not k.startswith(name + "/")}
            else:
                merged[name] = data
    return {k: v for k, v in merged.items() if v is not None}


def installed_dpkg(text: str) -> set[tuple[str, str, str]]:
    out = set()
    for stanza in text.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", stanza, re.M))
        if fields.get("Status", "").endswith(" installed"):
            out.add((fields["Package"], fields["Version"], fields["Architecture"]))
    return out


def checked_sbom(client: Any, reference: str) -> dict[str, Any]:
    """The image's SBOM, once checked: valid CycloneDX 1.6, its digest the image's label, its
    Python components exactly the distributions of the image's environments and its Debian
    components exactly the installed packages of the image's dpkg status."""
    files = image_files(client, reference)
    data = files[SBOM]
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert engine.require_image(reference).labels[SBOM_DIGEST_LABEL] == digest
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(data.decode()) is None
    doc: dict[str, Any] = json.loads(data)
    meta = email.parser.BytesHeaderParser()
    in_image = set()
    for name, body in files.items():
        if SITES.match(name):
            headers = meta.parsebytes(body)
            in_image.add((_norm(headers["Name"]), headers["Version"]))
    listed = {(_norm(c["name"]), c["version"]) for c in doc["components"]
              if c["type"] == "library" and not str(c.get("purl", "")).startswith("pkg:deb/")}
    assert listed == in_image and ("papermill", "2.7.0") in listed
    debs = {(c["name"], c["version"], c["purl"].rsplit("arch=", 1)[1])
            for c in doc["components"] if str(c.get("purl", "")).startswith("pkg:deb/debian/")}
    assert len(debs) > 50 and debs == installed_dpkg(files[DPKG].decode())
    doc["digest"] = digest
    return doc


def test_the_image_carries_an_sbom_of_exactly_what_it_holds(
        docker_client: Any, tmp_path: Path) -> None:
    project = tmp_path / "classifier"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("*.lock.json", "model.*"))
    nb = project / "classifier.ipynb"
    result = api.build(nb, python=str(EXAMPLE_PYTHON))
    assert result.sbom_digest.startswith("sha256:")
    assert f"  sbom: {result.sbom_digest}" in result.summary()
    doc = checked_sbom(docker_client, result.reference)
    digest = doc["digest"]
    assert digest == result.sbom_digest
    names = {_norm(c["name"]) for c in doc["components"]}
    assert {"scikit-learn", "pandas", "papermill", "libc6"} <= names

    # the inputs, as properties
    props = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
    assert props["io.jupyter-containerize.notebook.sha256"] == hashlib.sha256(
        nb.read_bytes()).hexdigest()
    lock = nb.with_name("classifier.lock.json")
    assert props["io.jupyter-containerize.lock.sha256"] == hashlib.sha256(
        lock.read_bytes()).hexdigest()

    # same inputs (the lock as written), same image: reused, and made again (untagged first)
    # to the same ID
    again = api.build(nb, python=str(EXAMPLE_PYTHON), locked=True)
    assert again.cached and again.image_id == result.image_id
    assert again.sbom_digest == result.sbom_digest
    docker_client.images.remove(result.reference)
    remade = api.build(nb, python=str(EXAMPLE_PYTHON), locked=True)
    assert not remade.cached and remade.image_id == result.image_id

    # the same lock written at another time (a copy of the project, frozen elsewhere) is another
    # image date: built anew, never answered by the image of the earlier date
    stamp = lock.stat().st_mtime - 86400
    os.utime(lock, (stamp, stamp))
    dated = api.build(nb, python=str(EXAMPLE_PYTHON), locked=True)
    assert not dated.cached and dated.image_id != result.image_id
    created = engine.require_image(dated.reference).labels["org.opencontainers.image.created"]
    assert created == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(stamp)))

    # the facts a push signs: there, complete, and no secret in them
    facts = load_facts(result.image_id)
    assert facts is not None and Path(result.facts_path).is_file()
    assert facts["sbom_sha256"] == digest and facts["build_path"] == "layers"
    assert facts["notebook_sha256"] == props["io.jupyter-containerize.notebook.sha256"]
    assert facts["lock_sha256"] == props["io.jupyter-containerize.lock.sha256"]
    assert facts["base_digest"].startswith("sha256:") and facts["started"] <= facts["finished"]
    text = Path(result.facts_path).read_text()
    for secret in SECRETS:
        assert secret not in text
    assert not re.search(r"password|token|auth", text, re.I)


def test_an_edit_changes_the_sbom_in_the_last_layer_only(
        docker_client: Any, tmp_path: Path) -> None:
    project = tmp_path / "classifier"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("*.lock.json", "model.*"))
    nb = project / "classifier.ipynb"
    first = api.build(nb, python=str(EXAMPLE_PYTHON))
    doc = json.loads(nb.read_text())
    doc["cells"][0]["source"] = "# edited for the SBOM test\n" + "".join(doc["cells"][0]["source"])
    nb.write_text(json.dumps(doc))
    edited = api.build(nb, python=str(EXAMPLE_PYTHON))
    assert edited.sbom_digest != first.sbom_digest
    old = engine.require_image(first.reference).attrs["RootFS"]["Layers"]
    new = engine.require_image(edited.reference).attrs["RootFS"]["Layers"]
    assert len(old) == len(new) and old[:-1] == new[:-1]
    sbom = json.loads(image_files(docker_client, edited.reference)[SBOM])
    props = {p["name"]: p["value"] for p in sbom["metadata"]["properties"]}
    assert props["io.jupyter-containerize.notebook.sha256"] == hashlib.sha256(
        nb.read_bytes()).hexdigest()
    assert edited.timings.get("sbom", 1.0) < 0.5



def test_classic_and_apt_txt_images_list_what_they_hold(
        docker_client: Any, tmp_path: Path) -> None:
    """apt.txt's packages are in the SBOM of both build paths, which list the same things."""
    nb = notebook(tmp_path / "aptsbom" / "aptsbom.ipynb", "import joblib")
    (nb.parent / "apt.txt").write_text("libgomp1\n")
    layered = api.build(nb, python=str(EXAMPLE_PYTHON), lock="imported")
    classic = api.build(nb, python=str(EXAMPLE_PYTHON), lock="imported", builder="classic",
                        tag=layered.reference + "-classic")
    assert (layered.builder, classic.builder) == ("layers", "classic")
    docs = [checked_sbom(docker_client, r.reference) for r in (layered, classic)]
    for doc in docs:
        assert "libgomp1" in {c["name"] for c in doc["components"]}
    listed = [{c["bom-ref"] for c in doc["components"]} for doc in docs]
    assert listed[0] == listed[1]
    facts = load_facts(classic.image_id)
    assert facts is not None and facts["build_path"] == "classic"
    assert facts["sbom_sha256"] == classic.sbom_digest == docs[1]["digest"]
