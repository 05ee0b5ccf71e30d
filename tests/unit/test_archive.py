"""The archive every engine loads: what goes as bytes, as a placeholder, or not at all, and a
manifest that is byte for byte the one a push sends."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from jupyter_containerize.core import oci as distribution
from jupyter_containerize.core.engine.imagestore import CONTAINERD, LAYER_STORE, Holding, kind
from jupyter_containerize.core.image import layers


def _layer(tmp: Path, name: str) -> layers.Layer:
    return layers.write_layer([layers.Entry(f"data/{name}", data=name.encode() * 1000)],
                              tmp / f"{name}.tar", 0)


def _image(tmp: Path) -> tuple[layers.ImageSpec, Path, str]:
    base = _layer(tmp, "base")
    ours = _layer(tmp, "ours")
    attrs = {"Config": {"Env": ["A=1"]}, "RootFS": {"Layers": [base.diff_id]}}
    cfg = layers.image_config(attrs, [ours], env={"B": "2"}, user="1000:1000", workdir="/w",
                              labels={"k": "v"}, cmd=["python"], created="2026-01-01T00:00:00Z")
    assert base.path is not None
    return layers.ImageSpec("team/x:1", [ours], cfg), base.path, base.diff_id


def _members(plan: layers.ArchivePlan, tmp: Path) -> dict[str, bytes]:
    out = tmp / "a.tar"
    layers.write_archive(out, plan)
    with tarfile.open(out) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_a_complete_archive_has_both_layouts_over_the_same_blobs(tmp_path: Path) -> None:
    spec, base_file, base_diff = _image(tmp_path)
    plan = layers.plan_archive([spec], Holding(CONTAINERD), {base_diff: base_file})
    files = _members(plan, tmp_path)
    compat = json.loads(files["manifest.json"])[0]
    index = json.loads(files["index.json"])
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    assert compat["RepoTags"] == ["team/x:1"]
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads(files["blobs/sha256/" + manifest_digest[7:]])
    assert [la["digest"] for la in manifest["layers"]] == spec.config["rootfs"]["diff_ids"]
    for name in compat["Layers"] + [compat["Config"]]:
        data = files[name]
        assert "sha256:" + hashlib.sha256(data).hexdigest() == "sha256:" + name.rsplit("/")[-1]
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == \
        "docker.io/team/x:1"


def test_held_layers_are_placeholders_on_a_layer_store_and_absent_on_containerd(
        tmp_path: Path) -> None:
    spec, base_file, base_diff = _image(tmp_path)
    chains = {base_diff}  # a bottom layer's chain ID is its diff ID
    on_layer_store = _members(layers.plan_archive([spec], Holding(LAYER_STORE, chains=chains)),
                              tmp_path)
    assert on_layer_store["blobs/sha256/" + base_diff[7:]] == b""
    held = Holding(CONTAINERD, blobs={base_diff: base_file.stat().st_size})
    on_containerd = _members(layers.plan_archive([spec], held), tmp_path)
    assert "blobs/sha256/" + base_diff[7:] not in on_containerd
    assert len(on_containerd["blobs/sha256/" + spec.layers[0].diff_id[7:]]) > 0


def test_a_layer_to_send_without_its_bytes_is_refused(tmp_path: Path) -> None:
    spec, _base_file, _base_diff = _image(tmp_path)
    with pytest.raises(LookupError, match="base layer"):
        layers.plan_archive([spec], Holding(CONTAINERD))


def test_the_loaded_manifest_is_the_pushed_manifest(tmp_path: Path) -> None:
    spec, base_file, base_diff = _image(tmp_path)
    plan = layers.plan_archive([spec], Holding(CONTAINERD), {base_diff: base_file})
    blobs = [distribution.Blob.from_file(base_file), distribution.Blob.from_file(
        spec.layers[0].path)]  # type: ignore[arg-type]
    config = distribution.Blob.from_bytes(layers.config_bytes(spec.config),
                                          distribution.OCI_CONFIG)
    pushed = distribution.image_manifest(config, blobs)
    assert plan.manifests[0][1] == pushed
    assert plan.manifest_digest(0) == "sha256:" + hashlib.sha256(pushed).hexdigest()


def test_the_kind_of_store_comes_from_docker_info() -> None:
    containerd = {"DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}
    overlay = {"DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]]}
    assert kind(containerd) == CONTAINERD
    assert kind(overlay) == LAYER_STORE
    assert kind({}) == LAYER_STORE
