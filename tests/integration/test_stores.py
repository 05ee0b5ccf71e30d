"""Both kinds of image store, for real: the layer store of the main engine (Docker 20.10,
overlay2) and the containerd image store (Docker 26 with the containerd snapshotter, the
default of Docker Engine 29 and Docker Desktop).

On each: build the example, edit the notebook and rebuild (one new layer, the environment
reused), run it with a parameter, serve its model and ask it; every layer of every image we
built hashes to its config's diff ID when the engine exports it; the export loads into a
clean containerd-store engine and runs there; the same inputs give the same manifest digest
as the image a registry holds.

Which tests run on both stores: these, because they go through every code path that depends on
the store (what the engine holds, the archive, the load, the image ID, where a push reads its
bytes). The rest of the suite exercises store-independent behaviour on the main engine, which
keeps CI within its budget.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import EXAMPLE_PYTHON, ROOT, cli, example_project
from jc_support import TEST_LABEL, TEST_RUN_ID, copy_image, engine_or_skip, skip_or_fail

from jupyter_containerize.core import labels

pytestmark = pytest.mark.engine
MAIN = "unix:///var/run/docker.sock"


def _docker(host: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "DOCKER_HOST": host})


def _base_reference() -> str:
    proc = _docker(MAIN, "images", "--filter", "label=io.jupyter-containerize.role=base",
                   "--format", "{{.Repository}}:{{.Tag}}")
    refs = [r for r in proc.stdout.split() if "py3.11" in r]
    if not refs:
        skip_or_fail("no bootstrapped 3.11 base in the main engine: run scripts/setup.sh")
    return refs[0]


@pytest.fixture(scope="module", params=["layer store", "containerd image store"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, Any]]:
    """One engine of each kind, with the base image in it and a project of this run."""
    engine_or_skip()
    if request.param == "layer store":
        host = MAIN
    else:
        host = request.getfixturevalue("containerd_engine")
        copy_image(_base_reference(), host)
    root = tmp_path_factory.mktemp("store")
    nb = example_project(root, f"stores test {TEST_RUN_ID} {request.param}")
    # a cache of its own: the first build installs every distribution, and so loads the
    # early layers into the engine while later ones install
    env = {"DOCKER_HOST": host, "JUPYTER_CONTAINERIZE_DATA_DIR": str(root / "data"),
           "JUPYTER_CONTAINERIZE_CACHE_DIR": str(root / "cache"),
           "JUPYTER_CONTAINERIZE_LABELS": f"{TEST_LABEL}={TEST_RUN_ID}"}
    info = json.loads(_docker(host, "info", "--format", "{{json .}}").stdout)
    driver = dict(info.get("DriverStatus") or []).get("driver-type", "")
    assert ("containerd" in driver) == (request.param != "layer store"), info["Driver"]
    # what builds make carries this run's label: the session's cleanup removes it (and the
    # containerd-store engine goes away whole at the session's end)
    yield {"kind": request.param, "host": host, "env": env, "nb": nb, "root": root,
           "built": [], "checked": {}}


def _build(store: dict[str, Any], *extra: str) -> tuple[str, str]:
    """(reference, build output) of a build through the CLI, on the store's engine."""
    proc = cli("build", str(store["nb"]), "--python", str(EXAMPLE_PYTHON), *extra,
               env=store["env"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = proc.stdout.strip().splitlines()[-1]
    store["built"].append(ref)
    return ref, proc.stderr


def _image_id(host: str, ref: str) -> str:
    return _docker(host, "image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()


def _checked_layers(store: dict[str, Any], ref: str, folder: Path) -> tuple[int, list[str]]:
    """``_saved_layers_match`` once per image ID of the store's engine (tags share images)."""
    key = _image_id(store["host"], ref)
    assert key, ref
    if key not in store["checked"]:
        store["checked"][key] = _saved_layers_match(store["host"], ref, folder)
    return store["checked"][key]


def _saved_layers_match(host: str, ref: str, folder: Path) -> tuple[int, list[str]]:
    """Export ``ref`` and hash every layer against the config's diff IDs."""
    archive = folder / "saved.tar"
    proc = _docker(host, "save", "-o", str(archive), ref)
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(archive) as tar:
        entry = json.load(tar.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        config = json.load(tar.extractfile(entry["Config"]))  # type: ignore[arg-type]
        bad = []
        for diff, name in zip(config["rootfs"]["diff_ids"], entry["Layers"]):
            h = hashlib.sha256()
            with tar.extractfile(name) as fh:  # type: ignore[union-attr]
                while block := fh.read(1 << 20):
                    h.update(block)
            if "sha256:" + h.hexdigest() != diff:
                bad.append(f"{name}: {h.hexdigest()[:12]} != {diff[7:19]}")
    return len(config["rootfs"]["diff_ids"]), bad


@pytest.fixture(scope="module")
def rebuilt(store: dict[str, Any]) -> dict[str, Any]:
    first, out1 = _build(store)
    data = json.loads(store["nb"].read_text())
    data["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["an edit"]})
    store["nb"].write_text(json.dumps(data))
    started = time.perf_counter()
    second, out2 = _build(store)
    seconds = time.perf_counter() - started
    print(f"{store['kind']}: notebook edit rebuilt in {seconds:.1f} s")
    return {"first": first, "second": second, "out1": out1, "out2": out2}


def test_a_notebook_edit_rebuilds_one_layer_and_names_both_digests(
        store: dict[str, Any], rebuilt: dict[str, Any]) -> None:
    assert rebuilt["first"] != rebuilt["second"]
    for out in (rebuilt["out1"], rebuilt["out2"]):
        assert "config sha256:" in out and f"({store['kind']})" in out, out[-1500:]
    assert "manifest sha256:" in rebuilt["out2"] or store["kind"] == "layer store"
    assert "install 0.0s" in rebuilt["out2"] or "installing" not in rebuilt["out2"]
    host = store["host"]
    ids = [_image_id(host, r) for r in (rebuilt["first"], rebuilt["second"])]
    layers = [json.loads(_docker(host, "image", "inspect", "-f", "{{json .RootFS.Layers}}",
                                 r).stdout) for r in (rebuilt["first"], rebuilt["second"])]
    assert layers[0][:-1] == layers[1][:-1] and layers[0][-1] != layers[1][-1]
    if store["kind"] != "layer store":  # the image ID is the manifest digest we printed
        assert f"manifest {ids[1]}" in rebuilt["out2"], (ids, rebuilt["out2"][-800:])


def test_a_cold_build_loads_layers_while_installing_and_leaves_no_partial_image(
        store: dict[str, Any], rebuilt: dict[str, Any]) -> None:
    out = rebuilt["out1"]
    assert "while later distributions install" in out, out[-2000:]
    assert "loading layers early failed" not in out, out[-2000:]
    partial = _docker(store["host"], "images", "-a", "--filter",
                      f"label={labels.ROLE}=partial", "--format", "{{.Repository}}:{{.Tag}}")
    repo = rebuilt["first"].rsplit(":", 1)[0]
    assert [r for r in partial.stdout.split() if r.startswith(repo)] == []


def test_every_layer_of_every_image_we_built_is_complete(
        store: dict[str, Any], rebuilt: dict[str, Any], tmp_path: Path) -> None:
    refs = [rebuilt["first"], rebuilt["second"]]
    repo = refs[0].rsplit(":", 1)[0]
    env_tags = {ln for ln in _docker(
        store["host"], "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        if ln.startswith(repo + ":env-")}
    assert env_tags
    for ref in refs + sorted(env_tags):
        count, bad = _checked_layers(store, ref, tmp_path)
        assert count > 5 and bad == [], (ref, bad)


def test_the_export_loads_complete_into_a_clean_containerd_engine_and_runs(
        store: dict[str, Any], rebuilt: dict[str, Any], tmp_path: Path) -> None:
    folder = tempfile.mkdtemp(prefix="jc3-", dir="/tmp")
    script = ROOT / "scripts" / "second-engine.sh"
    proc = subprocess.run(["bash", str(script), "start", folder, "--store", "containerd"],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        skip_or_fail(f"a clean containerd-store engine did not start: {proc.stderr[-300:]}")
    clean = proc.stdout.strip().splitlines()[-1]
    try:
        archive = tmp_path / "image.tar"
        assert _docker(store["host"], "save", "-o", str(archive),
                       rebuilt["second"]).returncode == 0
        loaded = _docker(clean, "load", "-i", str(archive))
        assert loaded.returncode == 0, loaded.stderr
        run = _docker(clean, "run", "--rm", "--network", "none", rebuilt["second"],
                      "/opt/env/bin/python", "-c",
                      "import sklearn, pandas; print('ok', sklearn.__version__)")
        assert run.returncode == 0 and run.stdout.startswith("ok"), run.stderr
    finally:
        subprocess.run(["bash", str(script), "stop", folder], capture_output=True, timeout=300)


def test_run_with_a_parameter_and_serve_the_model(
        store: dict[str, Any], rebuilt: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out.ipynb"
    proc = cli("run", str(store["nb"]), "--image", rebuilt["second"], "-p", "n_estimators", "7",
               "--output", str(out), "--artifacts", str(tmp_path / "artifacts"),
               env=store["env"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "n_estimators = 7" in out.read_text()  # the parameter papermill injected
    model = tmp_path / "artifacts" / "model.joblib"
    assert model.exists()
    name = f"stores-{TEST_RUN_ID[-6:]}-{'cd' if 'containerd' in store['kind'] else 'ls'}"
    proc = cli("serve", str(model), "--image", rebuilt["second"], "--name", name,
               env=store["env"])
    try:
        assert proc.returncode == 0, proc.stderr[-2000:]
        url = proc.stdout.strip().splitlines()[-1]
        row = subprocess.run(
            [str(EXAMPLE_PYTHON), "-c", "from sklearn.datasets import load_breast_cancer as l;"
             "import json; print(json.dumps({'inputs': l().data[:3].tolist()}))"],
            capture_output=True, text=True, check=True).stdout
        answer = requests.post(f"{url}/invocations", data=row, timeout=30,
                               headers={"Content-Type": "application/json"})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 3
    finally:
        cli("stop", name, env=store["env"])


def test_every_image_made_here_is_complete(
        store: dict[str, Any], rebuilt: dict[str, Any], tmp_path: Path) -> None:
    """Last on each store: every image this run made on the containerd store (environment,
    notebook and serving images), and the serving image on the layer store (the others were
    checked above), export with each layer hashing to its diff ID (an image already checked
    here is not exported again)."""
    listed = _docker(store["host"], "images", "--filter", f"label={TEST_LABEL}={TEST_RUN_ID}",
                     "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    listed = [ref for ref in listed if "<none>" not in ref]
    found = json.loads(_docker(store["host"], "image", "inspect", *listed).stdout)
    assert len(found) == len(listed), listed
    image_labels = {ref: img["Config"].get("Labels") or {} for ref, img in zip(listed, found)}
    ours = image_labels[rebuilt["second"]][f"{labels.PREFIX}env.hash"]
    # this module's images, not other tests'
    roles = {ref: got.get(f"{labels.PREFIX}role") for ref, got in image_labels.items()
             if got.get(f"{labels.PREFIX}env.hash") == ours}
    assert {"environment", "serving"} <= set(roles.values()), roles
    refs = sorted(roles)
    if store["kind"] == "layer store":
        refs = [r for r in refs if roles[r] == "serving"]
    for ref in refs:
        count, bad = _checked_layers(store, ref, tmp_path)
        assert count > 5 and bad == [], (ref, bad)
