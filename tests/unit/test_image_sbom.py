"""The image's SBOM and the base's dpkg status it lists, read from layer tars in our store."""

from __future__ import annotations

import hashlib
import io
import json
import sysconfig
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from jupyter_containerize.core.attest.sbom import licences_from_metadata
from jupyter_containerize.core.image.base import dpkgstatus
from jupyter_containerize.core.image.dockerfile import render
from jupyter_containerize.core.image.sbomfile import image_sbom, record_facts
from jupyter_containerize.core.models import normalize
from jupyter_containerize.core.oci.blobstore import add_blob_file

STATUS_A = ("Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n"
            "Version: 1:1.2.13.dfsg-1\nDescription: compression\n more text\n")
STATUS_B = STATUS_A + ("\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\n"
                       "Version: 2024a-0+deb12u1\n")


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_DATA_DIR", str(tmp_path / "data"))


def layer(tmp_path: Path, name: str, files: dict[str, bytes]) -> str:
    """A layer tar kept in our store; returns its diff ID."""
    path = tmp_path / f"{name}.tar"
    with tarfile.open(path, "w") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    diff = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    add_blob_file(path, diff)
    return diff


def test_the_top_layer_holding_the_status_file_wins(tmp_path: Path) -> None:
    lower = layer(tmp_path, "a", {"./var/lib/dpkg/status": STATUS_A.encode(), "./etc/x": b""})
    upper = layer(tmp_path, "b", {"var/lib/dpkg/status": STATUS_B.encode()})
    other = layer(tmp_path, "c", {"opt/env/x": b"1"})
    assert dpkgstatus.read_dpkg_status([lower, upper, other]) == STATUS_B
    assert dpkgstatus.read_dpkg_status([lower, other]) == STATUS_A


def test_a_whiteout_or_no_status_file_means_no_debian_packages(tmp_path: Path) -> None:
    lower = layer(tmp_path, "a", {"var/lib/dpkg/status": STATUS_A.encode()})
    gone = layer(tmp_path, "b", {"var/lib/dpkg/.wh.status": b""})
    plain = layer(tmp_path, "c", {"etc/os-release": b"ID=alpine\n"})
    assert dpkgstatus.read_dpkg_status([lower, gone]) is None
    assert dpkgstatus.read_dpkg_status([plain]) is None


@pytest.mark.hostile
def test_a_layer_missing_from_the_store_is_not_guessed(tmp_path: Path) -> None:
    lower = layer(tmp_path, "a", {"var/lib/dpkg/status": STATUS_A.encode()})
    unknown = "sha256:" + "0" * 64
    said: list[str] = []
    assert dpkgstatus.read_dpkg_status([lower, unknown], log=said.append) is None
    assert said == ["warning: the base's Debian packages could not be read: the SBOM lists none"]
    # nothing kept for a base it could not read: a later build tries again
    assert not dpkgstatus._cache_path([lower, unknown]).exists()


def test_each_base_is_read_once(tmp_path: Path) -> None:
    diff = layer(tmp_path, "a", {"var/lib/dpkg/status": STATUS_A.encode()})
    assert dpkgstatus.read_dpkg_status([diff]) == STATUS_A
    (tmp_path / "cache" / "blobs" / "sha256" / diff.split(":")[1]).unlink()
    assert dpkgstatus.read_dpkg_status([diff]) == STATUS_A


def plan(tmp_path: Path, epoch: int = 1_700_000_000) -> Any:
    nb, lock_file = tmp_path / "nb.ipynb", tmp_path / "nb.lock.json"
    nb.write_text("{}")
    lock_file.write_text("{}")
    lock = {"python": {"version": "3.11.2"}, "platform": "linux/amd64", "mode": "full",
            "packages": [{"name": "papermill", "version": "2.7.0",
                          "requirement": "papermill==2.7.0", "source": "index"},
                         {"name": "six", "version": "1.17.0", "requirement": "six==1.17.0",
                          "source": "index"}]}
    base = SimpleNamespace(reference="jupyter-containerize/base:x", image_id="sha256:" + "a" * 64)
    return SimpleNamespace(nb_path=nb, lock_file=lock_file, lock=lock, notebook_bytes=b"{}",
                           tool_pins=["papermill==2.7.0", "nbformat==5.10.4"], base=base,
                           platform="linux/amd64", created_epoch=lambda: epoch)


def test_the_sbom_lists_both_environments_once_and_depends_only_on_inputs(
        tmp_path: Path) -> None:
    data = image_sbom(plan(tmp_path), STATUS_B)
    assert image_sbom(plan(tmp_path), STATUS_B) == data  # same inputs, same bytes
    assert image_sbom(plan(tmp_path, 1_700_000_001), STATUS_B) != data  # its time: the lock's
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(data.decode()) is None
    doc = json.loads(data)
    assert doc["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    names = [c["name"] for c in doc["components"]]
    # papermill is in both environments at one version: listed once
    assert names == ["nbformat", "papermill", "six", "tzdata", "zlib1g", "python"]
    tool = [c for c in doc["components"] if c["name"] == "nbformat"][0]
    assert {"name": "io.jupyter-containerize.environment", "value": "tool"} in tool["properties"]
    refs = {c["bom-ref"] for c in doc["components"]}
    assert set(doc["dependencies"][0]["dependsOn"]) == refs


def test_the_facts_name_the_inputs_and_nothing_else(tmp_path: Path) -> None:
    p = plan(tmp_path)
    path = record_facts(p, ["sha256:" + "b" * 64, "", "sha256:" + "c" * 64], build_path="layers",
                        engine=False, started="2026-01-01T00:00:00Z",
                        sbom_digest="sha256:" + "d" * 64, image_name="team/nb:1")
    assert path is not None
    facts = json.loads(path.read_text())
    assert (tmp_path / "data" / "attest" / ("c" * 64) / "facts.json").exists()
    assert facts["build_path"] == "layers" and facts["engine"] is False
    assert facts["notebook_sha256"] == hashlib.sha256(b"{}").hexdigest()
    assert facts["base_digest"] == "sha256:" + "a" * 64
    assert set(facts) == {
        "builder", "builder_versions", "notebook_path", "notebook_sha256", "lock_path",
        "lock_sha256", "base_image", "base_digest", "build_path", "engine", "started",
        "finished", "sbom_path", "sbom_sha256", "platform", "image_name", "image_ids"}


def test_the_classic_dockerfile_copies_the_sbom_last() -> None:
    lines = render("/usr/bin/python3", "base:1", False, sbom=True).splitlines()
    assert "COPY sbom.cdx.json /usr/share/jupyter-containerize/sbom.cdx.json" in lines
    assert lines.index("COPY sbom.cdx.json /usr/share/jupyter-containerize/sbom.cdx.json") > \
        max(i for i, ln in enumerate(lines) if ln.startswith("COPY --chown"))
    assert "sbom.cdx.json" not in render("/usr/bin/python3", "base:1", False)


def test_licences_read_from_headers_agree_with_the_standard_metadata_parser() -> None:
    """Reading only the METADATA headers (fast) finds what the standard library's parser
    reads in the whole file: every SPDX License-Expression of this environment."""
    from importlib.metadata import distributions

    site = Path(sysconfig.get_paths()["purelib"])
    quick = licences_from_metadata([site])
    declared = {normalize(d.metadata["Name"]): d.metadata["License-Expression"]
                for d in distributions(path=[str(site)])
                if d.metadata["Name"] and d.metadata["License-Expression"]}
    assert len(quick) > 20 and len(declared) > 5
    assert {n: quick[n] for n in declared} == {n: {"expression": e} for n, e in declared.items()}
