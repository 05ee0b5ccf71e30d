"""Sharing with no engine: a build in a pod (no engine answers) pushed straight to the real
registry, the same image a build on an engine pushes, pulled and run by a teammate whose
engine uses the containerd image store; and an image whose layers are incomplete in the
engine is never pushed."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import (
    EXAMPLE_PYTHON,
    PASSWORD,
    REGISTRY,
    USER,
    assert_one_line_error,
    cli,
    example_project,
    logged_in,
)
from jc_support import TEST_LABEL, TEST_RUN_ID, skip_or_fail

from jupyter_containerize.core.image import layers

pytestmark = [pytest.mark.engine, pytest.mark.registry]
NO_ENGINE = "unix:///nonexistent/docker.sock"
NS = f"jc-test-{TEST_RUN_ID[-10:]}".lower().replace("_", "-")


def _docker(host: str, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "DOCKER_HOST": host}, **kw)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("noengine")
    # login needs no engine: the registry checks the credentials
    env = logged_in(root, DOCKER_HOST=NO_ENGINE)
    nb = example_project(root, f"no-engine test {TEST_RUN_ID}")
    yield {"env": env, "root": root, "nb": nb}
    # what this module pushed, under its own namespace
    for repo in ("jupyter-containerize/base", "classifier", "whole"):
        name = f"{NS}/{repo}"
        tags = requests.get(f"http://{REGISTRY}/v2/{name}/tags/list", auth=(USER, PASSWORD),
                            timeout=30).json().get("tags") or []
        for tag in tags:
            head = requests.head(
                f"http://{REGISTRY}/v2/{name}/manifests/{tag}", auth=(USER, PASSWORD),
                headers={"Accept": layers.OCI_MANIFEST}, timeout=30)
            digest = head.headers.get("Docker-Content-Digest")
            if digest:
                requests.delete(f"http://{REGISTRY}/v2/{name}/manifests/{digest}",
                                auth=(USER, PASSWORD), timeout=30)


@pytest.fixture(scope="module")
def base_in_registry(env: dict[str, Any]) -> str:
    """The bootstrapped base, pushed once (from the engine that has it)."""
    refs = _docker("unix:///var/run/docker.sock", "images", "--filter",
                   "label=io.jupyter-containerize.role=base", "--format",
                   "{{.Repository}}:{{.Tag}}").stdout.split()
    refs = [r for r in refs if "py3.11" in r]
    if not refs:
        skip_or_fail("no bootstrapped 3.11 base: run scripts/setup.sh")
    proc = cli("push", refs[0], "--registry", f"{REGISTRY}/{NS}", env=env["env"])
    assert proc.returncode == 0, proc.stderr[-1500:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def pushed_without_engine(env: dict[str, Any], base_in_registry: str) -> dict[str, Any]:
    target = f"{REGISTRY}/{NS}/classifier:pod"
    proc = cli("build", str(env["nb"]), "--python", str(EXAMPLE_PYTHON),
               "--base", base_in_registry, "--push", target,
               env={**env["env"], "DOCKER_HOST": NO_ENGINE})
    assert proc.returncode == 0, proc.stderr[-2500:]
    return {"pinned": proc.stdout.strip().splitlines()[-1], "out": proc.stderr}


def test_a_build_with_no_engine_pushes_the_image_and_checks_its_imports(
        pushed_without_engine: dict[str, Any]) -> None:
    pinned, out = pushed_without_engine["pinned"], pushed_without_engine["out"]
    assert pinned.startswith(f"{REGISTRY}/{NS}/classifier@sha256:"), pinned
    assert "no engine answers" in out
    assert "import check not run" not in out, out[-1500:]
    digest = pinned.split("@", 1)[1]
    manifest = requests.get(f"http://{REGISTRY}/v2/{NS}/classifier/manifests/pod",
                            auth=(USER, PASSWORD), timeout=30,
                            headers={"Accept": layers.OCI_MANIFEST})
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == digest
    assert len(manifest.json()["layers"]) > 5


def test_the_same_inputs_on_an_engine_give_the_same_image(
        env: dict[str, Any], base_in_registry: str,
        pushed_without_engine: dict[str, Any]) -> None:
    """An engine build of the same notebook and lock, pushed, has the same manifest digest."""
    target = f"{REGISTRY}/{NS}/classifier:engine"
    base_local = _docker("unix:///var/run/docker.sock", "images", "--filter",
                         "label=io.jupyter-containerize.role=base", "--format",
                         "{{.Repository}}:{{.Tag}}").stdout.split()
    base_ref = [r for r in base_local if "py3.11" in r][0]
    proc = cli("build", str(env["nb"]), "--python", str(EXAMPLE_PYTHON), "--base", base_ref,
               "--push", target, env=env["env"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    pinned = proc.stdout.strip().splitlines()[-1]
    assert pinned.split("@")[1] == pushed_without_engine["pinned"].split("@")[1]


def test_a_teammate_on_the_containerd_store_pulls_and_runs_it(
        env: dict[str, Any], pushed_without_engine: dict[str, Any], containerd_engine: str,
        tmp_path: Path) -> None:
    pinned = pushed_without_engine["pinned"]
    mate = {**env["env"], "DOCKER_HOST": containerd_engine}
    proc = cli("pull", pinned, env=mate)
    assert proc.returncode == 0, proc.stderr[-1500:]
    out = tmp_path / "out.ipynb"
    proc = cli("run", str(env["nb"]), "--image", pinned, "-p", "n_estimators", "5",
               "--output", str(out), "--artifacts", str(tmp_path / "artifacts"), env=mate)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "artifacts" / "model.joblib").exists()
    assert "n_estimators = 5" in out.read_text()


def test_with_no_engine_and_no_registry_base_the_error_says_what_to_pass(
        env: dict[str, Any]) -> None:
    proc = cli("build", str(env["nb"]), "--python", str(EXAMPLE_PYTHON),
               "--push", f"{REGISTRY}/{NS}/classifier:nobase",
               env={**env["env"], "DOCKER_HOST": NO_ENGINE})
    assert_one_line_error(proc, "no engine answers", "--base")


def _layer(folder: Path, name: str) -> layers.Layer:
    data = random.Random(name + TEST_RUN_ID).randbytes(200_000)
    return layers.write_layer([layers.Entry(f"data/{name}", data=data)], folder / f"{name}.tar",
                              0)


def _docker_archive(path: Path, tag: str, layer_list: list[layers.Layer],
                    empty: set[str]) -> None:
    """An old-style docker-archive whose layers in ``empty`` travel as empty files."""
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Labels": {TEST_LABEL: TEST_RUN_ID}},
              "rootfs": {"type": "layers", "diff_ids": [la.diff_id for la in layer_list]}}
    cfg = json.dumps(config).encode()
    with tarfile.open(path, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("config.json", cfg)
        names = []
        for la in layer_list:
            name = f"{la.diff_id[7:]}/layer.tar"
            names.append(name)
            if la.diff_id in empty:
                add(name, b"")
            else:
                assert la.path is not None
                tar.add(la.path, arcname=name)
        add("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": [tag],
                                          "Layers": names}]).encode())


def test_an_image_with_an_incomplete_layer_is_never_pushed(
        env: dict[str, Any], containerd_engine: str, tmp_path: Path) -> None:
    """On a containerd store, a layer once sent as an empty placeholder is recorded empty:
    push checks every layer's bytes first and names the one to repair."""
    one, two = _layer(tmp_path, "one"), _layer(tmp_path, "two")
    whole, hollow = tmp_path / "whole.tar", tmp_path / "hollow.tar"
    _docker_archive(whole, f"{NS}/whole:1", [one], set())
    _docker_archive(hollow, f"{NS}/hollow:1", [one, two], {one.diff_id})
    for archive in (whole, hollow):
        proc = _docker(containerd_engine, "load", "-i", str(archive))
        assert proc.returncode == 0, proc.stderr
    mate = {**env["env"], "DOCKER_HOST": containerd_engine,
            "JUPYTER_CONTAINERIZE_CACHE_DIR": str(tmp_path / "fresh-cache")}
    proc = cli("push", f"{NS}/hollow:1", "--registry", REGISTRY, env=mate)
    assert_one_line_error(proc, "incomplete", one.diff_id[:19], "--no-cache")
    tags = requests.get(f"http://{REGISTRY}/v2/{NS}/hollow/tags/list", auth=(USER, PASSWORD),
                        timeout=30)
    assert tags.status_code == 404 or not tags.json().get("tags"), tags.text
    proc = cli("push", f"{NS}/whole:1", "--registry", REGISTRY, env=mate)
    assert proc.returncode == 0, proc.stderr[-1500:]  # a complete image pushes
